"""The child-process reader behind `--decoder nvdec-process` (`sources/nvdec_process.py`), run for real on the CPU: a
spawned child decodes a real video with OpenCV into a ring of shared tensors and the reader hands on copies. The
NVDEC child and its CUDA IPC are the GPU side (tests/gpu/test_nvdec.py); the protocol, order, copies, truncation and
a dying child are the same code here."""
import pytest

from cli_helpers import damaged_copy, read_frames

torch = pytest.importorskip("torch")

from trafficpipe.errors import SourceError  # noqa: E402
from trafficpipe.sources.nvdec_process import RingProcessSource  # noqa: E402


def _source(path, make, ring=3):
    import ring_sources
    src = RingProcessSource(str(path), getattr(ring_sources, make), device="cpu", ring=ring)
    src.open()
    return src


def _count(src):
    """Frames read until the end (the source closed after)."""
    n = 0
    try:
        while src.read() is not None:
            n += 1
    finally:
        src.close()
    return n


def test_every_frame_in_order_through_the_ring(video_360p):
    """With buffers recycled as the capture stage's pool does, every frame equals OpenCV's, in order; closing ends the
    child."""
    ref = read_frames(video_360p)
    src = _source(video_360p, "opencv_into_tensor")
    got, buf, pts = 0, None, []
    try:
        while True:
            r = src.read(buf)
            if r is None:
                break
            buf = r[0]
            assert buf.dtype == torch.uint8 and (buf.numpy() == ref[got]).all(), got
            pts.append(r[1])
            got += 1
        proc = src._proc
    finally:
        src.close()
    assert got == len(ref) == src.frame_count and src.state == "ended" and not src.truncated
    assert pts == sorted(pts) and len(set(pts)) == got
    assert not proc.is_alive()


def test_frames_kept_are_copies_not_ring_slots(video_360p):
    """A reader that keeps every frame (the bench's decode pass does) holds its own copies: a ring of 2 slots is
    rewritten many times meanwhile, and no kept frame changes."""
    ref = read_frames(video_360p, 20)
    src = _source(video_360p, "opencv_into_tensor", ring=2)
    try:
        kept = [src.read()[0] for _ in range(20)]
    finally:
        src.close()
    assert all((k.numpy() == r).all() for k, r in zip(kept, ref))
    assert len(set(k.data_ptr() for k in kept)) == 20


def test_a_damaged_file_ends_truncated_after_what_decodes(video_360p, tmp_path):
    src = _source(damaged_copy(video_360p, tmp_path), "opencv_into_tensor")
    n = _count(src)
    assert 100 < n < 341 and src.truncated and "of 341 frames" in src.error


def test_a_child_that_dies_or_fails_is_one_clear_error(video_360p):
    src = _source(video_360p, "dies_after_five")
    n = _count(src)
    assert n == 5 and src.truncated
    assert src.error == ("decoding stopped at frame 5 of 341 (the child process's decoder exited with code 3 and no "
                         "message); the rest of highway-360p.mp4 is unreadable"), src.error
    with pytest.raises(SourceError) as e:
        _source(video_360p, "fails_to_open")
    assert str(e.value) == "cannot decode highway-360p.mp4: the test decoder refuses it"
