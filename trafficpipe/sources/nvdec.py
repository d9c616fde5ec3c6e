"""Video files decoded by the GPU's hardware decoder (NVDEC) through NVIDIA's PyNvVideoCodec, into GPU memory.

`--decoder nvdec`: the frames stay on the GPU as RGB uint8 torch tensors (`engines/device_frames.py` resizes them into
the engine's input there), so decoding costs the host almost no CPU, the one resource a CPU decoder shares with every
other stage. Needs an NVIDIA GPU whose driver exposes libnvcuvid (in a container: the "video" driver capability),
PyNvVideoCodec (pip install PyNvVideoCodec), torch with CUDA and pycuda; optional imports, so the package imports on any
machine. Frame count, rate and size come from OpenCV's look at the container, as for the CPU reader.
"""
import collections
import os

import cv2

from ..errors import SourceError, first_line as _first_line
from ..log import logger
from .base import Source, SourceState
from .video import VideoFileSource, check_video_file, not_a_video


def import_nvdec():
    """(PyNvVideoCodec, torch) where both load and torch sees a CUDA GPU; SourceError (one line) otherwise."""
    try:
        import PyNvVideoCodec as nvc
    except Exception as e:  # ImportError, or the driver library failing to load
        raise SourceError("--decoder nvdec needs NVIDIA's PyNvVideoCodec and an NVIDIA GPU (%s): pip install "
                          "PyNvVideoCodec, or use --decoder opencv" % _first_line(e))
    try:
        import torch
        ok = torch.cuda.is_available()
    except Exception:
        torch, ok = None, False
    if not ok:
        raise SourceError("--decoder nvdec needs torch with a CUDA GPU; use --decoder opencv")
    return nvc, torch


class NvdecVideoSource(Source):
    """A video file decoded on the GPU: `read()` gives (RGB uint8 CUDA tensor [H, W, 3], pts). Every frame, in order;
    a file that ends before its announced frame count is reported truncated, like the CPU reader."""

    live = False

    def __init__(self, uri, name=None, device=0):
        super(NvdecVideoSource, self).__init__(uri, name)
        self.device = int(device)
        self._dec = self._dmx = self._packets = self._stream = None
        self._ready = collections.deque()

    def open(self):
        check_video_file(self.uri)
        cap = cv2.VideoCapture(self.uri)
        try:
            if not cap.isOpened():
                raise not_a_video(self.uri)
            self.fps = float(cap.get(cv2.CAP_PROP_FPS)) or 30.0
            n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        finally:
            cap.release()
        if not (0 < self.fps < 1000):
            self.fps = 30.0
        self.frame_count = n if n > 0 else None
        nvc, torch = import_nvdec()
        from ..engines.gpu_runtime import NON_BLOCKING, CudaRuntime, cuda_driver
        self._torch = torch
        self._cuda = cuda_driver()
        self.runtime = CudaRuntime.get(self.device)
        try:
            with self.runtime.activate():
                self._stream = cuda_driver().Stream(NON_BLOCKING)
                self._dmx = nvc.CreateDemuxer(filename=self.uri)
                self._dec = nvc.CreateDecoder(gpuid=self.device, codec=self._dmx.GetNvCodecId(),
                                              cudacontext=self.runtime.context.handle, cudastream=self._stream.handle,
                                              usedevicememory=True, outputColorType=nvc.OutputColorType.RGB)
                self._packets = iter(self._dmx)
                first = self._next_decoded()
        except SourceError:
            self.close()
            raise
        except Exception as e:
            self.close()
            raise SourceError("cannot decode %s with NVDEC: %s" % (self.uri, _first_line(e)))
        if first is None:
            self.close()
            raise not_a_video(self.uri)
        self._ready.appendleft(first)
        self.height, self.width = int(first.shape[0]), int(first.shape[1])
        strides = tuple(int(v) for v in first.strides)
        if strides != (self.width * 3, 3, 1):  # read() copies a frame as one packed block
            self.close()
            raise SourceError("cannot decode %s with NVDEC: RGB frames of strides %s, not packed" % (self.uri, strides))
        self.set_state(SourceState.STREAMING)

    def _next_decoded(self):
        """The next decoded frame (PyNvVideoCodec's, valid until the decoder runs again), or None at the end."""
        while not self._ready:
            packet = next(self._packets, None)
            if packet is None:
                return None
            self._ready.extend(self._dec.Decode(packet))
        return self._ready.popleft()

    def read(self, buf=None):
        torch = self._torch
        try:
            with self.runtime.activate():
                frame = self._next_decoded()
                if frame is None:
                    self._end()
                    return None
                shape = (int(frame.shape[0]), int(frame.shape[1]), 3)
                if buf is None or tuple(buf.shape) != shape:
                    buf = torch.empty(shape, dtype=torch.uint8, device="cuda:%d" % self.device)
                # out of the decoder's surface before it decodes again: a plain device copy on the decoder's stream
                # (no torch call: each holds the GIL that every stage thread needs), then wait for it
                self._cuda.memcpy_dtod_async(buf.data_ptr(), frame.GetPtrToPlane(0), buf.numel(), self._stream)
                self._stream.synchronize()
        except Exception as e:
            if self.frames_read == 0:
                raise SourceError("NVDEC failed on %s at frame 0: %s" % (self.uri, _first_line(e)))
            # damage after some frames: like the CPU reader, the frames before it count and the file is truncated
            self.truncated = True
            self.error = "NVDEC stopped at frame %d%s (%s); the rest of %s is unreadable" % (
                self.frames_read, " of %d" % self.frame_count if self.frame_count else "", _first_line(e),
                os.path.basename(self.uri))
            logger.warning("source {}: {}", self.name, self.error)
            self.set_state(SourceState.ENDED)
            return None
        pts = self.frames_read / self.fps
        self.frames_read += 1
        return buf, pts

    _end = VideoFileSource._end  # a file that ends before its announced frame count is truncated, as there

    def close(self):
        if self._dec is not None or self._dmx is not None or self._stream is not None:
            with self.runtime.activate():
                self._ready.clear()
                self._dec = self._dmx = self._packets = None
                if self._stream is not None:
                    self._stream.synchronize()
                    # destroyed here, while the context is current: dropped later from another thread, pycuda
                    # warns "stream in out-of-thread context could not be cleaned up" and the stream leaks
                    self._stream = None
        if self.state == SourceState.STREAMING:
            self.set_state(SourceState.ENDED)

    def describe(self):
        d = super(NvdecVideoSource, self).describe()
        d["decoder"] = "nvdec"
        return d
