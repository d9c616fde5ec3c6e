"""Credentials beyond rtsp://user:pass@ in a plain URL: inside GStreamer pipeline strings (location=..., user-id=,
user-pw=), in secret-named query parameters (?password=, &token=, ...), anywhere in a line. Masked in what is shown
(`redact`), left out whole from source and output names (`source_name`, `output_names`), and, end to end, absent from
every log line, error line, output file name and output byte of `trafficpipe detect`."""
import json
import os

import pytest

from cli_helpers import free_port, run_cli
from trafficpipe.redact import is_secret_name, redact, redact_uri, strip_secrets, strip_uri_secrets
from trafficpipe.sources.base import output_names, source_name

MODEL = "picodet-s-320"
SECRET = "secret"


def gst(port, extra=""):
    return ("rtspsrc location=rtsp://user:%s@127.0.0.1:%d/x%s ! decodebin ! videoconvert ! appsink"
            % (SECRET, port, extra))


# -- redact(): what is shown ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, shown", [
    # userinfo of a URL inside a GStreamer pipeline (a location= property), not only at the start of the string
    (gst(9), "rtspsrc location=rtsp://user:***@127.0.0.1:9/x ! decodebin ! videoconvert ! appsink"),
    ('souphttpsrc location="http://u:%s@cam/a.mjpg" ! jpegdec' % SECRET,
     'souphttpsrc location="http://u:***@cam/a.mjpg" ! jpegdec'),
    # an unencoded '@' in the password: masked whole (the userinfo runs to the last '@', as FFmpeg reads it)
    ("rtsp://admin:se@cret@cam/live", "rtsp://admin:***@cam/live"),
    # a bare user (no password) is kept, as before
    ("rtsp://user@cam/live", "rtsp://user@cam/live"),
    # credential properties of rtspsrc / souphttpsrc: their values, quoted, escaped or spaced, are masked
    ("rtspsrc location=rtsp://cam/x user-id=bob user-pw=%s ! fakesink" % SECRET,
     "rtspsrc location=rtsp://cam/x user-id=*** user-pw=*** ! fakesink"),
    ('souphttpsrc location=http://cam/x user-pw="a %s b" proxy-id=p proxy-pw=%s ! fakesink' % (SECRET, SECRET),
     "souphttpsrc location=http://cam/x user-pw=*** proxy-id=*** proxy-pw=*** ! fakesink"),
    (r"rtspsrc user-pw=se\ cret location=rtsp://cam/x", "rtspsrc user-pw=*** location=rtsp://cam/x"),
    ("srtsrc uri=srt://cam:9000 passphrase = %s ! fakesink" % SECRET,
     "srtsrc uri=srt://cam:9000 passphrase = *** ! fakesink"),
    # secret-named query parameters, any case, in any URL anywhere in the text; the others are kept
    ("rtsp://127.0.0.1:9/y?password=%s" % SECRET, "rtsp://127.0.0.1:9/y?password=***"),
    ("error: rtsp://cam/y?ch=1&PWD=%s&stream=2 failed" % SECRET, "error: rtsp://cam/y?ch=1&PWD=***&stream=2 failed"),
    ("https://cam/a?token=%s#access_token=%s" % (SECRET, SECRET), "https://cam/a?token=***#access_token=***"),
    ("https://s3/b/k.mp4?X-Amz-Credential=AK%%2F1&X-Amz-Signature=%s&X-Amz-Expires=60" % SECRET,
     "https://s3/b/k.mp4?X-Amz-Credential=***&X-Amz-Signature=***&X-Amz-Expires=60"),
    ("http://cam/a?apiKey=%s&api_key=%s&key=%s&keyframe=1&monkey=2&bypass=3" % (SECRET, SECRET, SECRET),
     "http://cam/a?apiKey=***&api_key=***&key=***&keyframe=1&monkey=2&bypass=3"),
    ('{"source": "rtsp://cam/y?passwd=%s", "n": 1}' % SECRET, '{"source": "rtsp://cam/y?passwd=***", "n": 1}'),
    ("location=rtsp://cam/x?sig=%s&auth=%s&pass=%s ! decodebin" % (SECRET, SECRET, SECRET),
     "location=rtsp://cam/x?sig=***&auth=***&pass=*** ! decodebin"),
    # nothing to mask: unchanged
    ("/data/clip@2x.mp4", "/data/clip@2x.mp4"),
    ("--set retries=0 tiles=2", "--set retries=0 tiles=2"),
    ("v4l2src device=/dev/video0 ! videoconvert ! appsink", "v4l2src device=/dev/video0 ! videoconvert ! appsink"),
])
def test_redact_masks_credentials_anywhere_in_a_string(text, shown):
    assert redact(text) == shown
    assert redact(shown) == shown  # masking twice (a redacted URI in a message, then the log guard) changes nothing


def test_redact_keeps_the_text_around_an_already_masked_value():
    """The ERROR line path: a source's URI is redacted when the source is made, put in a message ending in ':', then
    the logging guard masks the whole line again; the ':' stays."""
    once = redact("rtsp://127.0.0.1:9/y?password=%s" % SECRET)
    line = "source %s: cannot connect after 0 retries" % once
    assert redact(line) == "source rtsp://127.0.0.1:9/y?password=***: cannot connect after 0 retries"
    assert SECRET not in redact("source rtsp://h/y?password=%s: cannot connect" % SECRET)


def test_secret_names():
    for name in ("password", "passwd", "pwd", "pass", "token", "access_token", "key", "apikey", "api_key", "secret",
                 "auth", "signature", "sig", "PASSWORD", "Token", "client_secret", "X-Amz-Signature", "apiKey",
                 "user-pw", "user-id", "proxy-pw", "proxy-id", "passphrase"):
        assert is_secret_name(name), name
    for name in ("location", "keyframe", "monkey", "bypass", "ch", "stream", "latency", "author", "design", "user"):
        assert not is_secret_name(name), name


