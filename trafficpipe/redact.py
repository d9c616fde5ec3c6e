"""Credentials out of sight, wherever they stand in a string (a plain URL, a GStreamer pipeline, a JSON report, a log
line): the password of every URL's userinfo (rtsp://user:pass@host/...), query parameters whose name says secret
(?password=, &token=, &X-Amz-Signature=, ...) and GStreamer credential properties (user-id=, user-pw=, proxy-id=,
proxy-pw=, passphrase=, ...). `redact` masks them for what is shown; `strip_secrets` takes them out altogether for
what names things (output file names)."""
import re

MASK = "***"

#: scheme://userinfo@ anywhere in a string. The userinfo runs to the LAST '@' before white space or an unescaped
#: quote, so an unencoded '@', '/', '?', '#' or '<' in a password is masked whole rather than cut (a '@' in a URL's path
#: masks a little more than the password: more hidden, never less).
_USERINFO = re.compile(r"""([A-Za-z][A-Za-z0-9+.-]*://)((?:\\.|[^\s"'\\])*)@""")

#: one URL, whole: its userinfo runs to the last '@' in it, white space and quotes included
_URI = re.compile(r"""([A-Za-z][A-Za-z0-9+.-]*://)(.*)@(.*)$""", re.S)

#: a value masked already, then punctuation of the text around it (`...?password=***: cannot connect`): kept as it
#: is, so that masking twice (a source's redacted URI in a message, then the logging guard) changes nothing more
_MASKED = r"""\*\*\*(?=[:,;.)\]]?(?:[\s"']|$))"""

#: a query (or fragment) parameter: separator, name, value (to the next '&', '#', white space or quote)
_QUERY_PARAM = re.compile(r"""([?&;#])([A-Za-z_][A-Za-z0-9_.\-\[\]]*)=(%s|[^&#\s"']*)""" % _MASKED)

#: a property (GStreamer `name=value`, `name = "quoted value"`) at the start of a word: not inside a URL's query
_PROPERTY = re.compile(r"""(?<![^\s"'(,])([A-Za-z_][A-Za-z0-9_\-]*)([ \t]*=[ \t]*)"""
                       r"""(%s|"(?:\\.|[^"\\])*"?|'(?:\\.|[^'\\])*'?|(?:\\.|[^\s\\])*)""" % _MASKED)

#: words that make a parameter's name a secret: the whole name, or its last part after '_', '-', '.' or a camelCase
#: step (access_token, api_key, X-Amz-Signature, apiKey, client_secret, user-pw); 'monkey' or 'bypass' are not.
_SECRET_WORDS = ("password", "passwd", "passphrase", "pass", "pwd", "pw", "token", "key", "apikey", "secret", "auth",
                 "authorization", "signature", "sig", "credential", "credentials")
#: credential properties of rtspsrc / souphttpsrc whose name does not end in a secret word (the user name)
_CREDENTIAL_PROPERTIES = ("user-id", "proxy-id")
#: query parameters that carry a user name: shown (as a URL's bare user is), left out of names
_USER_WORDS = ("user", "username", "userid", "user_id", "user-id", "login", "uid")


def is_secret_name(name):
    # type: (str) -> bool
    """Whether a parameter or property called `name` holds a secret (case-insensitive): password, passwd, pwd, pass,
    token, access_token, key, apikey, api_key, secret, auth, signature, sig, ... alone or as the last part of the name
    (client_secret, X-Amz-Signature, apiKey), and the rtspsrc/souphttpsrc user-id/proxy-id."""
    low = name.lower()
    if low in _CREDENTIAL_PROPERTIES:
        return True
    for word in _SECRET_WORDS:
        if low == word:
            return True
        if low.endswith(word):
            cut = len(name) - len(word)
            before, first = name[cut - 1], name[cut]
            if before in "_-.[" or (first.isupper() and (before.islower() or before.isdigit())):
                return True
    return False


def _mask_userinfo(m):
    user, colon, _ = m.group(2).partition(":")
    return "%s%s:%s@" % (m.group(1), user, MASK) if colon else m.group(0)  # a bare user (no password) is kept


def _mask_param(m):
    return "%s%s=%s" % (m.group(1), m.group(2), MASK) if is_secret_name(m.group(2)) else m.group(0)


def _mask_property(m):
    return "%s%s%s" % (m.group(1), m.group(2), MASK) if is_secret_name(m.group(1)) else m.group(0)


def redact(text):
    # type: (str) -> str
    """`text` with every credential in it masked, wherever it stands (a URL, a GStreamer pipeline, a log line):
    rtsp://user:secret@host/x -> rtsp://user:***@host/x, rtsp://host/x?password=secret -> rtsp://host/x?password=***,
    `rtspsrc location=... user-pw=secret` -> `user-pw=***`. A bare user name in a URL is kept."""
    if not text or ("@" not in text and "=" not in text):
        return text
    if "@" in text:
        text = _USERINFO.sub(_mask_userinfo, text)
    if "=" in text:
        text = _QUERY_PARAM.sub(_mask_param, text)
        text = _PROPERTY.sub(_mask_property, text)
    return text


def _drop_param(m):
    name = m.group(2)
    if not (is_secret_name(name) or name.lower() in _USER_WORDS):
        return m.group(0)
    return m.group(1) if m.group(1) in "?#" else ""  # '?' stays: it still starts the query of what follows


def _drop_userinfo(m):
    info = m.group(2)
    return m.group(1) if ":" in info or "/" not in info else m.group(0)  # a bare user holds no '/': a path's '@' stays


def _drop_property(m):
    return "" if is_secret_name(m.group(1)) else m.group(0)


def strip_secrets(text):
    # type: (str) -> str
    """`text` with every credential taken out, the names of secret parameters too, for names made of it (output file
    names): the userinfo (user and password) of every URL, secret and user-name query parameters, GStreamer
    credential properties. rtsp://u:p@cam/x?token=t&ch=1 -> rtsp://cam/x?&ch=1."""
    if not text:
        return text
    text = _USERINFO.sub(_drop_userinfo, text)
    text = _QUERY_PARAM.sub(_drop_param, text)
    text = _PROPERTY.sub(_drop_property, text)
    return redact(text)  # what is left shows nothing either way


def _whole_uri(uri, drop):
    """`uri` (one URL as given, not a text around it) with its userinfo masked, or left out where `drop`: a password
    holding white space or a quote, which no text pattern can bound, is hidden too."""
    m = _URI.match(uri or "")
    if m is None or ":" not in m.group(2):
        return uri
    user = m.group(2).partition(":")[0]
    return m.group(1) + ("" if drop else "%s:%s@" % (user, MASK)) + m.group(3)


def redact_uri(uri):
    # type: (str) -> str
    """One source URL (or path) as shown: `redact`, and a password with white space or quotes in it masked too
    (rtsp://u:a b@cam/x -> rtsp://u:***@cam/x)."""
    return redact(_whole_uri(uri, drop=False))


def strip_uri_secrets(uri):
    # type: (str) -> str
    """One source URL (or path) for names made of it: `strip_secrets`, after its whole userinfo went (a password
    with white space or quotes in it too)."""
    return strip_secrets(_whole_uri(uri, drop=True))


def strip_userinfo(uri):
    # type: (str) -> str
    """`uri` without the userinfo (user and password) of any URL in it: rtsp://user:secret@host/x -> rtsp://host/x."""
    return _USERINFO.sub(r"\1", uri)
