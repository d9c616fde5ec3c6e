"""Encode-only ceiling of the annotated-video writers: OpenCV's VideoWriter (mp4v) and NVENC (PyNvVideoCodec), on the
same decoded frames of a clip held in memory; also whether NVENC is there at all. Prints and writes JSON.

    python bench/encode_probe.py VIDEO [--frames 300] [--json FILE]
"""
import argparse
import json
import os
import sys
import tempfile
import time

import cv2

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from trafficpipe.sinks.files import VideoSink  # noqa: E402
from trafficpipe.sinks.nvenc import NvencVideoSink, nvenc_available  # noqa: E402


class _F(object):
    def __init__(self, image):
        self.image = image


def timed(sink, frames):
    t0 = time.perf_counter()
    for f in frames:
        sink.write(_F(f))
    sink.close()
    dt = time.perf_counter() - t0
    return {"frames": len(frames), "seconds": dt, "fps": len(frames) / dt, "ms_per_frame": 1000.0 * dt / len(frames),
            "bytes": os.path.getsize(sink.path)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("video")
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    cap = cv2.VideoCapture(a.video)
    fps = cap.get(cv2.CAP_PROP_FPS)
    frames = []
    t0 = time.perf_counter()
    while len(frames) < a.frames:
        ok, img = cap.read()
        if not ok:
            break
        frames.append(img)
    decode_s = time.perf_counter() - t0
    cap.release()
    if not frames:
        sys.exit("encode_probe: error: cannot read a frame of %s (a video file's path)" % a.video)
    size = (frames[0].shape[1], frames[0].shape[0])
    out = {"video": os.path.basename(a.video), "size": size, "decode_opencv_fps": len(frames) / decode_s}
    tmp = tempfile.mkdtemp()
    out["opencv_mp4v"] = timed(VideoSink(os.path.join(tmp, "cv.mp4"), fps, size), frames)
    ok, why = nvenc_available()
    out["nvenc_available"], out["nvenc_why"] = ok, why
    if ok:
        path = os.path.join(tmp, "nv.mp4")
        out["nvenc_h264"] = timed(NvencVideoSink(path, fps, size), frames)
        back = cv2.VideoCapture(path)
        n = 0
        while back.read()[0]:
            n += 1
        out["nvenc_h264"]["frames_read_back"] = n
    print(json.dumps(out, indent=1))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
