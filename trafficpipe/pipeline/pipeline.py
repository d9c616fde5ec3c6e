"""Pipeline assembly: sources -> capture -> preprocess -> infer -> postprocess -> write, and its run summary."""
import os
import time

from ..errors import SourceError, TrafficpipeError
from ..log import logger
from ..run_config import RunConfig
from ..sinks.files import make_sinks
from ..sinks.outputs import check_distinct, log_replaced
from ..sources.base import SourceState, output_names
from ..sources.factory import open_feeds, open_source
from ..sources.feed import FeedPlan
from ..sources.images import ImageSource
from ..stages import CaptureStage, InferStage, PostprocessStage, PreprocessStage, WriteStage
from .control import Control
from .damage import note_lost_frames
from .inputs import check_outputs_apart, named_sources
from .metrics import merged_percentiles
from .queues import StageQueue



class RunSummary(dict):
    """What `Pipeline.run()` returns: frames in/out/dropped, wall time, fps, per-stage and per-source figures.

    `sources[i]`: the source's describe() plus frames_in (captured), frames_out (written), dropped (evicted by
    drop-oldest, or lost by a replayed camera whose reader was behind), unwritten (captured, neither dropped nor
    written: between capture and the writer when the run was halted), fps (written / wall), latency_ms
    (capture -> written p50/p95/p99), reconnects, state, error.
    `decoders`: where each decoder process's time went (`--decode-processes`; empty without).
    `wall_s` runs from the first frame's read to the last stage's end (every output written and closed);
    `teardown_s` is the time then taken to release the decoder processes and engine contexts, outside it.
    """

    def __getattr__(self, key):
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key)



