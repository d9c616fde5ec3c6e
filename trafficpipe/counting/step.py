"""Counting as an in-order pipeline step after tracking: line crossings and zone occupancy per frame, a summary at
the end."""
import json

from ..draw import draw_counts
from ..engines.device_frames import host_image
from ..models.classes import TRAFFIC_CLASSES
from ..pipeline.steps import FrameStep
from ..sinks.staged import StagedFile
from .counters import LineCounter, ZoneCounter, anchors
from .spec import check_in_frame


class CountStep(FrameStep):
    """Counts the tracked detections of one source against `regions` (counting.spec Lines and Zones).

    Per frame, `frame.extra["counts"]` = {"lines": {name: {"in": {cls: n}, "out": {...}}} (cumulative), "zones":
    {name: {cls: objects inside}}} and, in frames where a track crosses, `frame.extra["crossings"]`. At the end the
    summary JSON goes to `summary_path` (lines' totals, zones' visits, peak occupancy and dwell time per track).
    `time_of(frame)` gives a frame's time in seconds (the tracker's clock). `frame_size()` (the source's; None where
    not known yet) is asked again at the first frame, for a stream whose size was not known when the run started: a
    line or zone outside its frames ends the run in one line (CountSpecError) instead of counting nothing."""

    name = "count"

    def __init__(self, regions, summary_path, source_name, time_of, draw=False, frame_size=None):
        self.regions = regions
        self.frame_size = frame_size
        self.lines = [LineCounter(r) for r in regions if r.kind == "line"]
        self.zones = [ZoneCounter(r) for r in regions if r.kind == "zone"]
        self.summary_path = summary_path
        self.source_name = source_name
        self.time_of = time_of
        self.draw = draw
        self.frames = 0
        self.out = StagedFile(summary_path) if summary_path else None  # an earlier run's file is replaced when complete
        self.path = summary_path
        self.replaces = self.out is not None and self.out.replaces

    def process(self, frame):
        if self.frames == 0 and self.frame_size is not None:
            size = self.frame_size()
            if size:
                check_in_frame(self.regions, size[0], size[1], self.source_name)
        d = frame.detections
        t = self.time_of(frame)
        if d.track_ids is not None and len(d):
            m = d.track_ids > 0
            ids = d.track_ids[m].tolist()
            pts = anchors(d.boxes[m])
            classes = [TRAFFIC_CLASSES[c] for c in d.class_ids[m].tolist()]
        else:
            ids, pts, classes = [], anchors(d.boxes[:0]), []
        crossings = []
        for lc in self.lines:
            for tid, direction, cls in lc.update(ids, pts, classes, t):
                crossings.append({"line": lc.line.name, "track_id": tid, "dir": direction, "cls": cls})
        counts = {"lines": dict((lc.line.name, lc.record()) for lc in self.lines),
                  "zones": dict((zc.zone.name, zc.update(ids, pts, classes, t)) for zc in self.zones)}
        if frame.extra is None:
            frame.extra = {}
        frame.extra["counts"] = counts
        if crossings:
            frame.extra["crossings"] = crossings
        self.frames += 1
        if self.frames % 300 == 0:
            for lc in self.lines:
                lc.forget(t)
        if self.draw:
            image = host_image(frame)
            if image is not None:
                draw_counts(image, [lc.line for lc in self.lines], [zc.zone for zc in self.zones], counts)

    def summary(self):
        # type: () -> dict
        lines = {}
        for lc in self.lines:
            r = lc.record()
            r["points"] = [list(lc.line.p1), list(lc.line.p2)]
            r["total"] = sum(r["in"].values()) + sum(r["out"].values())
            lines[lc.line.name] = r
        return {"source": self.source_name, "frames": self.frames, "lines": lines,
                "zones": dict((zc.zone.name, zc.summary()) for zc in self.zones)}

    def close(self):
        """Put the summary in place (replacing an earlier run's); a run that counted no frame leaves that one as it
        was."""
        if self.out is not None:
            self.out.close(self.frames, self._write_summary)

    def _write_summary(self, f):
        json.dump(self.summary(), f, indent=1)
        f.write("\n")

    def discard(self):
        if self.out is not None:
            self.out.discard()
