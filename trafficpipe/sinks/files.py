"""File sinks: annotated video (mp4), JSON lines, annotated images and the VOC mAP tool's detection-results text files."""
import json
import os

import cv2

from ..errors import SinkError
from ..models.classes import TRAFFIC_CLASSES
from .base import Sink
from .tracks import MotSink, TrackSummarySink

#: output kinds; "mot" (MOTChallenge text) and "tracks" (per-track summary) need tracking
SINK_KINDS = ("video", "jsonl", "images", "txt", "mot", "tracks")


def _ensure_dir(path):
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise SinkError("cannot create output folder %s: %s" % (path, e.strerror or e))
    if not os.access(path, os.W_OK):
        raise SinkError("output folder %s is not writable" % path)


def _ensure_parent(path):
    folder = os.path.dirname(path)
    if folder and not os.path.isdir(folder):
        _ensure_dir(folder)


def temp_name(path):
    # type: (str) -> str
    """Where `path` is written until it is complete: a hidden name beside it, same extension (writers pick their
    format from it). The finished file replaces `path` in one rename, so a failed run never leaves it half-written
    or truncated."""
    folder, base = os.path.split(path)
    stem, ext = os.path.splitext(base)
    return os.path.join(folder, ".%s.partial%s" % (stem, ext))


def _remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


def _finish(tmp, path, keep):
    """Move a finished temporary file onto `path` (when `keep`), else drop it."""
    if keep:
        os.replace(tmp, path)
    else:
        _remove(tmp)


class VideoSink(Sink):
    """An MPEG-4 (mp4v) video of the annotated frames, same size and fps as the source."""

    needs_image = True

    def __init__(self, path, fps, size):
        if os.path.isdir(path):
            raise SinkError("cannot write video %s: a folder of that name is in the way" % path)
        self.replaces = os.path.exists(path)  # an earlier output of this name, replaced once this one is complete
        _ensure_dir(os.path.dirname(path) or ".")
        self.path = path
        self.fps = fps or 30.0
        self.size = size  # (width, height); taken from the first frame when 0
        self.writer = None
        self.frames = 0

    def _open(self, w, h):
        self.writer = cv2.VideoWriter(temp_name(self.path), cv2.VideoWriter_fourcc(*"mp4v"), float(self.fps), (w, h))
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
        """Finish the video and put it in place (replacing an older one); no frame written: nothing is replaced."""
        if self.writer is not None:
            self.writer.release()
            self.writer = None
            _finish(temp_name(self.path), self.path, self.frames > 0)

    def discard(self):
        """Drop what was written (a run that could not start): an existing file of this name stays as it was."""
        if self.writer is not None:
            self.writer.release()
            self.writer = None
            _remove(temp_name(self.path))


class JsonlSink(Sink):
    """One JSON object per frame: source, frame index, time (s), detections [{cls, score, box}] (image for image sets)."""

    def __init__(self, path, source_name):
        if os.path.isdir(path):
            raise SinkError("cannot write %s: a folder of that name is in the way" % path)
        self.replaces = os.path.exists(path)
        _ensure_dir(os.path.dirname(path) or ".")
        self.path = path
        self.source_name = source_name
        self.frames = 0
        self.placed = False  # the file has its own name (from its first frame on)
        try:
            self.f = open(temp_name(path), "w")
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
        if frame.extra:
            rec.update(frame.extra)
        return json.dumps(rec, separators=(",", ":")) + "\n"

    def prepare(self, frame):
        self._lines[frame.index] = self._line(frame)

    def write(self, frame):
        line = self._lines.pop(frame.index, None)
        self.f.write(line if line is not None else self._line(frame))
        self.frames += 1
        if self.frames == 1:  # the first frame is in: the file takes its name (and can be followed while a run goes on)
            self._place()

    def _place(self):
        try:
            os.replace(self.f.name, self.path)
            self.placed = True
        except OSError:  # a system that cannot rename an open file: it is moved when closed
            pass

    def close(self):
        """Finish the file (in place from its first frame on); with no frame written an existing file is kept."""
        if not self.f.closed:
            self.f.close()
            if not self.placed:
                _finish(self.f.name, self.path, self.frames > 0 or not os.path.exists(self.path))

    def discard(self):
        """Drop what was written (a run that could not start): an existing file of this name stays as it was."""
        if not self.f.closed:
            self.f.close()
            _remove(self.f.name)


