"""benchlib: runneld processes, the runnel CLI and memory sampling for the benchmark matrix.

Every process started here is remembered and stopped by its PID; nothing is
ever stopped by name.
"""

import json
import os
import platform
import random
import signal
import socket
import subprocess
import threading
import time

# A port is picked below the kernel's ephemeral range, so that a client's
# outgoing connection cannot take a node's port while the node restarts.
PORT_LOW, PORT_HIGH = 20000, 32000
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
SAMPLE_INTERVAL_S = 0.1
MIB = 1 << 20
GIB = 1 << 30

_started = []


class BenchError(Exception):
    """A benchmark step that could not run (not a slow result: a failure)."""


def free_port():
    """A loopback TCP port that was free a moment ago."""
    for _ in range(500):
        port = random.randint(PORT_LOW, PORT_HIGH)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise BenchError("no free port between %d and %d" % (PORT_LOW, PORT_HIGH))


def spawn(args, log_path, **kw):
    """Starts a process with its output in log_path and remembers it for stop_all."""
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, **kw)
    _started.append(proc)
    return proc


def stop_process(proc, timeout=STOP_TIMEOUT_S):
    """SIGTERM, then SIGKILL if the process is still there after timeout; returns its exit code."""
    if proc.poll() is not None:
        return proc.returncode
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        return proc.wait()


def stop_all():
    """Stops every process this module started that still runs."""
    for proc in _started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    _started.clear()


