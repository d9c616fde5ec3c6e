"""A decoder child's shared-memory ring: one file (in /dev/shm where it fits) mapped by both processes, holding
`n_slots` frames [H, W, 3] uint8 and/or `n_slots` model inputs, frames first."""
import mmap
import os
import tempfile

import numpy as np

from ...log import logger

SHM_DIR = "/dev/shm"
RING_PREFIX = "trafficpipe-ring-"  # then the pid of the process that made the ring


def shm_free_bytes():
    # type: () -> int
    """Free bytes in /dev/shm (0 where there is none)."""
    try:
        st = os.statvfs(SHM_DIR)
        return int(st.f_bavail * st.f_frsize)
    except OSError:
        return 0


def slot_bytes(frame_shape, input_spec):
    # type: (tuple, tuple) -> int
    """Bytes of one slot: a frame of `frame_shape` (or None) and a model input of `input_spec` (shape, dtype) or None."""
    n = int(np.prod(frame_shape)) if frame_shape is not None else 0
    if input_spec is not None:
        n += int(np.prod(input_spec[0])) * np.dtype(input_spec[1]).itemsize
    return n


def ring_views(path, n_slots, frame_shape, input_spec, mode):
    """(frames [n, H, W, 3] uint8 or None, inputs [n, ...] or None) over the ring file: frames first, then inputs."""
    mm = np.memmap(path, dtype=np.uint8, mode=mode)
    frames = None
    frame_bytes = 0
    if frame_shape is not None:
        frame_bytes = int(np.prod(frame_shape))
        frames = mm[:n_slots * frame_bytes].view(np.ndarray).reshape((n_slots,) + tuple(frame_shape))
    inputs = None
    if input_spec is not None:
        shape, dtype = tuple(input_spec[0]), np.dtype(input_spec[1])
        size = int(np.prod(shape)) * dtype.itemsize
        base = n_slots * frame_bytes
        inputs = mm[base:base + n_slots * size].view(np.ndarray).view(dtype).reshape((n_slots,) + shape)
    return frames, inputs


def touch_pages(arr, write):
    """Fault in every page of the array `arr` now: the child writes (the shared memory is allocated and zeroed here),
    the parent reads (its own mapping of those pages). A fresh /dev/shm page costs a fault on first use: over a 130 MB
    ring that is about 0.1 s of the child's resize thread, which would otherwise fall inside the run."""
    if arr is None or arr.size == 0:
        return
    flat = arr.reshape(-1).view(np.uint8)
    if write:
        flat[::mmap.PAGESIZE] = 0
    else:
        int(flat[::mmap.PAGESIZE].sum(dtype=np.uint64))


def ring_file(nbytes):
    # type: (int) -> str
    """A new file of `nbytes` for a ring: in /dev/shm where half its free space holds it, else the temporary folder
    (disk-backed: slower). Its name, trafficpipe-ring-PID-*.u8, names the process that made it."""
    in_shm = shm_free_bytes() // 2 >= nbytes
    folder = SHM_DIR if in_shm else tempfile.gettempdir()
    if not in_shm:
        logger.warning("/dev/shm has no room for a {:.0f} MB decode ring: it is a file in {} (slower)",
                       nbytes / 2.0 ** 20, folder)
    fd, path = tempfile.mkstemp(prefix="%s%d-" % (RING_PREFIX, os.getpid()), suffix=".u8", dir=folder)
    try:
        os.ftruncate(fd, nbytes)
    finally:
        os.close(fd)
    return path


def remove_ring_file(path):
    """Delete a ring's file (its mappings stay valid until unmapped)."""
    try:
        os.unlink(path)
    except OSError:
        logger.debug("could not remove the decode ring {}", path)
