"""N decoder children over one video file's keyframe-aligned chunks, started and waited for together."""
import multiprocessing
import os

import numpy as np

from ...log import logger
from .handle import DecodeChild
from .protocol import MAX_SLOTS


def child_preprocessor(adapter):
    """(picklable object, method name) that fills the model's input from a BGR image in a child process, as
    `adapter.preprocess(image, out)` does here; None where the adapter cannot be sent to another process."""
    from ...models.device_io import DeviceIOAdapter
    import pickle
    target = (adapter.inner, "preprocess_u8") if isinstance(adapter, DeviceIOAdapter) else (adapter, "preprocess")
    try:
        pickle.dumps(target[0])
    except Exception as e:  # an adapter holding something a process cannot receive: preprocess here instead
        logger.debug("preprocessing stays in the pipeline process: {}", e)
        return None
    return target


class DecodeProcesses(object):
    """`n` children decoding `chunks` ([(start, stop)] or [(start, stop, key)], `split_chunks`; taken in order) of the
    video file `uri`; `self.chunks` are the (start, stop) pairs.

    `frame_shape` (H, W, 3) of the file's frames; `input_spec` ((shape, dtype) of one model input) and `prep` (from
    `child_preprocessor`) to preprocess in the children, or None. `n_slots` frames per child's ring. Without
    `keep_frames` (no sink needs the image) and with preprocessing, the rings hold only model inputs."""

    def __init__(self, uri, n, chunks, frame_shape, n_slots, input_spec=None, prep=None, start_timeout=60.0,
                 keep_frames=True):
        from ..video import decoding_settings
        ctx = multiprocessing.get_context("spawn")  # no fork of a threaded, CUDA-using process
        self.uri = uri
        plan = list(chunks)
        self.chunks = [tuple(c[:2]) for c in plan]
        self.counter = ctx.Value("i", 0)
        self.children = []
        self.prepared = input_spec is not None and prep is not None
        self.meta = None  # the preprocess meta of every frame, where the children preprocess (open_decoders)
        if not self.prepared:
            input_spec = prep = None
        self.keep_frames = keep_frames or not self.prepared
        try:
            for k in range(max(1, min(int(n), len(self.chunks)))):
                self.children.append(DecodeChild(ctx, uri, decoding_settings(), n_slots, frame_shape,
                                                 self.keep_frames, input_spec, prep, plan, self.counter,
                                                 "trafficpipe-decode-%d" % k))
            for c in self.children:
                c.wait_ready(start_timeout)
        except BaseException:
            self.close()
            raise
        logger.debug("{}: {} decoder process(es), {} chunk(s), {} slots each{}{}", os.path.basename(uri),
                     len(self.children), len(self.chunks), n_slots, ", preprocessing there" if self.prepared else "",
                     "" if self.keep_frames else " (model inputs only)")

    def start(self):
        for c in self.children:
            c.start()

    def flush(self):
        """Send every slot given back but not yet sent to its child."""
        for c in self.children:
            c.flush()

    def pin(self, pin_host):
        """`DecodeChild.pin` for every child; False (and a debug line) where the driver refuses."""
        from ...errors import EngineError
        try:
            for c in self.children:
                c.pin(pin_host)
        except EngineError as e:
            logger.debug("{}: model inputs copied from the decode rings ({})", os.path.basename(self.uri), e)
            return False
        return True

    def stop(self):
        """Ask every child to end, without waiting (the source has ended or the run stops); `close()` waits."""
        for c in self.children:
            c.stop()

    def close(self):
        for c in self.children:
            c.close()


def open_decoders(src, n, max_frames=None, adapter=None, ring_slots=32, keep_frames=True):
    """DecodeProcesses for an opened VideoFileSource `src`: `n` children over its keyframe-aligned chunks (the longest
    split where there are fewer than `n`, `split_chunks`; one child over the whole file where none are known), up to
    `max_frames` frames; with `adapter` (and no reason against it) the children also preprocess, and the result's
    `meta` is the preprocess meta every frame of the file shares.

    `ring_slots` frames per child. Without `keep_frames` (no sink needs the image) the rings hold only model inputs:
    a slot goes back as soon as its input is read, so a child decoding ahead of the others is not held by the
    writer's reordering and a small ring (in cache, its pages faulted in before the run) does."""
    from ..segments import mp4_keyframes, plan_chunks, split_chunks
    total = src.frame_count
    if max_frames is not None:
        total = min(total, max_frames) if total else max_frames
    keyframes = mp4_keyframes(src.uri) if (n > 1 and total) else None
    chunks = plan_chunks(keyframes, total) if keyframes else []
    if len(chunks) < 2:
        chunks = [(0, total or 2 ** 31 - 1)]
    if keyframes and n > len(chunks):
        chunks = split_chunks(chunks, n)  # more decoders than keyframe groups: split the longest ones
    input_spec = prep = meta = None
    first = src.first_frame()  # the frame VideoFileSource.open decoded (nothing has read it here)
    if adapter is not None and first is not None:
        prep = child_preprocessor(adapter)
        if prep is not None:
            shape, dtype = tuple(adapter.input_shape), adapter.input.dtype
            meta = adapter.preprocess(first, np.empty(shape, dtype))  # every frame of a file has this size
            input_spec = (shape, np.dtype(dtype).str)
    procs = DecodeProcesses(src.uri, n, chunks, (src.height, src.width, 3), min(ring_slots, MAX_SLOTS), input_spec,
                            prep, keep_frames=keep_frames)
    procs.meta = meta
    return procs