class Cli:
    """The runnel CLI of one build directory."""

    def __init__(self, build_dir):
        self.path = os.path.join(build_dir, "clients", "runnel")

    def run(self, bootstrap, args, timeout=600, check=True):
        """Runs `runnel -b bootstrap args...`; returns (exit code, stdout, stderr)."""
        proc = subprocess.Popen([self.path, "-b", bootstrap] + list(args), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        _started.append(proc)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            out, err = proc.communicate()
            raise BenchError("runnel %s: no answer in %d s" % (" ".join(args), timeout))
        out, err = out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
        if check and proc.returncode != 0:
            raise BenchError("runnel %s exited %d: %s" % (" ".join(args), proc.returncode, err.strip()[-500:]))
        return proc.returncode, out, err

    def perf(self, bootstrap, mode, topic, args, timeout=900):
        """Runs `runnel perf MODE TOPIC args --format json`; returns the result object."""
        _, out, _ = self.run(bootstrap, ["perf", mode, topic] + list(args) + ["--format", "json"], timeout)
        return json.loads(out.strip().splitlines()[-1])

    def describe(self, bootstrap, topic):
        """The topic's partitions as `topic describe --format json` gives them."""
        _, out, _ = self.run(bootstrap, ["topic", "describe", topic, "--format", "json"], 30)
        return json.loads(out)["partitions"]


class Node:
    """One runneld process on a free loopback port with its own data directory."""

    def __init__(self, build_dir, work_dir, node_id=1, voters=None, port=None):
        self.binary = os.path.join(build_dir, "broker", "runneld")
        self.node_id = node_id
        self.port = port or free_port()
        self.data_dir = os.path.join(work_dir, "node%d" % node_id)
        self.log_path = os.path.join(work_dir, "node%d.log" % node_id)
        self.voters = voters
        self.proc = None

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    @property
    def pid(self):
        return self.proc.pid if self.proc and self.proc.poll() is None else None

    def start(self):
        args = [self.binary, "--node-id", str(self.node_id), "--listen", self.address,
                "--data-dir", self.data_dir]
        if self.voters:
            args += ["--voters", self.voters]
        self.proc = spawn(args, self.log_path)
        return self

    def stop(self):
        """Stops the node with SIGTERM; a node that does not exit 0 is an error."""
        if self.proc is None:
            return
        rc = stop_process(self.proc)
        self.proc = None
        if rc != 0:
            raise BenchError("runneld %d exited %d on SIGTERM; see %s" % (self.node_id, rc, self.log_path))


def wait_healthy(cli, nodes, brokers):
    """Waits until `cluster status` is healthy with `brokers` brokers alive."""
    bootstrap = ",".join(n.address for n in nodes)
    deadline = time.monotonic() + READY_TIMEOUT_S
    last = ""
    while time.monotonic() < deadline:
        for n in nodes:
            if n.proc.poll() is not None:
                raise BenchError("runneld %d exited %d; see %s" % (n.node_id, n.proc.returncode, n.log_path))
        rc, out, err = cli.run(bootstrap, ["cluster", "status", "--format", "json"], 30, check=False)
        if rc == 0:
            status = json.loads(out)
            alive = [b for b in status["brokers"] if b["state"] == "alive"]
            if status["healthy"] and len(alive) == brokers:
                return
        last = err.strip() or out[:300]
        time.sleep(0.2)
    raise BenchError("cluster not healthy after %.0f s: %s" % (READY_TIMEOUT_S, last))


def create_topic(cli, bootstrap, topic, partitions, replicas=1):
    """Creates a topic and waits until every partition has a leader and a full ISR."""
    cli.run(bootstrap, ["topic", "create", topic, "-p", str(partitions), "-r", str(replicas)], 60)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        parts = cli.describe(bootstrap, topic)
        if len(parts) == partitions and all(p["leader"] > 0 and len(p["isr"]) == replicas for p in parts):
            return
        time.sleep(0.2)
    raise BenchError("topic %s: partitions not all led with a full ISR after %.0f s" % (topic, READY_TIMEOUT_S))


def stored_records(cli, bootstrap, topic):
    """The sum of the high watermarks of the topic's partitions."""
    return sum(p["high_watermark"] for p in cli.describe(bootstrap, topic))


def proc_memory(pid):
    """(VmRSS, VmHWM) of a process in bytes, or None when it is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            fields = dict(line.split(":", 1) for line in f if line.startswith(("VmRSS", "VmHWM")))
    except (OSError, ValueError):
        return None
    return tuple(int(fields[k].split()[0]) * 1024 for k in ("VmRSS", "VmHWM"))


class MemorySampler:
    """Samples the memory of the nodes it watches every SAMPLE_INTERVAL_S on a thread.

    It keeps two peaks: the largest VmRSS it sampled, and the largest VmHWM
    (the kernel's own peak over the process's life, which catches a peak
    between two samples but also remembers earlier scenarios on that node).
    """

    def __init__(self):
        self.nodes = []
        self.rss = self.hwm = 0
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def watch(self, nodes):
        """Samples these nodes from now on (a node may restart: its new process is followed)."""
        with self.lock:
            self.nodes = list(nodes)
            self.rss = self.hwm = 0

    def take(self):
        """(peak VmRSS, peak VmHWM) in bytes since the last take() or watch(); starts new peaks."""
        with self.lock:
            self._sample()
            peaks = (self.rss, self.hwm)
            self.rss = self.hwm = 0
        return peaks

    def close(self):
        self.stopping.set()
        self.thread.join()

    def _sample(self):
        for n in self.nodes:
            mem = proc_memory(n.pid) if n.pid else None
            if mem:
                self.rss, self.hwm = max(self.rss, mem[0]), max(self.hwm, mem[1])

    def _loop(self):
        while not self.stopping.wait(SAMPLE_INTERVAL_S):
            with self.lock:
                self._sample()


def machine_info(path):
    """The facts about this machine that explain the numbers: CPU, kernel, memory, disk."""
    info = {"nproc": os.cpu_count(), "kernel": platform.release(), "cpu": "unknown"}
    try:
        with open("/proc/cpuinfo") as f:
            models = [l.split(":", 1)[1].strip() for l in f if l.startswith("model name")]
        info["cpu"] = models[0] if models else info["cpu"]
        with open("/proc/meminfo") as f:
            info["mem_gib"] = int(f.readline().split()[1]) / (1 << 20)
    except OSError:
        pass
    info["disk"] = disk_info(path)
    info["load_start"] = os.getloadavg()
    return info


def disk_info(path):
    """The device, file system and kind of disk that holds path."""
    try:
        src, fstype = subprocess.run(["findmnt", "-n", "-o", "SOURCE,FSTYPE", "-T", path], capture_output=True,
                                     text=True, check=True).stdout.split()[:2]
    except (OSError, subprocess.CalledProcessError, ValueError):
        return "unknown"
    kind = ""
    try:
        out = subprocess.run(["lsblk", "-d", "-n", "-o", "ROTA,MODEL", src], capture_output=True, text=True,
                             check=True).stdout.split(None, 1)
        kind = (", the kernel reports it rotational" if out and out[0] == "1" else ", non-rotational") + (
            " " + out[1].strip() if len(out) > 1 and out[1].strip() else "")
    except (OSError, subprocess.CalledProcessError):
        pass
    st = os.statvfs(path)
    return "%s (%s%s), %.0f GiB free of %.0f GiB" % (src, fstype, kind, st.f_bavail * st.f_frsize / GIB,
                                                     st.f_blocks * st.f_frsize / GIB)


def cpu_snapshot():
    """(wall, busy, steal, own) seconds: the machine's busy and stolen CPU time so far
    (/proc/stat), and the CPU time of this process and its waited-for children."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    t = os.times()
    return (time.monotonic(), (user + nice + system + irq + softirq) / tick, steal / tick,
            t.user + t.system + t.children_user + t.children_system)


def cpu_others(start, end):
    """Average cores used by processes other than the benchmark's, and average cores stolen
    by the hypervisor, between two cpu_snapshot() calls."""
    wall = end[0] - start[0]
    return max(0.0, (end[1] - start[1]) - (end[3] - start[3])) / wall, (end[2] - start[2]) / wall


def settle():
    """Writes back every dirty page before a run, so no run pays for an earlier run's writes."""
    os.sync()


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize
