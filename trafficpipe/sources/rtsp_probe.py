"""Whether an RTSP server answers at all, asked outside OpenCV before it opens the stream.

OpenCV holds one lock over every FFmpeg open (cameras, files and video writers alike), so a server that takes the
connection and never answers (a hung camera, a frozen process) would hold every other source's (re)connection and
every video writer's open for the whole open timeout. RTSP OPTIONS and DESCRIBE requests sent here, with that
timeout, wait outside the lock; only a server that answers both (any reply, 401 included) is then opened by OpenCV.
"""
import socket
import time

from ..redact import strip_userinfo

_STEP_S = 0.1  # how often a wait looks at `should_stop`


def rtsp_address(uri):
    # type: (str) -> object
    """(host, port) of an rtsp:// URL (port 554 by default), or None where it names none. The userinfo is left out
    first, so that a password holding '/', '@' or ':' is never taken for the host."""
    if not uri.lower().startswith("rtsp://"):
        return None
    try:
        from urllib.parse import urlsplit
        parts = urlsplit(strip_userinfo(uri))
        host, port = parts.hostname, parts.port or 554
    except (ImportError, ValueError):
        return None
    return (host, port) if host else None


def rtsp_silence(uri, timeout, should_stop=None):
    # type: (str, float, object) -> object
    """Why the RTSP server of `uri` will not answer ("connection refused", "no answer in 10 s"), or None where it
    answers or where this cannot tell (not an rtsp:// URL, a name that does not resolve here: OpenCV says why).
    `should_stop()` (optional) ends the wait early, as None."""
    address = rtsp_address(uri)
    if address is None:
        return None
    deadline = time.time() + timeout
    try:
        sock = socket.create_connection(address, timeout=max(0.1, min(timeout, 5.0)))
    except socket.gaierror:
        return None
    except socket.timeout:
        return "no connection in %.0f s" % min(timeout, 5.0)
    except (OSError, ValueError) as e:  # refused, unreachable: what OpenCV would find at once, said plainly
        return (getattr(e, "strerror", None) or str(e) or type(e).__name__).lower()
    try:
        sock.settimeout(_STEP_S)
        sock.sendall(b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nUser-Agent: trafficpipe\r\n\r\n")
        head = _read_head(sock, deadline, should_stop)
        if head is None:
            return None if _stopped(should_stop) else \
                "the server took the connection but gave no answer in %.0f s" % timeout
        if not head.endswith(b"\r\n\r\n"):
            return None  # it closed after answering: alive, and OpenCV reports what it says
        # a camera whose stream is stuck answers OPTIONS yet never describes the stream: ask for that too
        sock.sendall(("DESCRIBE %s RTSP/1.0\r\nCSeq: 2\r\nAccept: application/sdp\r\nUser-Agent: trafficpipe"
                      "\r\n\r\n" % strip_userinfo(uri)).encode("utf-8", "replace"))
        if _read_head(sock, deadline, should_stop, 1) is None and not _stopped(should_stop):
            return "the server answered but gave no stream description (DESCRIBE) in %.0f s" % timeout
        return None  # any answer (401 included): OpenCV opens it and reports what it says
    except OSError:
        return None  # reset while asking: let OpenCV try and report
    finally:
        sock.close()


def _stopped(should_stop):
    return should_stop is not None and bool(should_stop())


def _read_head(sock, deadline, should_stop, enough=None):
    # type: (socket.socket, float, object, int) -> object
    """The bytes of one reply up to the end of its header (or `enough` bytes, or up to the server closing), read
    before `deadline`; None where nothing came in time or `should_stop()` said so."""
    got = b""
    while time.time() < deadline:
        if _stopped(should_stop):
            return None
        try:
            part = sock.recv(4096)
        except socket.timeout:
            continue
        if not part:  # closed by the server
            return got or b"closed"
        got += part
        end = got.find(b"\r\n\r\n")
        if end >= 0:
            return got[:end + 4]
        if enough is not None and len(got) >= enough:
            return got
    return got or None


__all__ = ["rtsp_address", "rtsp_silence"]