def _image_stem(frame, source):
    path = getattr(frame, "path", None)
    if path:
        stem = getattr(source, "output_stem", None)
        return stem(path) if stem is not None else os.path.splitext(os.path.basename(path))[0]
    return "%s_%06d" % (source.name, frame.index)


class ImageSink(Sink):
    """Annotated images, one file per frame, named after the input image (its path within the set, `image_stems`)."""

    needs_image = True

    def __init__(self, folder, source):
        self.replaces = os.path.isdir(folder) and bool(os.listdir(folder))
        _ensure_dir(folder)
        self.folder = folder
        self.path = folder
        self.source = source

    def write(self, frame):
        path = os.path.join(self.folder, _image_stem(frame, self.source) + ".jpg")
        _ensure_parent(path)
        tmp = temp_name(path)
        if not cv2.imwrite(tmp, frame.image):
            _remove(tmp)
            raise SinkError("cannot write image %s" % path)
        os.replace(tmp, path)


class TxtSink(Sink):
    """The VOC mAP tool's detection-results format: `<name>.txt` with `class score x1 y1 x2 y2` lines."""

    def __init__(self, folder, source):
        self.replaces = os.path.isdir(folder) and bool(os.listdir(folder))
        _ensure_dir(folder)
        self.folder = folder
        self.path = folder
        self.source = source

    def write(self, frame):
        d = frame.detections
        lines = ["%s %.6f %d %d %d %d" % (TRAFFIC_CLASSES[c], s, round(b[0]), round(b[1]), round(b[2]), round(b[3]))
                 for c, s, b in zip(d.class_ids.tolist(), d.scores.tolist(), d.boxes.tolist())]
        path = os.path.join(self.folder, _image_stem(frame, self.source) + ".txt")
        _ensure_parent(path)
        tmp = temp_name(path)
        with open(tmp, "w") as f:
            f.write("\n".join(lines) + ("\n" if lines else ""))
        os.replace(tmp, path)


def video_sink(path, fps, size):
    """The annotated-video sink of the --video-encoder setting: NVENC (sinks/nvenc.py) where used, else OpenCV."""
    from .nvenc import NvencVideoSink, use_nvenc
    if use_nvenc():
        return NvencVideoSink(path, fps, size)
    return VideoSink(path, fps, size)


def make_sinks(kinds, out_dir, source, image_set, txt_folder=None):
    """The sinks of `kinds` for one source under `out_dir`: <name>.mp4, <name>.jsonl, <name>/ images,
    <name>/detection-results/ (`txt_folder` instead where given: the one image set of a run uses the VOC mAP tool's
    `out_dir/detection-results/`), <name>.mot.txt, <name>.tracks.json."""
    sinks = []
    name = source.name
    for kind in kinds:
        if kind == "video" and not image_set:
            sinks.append(video_sink(os.path.join(out_dir, name + ".mp4"), source.fps, (source.width, source.height)))
        elif kind == "images" and image_set:
            sinks.append(ImageSink(os.path.join(out_dir, name), source))
        elif kind == "jsonl":
            sinks.append(JsonlSink(os.path.join(out_dir, name + ".jsonl"), name))
        elif kind == "txt":
            sinks.append(TxtSink(txt_folder or os.path.join(out_dir, name, "detection-results"), source))
        elif kind == "mot":
            sinks.append(MotSink(os.path.join(out_dir, name + ".mot.txt")))
        elif kind == "tracks":
            sinks.append(TrackSummarySink(os.path.join(out_dir, name + ".tracks.json"), name))
        elif kind not in SINK_KINDS:
            raise SinkError("unknown output kind %r; choose from %s" % (kind, ", ".join(SINK_KINDS)))
    return sinks