# -- names: credentials left out whole --------------------------------------------------------------------------------
def test_names_leave_credentials_out_whole():
    assert source_name(gst(9)) == "127.0.0.1_9_x_decodebin_videoconvert_appsink"
    assert source_name("rtsp://127.0.0.1:9/y?password=%s" % SECRET) == "127.0.0.1_9_y"
    assert source_name("rtsp://u:%s@cam:554/live?ch=1&token=%s&sub=2" % (SECRET, SECRET)) == "cam_554_live_ch_1_sub_2"
    assert source_name("rtspsrc location=rtsp://cam/x user-id=bob user-pw=%s ! decodebin ! appsink" % SECRET) == \
        "cam_x_decodebin_appsink"
    assert source_name("rtsp://cam/x?user=bob&pwd=%s" % SECRET) == "cam_x"  # a user name: shown, not in names
    assert strip_secrets("rtsp://u:p@cam/x?token=t&ch=1") == "rtsp://cam/x?&ch=1"
    # still one name per source: sources that differ only in their secrets are numbered, as repeats are
    names = output_names(["rtsp://cam/y?password=a%s" % SECRET, "rtsp://cam/y?password=b%s" % SECRET, "rtsp://cam/y",
                          gst(9), gst(9, "?token=%s" % SECRET)])
    assert names == ["cam_y", "cam_y_1", "cam_y_2", "127.0.0.1_9_x_decodebin_videoconvert_appsink",
                     "127.0.0.1_9_x_decodebin_videoconvert_appsink_1"]
    assert not [n for n in names if SECRET in n or "user" in n or "password" in n]


def test_passwords_with_slashes_spaces_quotes_or_brackets_never_show():
    """Characters no URL should hold unencoded, typed into a password all the same: masked in what is shown (`redact`
    for a '/' or '<' anywhere in a text; `redact_uri` for one source URL, white space and quotes included) and left
    out of names."""
    for pw in ("S3c/ret", "Sec ret", "Se'cret", 'Pa"ss<wd'):
        uri = "rtsp://alice:%s@127.0.0.1:5999/s" % pw
        assert redact_uri(uri) == "rtsp://alice:***@127.0.0.1:5999/s"
        assert strip_uri_secrets(uri) == "rtsp://127.0.0.1:5999/s"
        assert source_name(uri) == "127.0.0.1_5999_s"
    assert redact("open rtsp://a:S3c/ret@cam/x failed") == "open rtsp://a:***@cam/x failed"
    assert redact("open rtsp://a:b<c@cam/x failed") == "open rtsp://a:***@cam/x failed"
    # an '@' in a path without a password is no userinfo: kept in what is shown and in names
    assert redact_uri("rtsp://cam/x?mail=a@b") == "rtsp://cam/x?mail=a@b"
    assert source_name("rtsp://cam/x@2") == "cam_x_2"


# -- end to end -------------------------------------------------------------------------------------------------------
def test_detect_with_credentials_in_dead_sources_shows_none(video_360p, tmp_path):
    """A GStreamer pipeline with user:secret@ in its location (plus user-pw=) and a URL with
    ?password=secret, where nothing listens, next to a real video. Exit 2 (the video written, the two failed); the
    word 'secret' is in no file name under --out, no byte of any output, stdout or stderr; the video's outputs are
    whole."""
    port = free_port()
    dead_gst = gst(port, " user-id=bob user-pw=%s" % SECRET)
    dead_url = "rtsp://127.0.0.1:%d/y?password=%s" % (port, SECRET)
    out = tmp_path / "out"
    p = run_cli("detect", dead_gst, dead_url, video_360p, "--out", out, "--model", MODEL, "--max-frames", "5",
                "--set", "retries=0", timeout=180)
    assert p.returncode == 2, p.stderr
    assert "Traceback" not in p.stderr
    # the failures are still told, masked, and each source's name and error line is there
    assert "rtsp://user:***@127.0.0.1:%d/x" % port in p.stderr
    assert "user-pw=***" in p.stderr
    assert "rtsp://127.0.0.1:%d/y?password=***: cannot connect" % port in p.stderr
    assert "source 127.0.0.1_%d_y: connecting -> failed" % port in p.stderr
    names = []
    texts = {"stdout": p.stdout, "stderr": p.stderr}
    for root, dirs, files in os.walk(str(out)):
        names += dirs + files
        for f in files:
            with open(os.path.join(root, f), "rb") as fh:
                texts[f] = fh.read().decode("latin-1")
    stem = os.path.splitext(os.path.basename(str(video_360p)))[0]
    assert sorted(n for n in names if not n.startswith(".")) == sorted([
        "127.0.0.1_%d_x_decodebin_videoconvert_appsink.jsonl" % port, "127.0.0.1_%d_y.jsonl" % port,
        stem + ".jsonl", stem + ".mp4"]), names
    assert not [n for n in names if SECRET in n.lower()]
    assert not [(k, t[max(0, t.lower().find(SECRET) - 100):][:200]) for k, t in texts.items() if SECRET in t.lower()]
    # the real video's outputs are complete
    with open(str(out / (stem + ".jsonl"))) as f:
        recs = [json.loads(l) for l in f]
    assert [r["frame"] for r in recs] == [0, 1, 2, 3, 4]
    assert all(r["source"] == stem for r in recs)
    import cv2
    cap = cv2.VideoCapture(str(out / (stem + ".mp4")))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    assert n == 5
    assert "%s: 5 frames in, 5 written" % stem in p.stderr
