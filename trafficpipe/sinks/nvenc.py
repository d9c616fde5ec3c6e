"""Annotated video encoded by the GPU's hardware encoder (NVENC) through NVIDIA's PyNvVideoCodec, muxed to MP4.

The frames are drawn on the host as for the OpenCV writer; each is handed to NVENC as 8-bit BGRA (NVENC's "ARGB"
word order), which converts it to YUV and encodes H.264 on the GPU, so the CPU does one colour copy per frame instead
of the encode. `video_encoder()` picks the writer: "auto" (the default) uses NVENC where PyNvVideoCodec loads and the
GPU has an NVENC engine, else OpenCV's VideoWriter (one info line when PyNvVideoCodec is present but NVENC is not, as
on H100/H200, which have none); "nvenc" fails in one line where it cannot; "opencv" always writes with OpenCV.
"""
import os

import cv2

from ..errors import SinkError, first_line
from ..log import logger
from .base import Sink

ENCODERS = ("auto", "nvenc", "opencv")
_encoder = ["auto"]
_probe = {}  # "ok": bool, "why": str; probed once per process
_TIMEBASE = 90000


def set_video_encoder(name):
    # type: (str) -> None
    """The annotated-video writer from now on: auto, nvenc or opencv."""
    if name not in ENCODERS:
        raise ValueError("unknown video encoder %s; choose from %s" % (name, ", ".join(ENCODERS)))
    _encoder[0] = name


def video_encoder():
    # type: () -> str
    return _encoder[0]


def nvenc_available(gpu=0):
    # type: (int) -> tuple
    """(True, "") where PyNvVideoCodec loads and an H.264 NVENC session opens on `gpu`, else (False, why)."""
    if "ok" not in _probe:
        try:
            import PyNvVideoCodec as nvc
        except Exception as e:
            _probe.update(ok=False, why="PyNvVideoCodec is not installed (%s)" % first_line(e), module=False)
            return _probe["ok"], _probe["why"]
        try:
            enc = nvc.CreateEncoder(256, 256, "ARGB", True, codec="h264", gpu_id=gpu)
            enc.EndEncode()
            _probe.update(ok=True, why="", module=True)
        except Exception as e:
            _probe.update(ok=False, why="no NVENC session on GPU %d (%s)" % (gpu, first_line(e)), module=True)
    return _probe["ok"], _probe["why"]


def use_nvenc():
    # type: () -> bool
    """Whether annotated video is written with NVENC under the current setting; SinkError for "nvenc" where it is
    unavailable. "auto" falls back to OpenCV, saying so once."""
    name = video_encoder()
    if name == "opencv":
        return False
    ok, why = nvenc_available()
    if ok:
        return True
    if name == "nvenc":
        raise SinkError("--video-encoder nvenc: %s; use --video-encoder opencv" % why)
    if not _probe.get("said"):
        _probe["said"] = True
        # INFO where the NVIDIA stack is there but NVENC is not (the GPU has none); DEBUG on machines without it
        logger.log("INFO" if _probe.get("module") else "DEBUG", "video: NVENC not available ({}); writing with "
                   "OpenCV", why)
    return False


class NvencVideoSink(Sink):
    """An H.264 MP4 of the annotated frames encoded by NVENC, same size and rate as the source."""

    needs_image = True

    def __init__(self, path, fps, size, gpu=0, preset="P1", bitrate=8000000):
        folder = os.path.dirname(path) or "."
        if not os.path.isdir(folder):
            try:
                os.makedirs(folder)
            except OSError as e:
                raise SinkError("cannot create output folder %s: %s" % (folder, e.strerror or e))
        self.path = path
        self.fps = fps or 30.0
        self.size = size
        self.gpu = int(gpu)
        self.preset = preset
        self.bitrate = int(bitrate)
        self.enc = self.mux = None
        self._bgra = None
        self.frames = 0

    def _open(self, w, h):
        import PyNvVideoCodec as nvc
        self._nvc = nvc
        fps_num, fps_den = int(round(self.fps * 1000)), 1000
        try:
            self.enc = nvc.CreateEncoder(w, h, "ARGB", True, codec="h264", gpu_id=self.gpu, preset=self.preset,
                                         tuning_info="high_quality", rc="vbr", bitrate=self.bitrate,
                                         fps=max(1, int(round(self.fps))), gop=max(1, int(round(self.fps))))
            self.mux = nvc.FFmpegMuxer(file_path=self.path, media_format=nvc.GetMediaFormat(self.path),
                                       codec="h264", width=w, height=h, fps_num=fps_num, fps_den=fps_den,
                                       timebase_num=1, timebase_den=_TIMEBASE,
                                       extradata=self.enc.GetSequenceParams())
            self.mux.SetUniformPtsIncrement(int(round(_TIMEBASE * fps_den / float(fps_num))))
        except Exception as e:
            raise SinkError("cannot write video %s with NVENC: %s" % (self.path, first_line(e)))
        self.size = (w, h)

    def _mux(self, packets):
        for p in packets:
            self.mux.MuxVideoPacket(bytes(p["data"]), p["picture_type"], p["timestamp"])

    def write(self, frame):
        img = frame.image
        h, w = img.shape[:2]
        if self.enc is None:
            self._open(w, h)
        if (w, h) != tuple(self.size):
            img = cv2.resize(img, tuple(self.size))
        self._bgra = cv2.cvtColor(img, cv2.COLOR_BGR2BGRA, dst=self._bgra)
        pic = self._nvc.NV_ENC_PIC_PARAMS()
        pic.inputTimeStamp = self.frames
        self._mux(self.enc.Encode(self._bgra, pic))
        self.frames += 1

    def close(self):
        if self.enc is not None:
            self._mux(self.enc.EndEncode())
            self.mux.Finalize()
            self.enc = self.mux = None
