"""The video files of a scoring run: files, folders, globs and text files listing videos."""
import glob
import io
import os

from ..errors import SourceError

VIDEO_EXTENSIONS = (".mp4", ".mov", ".m4v", ".mkv", ".avi", ".ts", ".webm", ".mpg", ".mpeg", ".h264", ".hevc")
LIST_EXTENSIONS = (".txt", ".lst", ".list")


def is_video_path(path):
    # type: (str) -> bool
    return os.path.splitext(path)[1].lower() in VIDEO_EXTENSIONS


def videos_in(folder):
    # type: (str) -> list
    """The video files in `folder` and its subfolders (by extension), sorted."""
    return sorted(os.path.join(d, f) for d, _, files in os.walk(folder) for f in files if is_video_path(f))


def expand_sources(specs):
    # type: (list) -> list
    """Absolute paths of the video files `specs` name, in order, each once: a file as it is; a folder: its video
    files (by extension, recursively, sorted); a glob: the video files and folders it matches; a .txt/.lst file: one
    path (or glob) per line, relative to the list's folder, '#' comments. A file named again (or through a symlink)
    counts once, under its first name. SourceError (one line) for a name that
    matches nothing."""
    out, seen = [], set()

    def add(path):
        p = os.path.abspath(path)
        real = os.path.realpath(p)  # a symlink and its target are one video
        if real not in seen:
            seen.add(real)
            out.append(p)

    def expand(spec, base, depth=0, listed_in=None):
        if "://" in spec:
            raise SourceError("score reads video files on a shared file system; %s://... is a URL"
                              % spec.split("://")[0])
        path = spec if os.path.isabs(spec) else os.path.join(base, spec)
        if any(c in spec for c in "*?["):  # a glob: the video files it names, and those in the folders it names
            matches = sorted(glob.glob(path, recursive=True))
            found = [m for m in matches if os.path.isfile(m) and is_video_path(m)]
            for folder in (m for m in matches if os.path.isdir(m)):
                found.extend(videos_in(folder))
            if not found:
                raise SourceError("no video file matches %s" % spec)
            for m in found:
                add(m)
        elif os.path.isdir(path):
            found = videos_in(path)
            if not found:
                raise SourceError("no video files in folder %s" % spec)
            for m in found:
                add(m)
        elif os.path.isfile(path) and os.path.splitext(path)[1].lower() in LIST_EXTENSIONS and depth:
            raise SourceError("%s is a list file named in another list; lists do not nest" % spec)
        elif os.path.isfile(path) and os.path.splitext(path)[1].lower() in LIST_EXTENSIONS:
            try:
                with io.open(path, encoding="utf-8-sig") as f:
                    lines = [ln.strip() for ln in f]
            except UnicodeDecodeError:
                raise SourceError("list file %s is not UTF-8 text (one video path per line)" % spec)
            except OSError as e:
                raise SourceError("cannot read list file %s: %s" % (spec, e.strerror or e))
            for ln in lines:
                if ln and not ln.startswith("#"):
                    expand(ln, os.path.dirname(os.path.abspath(path)), depth + 1, spec)
        elif os.path.isfile(path):
            add(path)
        else:
            raise SourceError("source %s does not exist%s" % (spec, " (listed in %s)" % listed_in if listed_in else ""))

    for s in specs:
        expand(str(s), os.getcwd())
    if not out:
        raise SourceError("no video files to score")
    return out
