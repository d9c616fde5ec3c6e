"""File sinks: annotated video (mp4), JSON lines, annotated images and the course's detection-results text files."""
import json
import os

import cv2

from ..errors import SinkError
from ..models.classes import TRAFFIC_CLASSES
from .base import Sink

SINK_KINDS = ("video", "jsonl", "images", "txt")


def _ensure_dir(path):
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise SinkError("cannot create output folder %s: %s" % (path, e.strerror or e))
    if not os.access(path, os.W_OK):
        raise SinkError("output folder %s is not writable" % path)


class VideoSink(Sink):
    """An MPEG-4 (mp4v) video of the annotated frames, same size and fps as the source."""

    needs_image = True

    def __init__(self, path, fps, size):
        _ensure_dir(os.path.dirname(path) or ".")
        self.path = path
        self.fps = fps or 30.0
        self.size = size  # (width, height); taken from the first frame when 0
        self.writer = None
        self.frames = 0

    def _open(self, w, h):
        self.writer = cv2.VideoWriter(self.path, cv2.VideoWriter_fourcc(*"mp4v"), float(self.fps), (w, h))
        if not self.writer.isOpened():
            raise SinkError("cannot write video %s" % self.path)
        self.size = (w, h)

    def write(self, frame):
        img = frame.image
        h, w = img.shape[:2]
        if self.writer is None:
            self._open(w, h)
        if (w, h) != tuple(self.size):
            img = cv2.resize(img, tuple(self.size))
        self.writer.write(img)
        self.frames += 1

    def close(self):
        if self.writer is not None:
            self.writer.release()
            self.writer = None


class JsonlSink(Sink):
    """One JSON object per frame: source, frame index, time (s), detections [{cls, score, box}] (image for image sets)."""

    def __init__(self, path, source_name):
        _ensure_dir(os.path.dirname(path) or ".")
        self.path = path
        self.source_name = source_name
        try:
            self.f = open(path, "w")
        except (IOError, OSError) as e:
            raise SinkError("cannot write %s: %s" % (path, e.strerror or e))
        self._lines = {}  # frame index -> its line, formatted ahead of its turn (`prepare`)

    def _line(self, frame):
        rec = {"source": self.source_name, "frame": frame.index,
               "t": round(frame.pts, 4) if frame.pts is not None else None,
               "detections": frame.detections.to_records()}
        path = getattr(frame, "path", None)
        if path:
            rec["image"] = path
        return json.dumps(rec, separators=(",", ":")) + "\n"

    def prepare(self, frame):
        self._lines[frame.index] = self._line(frame)

    def write(self, frame):
        line = self._lines.pop(frame.index, None)
        self.f.write(line if line is not None else self._line(frame))

    def close(self):
        if not self.f.closed:
            self.f.close()


def _image_stem(frame, source_name):
    path = getattr(frame, "path", None)
    if path:
        return os.path.splitext(os.path.basename(path))[0]
    return "%s_%06d" % (source_name, frame.index)


class ImageSink(Sink):
    """Annotated images, one file per frame, named after the input image."""

    needs_image = True

    def __init__(self, folder, source_name):
        _ensure_dir(folder)
        self.folder = folder
        self.source_name = source_name

    def write(self, frame):
        path = os.path.join(self.folder, _image_stem(frame, self.source_name) + ".jpg")
        if not cv2.imwrite(path, frame.image):
            raise SinkError("cannot write image %s" % path)


class TxtSink(Sink):
    """The course's detection-results format: `<name>.txt` with `class score x1 y1 x2 y2` lines."""

    def __init__(self, folder, source_name):
        _ensure_dir(folder)
        self.folder = folder
        self.source_name = source_name

    def write(self, frame):
        d = frame.detections
        lines = ["%s %.6f %d %d %d %d" % (TRAFFIC_CLASSES[c], s, round(b[0]), round(b[1]), round(b[2]), round(b[3]))
                 for c, s, b in zip(d.class_ids.tolist(), d.scores.tolist(), d.boxes.tolist())]
        with open(os.path.join(self.folder, _image_stem(frame, self.source_name) + ".txt"), "w") as f:
            f.write("\n".join(lines) + ("\n" if lines else ""))


def video_sink(path, fps, size):
    """The annotated-video sink of the --video-encoder setting: NVENC (sinks/nvenc.py) where used, else OpenCV."""
    from .nvenc import NvencVideoSink, use_nvenc
    if use_nvenc():
        return NvencVideoSink(path, fps, size)
    return VideoSink(path, fps, size)


def make_sinks(kinds, out_dir, source, image_set):
    """The sinks of `kinds` for one source under `out_dir`: <name>.mp4, <name>.jsonl, <name>/ images, <name>/detection-results/."""
    sinks = []
    name = source.name
    for kind in kinds:
        if kind == "video" and not image_set:
            sinks.append(video_sink(os.path.join(out_dir, name + ".mp4"), source.fps, (source.width, source.height)))
        elif kind == "images" and image_set:
            sinks.append(ImageSink(os.path.join(out_dir, name), name))
        elif kind == "jsonl":
            sinks.append(JsonlSink(os.path.join(out_dir, name + ".jsonl"), name))
        elif kind == "txt":
            sinks.append(TxtSink(os.path.join(out_dir, name, "detection-results") if not image_set
                                 else os.path.join(out_dir, "detection-results"), name))
        elif kind not in SINK_KINDS:
            raise SinkError("unknown output kind %r; choose from %s" % (kind, ", ".join(SINK_KINDS)))
    return sinks