class Pipeline(object):
    """A threaded detection pipeline over one or more sources, with one detector shared by all.

    `sources`: URIs or opened Source objects. `config`: a RunConfig (run_config.py; None: `RunConfig.defaults()`, the
    CPU defaults), whose layout (`RunConfig.layout`: batch, contexts, slots, queue depths, workers) the run is built
    of. `outputs`: sink kinds ("video", "jsonl", "images", "txt") written under `out_dir` per source; `sinks` may
    instead give extra Sink lists per source. `steps(source, draw)`: the in-order FrameSteps of a source
    (pipeline/steps.py: tracking, counting), run by the writer in frame order before the sinks; where a source has
    steps they draw its frames (`draw` says whether a sink needs the picture) and postprocess does not. `on_frame(frame)`
    is called once each frame is written. `on_start()` is called in `run()` once the engine contexts are built, just
    before the first frame is read (the timed run starts after it returns; an exception from it ends the run). `tiles`:
    a TilePlan (models/tiling.py) for tiled inference of frames far wider or taller than the model's input (the batch
    is then raised to hold one frame's tiles). `draw`: whether postprocess draws the detections (default: where a sink
    needs the picture); `keep_outputs`: keep each frame's raw model outputs (`Frame.outputs`).
    """

    def __init__(self, sources, detector, config=None, out_dir=None, outputs=("video", "jsonl"), sinks=None,
                 steps=None, on_frame=None, on_start=None, tiles=None, draw=None, keep_outputs=False):
        if not isinstance(sources, (list, tuple)):
            sources = [sources]
        if not sources:
            raise TrafficpipeError("a Pipeline needs at least one source")
        if out_dir and steps is None and set(outputs) & {"mot", "tracks"}:
            raise TrafficpipeError("the mot and tracks outputs need tracking: give steps=tracking_steps(...) "
                                   "(from trafficpipe.tracking.steps)")
        self.detector = detector
        self.sources = []
        try:
            for s in sources:
                if s is None or not (isinstance(s, str) or hasattr(s, "__fspath__") or hasattr(s, "read")):
                    raise SourceError("a Pipeline source is a URI, a path or an opened Source, not %r" % (s,))
                self.sources.append(s if hasattr(s, "read") else open_source(str(s)))
        except Exception:
            for s in self.sources:
                s.close()
            raise
        _unique_names(self.sources)
        self.config = config if config is not None else RunConfig.defaults()
        self.out_dir = out_dir
        self.outputs = tuple(outputs) if out_dir else ()
        self.extra_sinks = sinks
        self.keep_outputs = keep_outputs
        self.on_frame = on_frame
        self.draw = draw
        self.control = Control()
        self.summary = None
        self._ran = False
        self.stages = []  # type: list  # the stage objects of the last run (their StageStats), for bench and plots
        self.on_start = on_start  # called once the engine contexts are ready, just before the first frame is read
        if tiles is not None:  # video files of a near-model shape: no tiles, so neither a larger batch
            from .tile_check import plan_for_sources
            tiles = plan_for_sources(tiles, self.sources, detector.adapter.width, detector.adapter.height)
        self.tiles = tiles  # a TilePlan: tiled inference for frames far wider or taller than the model's input
        # a tiled frame's items (whole frame + tiles) go in one slot
        self.layout = self.config.layout(detector.engine, len(self.sources), tiles.max_items if tiles else 1)
        self.steps = steps  # make_steps(source, draw) -> in-order FrameSteps of that source (tracking, counting)

    #: seconds `stop()` lets the frames already read reach the writer before every stage is stopped
    drain_timeout = 10.0

    def stop(self, drain=True):
        """End the run (from another thread); `run()` then returns what was written. The sources read no more; with
        `drain` the frames already read are still processed and written (for up to `drain_timeout` seconds),
        without it every stage stops at once and those frames are counted as `unwritten`."""
        if drain:
            self.control.end_input.set()
        else:
            self.control.halt()

    def _build_sinks(self):
        if self.out_dir:  # before anything is written: no output lands on an input
            check_outputs_apart(self.out_dir, self.outputs, named_sources(self.sources))
        sinks = []
        try:
            image_sets = [s for s in self.sources if isinstance(s, ImageSource)]
            txt_folder = "detection-results" if (
                self.out_dir and len(image_sets) == 1 and "txt" in self.outputs) else None
            for i, src in enumerate(self.sources):
                image_set = isinstance(src, ImageSource)
                own = make_sinks(self.outputs, self.out_dir, src, image_set, txt_folder if image_set else None) \
                    if self.out_dir else []
                sinks.append(own)
                if self.extra_sinks:
                    own.extend(self.extra_sinks[i] or [])
            check_distinct(sinks)
        except BaseException:
            _discard(sinks)
            raise
        return sinks

    def run(self):
        # type: () -> RunSummary
        """Run to the end of every source. Re-raises the first stage error; Ctrl-C closes outputs, then re-raises."""
        if self._ran:
            raise TrafficpipeError("this Pipeline has run (its sources are read): make another one to run again")
        self._ran = True
        det, ctl = self.detector, self.control
        n_src = len(self.sources)
        sinks = self._build_sinks()
        draw = self.draw if self.draw is not None else any(s.needs_image for ss in sinks for s in ss)
        # in-order steps draw in the writer (after tracking): postprocess then leaves the image alone
        steps = []
        try:
            if self.steps is not None:
                for src in self.sources:
                    steps.append(list(self.steps(src, draw)))
        except BaseException:
            _discard(sinks + steps)
            raise
        log_replaced(sinks + steps)  # the steps' own outputs (counts) too
        steps = steps if self.steps is not None else None
        lay = self.layout
        try:
            contexts = [det.engine.create_context(lay.slots, lay.batch) for _ in range(lay.contexts)]
        except BaseException:
            _discard(sinks + (steps or []))
            raise
        per_ctx = [sum(1 for s in range(n_src) if s % lay.contexts == c) for c in range(lay.contexts)]
        cap_q = StageQueue(lay.queue_size, ctl.stop, "capture->preprocess", fair=n_src > 1)
        for i, src in enumerate(self.sources):
            if src.live:
                cap_q.capacities[i] = lay.live_queue_size
        pre_qs = [StageQueue(lay.infer_queue, ctl.stop, "preprocess->infer[%d]" % c) for c in range(lay.contexts)]
        post_q = StageQueue(lay.collect_queue, ctl.stop, "infer->postprocess")
        write_qs = [StageQueue(lay.write_queue, ctl.stop, "postprocess->write[%d]" % w) for w in range(lay.writers)]
        try:
            # the frame feeds, given what they may need of the run in one plan (decoder processes size their rings
            # from it, and page-lock them where the engine copies inputs to the device straight from host memory)
            pin_host = getattr(contexts[0].runtime, "pin_host", None) if contexts[0].takes_host_items else None
            plan = FeedPlan(self.config.max_frames, lay.decode_workers, lay.decode_processes,
                            det.adapter if self.tiles is None else None, bool(draw or self.keep_outputs),
                            lay.queue_size, lay.engine_frames, pin_host)
            feeds = open_feeds(self.sources, plan, ctl.end_input)
        except BaseException:
            for c in contexts:
                c.close()
                det.engine.contexts.remove(c)
            _discard(sinks + (steps or []))
            raise
        capture = CaptureStage(ctl, feeds, cap_q)
        pre = PreprocessStage(ctl, cap_q, pre_qs, contexts, det.adapter, n_src, lay.preprocess_workers,
                              lay.batch_timeout, live=[s.live for s in self.sources], tiles=self.tiles,
                              seal_idle=0.01 if any(f.bounded for f in feeds) else None)
        infer = InferStage(ctl, pre_qs, post_q, contexts, per_ctx, lay.depth)
        post = PostprocessStage(ctl, post_q, write_qs, det.adapter, det.output_names, n_src, lay.postprocess_workers,
                                draw and not (steps and any(steps)), self.keep_outputs)
        write = WriteStage(ctl, write_qs, sinks, self.on_frame, steps=steps, progress=[f.progress for f in feeds])
        stages = self.stages = [capture, pre, infer, post, write]
        logger.debug("pipeline: {} source(s), batch {}, {} context(s) x {} slots, workers pre {} post {} write {}",
                     n_src, lay.batch, lay.contexts, lay.slots, pre.workers, post.workers, write.workers)
        t0 = time.perf_counter()
        interrupted = False
        try:
            if self.on_start is not None:
                self.on_start()
                t0 = time.perf_counter()
            self.t0 = t0  # the run's clock (perf_counter), for callers placing events on it
            for st in reversed(stages):
                st.start()
            drain_until = None
            while not write.ended.is_set() and not ctl.stop.is_set():
                # wait on an event, not write.join(): a Ctrl-C that interrupts Thread.join() can leave the thread
                # looking ended to later joins (CPython), and the summary would then miss its last frames
                write.ended.wait(0.1)
                if ctl.end_input.is_set():  # stop(): the frames already read have drain_timeout to be written
                    drain_until = drain_until or time.perf_counter() + self.drain_timeout
                    if time.perf_counter() > drain_until and not write.ended.is_set():
                        logger.warning("stopping: the frames already read were not all written within {:.0f} s",
                                       self.drain_timeout)
                        break
        except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM (errors.Terminated)
            interrupted = e
            logger.warning("interrupted: closing outputs")
        finally:
            ctl.halt()  # after a normal end every stage has already finished; otherwise this stops them
            for st in stages:
                st.join(5.0)
            # the run ends when its last stage has (every output written and closed); releasing what it held
            # (decoder processes, engine contexts) is not part of it, as building them before t0 is not
            t_end = time.perf_counter()
            self.cpu_at_end = time.process_time()  # process CPU seconds then (the bench's CPU per frame ends here)
            for c in contexts:  # first: their in-flight copies may read the decoder processes' rings
                c.close()
                if c in det.engine.contexts:
                    det.engine.contexts.remove(c)
            capture.close()
            stuck = [t.name for st in stages for t in st.threads if t.is_alive()]
            if stuck:
                logger.warning("threads still running after stop: {}", ", ".join(stuck))
        wall = t_end - t0
        teardown = time.perf_counter() - t_end
        queues = [cap_q] + pre_qs + [post_q] + write_qs
        self.summary = self._summarize(stages, queues, wall, bool(interrupted), capture, write, feeds)
        self.summary["teardown_s"] = teardown
        if interrupted:
            raise interrupted
        if ctl.error is not None:
            raise ctl.error
        return self.summary

    def _summarize(self, stages, queues, wall, interrupted, capture, write, feeds):
        per_source = []
        for i, src in enumerate(self.sources):
            d = src.describe()
            evicted = sum(q.dropped_by_source.get(i, 0) for q in queues)
            d.update({"frames_in": capture.frames_in[i], "frames_out": write.frames_out[i],
                      "dropped": evicted + getattr(src, "late", 0),
                      "unwritten": max(0, capture.frames_in[i] - write.frames_out[i] - evicted),
                      "fps": write.frames_out[i] / wall if wall > 0 else 0.0,
                      "latency_ms": write.latencies[i].percentiles((50, 95, 99), 1000.0)})
            if not isinstance(src, ImageSource):  # frames lost to damage within the frames this run read
                note_lost_frames(d, src, feeds[i].progress.gaps, self.config.max_frames)
            per_source.append(d)
        frames_in = sum(capture.frames_in)
        frames_out = sum(write.frames_out)
        dropped = sum(q.dropped for q in queues) + sum(getattr(s, "late", 0) for s in self.sources)
        lat = merged_percentiles(write.latencies, (50, 95, 99), 1000.0)
        return RunSummary(
            frames_in=frames_in, frames_out=frames_out, dropped=dropped, wall_s=wall,
            fps=frames_out / wall if wall > 0 else 0.0, interrupted=interrupted,
            failed_sources=[s.name for s in self.sources if s.state == SourceState.FAILED],
            truncated_sources=[d["name"] for d in per_source if d["truncated"]],
            stages=_stage_summaries(stages, write, wall),
            queues=[q.stats() for q in queues], latency_ms=lat, sources=per_source,
            decoders=capture.timing(),
            detector=self.detector.describe(), batch=self.layout.batch, contexts=self.layout.contexts,
            out_dir=os.path.abspath(self.out_dir) if self.out_dir else None)


def _stage_summaries(stages, write, wall):
    """Each stage's StageStats summary, and those of the writer's in-order steps (e.g. "track") after postprocess."""
    out = {}
    for st in stages:
        if st is write:
            for name, stats in write.step_stats.items():
                out[name] = stats.summary(wall)
        out[st.name] = st.stats.summary(wall)
    return out


def _unique_names(sources):
    """Give every source its own output name (sources/base.py `output_names`)."""
    for s, name in zip(sources, output_names([s.uri for s in sources], [s.name for s in sources])):
        s.name = name


def _discard(per_source):
    """Drop what each source's sinks and steps wrote (a run that could not start): earlier outputs stay as they were."""
    for own in per_source:
        for item in own:
            item.discard()
