"""A run's outputs kept off its inputs: what each source reads from disk, checked against what the run would write."""
import os

from ..errors import SourceError
from ..sinks.files import FOLDER_KINDS, output_targets
from ..sinks.outputs import check_off_inputs
from ..sources.images import is_glob, is_image_path, list_images
from ..sources.replay import SCHEME as REPLAY_SCHEME


def _local(uri):
    # type: (object) -> str
    """The file-system spec of a source URI (file:// and replay:// removed); None for cameras, streams, pipelines."""
    u = str(uri)
    for scheme in ("file://", REPLAY_SCHEME):
        if u.startswith(scheme):
            u = u[len(scheme):]
    if "://" in u or "!" in u or u.isdigit() or u.startswith("/dev/video"):
        return None
    return u


def input_paths(uri):
    # type: (object) -> list
    """(path, is_folder) of what the source `uri` reads: a video or image file, an image folder, a glob's images."""
    u = _local(uri)
    if u is None:
        return []
    if os.path.isdir(u):
        return [(u, True)]
    if is_glob(u):
        found = [(p, False) for p in list_images(u)]
        if "**" in u:  # a recursive glob reads every folder under its root: outputs there would be read next time
            found.append((os.path.dirname(u.split("**", 1)[0]) or ".", True))
        return found
    return [(u, False)] if os.path.isfile(u) else []


def check_local_sources(uris):
    # type: (list) -> None
    """SourceError (one line) for the first file or folder source that does not exist (cameras, streams and globs are
    checked when opened)."""
    for uri in uris:
        u = _local(uri)
        if u is not None and not is_glob(u) and not os.path.exists(u):
            raise SourceError("source %s does not exist" % u)


def is_image_set(uri):
    # type: (object) -> bool
    """Whether `uri` opens as an image set (a folder, a glob or an image file), as `open_source` decides."""
    u = _local(uri)
    return u is not None and not str(uri).startswith(REPLAY_SCHEME) and (
        os.path.isdir(u) or is_glob(u) or is_image_path(u))


def check_outputs_apart(out_dir, outputs, sources):
    """SinkError (one line) where an output of the run would overwrite an input, lie in an input folder or replace a
    folder holding one. `sources`: (uri, output name, is image set) of every source of the run."""
    if not out_dir or not outputs:
        return
    sets = [s for s in sources if s[2]]
    txt_folder = "detection-results" if len(sets) == 1 and "txt" in outputs else None
    targets = []
    for _, name, image_set in sources:
        for kind, path in output_targets(outputs, out_dir, name, image_set, txt_folder if image_set else None):
            targets.append((path, kind in FOLDER_KINDS))
    check_off_inputs(targets, [p for uri, _, _ in sources for p in input_paths(uri)], out_dir)


def planned_sources(uris, names=None):
    # type: (list, list) -> list
    """(uri, output name, is image set) of sources not opened yet, named as a run will name them once opened."""
    from ..sources.base import output_names, source_name
    given = list(names) if names else [None] * len(uris)
    plain = [str(u)[len("file://"):] if str(u).startswith("file://") else str(u) for u in uris]
    first = [n or ("camera%s" % u if u.isdigit() else source_name(_local(u) or u)) for u, n in zip(plain, given)]
    return [(u, n, is_image_set(u)) for u, n in zip(plain, output_names(plain, first))]


def named_sources(sources):
    # type: (list) -> list
    """(uri, output name, is image set) of opened sources, named as a Pipeline of them names them."""
    from ..sources.base import output_names
    from ..sources.images import ImageSource
    names = output_names([s.uri for s in sources], [s.name for s in sources])
    return [(s.uri, n, isinstance(s, ImageSource)) for s, n in zip(sources, names)]
