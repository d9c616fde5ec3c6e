"""A scoring run's output folder through pyarrow.fs: a local path or any filesystem URI pyarrow knows (s3://, gs://,
hdfs://). A file appears whole or not at all: it is written under a temporary name in the same folder, then moved to
its name (an atomic rename on local and POSIX file systems; on object stores a single object is made whole anyway)."""
import json
import os
import uuid

from ..errors import SinkError, first_line
from ..redact import redact_uri


def _abs(uri):
    return uri if "://" in uri else os.path.abspath(uri)


class OutputStore(object):
    """The output folder `uri`. Plain strings in and out, so the store can be rebuilt on any worker from `uri`."""

    def __init__(self, uri):
        import pyarrow.fs as pafs
        self.uri = _abs(str(uri))
        try:
            self.fs, self.root = pafs.FileSystem.from_uri(self.uri)
            self.fs.create_dir(self.root, recursive=True)
        except Exception as e:  # pyarrow raises ArrowInvalid/OSError/... for a bad URI or a folder it cannot make
            # pyarrow's message repeats the URI: both shown as one URL, whose password may hold a space
            text = str(uri)
            raise SinkError("cannot use output folder %s: %s" % (
                redact_uri(text), first_line(e).replace(text, redact_uri(text))))

    def path(self, *parts):
        # type: (*str) -> str
        return "/".join([self.root.rstrip("/")] + [p.strip("/") for p in parts])

    def exists(self, path):
        # type: (str) -> bool
        import pyarrow.fs as pafs
        return self.fs.get_file_info(path).type != pafs.FileType.NotFound

    def _commit(self, path, write):
        parent = path.rsplit("/", 1)[0]
        self.fs.create_dir(parent, recursive=True)
        tmp = "%s.tmp-%s" % (path, uuid.uuid4().hex[:12])
        try:
            write(tmp)
            self.fs.move(tmp, path)
        except BaseException:
            try:
                self.fs.delete_file(tmp)
            except Exception:
                pass
            raise

    def write_table(self, path, table, metadata=None):
        """Write `table` as Parquet at `path`, with `metadata` (str -> JSON-able) in its schema's key-value metadata."""
        import pyarrow.parquet as pq
        if metadata:
            meta = dict(table.schema.metadata or {})
            meta.update({k.encode(): json.dumps(v).encode() for k, v in metadata.items()})
            table = table.replace_schema_metadata(meta)
        self._commit(path, lambda tmp: pq.write_table(table, tmp, filesystem=self.fs, compression="zstd"))

    def read_table(self, path):
        import pyarrow.parquet as pq
        return pq.read_table(path, filesystem=self.fs)

    def read_metadata(self, path):
        # type: (str) -> dict
        """The trafficpipe key-value metadata of a Parquet file ({} when it has none or cannot be read)."""
        import pyarrow.parquet as pq
        try:
            with self.fs.open_input_file(path) as f:
                meta = pq.read_schema(f).metadata or {}
        except Exception:
            return {}
        out = {}
        for k, v in meta.items():
            try:
                out[k.decode()] = json.loads(v.decode())
            except ValueError:
                pass
        return out

    def write_text(self, path, text):
        def write(tmp):
            with self.fs.open_output_stream(tmp) as f:
                f.write(text.encode("utf-8"))
        self._commit(path, write)

    def read_text(self, path):
        # type: (str) -> str
        """The file's text, or None where it does not exist."""
        if not self.exists(path):
            return None
        with self.fs.open_input_stream(path) as f:
            return f.read().decode("utf-8")

    def delete_dir(self, path):
        if self.exists(path):
            self.fs.delete_dir(path)

    def delete_dir_if_empty(self, path):
        import pyarrow.fs as pafs
        if self.exists(path) and not self.fs.get_file_info(pafs.FileSelector(path)):
            self.fs.delete_dir(path)

    def num_rows(self, path):
        # type: (str) -> int
        """The rows of a Parquet file, from its footer."""
        import pyarrow.parquet as pq
        with self.fs.open_input_file(path) as f:
            return int(pq.read_metadata(f).num_rows)

    def size(self, path):
        # type: (str) -> int
        return int(self.fs.get_file_info(path).size or 0)
