"""The Ray runner: a scoring run's work spread over a Ray cluster.

Long-lived actors (`worker.SegmentScorer`) each hold one detector: one actor per GPU (num_gpus=1) on GPU clusters,
else one per `cpus_per_actor` CPUs. The driver keeps each actor fed with up to `per_actor` segments and collects
results as they come (`ray.wait`). Probes and merges are zero-CPU Ray tasks (they read files and write Parquet, and
must not wait behind the actors for a CPU). A worker process or node that dies takes only its unfinished segments:
Ray restarts the actor (max_restarts=-1; on another node where its own is gone) and the driver puts the segments back
in the queue, recording each such retry for the manifest. A tracked run scores each video's segments in order on one
actor instead (ordered.py).
"""
import collections
import logging
import time

from ..errors import TrafficpipeError, first_line
from ..log import logger
from .ordered import score_in_order
from .probe import probe_video
from .worker import SegmentScorer, merge_video

RESTART_WAIT_S = 60.0  # how long a retry waits for its restarted worker


def connect(address):
    """ray.init to the cluster at `address` ("auto": the one running on this machine); TrafficpipeError (one line)
    where there is none."""
    try:
        import ray
    except ImportError:
        raise TrafficpipeError("--ray needs Ray: pip install 'trafficpipe[scale]'")
    if address != "auto":
        check_address(address)
    try:
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=True, configure_logging=True)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise TrafficpipeError("cannot connect to the Ray cluster at %s: %s" % (address, first_line(e)))
    return ray


_ANSWERED = set()  # addresses found to answer, probed once per process


def check_address(address, timeout=5.0):
    """TrafficpipeError (one line) unless a Ray cluster's gRPC server answers at HOST:PORT: ray.init would retry for
    minutes at a port where nothing listens or another service does (the dashboard's 8265, say)."""
    import socket
    if address in _ANSWERED:
        return
    if "@" in address:  # never echoed: the part before "@" may be a password
        raise TrafficpipeError("--ray takes auto or HOST:PORT; a Ray address holds no user name or password")
    host, _, port = address.replace("ray://", "").rpartition(":")
    try:
        conn = socket.create_connection((host, int(port)), timeout)
    except ValueError:
        raise TrafficpipeError("--ray takes auto or HOST:PORT, not %s" % address)
    except (socket.error, OSError) as e:
        raise TrafficpipeError("cannot reach the Ray cluster at %s: %s" % (address, first_line(e)))
    try:
        answer = _http2_answer(conn, timeout)
    finally:
        conn.close()
    if answer is not None and not answer:
        raise TrafficpipeError("no Ray cluster answers at %s: the service there does not speak gRPC (the GCS port is "
                               "6379 unless `ray start --port` set another; 8265 is the dashboard's)" % address)
    _ANSWERED.add(address)


def _http2_answer(conn, timeout):
    """Whether the server on `conn` answers an HTTP/2 connection preface with a SETTINGS frame, as every gRPC server
    (Ray's GCS and client server) does; None where it says nothing within `timeout` (left to ray.init)."""
    import socket
    try:
        conn.settimeout(timeout)
        conn.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        head = b""
        while len(head) < 9:
            chunk = conn.recv(9 - len(head))
            if not chunk:
                break
            head += chunk
    except socket.timeout:
        return None
    except (socket.error, OSError):
        return False
    return len(head) == 9 and head[3:4] == b"\x04"


