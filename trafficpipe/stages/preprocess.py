"""Preprocess: W workers write frames straight into free engine slots, batch them, and hand sealed slots to inference.

Frames are taken from the queue and given their slot position under one lock, so positions and the per-source `seq`
follow arrival order; the adapter's preprocessing then runs outside the lock (OpenCV and numpy release the GIL), and
slots are passed on in the order they were opened once every frame in them is written.
A slot is sealed when it is full, at a source's end, or early when `batch_timeout` has passed (or at once when it is 0)
with the input queue empty — the early seal only where a live source is read: with files alone nothing waits on a
frame, and a slot sealed half-empty would cost a whole inference call and its per-call overhead for one or two frames
(on an H200 the decoder hands over a frame about every millisecond, so early sealing ran batch 4 at 1.4 frames a call).
Frames whose model input the source already prepared (`Frame.model_input`: decoder processes, `sources/decoders/`)
are only copied into the slot, or, where that input lies in page-locked memory for a GPU engine, only noted in it
(`slot.host_items`: the engine copies them from there).
GPU-decoded frames are only noted in the slot (`engines/device_frames.py`); with tiled inference a wide frame takes
several consecutive items of one slot (the whole frame and its tiles, `models/tiling.py`).
"""
import collections
import threading
import time

from ..engines.device_frames import fill_input
from ..pipeline.control import Stage
from ..pipeline.frame import EndOfStream
from ..pipeline.queues import Stopped


class _Batch(object):
    __slots__ = ("slot", "claimed", "items", "done", "sealed", "opened")

    def __init__(self, slot, opened):
        self.slot = slot
        self.claimed = 0  # frames given a place in the slot
        self.items = 0  # batch items they take (more than one for a tiled frame)
        self.done = 0
        self.sealed = False
        self.opened = opened


