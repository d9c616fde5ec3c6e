"""The pipes between the pipeline process and a decoder child: fixed-size int32 records.

Writes of at most PIPE_BUF bytes are atomic, so one read of a multiple of the record size returns whole records: every
ready slot in one GIL hand-off.
  parent -> child  "free":  slot ids the child may decode into; STOP asks it to end.
  child -> parent  "ready": (slot, frame index, 0) per frame; (MISSING, first, stop) for frames that could not be
                   decoded; (READY, 0, 0) once the file is open; (END, frames, 0) after the last one.
and a multiprocessing Connection (child -> parent) for the end: ("end", frames[, timing]) or ("error", one line).
"""
import collections
import os
import struct

STOP = -1
END = -2
MISSING = -3
READY = -4
MAX_SLOTS = 1000  # the first hand-over of every slot stays one atomic pipe write (PIPE_BUF = 4096 bytes)
RECORD = struct.Struct("<3i")
READ_BYTES = RECORD.size * 256  # the most one read of the "ready" pipe takes


def unpack(data, size):
    """The int32 values of the whole `size`-byte records at the start of `data`."""
    return struct.unpack("<%di" % (len(data) // 4), data[:len(data) - len(data) % size])


def pack_slots(slots):
    # type: (list) -> bytes
    """Slot ids (or STOP) as one write on the "free" pipe."""
    return struct.pack("<%di" % len(slots), *slots)


class Stop(Exception):
    """The parent asked the child to end, or has gone."""


class FreeSlots(object):
    """The child's side of the "free" pipe: `take()` the next slot to decode into (Stop on STOP or a closed pipe)."""

    def __init__(self, fd):
        self.fd = fd
        self.slots = collections.deque()
        self._pending = b""

    def take(self):
        # type: () -> int
        while not self.slots:
            data = os.read(self.fd, 4096)
            if not data:
                raise Stop()
            data = self._pending + data
            whole = len(data) - len(data) % 4
            self._pending = data[whole:]
            self.slots.extend(unpack(data[:whole], 4))
        slot = self.slots.popleft()
        if slot == STOP:
            raise Stop()
        return slot

    def put_back(self, slot):
        """A slot taken but not used (the chunk ended): the next `take()` returns it."""
        self.slots.appendleft(slot)
