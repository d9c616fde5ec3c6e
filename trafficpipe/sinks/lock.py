"""One run at a time per output folder: an advisory lock (flock) on DIR/.trafficpipe.lock, held for the run."""
import errno
import os

from ..errors import SinkError
from ..log import logger

LOCK_NAME = ".trafficpipe.lock"


class OutputLock(object):
    """`with OutputLock(folder):` — the folder is created if needed and locked against a second trafficpipe run; a
    second run ends at once with a SinkError naming the process that holds it. The lock goes with its process (also
    when it is killed); the lock file is removed on release. Where the system has no flock, nothing is locked."""

    def __init__(self, folder):
        self.folder = folder
        self.path = os.path.join(folder, LOCK_NAME)
        self.fd = None

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()

    def acquire(self):
        try:
            import fcntl
        except ImportError:
            logger.debug("no flock on this system: output folder {} not locked", self.folder)
            return
        try:
            if not os.path.isdir(self.folder):
                os.makedirs(self.folder)
                self.created = True  # removed again on release if the run wrote nothing into it
        except OSError as e:
            raise SinkError("cannot create output folder %s: %s" % (self.folder, e.strerror or e))
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as e:
                raise SinkError("output folder %s is not writable: %s" % (self.folder, e.strerror or e))
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except (IOError, OSError) as e:
                holder = _read_pid(fd)
                os.close(fd)
                if e.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise SinkError("cannot lock output folder %s: %s" % (self.folder, e.strerror or e))
                raise SinkError("output folder %s is in use by another trafficpipe run%s; wait for it to end or "
                                "choose another --out" % (self.folder, " (pid %s)" % holder if holder else ""))
            try:  # the run that held it may have removed the file meanwhile: then lock the one now there
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except OSError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, ("%d\n" % os.getpid()).encode())
        self.fd = fd

    def release(self):
        if self.fd is None:
            return
        try:
            os.remove(self.path)  # while still held: a run waiting on this file then tries the next one
        except OSError:
            pass
        os.close(self.fd)
        self.fd = None
        if getattr(self, "created", False):
            try:
                os.rmdir(self.folder)  # only succeeds when empty: a run that failed before writing leaves no folder
            except OSError:
                pass


def _read_pid(fd):
    # type: (int) -> str
    try:
        return os.pread(fd, 32, 0).decode(errors="replace").strip() if hasattr(os, "pread") else ""
    except OSError:
        return ""
