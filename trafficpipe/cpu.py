"""How many CPU cores this process may use: the affinity mask, further limited by a cgroup CPU quota."""
import os


def cores_available():
    # type: () -> float
    """Cores this process may use (may be fractional under a cgroup quota; at least 1)."""
    try:
        n = float(len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        n = float(os.cpu_count() or 1)
    quota = _cgroup_quota()
    if quota and quota < n:
        n = quota
    return max(1.0, n)


def _cgroup_quota():
    try:
        with open("/sys/fs/cgroup/cpu.max") as f:  # cgroup v2: "max 100000" or "200000 100000"
            q, p = f.read().split()[:2]
            return float(q) / float(p) if q != "max" else None
    except (IOError, OSError, ValueError):
        pass
    try:
        with open("/sys/fs/cgroup/cpu/cpu.cfs_quota_us") as f:  # cgroup v1
            q = float(f.read())
        with open("/sys/fs/cgroup/cpu/cpu.cfs_period_us") as f:
            p = float(f.read())
        return q / p if q > 0 and p > 0 else None
    except (IOError, OSError, ValueError):
        return None
