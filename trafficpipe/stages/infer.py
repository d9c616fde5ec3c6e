"""Inference: one thread per execution context. Submits slot k, then collects slot k-1 while slot k computes."""
import time

from ..pipeline.control import Stage
from ..pipeline.frame import EndOfStream


class InferStage(Stage):
    """Thread i drives context i: keeps up to `depth` slots in flight, passes collected slots on in submission order."""

    name = "infer"

    def __init__(self, control, in_qs, out_q, contexts, sources_per_context, depth=2):
        super(InferStage, self).__init__(control, workers=len(contexts))
        self.in_qs = in_qs
        self.out_q = out_q
        self.contexts = contexts
        self.sources_per_context = sources_per_context
        self.depth = max(1, int(depth))

    def work(self, i):
        ctx, q, out = self.contexts[i], self.in_qs[i], self.out_q
        remaining = self.sources_per_context[i]
        clock = time.perf_counter
        record = self.stats.record
        while remaining > 0:
            item = q.get(timeout=0 if ctx.pending() else None)
            if item is None:  # nothing new: finish the oldest in flight
                self._collect(ctx, out, clock, record)
                continue
            if isinstance(item, EndOfStream):
                while ctx.pending():
                    self._collect(ctx, out, clock, record)
                out.put(item)
                remaining -= 1
                continue
            t0 = clock()
            item.t_submit = t0
            ctx.submit(item)
            item.t_done = clock()  # end of submit for now; the collect time is added to it in _collect
            if ctx.pending() >= self.depth:
                self._collect(ctx, out, clock, record)

    @staticmethod
    def _collect(ctx, out, clock, record):
        t0 = clock()
        slot = ctx.collect()
        t1 = clock()
        # one item per slot: this thread's submit + collect time; its latency runs from submit to collected
        record((slot.t_done - slot.t_submit) + (t1 - t0), slot.size, t1 - slot.t_submit)
        slot.t_done = t1
        for f in slot.frames:
            f.t["infer"] = (slot.t_submit, t1)
        out.put(slot)
