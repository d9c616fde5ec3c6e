"""File sinks: annotated video (mp4), JSON lines, annotated images and the VOC mAP tool's detection-results text files."""
import json
import os

import cv2

from ..errors import SinkError
from ..models.classes import TRAFFIC_CLASSES
from .base import Sink, temp_name
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


def temp_folder(folder):
    # type: (str) -> str
    """Where the folder output `folder` is written until it is complete: `.name.partial` beside it."""
    parent, base = os.path.split(folder.rstrip("/\\"))
    return os.path.join(parent, ".%s.partial" % base)


def _remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


def remove_tree(path):
    """Remove a folder and what it holds, if it is there."""
    import shutil
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        _remove(path)


def replace_folder(staged, folder, keep=()):
    """Put the finished folder `staged` in place of `folder`, so that it holds only the new run's files: entries of
    the old one named in `keep` (other outputs nested in it, with their staging folders) are carried over into the new
    one, the rest of the old folder is removed."""
    try:
        if os.path.isdir(folder):
            for name in keep:
                for entry in (name, os.path.basename(temp_folder(name))):
                    old, new = os.path.join(folder, entry), os.path.join(staged, entry)
                    if os.path.lexists(old) and not os.path.lexists(new):
                        os.rename(old, new)
            parent, base = os.path.split(folder.rstrip("/\\"))
            aside = os.path.join(parent, ".%s.replaced" % base)
            remove_tree(aside)
            os.rename(folder, aside)
            os.rename(staged, folder)
            remove_tree(aside)
        else:
            os.rename(staged, folder)
    except OSError as e:
        raise SinkError("cannot put %s in place: %s" % (folder, e.strerror or e))


def own_entries(folder, keep=()):
    # type: (str, tuple) -> list
    """What an earlier run left in the folder output `folder` (its hidden staging entries and `keep` left out)."""
    try:
        names = os.listdir(folder) if os.path.isdir(folder) else []
    except OSError:
        return []
    return [n for n in names if not n.startswith(".") and n not in keep]


def _reads_back(path):
    # type: (str) -> bool
    """Whether the video file `path` opens and its first frame decodes."""
    cap = cv2.VideoCapture(path)
    try:
        return bool(cap.isOpened() and cap.read()[0])
    finally:
        cap.release()


