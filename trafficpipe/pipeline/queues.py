"""Bounded queues between stages, with per-source policies: `block` (files) and `drop-oldest` (live sources)."""
import collections
import threading
import time

from .frame import EndOfStream

BLOCK = "block"
DROP_OLDEST = "drop-oldest"
POLICIES = (BLOCK, DROP_OLDEST)


class Stopped(Exception):
    """The pipeline is stopping: the caller leaves its loop."""


class StageQueue(object):
    """A bounded FIFO that every blocking call leaves within `poll` seconds once `stop` is set.

    Capacity is counted per source (`maxsize` items of each source), so a fast live camera never evicts another
    source's frames and a blocked file never starves a live one. `put(item, policy=DROP_OLDEST)` never blocks: when the
    item's source is at capacity, its oldest queued item is removed and passed to `on_drop`.
    With `fair`, `get` serves the sources in turn (each source's own items stay in order).
    Statistics: time producers waited (`wait_put`), consumers waited (`wait_get`), depth samples, drops.
    """

    def __init__(self, maxsize, stop, name="", poll=0.1, on_drop=None, fair=False):
        # type: (int, threading.Event, str, float, object, bool) -> None
        self.maxsize = max(1, int(maxsize))
        self.name = name
        self._stop = stop
        self._poll = poll
        self._items = collections.deque()
        self._per_source = collections.defaultdict(int)
        self._lock = threading.Lock()
        self._not_empty = threading.Condition(self._lock)
        self._not_full = threading.Condition(self._lock)
        self.on_drop = on_drop
        self.capacities = {}  # per-source capacity overriding maxsize (e.g. small for live sources)
        self.fair = fair
        self._served = {}  # source id -> tick of its last get (fair mode)
        self._tick = 0
        self.dropped = 0
        self.dropped_by_source = collections.defaultdict(int)  # source id -> items evicted (drop-oldest)
        self.wait_put = 0.0
        self.wait_get = 0.0
        self.depth_sum = 0
        self.depth_n = 0
        self.depth_max = 0

    @staticmethod
    def _key(item):
        return getattr(item, "source_id", -1)

    def __len__(self):
        return len(self._items)

    def put(self, item, policy=BLOCK):
        """Append `item`; blocks while its source is at capacity (BLOCK) or evicts that source's oldest (DROP_OLDEST)."""
        key = self._key(item)
        cap = self.capacities.get(key, self.maxsize)
        dropped = None
        with self._lock:
            if self._per_source[key] >= cap:
                if policy == DROP_OLDEST and not isinstance(item, EndOfStream):
                    for i, old in enumerate(self._items):
                        if self._key(old) == key and not isinstance(old, EndOfStream):
                            del self._items[i]
                            self._per_source[key] -= 1
                            self.dropped += 1
                            self.dropped_by_source[key] += 1
                            dropped = old
                            break
                t0 = time.perf_counter()
                while self._per_source[key] >= cap:
                    if self._stop.is_set():
                        raise Stopped()
                    self._not_full.wait(self._poll)
                self.wait_put += time.perf_counter() - t0
            self._items.append(item)
            self._per_source[key] += 1
            depth = len(self._items)
            self.depth_sum += depth
            self.depth_n += 1
            if depth > self.depth_max:
                self.depth_max = depth
            self._not_empty.notify()
        if dropped is not None and self.on_drop is not None:
            self.on_drop(dropped)

    def get(self, timeout=None):
        """The oldest item; raises Stopped when the pipeline stops, or returns None after `timeout` seconds."""
        with self._lock:
            if not self._items:
                t0 = time.perf_counter()
                deadline = None if timeout is None else t0 + timeout
                while not self._items:
                    if self._stop.is_set():
                        raise Stopped()
                    wait = self._poll
                    if deadline is not None:
                        wait = min(wait, deadline - time.perf_counter())
                        if wait <= 0:
                            self.wait_get += time.perf_counter() - t0
                            return None
                    self._not_empty.wait(wait)
                self.wait_get += time.perf_counter() - t0
            item = self._pop()
            self._per_source[self._key(item)] -= 1
            self._not_full.notify_all()
            return item

    def _pop(self):
        """The oldest item or, when `fair`, the oldest item of the source served longest ago (round robin over the
        sources that have items), so a file that keeps its share full never starves a live source (lock held)."""
        items = self._items
        if not self.fair:
            return items.popleft()
        best_i, best_t, seen = 0, None, set()
        for i, it in enumerate(items):
            k = self._key(it)
            if k in seen:
                continue
            seen.add(k)
            t = self._served.get(k, -1)
            if best_t is None or t < best_t:
                best_i, best_t = i, t
        item = items[best_i]
        del items[best_i]
        self._tick += 1
        self._served[self._key(item)] = self._tick
        return item

    def empty(self):
        # type: () -> bool
        return not self._items

    def stats(self):
        # type: () -> dict
        return {"name": self.name, "capacity": self.maxsize, "wait_put_s": self.wait_put, "wait_get_s": self.wait_get,
                "depth_mean": self.depth_sum / float(self.depth_n) if self.depth_n else 0.0,
                "depth_max": self.depth_max, "dropped": self.dropped}
