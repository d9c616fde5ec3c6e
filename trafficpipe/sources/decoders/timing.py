"""Where a decoder child's time goes, reported to the parent with its end (the run summary's `decoders`)."""
import time


class DecodeTiming(object):
    """From a child's first free slot (the start of the run) to its end: waiting for a free ring slot (the pipeline is
    behind), for a decode buffer (the resize thread is behind), decoding, resizing; with the process's CPU seconds
    over the same span. t_start and t_end are `time.perf_counter()` values (CLOCK_MONOTONIC on Linux: the same clock
    in every process)."""

    def __init__(self):
        self.start = self.cpu0 = None
        self.wait_slot_s = self.wait_buffer_s = self.decode_s = self.resize_s = 0.0

    def add(self, t0, t1, t2, t3):
        """One frame: waited for a slot t0..t1, for a buffer t1..t2, decoded t2..t3."""
        if self.start is None:  # the first slot arrives when the run starts: that wait is not the run's
            self.start, self.cpu0 = t1, time.process_time()
        else:
            self.wait_slot_s += t1 - t0
        self.wait_buffer_s += t2 - t1
        self.decode_s += t3 - t2

    def result(self, frames):
        # type: (int) -> dict
        if self.start is None:
            return {"frames": frames}
        end = time.perf_counter()
        wall = end - self.start
        return {"frames": frames, "t_start": self.start, "t_end": end, "wall_s": wall,
                "fps": frames / wall if wall > 0 else 0.0, "cpu_s": time.process_time() - self.cpu0,
                "wait_slot_s": self.wait_slot_s, "wait_buffer_s": self.wait_buffer_s, "decode_s": self.decode_s,
                "resize_s": self.resize_s}
