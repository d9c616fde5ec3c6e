"""Recycling decoded-frame buffers: a feed decodes into an image the writer has finished with.

A 720p BGR frame is 2.7 MB; allocating a fresh one per frame makes the allocator hand memory back to the kernel and fault
it in again, which costs CPU in every stage's thread. The pool is filled as frames are released (`Frame.release`, once
every sink has written one) and emptied by the feed's readers; it holds at most `limit` buffers (the frames in flight
are bounded by the queues anyway).
"""
import collections


class FramePool(object):
    """Free image buffers of one source (thread-safe: deque append/pop are atomic)."""

    def __init__(self, limit=64):
        self.limit = limit
        self._free = collections.deque()

    def get(self, shape):
        """A free buffer of `shape`, or None (the reader then allocates one)."""
        try:
            buf = self._free.pop()
        except IndexError:
            return None
        return buf if buf.shape == shape else None

    def __len__(self):
        return len(self._free)

    def put(self, image):
        """Give back an image no one will read again."""
        if image is not None and len(self._free) < self.limit:
            self._free.append(image)
