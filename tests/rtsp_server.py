"""A real RTSP server for the live-input tests: GStreamer's RTSP server serving an H.264 mp4 clip without re-encoding.

Run it with Debian's Python, which has `gi` (a venv's Python does not):

    /usr/bin/python3 tests/rtsp_server.py --port 8554 --clip highway-360p.mp4 [--path /live]

Every client gets its own session playing the clip from its start at real-time speed (the clip is not looped: at its
end the server ends the session). Prints one line `READY URL [URL ...]` on stdout once it listens; exits on
SIGTERM/SIGINT. Needs: gir1.2-gst-rtsp-server-1.0 python3-gi gstreamer1.0-plugins-base gstreamer1.0-plugins-good
gstreamer1.0-plugins-bad gstreamer1.0-rtsp.
"""
import argparse
import os
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--clip", required=True, help="an mp4 file with an H.264 video track")
    ap.add_argument("--path", action="append", default=None, help="mount point(s) (default /live; repeatable)")
    ap.add_argument("--host", default="127.0.0.1")
    args = ap.parse_args()
    clip = os.path.abspath(args.clip)
    if not os.path.isfile(clip):
        sys.stderr.write("rtsp_server: no such clip %s\n" % clip)
        return 2
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address(args.host)
    server.set_service(str(args.port))
    mounts = server.get_mount_points()
    paths = args.path or ["/live"]
    for path in paths:
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch("( filesrc location=\"%s\" ! qtdemux ! h264parse ! rtph264pay name=pay0 pt=96 "
                           "config-interval=1 )" % clip)
        factory.set_shared(False)
        mounts.add_factory(path if path.startswith("/") else "/" + path, factory)
    if server.attach(None) == 0:
        sys.stderr.write("rtsp_server: cannot listen on %s:%d\n" % (args.host, args.port))
        return 2
    loop = GLib.MainLoop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    sys.stdout.write("READY %s\n" % " ".join("rtsp://%s:%d/%s" % (args.host, args.port, p.lstrip("/")) for p in paths))
    sys.stdout.flush()
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