class RayRunner(object):
    """Actors over the cluster at `address`; `actors` 0 = as many as its GPUs (or CPUs / `cpus_per_actor`) allow."""

    name = "ray"

    def __init__(self, address, store_uri, detector_kwargs, batch=1, cpus_per_actor=1, actors=0, per_actor=2,
                 max_attempts=3, start_timeout=600.0):
        ray = self.ray = connect(address)
        self.store_uri = store_uri
        self.per_actor = max(1, int(per_actor))
        self.max_attempts = max(1, int(max_attempts))
        res = ray.cluster_resources()
        gpus = int(res.get("GPU", 0))
        cpus_per_actor = max(1, int(cpus_per_actor))
        if gpus:
            opts, n = dict(num_gpus=1, num_cpus=1), gpus
        else:
            opts, n = dict(num_cpus=cpus_per_actor), int(res.get("CPU", 0)) // cpus_per_actor
            detector_kwargs = dict(detector_kwargs, threads=cpus_per_actor)
        n = int(actors) if actors else max(1, n)
        cls = ray.remote(SegmentScorer).options(max_restarts=-1, max_task_retries=0, **opts)
        self.actors = [cls.remote(store_uri, detector_kwargs, batch) for _ in range(n)]
        try:
            ready = ray.get([a.ready.remote() for a in self.actors], timeout=start_timeout)
        except ray.exceptions.GetTimeoutError:
            self.close()
            raise TrafficpipeError("%d scoring actor(s) (%s each) did not start in %.0f s: does the cluster have "
                                   "the resources?" % (n, opts, start_timeout))
        except ray.exceptions.RayError as e:
            self.close()
            raise TrafficpipeError("a scoring actor could not start: %s" % _cause(e))
        errors = [err for _, err in ready if err]
        if errors:
            self.close()
            raise TrafficpipeError(errors[0])
        self.workers = [name for name, _ in ready]
        logger.info("ray: {} scoring actor(s), {} each, on {} node(s)", n, opts,
                    sum(1 for x in ray.nodes() if x.get("Alive")))
        self._probe = ray.remote(num_cpus=0)(probe_video)
        self._merge = ray.remote(num_cpus=0)(merge_video)

    def probe(self, paths):
        return self.ray.get([self._probe.remote(p) for p in paths])

    def score(self, tasks, on_result, on_retry):
        """Score the segment tasks, each on whichever actor is free; tracked ones (`track`) each video's in order on
        one actor (ordered.py)."""
        if any(t.get("track") for t in tasks):
            return score_in_order(self, tasks, on_result, on_retry)
        ray = self.ray
        pending = collections.deque(tasks)
        inflight = {}  # ObjectRef -> (task, actor index)
        load = [0] * len(self.actors)
        attempts = collections.Counter()
        while pending or inflight:
            while pending and min(load) < self.per_actor:
                i = load.index(min(load))
                t = pending.popleft()
                inflight[self.actors[i].score.remote(t)] = (t, i)
                load[i] += 1
            done, _ = ray.wait(list(inflight), num_returns=1, timeout=1.0)
            for ref in done:
                t, i = inflight.pop(ref)
                load[i] -= 1
                res, why = self.outcome(ref, t, i)
                if res is not None:
                    on_result(res)
                elif self.died(t, i, why, attempts, on_result, on_retry):
                    pending.append(t)

    def outcome(self, ref, t, i):
        """(the result of task `t` from actor `i`, None), or (None, why) where the actor's process or node died."""
        ray = self.ray
        try:
            return ray.get(ref), None
        except ray.exceptions.RayTaskError as e:  # (score reports its own errors: this is a bug)
            return dict(t, frames=0, rows=0, seconds=0.0, worker=self.workers[i], error=_cause(e)), None
        except ray.exceptions.RayError as e:
            return None, "%s: %s" % (type(e).__name__, _cause(e))

    def died(self, t, i, why, attempts, on_result, on_retry):
        """Count a lost attempt at task `t` (`attempts`: a Counter): True where it is to be scored again, else its
        video's error is reported."""
        key = (t["video"], t["start"])
        attempts[key] += 1
        again = attempts[key] < self.max_attempts
        on_retry(t, self.workers[i], why, again)
        if not again:
            on_result(dict(t, frames=0, rows=0, seconds=0.0, worker=self.workers[i],
                           error="segment %d-%s: its worker died %d times (%s)" % (t["start"], t["stop"],
                                                                                 attempts[key], why)))
        else:
            self.await_actor(i)
        return again

    def await_actor(self, i, timeout=RESTART_WAIT_S):
        # type: (int, float) -> bool
        """Wait, at most `timeout` s, until actor `i` answers again: Ray restarts a dead actor, and calls to it fail
        at once while it restarts, so a retry sent there at once would spend its attempts for nothing."""
        ray = self.ray
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                ray.get(self.actors[i].ready.remote(), timeout=max(0.1, deadline - time.time()))
                return True
            except ray.exceptions.GetTimeoutError:
                break
            except ray.exceptions.RayError:
                time.sleep(0.5)
        logger.warning("ray: worker {} did not come back in {:.0f} s", self.workers[i], timeout)
        return False

    def submit_merge(self, job):
        return self._merge.remote(self.store_uri, **job)

    def gather(self, handles):
        return self.ray.get(list(handles))

    def finished(self, handles):
        """[(index in `handles`, result)] of the merges done by now, without waiting for the others."""
        handles = list(handles)
        if not handles:
            return []
        ready, _ = self.ray.wait(handles, num_returns=len(handles), timeout=0)
        ready = set(ready)
        done = [i for i, h in enumerate(handles) if h in ready]
        return list(zip(done, self.ray.get([handles[i] for i in done])))

    def close(self):
        for a in self.actors:
            try:
                self.ray.kill(a)
            except Exception:
                pass
        self.ray.shutdown()


def _cause(e):
    cause = getattr(e, "cause", None)
    return first_line(cause if cause is not None else e)