class PreprocessStage(Stage):
    name = "preprocess"

    def __init__(self, control, in_q, out_qs, contexts, adapter, n_sources, workers=2, batch_timeout=0.0, poll=0.1,
                 live=None, tiles=None, seal_idle=None):
        super(PreprocessStage, self).__init__(control, workers=workers)
        self.in_q = in_q
        self.out_qs = out_qs  # one queue per execution context
        self.contexts = contexts
        self.adapter = adapter
        self.n_sources = n_sources
        self.batch_timeout = float(batch_timeout)
        self.poll = poll
        self._take = threading.Lock()
        self._emit = threading.Lock()
        self._open = [None] * len(contexts)  # the batch being filled, per context
        self._order = [collections.deque() for _ in contexts]  # batches and EOS markers in emission order
        self._seq = [0] * n_sources
        # offline sources lose no frame, so their order is the capture index (parallel decoders deliver out of order);
        # live sources may have dropped frames: their order is the arrival order
        self._live = list(live) if live is not None else [False] * n_sources
        self._seal_early = any(self._live)
        self._ended = 0
        self.tiles = tiles  # a TilePlan (models/tiling.py): wide frames take several batch items
        # where frames hold slots of bounded rings (FrameFeed.bounded: decoder processes), a part-filled batch may
        # hold the very frame the writer waits for while every ring is full of later frames: seal it after
        # `seal_idle` seconds with no frame coming
        self.seal_idle = seal_idle

    def context_of(self, source_id):
        # type: (int) -> int
        return source_id % len(self.contexts)

    def work(self, wid):
        clock = time.perf_counter
        adapter = self.adapter
        while True:
            with self._take:
                if self._ended >= self.n_sources:
                    return
                item = self.in_q.get(timeout=self._wait_time())
                if item is None:
                    self._seal_stale()
                    continue
                if isinstance(item, EndOfStream):
                    self._end_source(item)
                    continue
                c = self.context_of(item.source_id)
                n_items = 1
                if self.tiles is not None:
                    h, w = int(item.image.shape[0]), int(item.image.shape[1])
                    crops = self.tiles.crops(w, h, adapter.width, adapter.height)
                    if len(crops) > 1:
                        item.tiles = crops
                        n_items = len(crops)
                batch = self._open[c]
                if batch is not None and batch.items + n_items > batch.slot.context.batch:
                    self._seal(c)  # a tiled frame's items stay in one slot
                    batch = None
                if batch is None:
                    batch = self._open[c] = self._new_batch(c)
                slot = batch.slot
                pos = batch.items
                batch.items += n_items
                batch.claimed += 1
                slot.frames.append(item)
                item.slot_pos = pos
                sid = item.source_id
                item.seq = self._seq[sid] if self._live[sid] else item.index
                self._seq[sid] += 1
                if batch.items >= slot.context.batch or (
                        self._seal_early and self.batch_timeout <= 0 and self.in_q.empty()):
                    self._seal(c)
            t0 = clock()
            image = item.image
            if item.tiles is not None:
                item.meta = [fill_input(adapter, slot, pos + j, image[y0:y1, x0:x1])
                             for j, (x0, y0, x1, y1) in enumerate(item.tiles)]
            elif item.model_input is not None and item.input_pinned and slot.context.takes_host_items:
                # prepared by the source in page-locked memory: the engine copies it to the device from there at
                # launch (the frame holds it until the batch has run: postprocess)
                slot.host_items[pos] = (adapter.input.name, item.model_input)
            elif item.model_input is not None:  # prepared by the source: one copy into the pinned buffer
                slot.host_inputs[adapter.input.name][pos][...] = item.model_input
                item.input_read()
            else:  # a host image into the pinned buffer; a GPU-decoded frame noted, resized when the slot launches
                item.meta = fill_input(adapter, slot, pos, image)
            t1 = clock()
            item.t["preprocess"] = (t0, t1)
            self.stats.record(t1 - t0)
            with self._emit:
                batch.done += 1
                self._drain(c)

    # -- helpers (called with self._take held) --------------------------------------------------------------------
    def _new_batch(self, c):
        ctx = self.contexts[c]
        while True:
            slot = ctx.acquire(timeout=self.poll)
            if slot is not None:
                break
            if self.control.stop.is_set():
                raise Stopped()
        batch = _Batch(slot, time.perf_counter())
        with self._emit:
            self._order[c].append(batch)
        return batch

    def _wait_time(self):
        if self.seal_idle is not None and any(b is not None and b.claimed for b in self._open):
            return self.seal_idle
        if self.batch_timeout <= 0:
            return self.poll
        opened = [b.opened for b in self._open if b is not None and b.claimed]
        if not opened:
            return self.poll
        return max(0.0, min(opened) + self.batch_timeout - time.perf_counter())

    def _seal_stale(self):
        if self.seal_idle is not None:
            for c, b in enumerate(self._open):
                if b is not None and b.claimed:
                    self._seal(c)
            return
        if not self._seal_early:
            return
        now = time.perf_counter()
        for c, b in enumerate(self._open):
            if b is not None and b.claimed and now - b.opened >= self.batch_timeout:
                self._seal(c)

    def _seal(self, c):
        batch = self._open[c]
        if batch is None:
            return
        self._open[c] = None
        with self._emit:
            batch.sealed = True
            batch.slot.size = batch.items
            self._drain(c)

    def _end_source(self, eos):
        eos.count = self._seq[eos.source_id]
        c = self.context_of(eos.source_id)
        self._seal(c)
        with self._emit:
            self._order[c].append(eos)
            self._drain(c)
        self._ended += 1

    def _drain(self, c):
        """Pass on, in order, every sealed and fully written batch (and EOS markers) at the head (self._emit held)."""
        order = self._order[c]
        q = self.out_qs[c]
        while order:
            head = order[0]
            if isinstance(head, EndOfStream):
                q.put(head)
            elif head.sealed and head.done == head.claimed:
                if head.claimed:
                    q.put(head.slot)
                else:
                    head.slot.context.release(head.slot)
            else:
                return
            order.popleft()
