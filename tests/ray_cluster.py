"""A real Ray cluster of several nodes on this machine (127.0.0.1), started with `ray start` for the tests.

Each node is started in a process group of its own; `stop()` ends the processes of those groups, and any process they
started (Ray's workers), by pid: other Ray clusters on the machine are left alone (`ray stop` would end them too)."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from cli_helpers import free_port, process_table

RAY = os.path.join(os.path.dirname(sys.executable), "ray")


class LocalRayCluster(object):
    """A head node and `workers` more nodes, `cpus` CPUs each, their logs under `tmp`. Each node's session folder is
    under a short folder of the system's temp (Ray's socket paths must stay under 108 bytes, which a pytest worker's
    tmp_path can exceed), removed by `stop()`."""

    def __init__(self, tmp, cpus=1):
        self.tmp = str(tmp)
        self.sessions = tempfile.mkdtemp(prefix="tp-ray-")
        self.cpus = cpus
        self.port = free_port()
        self.address = "127.0.0.1:%d" % self.port
        self.groups = []  # the process group id of each node's processes
        self.env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0")
        self.env.pop("RAY_ADDRESS", None)

    def _start(self, args, name):
        temp = os.path.join(self.sessions, name)
        os.makedirs(temp)
        log = open(os.path.join(self.tmp, name + ".log"), "w")
        p = subprocess.Popen([RAY, "start", "--num-cpus", str(self.cpus), "--node-ip-address", "127.0.0.1",
                              "--temp-dir", temp, "--disable-usage-stats"] + args, stdout=log,
                             stderr=subprocess.STDOUT, env=self.env, start_new_session=True)
        self.groups.append(p.pid)
        rc = p.wait(120)
        log.close()
        if rc:
            raise RuntimeError("ray start failed: %s" % open(os.path.join(self.tmp, name + ".log")).read()[-2000:])

    def start_head(self):
        self._start(["--head", "--port", str(self.port), "--include-dashboard=false"], "head")

    def add_node(self):
        self._start(["--address", self.address], "node%d" % len(self.groups))

    def wait_nodes(self, n, timeout=60.0):
        """Block until `ray status` lists `n` alive nodes."""
        t_end = time.time() + timeout
        while time.time() < t_end:
            r = subprocess.run([RAY, "status", "--address", self.address], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, universal_newlines=True, env=self.env)
            if r.returncode == 0 and r.stdout.count("node_") >= n:
                return
            time.sleep(1.0)
        raise RuntimeError("the cluster did not reach %d nodes: %s" % (n, r.stdout[-1000:]))

    def processes(self):
        """{pid: cmdline} of this cluster's processes: those of its nodes' process groups and their descendants."""
        table = process_table()
        mine = set(pid for pid, (_, pgid, _c) in table.items() if pgid in self.groups)
        grew = True
        while grew:
            more = set(pid for pid, (ppid, _, _c) in table.items() if ppid in mine) - mine
            grew = bool(more)
            mine |= more
        return dict((pid, table[pid][2]) for pid in mine)

    def actor_pids(self, cls_name):
        """Pids of this cluster's worker processes running an actor of class `cls_name`."""
        return sorted(pid for pid, cmd in self.processes().items() if cmd.startswith("ray::%s" % cls_name))

    def stop(self):
        """End every process of the cluster (TERM, then KILL after 2 s), then remove its session folders."""
        for sig, wait in ((signal.SIGTERM, 2.0), (signal.SIGKILL, 2.0)):
            pids = self.processes()
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except OSError:
                    pass
            t_end = time.time() + wait
            while time.time() < t_end and self.processes():
                time.sleep(0.2)
        shutil.rmtree(self.sessions, ignore_errors=True)
