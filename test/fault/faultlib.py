"""faultlib: a three-node Runnel cluster to inject faults into, run either as
local runneld processes or as the docker compose deployment.

Both targets offer the same operations (kill -9 a node, start it again, stop
it gracefully, pause and resume it, cut it off the network and heal it) and
the same questions (who leads a partition, who leads the metadata quorum, is
the cluster whole again), so a fault scenario is written once and runs
against either.

Local target: each node runs in its own network namespace, attached to a
bridge that lives in one more namespace (the hub); the root namespace, where
the checker and the CLI run, joins the bridge through its own veth. Cutting
a node off is setting its port on the bridge down: it then reaches neither
its peers nor the clients. The bridge is kept out of the root namespace on
purpose: there, bridged traffic passes the host's iptables FORWARD chain,
which may drop it (Docker sets its policy to DROP). Without the rights to
create namespaces the nodes listen on loopback and a network partition is
approximated by SIGSTOP (said so when it happens).

Every process is stopped by its PID, and every namespace, link and container
is removed when the cluster is torn down, on success, failure or signal.
"""

import ctypes
import ipaddress
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "test", "integration"))
import rtest  # noqa: E402  (the integration helpers: Node, cli, free_port)

# Failure detection short enough that a run takes minutes, not tens of
# minutes; long enough that a busy two-core machine does not fence healthy
# brokers.
FAST_SETTINGS = {
    "broker.session.timeout.ms": "3000",
    "broker.heartbeat.interval.ms": "500",
    "replica.lag.time.max.ms": "3000",
}
SESSION_TIMEOUT_S = 3.0

TOPIC_PARTITIONS = 6
TOPIC_REPLICAS = 3
TOPIC_MIN_ISR = 2

NODE_IDS = (1, 2, 3)
NODE_PORT = 9092            # every node's port inside its namespace
NETNS_PREFIX = "rnf"        # namespaces and links are rnf<pid>...

# How long a fault run waits for the cluster to react before it gives up.
LEADER_WAIT_S = 40.0
WHOLE_TIMEOUT_S = 120.0


PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def die_with_parent():
    """Popen preexec_fn: the child gets SIGKILL when the run that started it
    dies, even by SIGKILL, so no node or producer outlives it."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def flag_args(settings):
    """Settings as runneld flags (node.id -> --node-id)."""
    out = []
    for k, v in settings.items():
        out += ["--" + k.replace(".", "-"), v]
    return out


def env_settings(settings):
    """Settings as runneld environment variables (node.id -> RUNNEL_NODE_ID)."""
    return {"RUNNEL_" + k.upper().replace(".", "_"): v for k, v in settings.items()}


def run(args, check=True, timeout=60):
    """Runs a command; returns a CompletedProcess with text output.  check:
    raise when it exits non-zero."""
    r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       stdin=subprocess.DEVNULL, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError("%s exited %d: %s %s" % (" ".join(args), r.returncode,
                                                    r.stdout.strip()[-2000:], r.stderr.strip()[-2000:]))
    return r


class Cluster:
    """What both targets share: the CLI, and the questions asked of the
    cluster.  Subclasses provide bootstrap, node_ids and the faults."""

    name = "?"
    partition_method = "?"
    pause_method = "?"

    def __init__(self, runnel_bin):
        self.runnel_bin = runnel_bin

    # -- the CLI

    def cli(self, args, check=False, timeout=40, bootstrap=None):
        rtest.RUNNEL = self.runnel_bin
        return rtest.cli(["-b", bootstrap or self.bootstrap] + list(args), check=check, timeout=timeout)

    def bootstrap_without(self, node):
        """The bootstrap list without node (None: every node).  Questions
        about a fault go to the other nodes, so that they are not slowed
        down by a node that cannot answer."""
        if node is None:
            return self.bootstrap
        return ",".join(a for i, a in sorted(self.addresses.items()) if i != node)

    def status(self, avoid=None):
        """cluster status --format json: (exit code, dict or None)."""
        r = self.cli(["cluster", "status", "--format", "json"], timeout=40,
                     bootstrap=self.bootstrap_without(avoid))
        try:
            doc = json.loads(r.stdout) if r.stdout.strip() else None
        except ValueError:
            doc = None
        return r.returncode, doc

    def quorum_leader(self, avoid=None):
        """Id of the metadata quorum leader, or None while there is none."""
        _, doc = self.status(avoid)
        if not doc:
            return None
        q = doc.get("quorum") or {}
        lid = q.get("leader_id", -1)
        if lid is None or lid <= 0 or not q.get("leader_reachable", False):
            return None
        return lid

    def describe(self, topic, avoid=None):
        """topic describe --format json as a dict, or None."""
        r = self.cli(["topic", "describe", topic, "--format", "json"], timeout=40,
                     bootstrap=self.bootstrap_without(avoid))
        if r.returncode != 0:
            return None
        try:
            return json.loads(r.stdout)
        except ValueError:
            return None

    def leaders(self, topic, avoid=None):
        """{partition: leader id} (-1 where there is none), or None."""
        d = self.describe(topic, avoid)
        if d is None:
            return None
        return {p["partition"]: p.get("leader", -1) for p in d["partitions"]}

    def leader_of(self, topic, partition):
        ls = self.leaders(topic)
        return None if ls is None else ls.get(partition)

    def busiest_leader(self, topic):
        """The node leading the most partitions of topic."""
        ls = self.leaders(topic) or {}
        counts = {}
        for lid in ls.values():
            if lid and lid > 0:
                counts[lid] = counts.get(lid, 0) + 1
        if not counts:
            raise RuntimeError("no partition of %s has a leader" % topic)
        return max(sorted(counts), key=lambda k: counts[k])

    def create_topic(self, topic):
        self.cli(["topic", "create", topic, "-p", str(TOPIC_PARTITIONS), "-r", str(TOPIC_REPLICAS),
                  "-c", "min.insync.replicas=%d" % TOPIC_MIN_ISR], check=True, timeout=60)

    def wait_leader_moves(self, topic, partitions, old, timeout=LEADER_WAIT_S):
        """Waits until every partition in partitions has a leader other than
        old; returns the ms it took."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            ls = self.leaders(topic, avoid=old)
            if ls and all(ls.get(p, -1) not in (-1, old) for p in partitions):
                return int((time.monotonic() - start) * 1000)
            time.sleep(0.2)
        raise RuntimeError("partitions %s of %s still led by %d or leaderless after %.0f s: %s" % (
            partitions, topic, old, timeout, self.leaders(topic)))

    def wait_quorum_leader_other_than(self, old, timeout=LEADER_WAIT_S):
        """Waits for a quorum leader that is not old; returns (id, ms)."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            lid = self.quorum_leader(avoid=old)
            if lid is not None and lid != old:
                return lid, int((time.monotonic() - start) * 1000)
            time.sleep(0.2)
        raise RuntimeError("no quorum leader other than %d after %.0f s" % (old, timeout))

    def broker_state(self, node):
        """'alive', 'fenced', or None when the cluster does not say."""
        _, doc = self.status(avoid=node)
        for b in (doc or {}).get("brokers", []):
            if b.get("id") == node:
                return b.get("state")
        return None

    def wait_fenced(self, node, timeout=LEADER_WAIT_S):
        """Waits until the controller has fenced node (its session lapsed);
        returns the ms it took."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if self.broker_state(node) == "fenced":
                return int((time.monotonic() - start) * 1000)
            time.sleep(0.2)
        raise RuntimeError("node %d not fenced after %.0f s" % (node, timeout))

    def high_watermarks(self, topic):
        """{partition: high watermark} (-1 where the leader did not say)."""
        d = self.describe(topic)
        if d is None:
            return {}
        return {p["partition"]: p.get("high_watermark", -1) for p in d["partitions"]}

    def wait_progress(self, topic, before, timeout=WHOLE_TIMEOUT_S):
        """Waits until every partition's high watermark has passed its value
        in before: the cluster commits new records again.  Returns the ms."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            hws = self.high_watermarks(topic)
            if hws and all(hws.get(p, -1) > hw for p, hw in before.items()):
                return int((time.monotonic() - start) * 1000)
            time.sleep(0.3)
        raise RuntimeError("high watermarks of %s did not pass %s within %.0f s (now %s)" % (
            topic, before, timeout, self.high_watermarks(topic)))

    def wait_healthy(self, timeout=WHOLE_TIMEOUT_S):
        """Waits until cluster status is healthy with every broker alive."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            rc, doc = self.status()
            last = (rc, doc and doc.get("problems"))
            if rc == 0 and doc and len([b for b in doc.get("brokers", []) if b.get("state") == "alive"]) == len(self.node_ids):
                return
            time.sleep(0.5)
        raise RuntimeError("cluster not healthy after %.0f s: %s" % (timeout, last))

    def wait_topic_whole(self, topic, timeout=WHOLE_TIMEOUT_S):
        """Without the checker: waits until every partition has a leader and
        its whole replica set in sync; returns the ms it took."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            d = self.describe(topic)
            if d and all(p.get("leader", -1) > 0 and sorted(p["isr"]) == sorted(p["replicas"])
                         for p in d["partitions"]):
                rc, _ = self.status()
                if rc == 0:
                    return int((time.monotonic() - start) * 1000)
            time.sleep(0.3)
        raise RuntimeError("topic %s not whole after %.0f s" % (topic, timeout))

    # -- what subclasses provide

    node_ids = NODE_IDS

    @property
    def addresses(self):
        """{node id: the address clients use}."""
        raise NotImplementedError

    @property
    def bootstrap(self):
        raise NotImplementedError

    def ensure_running(self):
        """Brings every node back (running, resumed, connected): the state a
        scenario starts from."""
        raise NotImplementedError

    def node_log(self, node_id, tail=4000):
        return ""


# ------------------------------------------------------------------ local

class NetnsNet:
    """A private network: one namespace per node, a bridge in a hub
    namespace, and a veth from the root namespace onto the bridge."""

    def __init__(self, n_nodes):
        self.tag = "%s%d" % (NETNS_PREFIX, os.getpid())
        self.hub = self.tag + "hub"
        self.root_link = self.tag + "r"
        self.n_nodes = n_nodes
        self.created_ns = []
        self.root_link_made = False
        self.subnet = None

    def ns(self, i):
        return "%sn%d" % (self.tag, i)

    def port(self, i):
        return "%sb%d" % (self.tag, i)

    def address(self, i):
        return str(self.subnet.network_address + i)

    def _ip(self, *args):
        run(["ip"] + list(args), timeout=20)

    def _add_ns(self, name):
        self._ip("netns", "add", name)
        self.created_ns.append(name)

    def setup(self):
        remove_stale_namespaces()
        self.subnet = pick_subnet()
        gw = str(self.subnet.network_address + 254)
        self._add_ns(self.hub)
        self._ip("-n", self.hub, "link", "set", "lo", "up")
        self._ip("-n", self.hub, "link", "add", "br0", "type", "bridge", "forward_delay", "0")
        self._ip("-n", self.hub, "link", "set", "br0", "up")
        for i in range(1, self.n_nodes + 1):
            ns, inner, outer = self.ns(i), self.tag + "n%d" % i, self.port(i)
            self._add_ns(ns)
            self._ip("link", "add", inner, "type", "veth", "peer", "name", outer)
            self._ip("link", "set", inner, "netns", ns)
            self._ip("link", "set", outer, "netns", self.hub)
            self._ip("-n", self.hub, "link", "set", outer, "master", "br0", "up")
            self._ip("-n", ns, "link", "set", "lo", "up")
            self._ip("-n", ns, "addr", "add", "%s/%d" % (self.address(i), self.subnet.prefixlen), "dev", inner)
            self._ip("-n", ns, "link", "set", inner, "up")
        self._ip("link", "add", self.root_link, "type", "veth", "peer", "name", self.tag + "rb")
        self.root_link_made = True
        self._ip("link", "set", self.tag + "rb", "netns", self.hub)
        self._ip("-n", self.hub, "link", "set", self.tag + "rb", "master", "br0", "up")
        self._ip("addr", "add", "%s/%d" % (gw, self.subnet.prefixlen), "dev", self.root_link)
        self._ip("link", "set", self.root_link, "up")

    def cut(self, i):
        self._ip("-n", self.hub, "link", "set", self.port(i), "down")

    def heal(self, i):
        self._ip("-n", self.hub, "link", "set", self.port(i), "up")

    def teardown(self):
        # Deleting a namespace destroys the veths inside it and their peers.
        if self.root_link_made:
            run(["ip", "link", "del", self.root_link], check=False)
        for name in reversed(self.created_ns):
            run(["ip", "netns", "del", name], check=False)
        self.created_ns = []


def remove_stale_namespaces():
    """Removes namespaces left by an earlier run whose process is gone (it
    was killed before it could clean up)."""
    r = run(["ip", "netns", "list"], check=False)
    for line in r.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        m = re.match(r"^%s(\d+)(hub|n\d+)$" % NETNS_PREFIX, name)
        if m and not os.path.exists("/proc/%s" % m.group(1)):
            run(["ip", "netns", "del", name], check=False)


def pick_subnet():
    """A 10.x.y.0/24 that no route or address of this machine overlaps."""
    used = []
    r = run(["ip", "-4", "route", "show", "table", "all"], check=False)
    for line in r.stdout.splitlines():
        word = line.split()[0] if line.split() else ""
        if word in ("local", "broadcast", "unreachable", "blackhole", "prohibit"):
            word = line.split()[1]
        try:
            used.append(ipaddress.ip_network(word, strict=False))
        except ValueError:
            continue
    pid = os.getpid()
    for k in range(250 * 50):
        n = (pid + k) % (250 * 50)
        net = ipaddress.ip_network("10.%d.%d.0/24" % (200 + n // 250, n % 250))
        if not any(net.overlaps(u) for u in used if u.prefixlen > 0):
            return net
    raise RuntimeError("no free 10.x.y.0/24 subnet")


def netns_available():
    """True when this process may create network namespaces."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return False
    probe = "%s%dprobe" % (NETNS_PREFIX, os.getpid())
    r = run(["ip", "netns", "add", probe], check=False)
    if r.returncode != 0:
        return False
    run(["ip", "netns", "del", probe], check=False)
    return True


class LocalNode(rtest.Node):
    """An rtest.Node that may run inside a network namespace."""

    def __init__(self, workdir, node_id, host, port, netns, extra_args):
        super().__init__(workdir, node_id=node_id, port=port, extra_args=extra_args)
        self.host = host
        self.netns = netns

    @property
    def address(self):
        return "%s:%d" % (self.host, self.port)

    def start(self, wait=True):
        prefix = ["ip", "netns", "exec", self.netns] if self.netns else []
        args = prefix + [rtest.RUNNELD, "--node-id", str(self.node_id), "--listen", self.address,
                         "--data-dir", self.data_dir] + self.extra_args
        with open(self.log_path, "ab") as logf:
            logf.write(("--- start %s\n" % time.strftime("%H:%M:%S")).encode())
            logf.flush()
            # `ip netns exec` execs runneld, so the PID is runneld's own.
            self.proc = subprocess.Popen(args, stdout=logf, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)
        if wait:
            self.wait_ready()
        return self

    def running(self):
        return self.proc is not None and self.proc.poll() is None


class LocalCluster(Cluster):
    """Three runneld processes (controller and broker each) on this machine."""

    name = "local"

    def __init__(self, build_dir, workdir, use_netns=None):
        super().__init__(os.path.join(build_dir, "clients", "runnel"))
        rtest.RUNNELD = os.path.join(build_dir, "broker", "runneld")
        rtest.RUNNEL = self.runnel_bin
        self.workdir = workdir
        self.use_netns = netns_available() if use_netns is None else use_netns
        self.net = NetnsNet(len(NODE_IDS)) if self.use_netns else None
        self.paused = set()
        self.nodes = {}
        self.partition_method = "network namespace link down" if self.use_netns else "SIGSTOP (no network namespaces)"
        self.pause_method = "SIGSTOP"

    @property
    def addresses(self):
        return {i: n.address for i, n in self.nodes.items()}

    @property
    def bootstrap(self):
        return ",".join(n.address for n in self.nodes.values())

    def start(self):
        if self.net:
            self.net.setup()
            hosts = {i: self.net.address(i) for i in NODE_IDS}
            ports = {i: NODE_PORT for i in NODE_IDS}
            log("local cluster in network namespaces %sn1..%d, subnet %s" % (
                self.net.tag, len(NODE_IDS), self.net.subnet))
        else:
            hosts = {i: "127.0.0.1" for i in NODE_IDS}
            ports = {i: rtest.free_port() for i in NODE_IDS}
            log("local cluster on loopback (no network namespaces: the partition fault uses SIGSTOP)")
        voters = ",".join("%d@%s:%d" % (i, hosts[i], ports[i]) for i in NODE_IDS)
        extra = ["--voters", voters] + flag_args(FAST_SETTINGS)
        for i in NODE_IDS:
            self.nodes[i] = LocalNode(self.workdir, i, hosts[i], ports[i],
                                      self.net.ns(i) if self.net else None, extra)
        for n in self.nodes.values():
            n.start(wait=False)
        self.wait_healthy(60)
        log("cluster healthy: %s" % self.bootstrap)

    def running(self, i):
        return self.nodes[i].running()

    def kill9(self, i):
        self.paused.discard(i)
        self.nodes[i].kill9()

    def start_node(self, i):
        if not self.nodes[i].running():
            self.nodes[i].start(wait=False)

    def stop_node(self, i):
        """Graceful stop (SIGTERM); the node must exit 0."""
        self.nodes[i].stop(timeout=30)

    def pause(self, i):
        self.nodes[i].proc.send_signal(signal.SIGSTOP)
        self.paused.add(i)

    def resume(self, i):
        if self.nodes[i].running():
            self.nodes[i].proc.send_signal(signal.SIGCONT)
        self.paused.discard(i)

    def isolate(self, i):
        if self.net:
            self.net.cut(i)
        else:
            log("no network namespaces: node %d is stopped with SIGSTOP instead of cut off" % i)
            self.pause(i)

    def heal(self, i):
        if self.net:
            self.net.heal(i)
        else:
            self.resume(i)

    def remove_partition_logs(self, i, topic):
        """Deletes node i's partition directories of topic (node stopped):
        the disk of that node loses the topic's records."""
        if self.nodes[i].running():
            raise RuntimeError("node %d must be stopped before its logs are removed" % i)
        topics = os.path.join(self.nodes[i].data_dir, "topics")
        removed = 0
        for name in os.listdir(topics) if os.path.isdir(topics) else []:
            if re.match(r"^%s-\d+$" % re.escape(topic), name):
                shutil.rmtree(os.path.join(topics, name))
                removed += 1
        return removed

    def ensure_running(self):
        for i in NODE_IDS:
            if self.net:
                self.net.heal(i)
            if i in self.paused:
                self.resume(i)
            self.start_node(i)

    def node_log(self, i, tail=4000):
        return self.nodes[i].log(tail)

    def teardown(self):
        for n in self.nodes.values():
            if n.proc is not None and n.proc.poll() is None:
                n.proc.send_signal(signal.SIGCONT)
                n.proc.send_signal(signal.SIGKILL)
                try:
                    n.proc.wait(10)
                except subprocess.TimeoutExpired:
                    pass
        if self.net:
            self.net.teardown()


