"""Credentials out of sight: the password of a URL's userinfo (rtsp://user:pass@host/...) masked in anything shown."""
import re

#: scheme://user:password@ — the password part (no '/', '@' or white space) is what gets masked
_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)([^/@\s:]*):([^/@\s]*)@")
MASK = "***"


def redact(text):
    # type: (str) -> str
    """`text` with the password of every URL in it masked: rtsp://user:secret@host/x -> rtsp://user:***@host/x."""
    if not text or "@" not in text:
        return text
    return _USERINFO.sub(lambda m: "%s%s:%s@" % (m.group(1), m.group(2), MASK), text)


def strip_userinfo(uri):
    # type: (str) -> str
    """`uri` without its userinfo (user and password): rtsp://user:secret@host/x -> rtsp://host/x (output names)."""
    return re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]*@", r"\1", uri)
