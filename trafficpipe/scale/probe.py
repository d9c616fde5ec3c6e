"""What a scoring plan needs to know of one video file, read where the file is (on a cluster: by a Ray task)."""
import hashlib
import os

import cv2

from ..errors import SourceError, first_line


def file_sha256(path, block=1 << 20):
    # type: (str, int) -> str
    """The SHA-256 of a file's bytes (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(block)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def probe_video(path):
    # type: (str) -> dict
    """{path, size, mtime_ns, sha256, frames, fps, width, height, keyframes} of a video file; {path, error} (one line)
    where it cannot be decoded. `frames` None where the container does not tell; `keyframes` None where unknown
    (not MP4/MOV), else the 0-based keyframe indices."""
    from ..log import quiet_native_logs
    from ..sources.segments import mp4_keyframes
    from ..sources.video import check_video_file, not_a_video, open_video
    quiet_native_logs()  # (a Ray worker's first capture: FFmpeg's own lines about a corrupt file say nothing more)
    try:
        check_video_file(path)
        st = os.stat(path)
        cap = open_video(path)
        try:
            ok, img = cap.read() if cap.isOpened() else (False, None)
            if not ok or img is None:
                raise not_a_video(path)
            fps = float(cap.get(cv2.CAP_PROP_FPS)) or 30.0
            n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        finally:
            cap.release()
        return {"path": path, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": file_sha256(path),
                "frames": n if n > 0 else None, "fps": fps if 0 < fps < 1000 else 30.0, "width": img.shape[1],
                "height": img.shape[0], "keyframes": mp4_keyframes(path)}
    except SourceError as e:
        return {"path": path, "error": str(e)}
    except (IOError, OSError) as e:
        return {"path": path, "error": "cannot read %s: %s" % (path, first_line(e))}