# ---------------------------------------------------------------- compose

def compose_command():
    """The compose tool: ['docker', 'compose'] when that works, else
    ['docker-compose']; None when neither does."""
    if shutil.which("docker") is None:
        return None
    r = subprocess.run(["docker", "compose", "version"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    if r.returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        r = subprocess.run(["docker-compose", "version"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        if r.returncode == 0:
            return ["docker-compose"]
    return None


def docker_available():
    """Why the compose target cannot run here, or None when it can."""
    if shutil.which("docker") is None:
        return "docker is not installed"
    if compose_command() is None:
        return "neither `docker compose` nor `docker-compose` works"
    r = subprocess.run(["docker", "info"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if r.returncode != 0:
        return "the docker daemon is not reachable"
    return None


class ComposeCluster(Cluster):
    """The deploy/docker-compose.yml cluster, run by deploy/cluster.sh under a
    private project name, image tag and free host ports.  The short
    failure-detection settings reach the nodes through the environment,
    which the compose file passes through (docs/deployment.md)."""

    name = "compose"
    partition_method = "docker network disconnect"
    pause_method = "docker pause"

    def __init__(self, build_dir, workdir):
        super().__init__(os.path.join(build_dir, "clients", "runnel"))
        self.build_dir = os.path.abspath(build_dir)
        self.workdir = workdir
        self.project = "runnelfault%d" % os.getpid()
        self.ports = {i: rtest.free_port() for i in NODE_IDS}
        # A private image built from this build directory, so the run tests
        # these binaries and leaves no image behind; RUNNEL_IMAGE names an
        # existing one to use instead.
        self.own_image = "RUNNEL_IMAGE" not in os.environ
        self.image = os.environ.get("RUNNEL_IMAGE", "runnel:fault-%d" % os.getpid())
        self.env = dict(os.environ)
        self.env.update({
            "RUNNEL_COMPOSE_PROJECT": self.project,
            "RUNNEL_BUILD_DIR": self.build_dir,
            "RUNNEL_IMAGE": self.image,
            "RUNNEL_HOST": "127.0.0.1",
        })
        self.env.update(env_settings(FAST_SETTINGS))
        for i in NODE_IDS:
            self.env["RUNNEL_PORT_%d" % i] = str(self.ports[i])
        self.started = False
        self.disconnected = {}
        self.cids = {}

    @property
    def addresses(self):
        return {i: "127.0.0.1:%d" % self.ports[i] for i in NODE_IDS}

    @property
    def bootstrap(self):
        return ",".join("127.0.0.1:%d" % self.ports[i] for i in NODE_IDS)

    def _script(self, *args, check=True, timeout=300):
        cmd = [os.path.join(REPO, "deploy", "cluster.sh")] + list(args)
        r = subprocess.run(cmd, env=self.env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise RuntimeError("%s exited %d:\n%s" % (" ".join(cmd), r.returncode, r.stdout[-4000:]))
        return r

    def remove_stale_projects(self):
        """Removes the containers, volumes, networks and image of earlier
        runs whose process is gone (killed before it could clean up)."""
        r = run(["docker", "ps", "-a", "--format", "{{.Label \"com.docker.compose.project\"}}"],
                check=False, timeout=60)
        for project in sorted(set(r.stdout.split())):
            m = re.match(r"^runnelfault(\d+)$", project)
            if not m or os.path.exists("/proc/%s" % m.group(1)):
                continue
            log("removing compose project %s left by an earlier run" % project)
            env = dict(self.env, RUNNEL_COMPOSE_PROJECT=project)
            subprocess.run([os.path.join(REPO, "deploy", "cluster.sh"), "down", "--volumes"], env=env,
                           cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           stdin=subprocess.DEVNULL, timeout=300)
            run(["docker", "image", "rm", "-f", "runnel:fault-%s" % m.group(1)], check=False, timeout=120)

    def start(self):
        self.remove_stale_projects()
        self.started = True
        log("starting compose project %s (image %s, ports %s)" % (
            self.project, self.image, ",".join(str(self.ports[i]) for i in NODE_IDS)))
        self._script("up", "--timeout", "180", timeout=600)
        self.wait_healthy(120)
        log("compose cluster healthy: %s" % self.bootstrap)

    def container(self, i):
        if i not in self.cids:
            r = self._script("compose", "ps", "-q", "node%d" % i, timeout=60)
            ids = [x for x in r.stdout.split() if re.match(r"^[0-9a-f]{12,}$", x)]
            if not ids:
                raise RuntimeError("no container for node%d: %s" % (i, r.stdout))
            self.cids[i] = ids[0]
        return self.cids[i]

    def _state(self, i):
        r = run(["docker", "inspect", "-f", "{{json .State}}", self.container(i)], timeout=30)
        return json.loads(r.stdout)

    def running(self, i):
        st = self._state(i)
        return st.get("Running", False) and not st.get("Paused", False)

    def kill9(self, i):
        run(["docker", "kill", "-s", "KILL", self.container(i)], timeout=60)

    def start_node(self, i):
        if self._state(i).get("Running", False):
            log("  node%d is already running (restarted by its restart policy)" % i)
            return
        run(["docker", "start", self.container(i)], timeout=120)

    def _start_if_stopped(self, i):
        if not self._state(i).get("Running", False):
            run(["docker", "start", self.container(i)], timeout=120)

    def stop_node(self, i):
        """Graceful stop (SIGTERM, as docker stop sends); must exit 0."""
        run(["docker", "stop", "-t", "30", self.container(i)], timeout=90)
        code = self._state(i).get("ExitCode")
        if code != 0:
            raise RuntimeError("node%d exited %s on SIGTERM" % (i, code))

    def pause(self, i):
        run(["docker", "pause", self.container(i)], timeout=60)

    def resume(self, i):
        if self._state(i).get("Paused", False):
            run(["docker", "unpause", self.container(i)], timeout=60)

    def isolate(self, i):
        """Disconnects the container from every network: it reaches neither
        its peers nor the published port."""
        cid = self.container(i)
        r = run(["docker", "inspect", "-f", "{{json .NetworkSettings.Networks}}", cid], timeout=30)
        saved = []
        for net, cfg in json.loads(r.stdout).items():
            # Compose gives each container its service name and its short id
            # as aliases; the service name must come back on reconnect.
            aliases = [a for a in (cfg.get("Aliases") or []) if not cid.startswith(a)]
            saved.append((net, aliases))
        self.disconnected[i] = saved
        for net, _ in saved:
            run(["docker", "network", "disconnect", net, cid], timeout=60)

    def heal(self, i):
        cid = self.container(i)
        for net, aliases in self.disconnected.pop(i, []):
            args = ["docker", "network", "connect"]
            for a in aliases:
                args += ["--alias", a]
            run(args + [net, cid], timeout=60)

    def ensure_running(self):
        for i in NODE_IDS:
            if i in self.disconnected:
                self.heal(i)
            self.resume(i)
            self._start_if_stopped(i)

    def node_log(self, i, tail=4000):
        r = run(["docker", "logs", "--tail", "200", self.container(i)], check=False, timeout=60)
        return (r.stdout + r.stderr)[-tail:]

    def save_logs(self, path):
        r = self._script("logs", "--no-color", check=False, timeout=120)
        with open(path, "w") as f:
            f.write(r.stdout)

    def teardown(self):
        if not self.started:
            return
        for i in NODE_IDS:
            # A paused container cannot be removed.
            try:
                self.resume(i)
            except Exception:
                pass
        self._script("down", "--volumes", check=False, timeout=300)
        if self.own_image:
            run(["docker", "image", "rm", "-f", self.image], check=False, timeout=120)


def make_workdir(prefix):
    return tempfile.mkdtemp(prefix=prefix)
