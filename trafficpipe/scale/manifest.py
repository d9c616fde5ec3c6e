"""The manifest of a scoring run (manifest.json in the output folder): per video its path, size, content hash,
frames, fps, status (ok, failed), error, seconds of scoring, the workers that scored it and any segment scored
again after a worker died. Rewritten whole (temporary name, then moved) as the run goes."""
import json
import time

from ..errors import SinkError
from ..redact import redact_uri

MANIFEST = "manifest.json"


class Manifest(object):
    """Entries by video path; `previous` those of the last run in the same folder."""

    def __init__(self, store):
        self.store = store
        self.path = store.path(MANIFEST)
        self.previous = {}
        text = store.read_text(self.path)
        if text:
            try:
                self.previous = dict((v["path"], v) for v in json.loads(text).get("videos", []))
            except (ValueError, KeyError, TypeError, AttributeError):
                # not a manifest of this command: replacing it would drop what it says, and scoring again every
                # video it lists would replace their outputs unasked
                raise SinkError("%s is not a trafficpipe score manifest (unreadable JSON or other fields); move it "
                                "or choose another --out" % redact_uri(self.path))
        self.entries = {}  # path -> entry
        self.run = {}
        self._written = 0.0

    def entry(self, path):
        # type: (str) -> dict
        return self.entries.setdefault(path, {"path": path})

    def write(self, every=None):
        """Write the manifest now (or, with `every`, only if that many seconds have passed since the last write)."""
        now = time.time()
        if every is not None and now - self._written < every:
            return
        self._written = now
        videos = [self.entries[p] for p in sorted(self.entries)]
        doc = dict(self.run, videos=videos)
        self.store.write_text(self.path, json.dumps(doc, indent=1, sort_keys=True) + "\n")
