"""Queue policies: block (files) never loses an item, drop-oldest (live) evicts the source's own oldest, stop releases."""
import threading
import time

import pytest

from trafficpipe.pipeline.frame import EndOfStream, Frame
from trafficpipe.pipeline.queues import BLOCK, DROP_OLDEST, StageQueue, Stopped


def frame(src, i):
    return Frame(src, i, 0.0, None)


def test_block_policy_applies_backpressure_and_loses_nothing():
    stop = threading.Event()
    q = StageQueue(2, stop)
    got = []

    def produce():
        for i in range(50):
            q.put(frame(0, i), BLOCK)

    t = threading.Thread(target=produce)
    t.start()
    time.sleep(0.05)
    assert len(q) == 2  # the producer is held at capacity
    while len(got) < 50:
        item = q.get(timeout=2)
        assert item is not None
        got.append(item.index)
    t.join(2)
    assert got == list(range(50)) and q.dropped == 0
    assert q.stats()["wait_put_s"] > 0


def test_drop_oldest_evicts_only_the_same_source_and_counts():
    stop = threading.Event()
    dropped = []
    q = StageQueue(2, stop, on_drop=dropped.append)
    q.capacities[1] = 2
    q.put(frame(0, 0), BLOCK)
    for i in range(5):
        q.put(frame(1, i), DROP_OLDEST)
    assert q.dropped == 3 and [f.index for f in dropped] == [0, 1, 2]
    items = [q.get(timeout=0) for _ in range(3)]
    assert [(f.source_id, f.index) for f in items] == [(0, 0), (1, 3), (1, 4)]


def test_end_of_stream_is_never_dropped():
    stop = threading.Event()
    q = StageQueue(1, stop)
    q.put(frame(0, 0), DROP_OLDEST)
    eos = EndOfStream(0)
    t = threading.Thread(target=q.put, args=(eos, DROP_OLDEST))
    t.start()
    time.sleep(0.05)
    assert len(q) == 1  # the marker waits for room rather than evicting or being evicted
    assert q.get(timeout=1).index == 0
    t.join(1)
    assert q.get(timeout=1) is eos


def test_stop_releases_blocked_get_and_put():
    stop = threading.Event()
    q = StageQueue(1, stop, poll=0.02)
    q.put(frame(0, 0))
    errors = []

    def blocked_put():
        try:
            q.put(frame(0, 1))
        except Stopped:
            errors.append("put")

    t = threading.Thread(target=blocked_put)
    t.start()
    stop.set()
    t.join(1)
    assert not t.is_alive() and errors == ["put"]
    q2 = StageQueue(1, stop, poll=0.02)
    with pytest.raises(Stopped):
        q2.get()


def test_get_timeout_returns_none():
    q = StageQueue(1, threading.Event())
    assert q.get(timeout=0) is None
    assert q.get(timeout=0.02) is None
