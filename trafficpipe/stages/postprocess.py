"""Postprocess: W workers decode each collected slot into Detections, release the slot, draw, and route to writers."""
import threading
import time

from ..draw import draw_detections
from ..engines.device_frames import host_image
from ..models.tiling import merge_tiles
from ..pipeline.control import Stage
from ..pipeline.frame import EndOfStream


_ALL_ENDED = object()  # put by the worker that passed the last EndOfStream, one for each other worker


class PostprocessStage(Stage):
    name = "postprocess"

    def __init__(self, control, in_q, writer_qs, adapter, output_names, n_sources, workers=1, draw=True,
                 keep_outputs=False, poll=0.1):
        super(PostprocessStage, self).__init__(control, workers=workers)
        self.in_q = in_q
        self.writer_qs = writer_qs
        self.adapter = adapter
        self.output_names = list(output_names)
        self.n_sources = n_sources
        self.draw = draw
        self.keep_outputs = keep_outputs
        self.poll = poll
        self._lock = threading.Lock()
        self._ended = 0

    def work(self, wid):
        clock = time.perf_counter
        post = self.adapter.postprocess
        batched = getattr(self.adapter, "postprocess_batch", None)  # a whole slot at once (models/device_io.py)
        names = self.output_names
        nq = len(self.writer_qs)
        while True:
            item = self.in_q.get(timeout=self.poll)
            if item is None or item is _ALL_ENDED:
                if self._ended >= self.n_sources:
                    return
                continue
            if isinstance(item, EndOfStream):
                self.writer_qs[item.source_id % nq].put(item)
                with self._lock:
                    self._ended += 1
                    last = self._ended == self.n_sources
                if last:  # nothing more will come: end now, and wake the other workers (not one poll later)
                    for _ in range(self.workers - 1):
                        self.in_q.put(_ALL_ENDED)
                    return
                continue
            slot = item
            frames = list(slot.frames)
            t0 = clock()
            if batched is not None and all(f.tiles is None and f.slot_pos == i for i, f in enumerate(frames)):
                # the slot's first n images, in order: decoded together
                dets = batched([slot.host_outputs[name][:len(frames)] for name in names], [f.meta for f in frames])
                for f, d in zip(frames, dets):
                    f.detections = d
            else:
                for f in frames:
                    pos = f.slot_pos
                    if f.tiles is None:
                        f.detections = post(slot.output_list(names, pos), f.meta)
                    else:  # the whole frame and its tiles: merged into one frame's detections
                        f.detections = merge_tiles(
                            [post(slot.output_list(names, pos + j), m) for j, m in enumerate(f.meta)], f.tiles,
                            f.tiles[0][2], f.tiles[0][3], self.adapter.iou, self.adapter.max_det)
            if self.keep_outputs:
                for f in frames:
                    f.outputs = [o.copy() for o in slot.output_list(names, f.slot_pos)]
            slot.context.release(slot)
            for f in frames:  # a model input the engine read from where the source prepared it: done with now
                f.input_read()
            if self.draw:
                for f in frames:
                    draw_detections(host_image(f), f.detections)
            t1 = clock()
            self.stats.record(t1 - t0, len(frames))
            for f in frames:
                f.t["postprocess"] = (t0, t1)
                self.writer_qs[f.source_id % nq].put(f)