def _cut_to_last_line(path):
    """Cut the text file `path` back to its last whole line (a write that failed midway left part of one)."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb+") as f:
            f.seek(max(0, size - (1 << 20)))
            tail = f.read()
            end = tail.rfind(b"\n")
            f.truncate(size - len(tail) + end + 1)
    except (IOError, OSError):
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
        """Finish the video and put it in place (replacing an older one); no frame written: nothing is replaced. A
        video that does not read back (the disk filled up: OpenCV's writer reports nothing) replaces nothing either:
        SinkError."""
        if self.writer is not None:
            self.writer.release()
            self.writer = None
            tmp = temp_name(self.path)
            if self.frames > 0 and not _reads_back(tmp):
                _remove(tmp)
                raise SinkError("cannot write video %s: it does not read back (is the disk full?)%s" % (
                    self.path, "; the earlier one is kept" if self.replaces else ""))
            _finish(tmp, self.path, self.frames > 0)

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
        try:
            self.f.write(line if line is not None else self._line(frame))
        except (IOError, OSError) as e:
            self._failed(e)
        self.frames += 1
        if self.frames == 1:  # the first frame is in: the file takes its name (and can be followed while a run goes on)
            self._place()

    def _place(self):
        try:
            os.replace(self.f.name, self.path)
            self.placed = True
        except OSError:  # a system that cannot rename an open file: it is moved when closed
            pass

    def _failed(self, e):
        """A write failed (a full disk): the file keeps its whole lines, the run ends (SinkError)."""
        try:
            self.f.close()
        except (IOError, OSError):
            pass
        _cut_to_last_line(self.path if self.placed else self.f.name)
        raise SinkError("cannot write %s: %s" % (self.path, e.strerror or e))

    def close(self):
        """Finish the file (in place from its first frame on); with no frame written an existing file is kept."""
        if not self.f.closed:
            try:
                self.f.close()
            except (IOError, OSError) as e:
                self._failed(e)
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


class _FolderSink(Sink):
    """One file per frame, written into a staging folder beside the output (`.name.partial/`) that replaces the
    output folder whole when closed (`replace_folder`): a re-run leaves no file of an earlier one in it; a run that
    wrote nothing leaves the earlier folder as it was. `keep`: other outputs nested in the folder, kept."""

    ext = ""

    def __init__(self, folder, source, keep=()):
        if os.path.lexists(folder) and not os.path.isdir(folder):
            raise SinkError("cannot write %s: a file of that name is in the way" % folder)
        self.keep = tuple(keep)
        self.replaces = bool(own_entries(folder, self.keep))  # an earlier output, replaced once this one is complete
        self.folder = folder
        self.path = folder
        self.source = source
        self.staged = temp_folder(folder)
        self.files = 0
        remove_tree(self.staged)  # what a killed run left
        parent = os.path.dirname(self.staged)
        self._made_parent = parent if parent and not os.path.isdir(parent) else None  # (txt: <name>/detection-results)
        _ensure_dir(self.staged)

    def _target(self, frame):
        path = os.path.join(self.staged, _image_stem(frame, self.source) + self.ext)
        _ensure_parent(path)
        return path

    def close(self):
        """Put the folder in place (replacing an older one); no file written: the older one stays as it was."""
        if os.path.isdir(self.staged):
            if self.files:
                replace_folder(self.staged, self.folder, self.keep)
            else:
                self.discard()

    def discard(self):
        """Drop what was written (a run that could not start): an existing folder of this name stays as it was."""
        remove_tree(self.staged)
        if self._made_parent:  # the folder made to hold it, if nothing else came into it
            try:
                os.rmdir(self._made_parent)
            except OSError:
                pass


class ImageSink(_FolderSink):
    """Annotated images, one file per frame, named after the input image (its path within the set, `image_stems`);
    a `detection-results/` folder in it (the txt output of one of several image sets) is kept."""

    needs_image = True
    ext = ".jpg"

    def __init__(self, folder, source, keep=("detection-results",)):
        super(ImageSink, self).__init__(folder, source, keep)

    def write(self, frame):
        path = self._target(frame)
        if not cv2.imwrite(path, frame.image):
            _remove(path)
            raise SinkError("cannot write image %s" % os.path.join(self.folder, os.path.relpath(path, self.staged)))
        self.files += 1


class TxtSink(_FolderSink):
    """The VOC mAP tool's detection-results format: `<name>.txt` with `class score x1 y1 x2 y2` lines."""

    ext = ".txt"

    def write(self, frame):
        d = frame.detections
        lines = ["%s %.6f %d %d %d %d" % (TRAFFIC_CLASSES[c], s, round(b[0]), round(b[1]), round(b[2]), round(b[3]))
                 for c, s, b in zip(d.class_ids.tolist(), d.scores.tolist(), d.boxes.tolist())]
        with open(self._target(frame), "w") as f:
            f.write("\n".join(lines) + ("\n" if lines else ""))
        self.files += 1


def video_sink(path, fps, size):
    """The annotated-video sink of the --video-encoder setting: NVENC (sinks/nvenc.py) where used, else OpenCV."""
    from .nvenc import NvencVideoSink, use_nvenc
    if use_nvenc():
        return NvencVideoSink(path, fps, size)
    return VideoSink(path, fps, size)


def output_targets(kinds, out_dir, name, image_set, txt_folder=None):
    # type: (list, str, str, bool, str) -> list
    """(kind, path under `out_dir`) of each output `make_sinks` writes for a source called `name`; `txt_folder` (a
    folder relative to `out_dir`) replaces the txt output's `<name>/detection-results`."""
    paths = {"video": None if image_set else name + ".mp4", "images": name if image_set else None,
             "jsonl": name + ".jsonl", "txt": txt_folder or os.path.join(name, "detection-results"),
             "mot": name + ".mot.txt", "tracks": name + ".tracks.json"}
    out = []
    for kind in kinds:
        if kind not in SINK_KINDS:
            raise SinkError("unknown output kind %r; choose from %s" % (kind, ", ".join(SINK_KINDS)))
        if paths[kind] is not None:
            out.append((kind, os.path.join(out_dir, paths[kind])))
    return out


def check_outputs_fit(kinds, sources):
    # type: (list, list) -> None
    """SinkError (one line) where the outputs asked for (`kinds`, --save) write nothing for a source (`sources`:
    (uri, output name, is image set)): images are what an image set's frames become, video a video's or stream's."""
    if not kinds:
        return
    for _, name, image_set in sources:
        if not output_targets(kinds, "", name, image_set):
            raise SinkError("--save %s writes nothing for %s: %s" % (
                ",".join(kinds), name, "an image set's annotated frames are saved as images (or add jsonl)" if image_set
                else "a video's or stream's annotated frames are saved as video (or add jsonl)"))
    for kind, fits, what in (("video", False, "a video or stream"), ("images", True, "an image set")):
        if kind in kinds and not any(image_set == fits for _, _, image_set in sources):
            raise SinkError("--save %s: no source of this run is %s (%s)" % (
                kind, what, "videos and streams are saved as video" if fits else "image sets are saved as images"))


#: output kinds written as a folder (one file per frame inside)
FOLDER_KINDS = ("images", "txt")


def make_sinks(kinds, out_dir, source, image_set, txt_folder=None):
    """The sinks of `kinds` for one source under `out_dir`: <name>.mp4, <name>.jsonl, <name>/ images,
    <name>/detection-results/ (`txt_folder`, relative to `out_dir`, instead where given: the one image set of a run
    uses the VOC mAP tool's `out_dir/detection-results/`), <name>.mot.txt, <name>.tracks.json (`output_targets`)."""
    sinks = []
    name = source.name
    try:
        for kind, path in output_targets(kinds, out_dir, name, image_set, txt_folder):
            if kind == "video":
                sinks.append(video_sink(path, source.fps, (source.width, source.height)))
            elif kind == "images":
                sinks.append(ImageSink(path, source))
            elif kind == "jsonl":
                sinks.append(JsonlSink(path, name))
            elif kind == "txt":
                sinks.append(TxtSink(path, source))
            elif kind == "mot":
                sinks.append(MotSink(path))
            elif kind == "tracks":
                sinks.append(TrackSummarySink(path, name))
    except BaseException:
        for sink in sinks:
            sink.discard()
        raise
    return sinks
