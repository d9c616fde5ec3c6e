"""Keyframe positions of an MP4/MOV file, read from its sample tables (`stss`) without decoding."""
import os
import struct

_CONTAINERS = (b"moov", b"trak", b"mdia", b"minf", b"stbl")


def _boxes(data, start, end):
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        header = 8
        if size == 1:
            size = struct.unpack(">Q", data[pos + 8:pos + 16])[0]
            header = 16
        elif size == 0:
            size = end - pos
        if size < header:
            return
        yield kind, pos + header, min(pos + size, end)
        pos += size


def _read_moov(path):
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        total = f.tell()
        pos = 0
        while pos + 8 <= total:
            f.seek(pos)
            head = f.read(16)
            size, kind = struct.unpack(">I4s", head[:8])
            if size == 1:
                size = struct.unpack(">Q", head[8:16])[0]
            elif size == 0:
                size = total - pos
            if size < 8:
                return None
            if kind == b"moov":
                f.seek(pos)
                return f.read(size)
            pos += size
    return None


def mp4_keyframes(path):
    # type: (str) -> list
    """0-based indices of the video track's keyframes in an MP4/MOV file; None when unknown (not MP4, no video track)."""
    try:
        moov = _read_moov(path)
    except (IOError, OSError, struct.error):
        return None
    if not moov:
        return None

    def walk(start, end, track):
        for kind, a, b in _boxes(moov, start, end):
            if kind == b"hdlr" and moov[a + 8:a + 12] == b"vide":
                track["video"] = True
            elif kind == b"stss":
                n = struct.unpack(">I", moov[a + 4:a + 8])[0]
                track["stss"] = [x - 1 for x in struct.unpack(">%dI" % n, moov[a + 8:a + 8 + 4 * n])]
            elif kind == b"stsz":
                track["samples"] = struct.unpack(">I", moov[a + 8:a + 12])[0]
            elif kind in _CONTAINERS:
                walk(a, b, track)

    try:
        for kind, a, b in _boxes(moov, 0, len(moov)):
            if kind != b"moov":
                continue
            for k2, a2, b2 in _boxes(moov, a, b):
                if k2 != b"trak":
                    continue
                track = {}
                walk(a2, b2, track)
                if track.get("video"):
                    if "stss" in track:
                        return track["stss"]
                    n = track.get("samples")
                    return list(range(n)) if n else None  # no sync table: every sample is a keyframe
    except struct.error:
        return None
    return None
