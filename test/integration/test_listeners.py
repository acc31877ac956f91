"""Named listeners and forwarded controller requests, with real runneld processes.

Each node binds an INTERNAL listener (other nodes) and, when it is a broker,
an EXTERNAL one (clients) on its own loopback port.  A client that reaches a
node through EXTERNAL must only ever be given EXTERNAL addresses; a client
that reaches only brokers (dedicated controllers) must still be able to
administer the cluster, through brokers that forward its controller
requests.
"""

import json
import os
import signal
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rtest  # noqa: E402
from rtest import cli, first, free_port, pb_bytes, pb_decode, pb_int, read_frame, request  # noqa: E402

API_METADATA = 3
API_FIND_COORDINATOR = 10
API_DESCRIBE_QUORUM = 55

# Short sessions so that a killed node is noticed within seconds.
FAST = ["--broker-heartbeat-interval-ms", "500", "--broker-session-timeout-ms", "3000",
        "--offsets-topic-num-partitions", "4", "--group-initial-rebalance-delay-ms", "0",
        "--group-min-session-timeout-ms", "1000"]


class ListenerNode(rtest.Node):
    """A runneld configured by --listeners instead of --listen."""

    def __init__(self, workdir, node_id, roles, internal_port, external_port, voters):
        super().__init__(workdir, node_id=node_id, port=internal_port)
        self.internal_port = internal_port
        self.external_port = external_port
        listeners = ["INTERNAL://127.0.0.1:%d" % internal_port]
        if external_port:
            # EXTERNAL first: the inter-node listener is chosen by name, not
            # by position.
            listeners.insert(0, "EXTERNAL://127.0.0.1:%d" % external_port)
        self.args = ["--node-id", str(node_id), "--roles", roles, "--data-dir", self.data_dir,
                     "--listeners", ",".join(listeners), "--inter-node-listener-name", "INTERNAL",
                     "--voters", voters] + FAST

    @property
    def external(self):
        return "127.0.0.1:%d" % self.external_port

    def start(self, wait=False):
        log = open(self.log_path, "ab")
        self.proc = rtest.subprocess.Popen([rtest.RUNNELD] + self.args, stdout=log,
                                           stderr=rtest.subprocess.STDOUT)
        log.close()
        rtest._children.append(self.proc)
        return self


def wait_until(what, check, timeout=60.0, interval=0.2):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = check()
            if last:
                return last
        except AssertionError as e:
            last = e
        time.sleep(interval)
    raise AssertionError("timed out after %.0fs waiting for %s (last: %s)" % (timeout, what, last))


def status(bootstrap):
    r = cli(["-b", bootstrap, "cluster", "status", "--format", "json"], check=False, timeout=30)
    doc = json.loads(r.stdout) if r.stdout.strip() else None
    return r.returncode, doc, r.stderr


def healthy(bootstrap, brokers):
    rc, doc, _ = status(bootstrap)
    return doc if rc == 0 and doc and len(doc["brokers"]) == brokers else None


def call(port, api_key, body):
    """One raw request to 127.0.0.1:port; the decoded response body."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request(api_key, 7, body))
        resp = read_frame(s)
    assert resp is not None, "no answer from port %d" % port
    assert first(resp, 1) == 7, "wrong correlation id"
    assert first(resp, 2) == 0, "request refused: %r" % resp
    return pb_decode(first(resp, api_key + 100, b""))


def metadata(port):
    """(controller_id, {node_id: port}) as the node at port answers Metadata."""
    md = call(port, API_METADATA, b"")
    brokers = {}
    for raw in md.get(1, []):
        b = pb_decode(raw)
        brokers[first(b, 1)] = (first(b, 2).decode(), first(b, 3))
    return first(md, 3), brokers


def coordinator(port, group):
    """The coordinator FindCoordinator names at port, once there is one."""
    fc = call(port, API_FIND_COORDINATOR, pb_bytes(1, group) + pb_int(2, 0))
    if first(fc, 1) != 0:
        return None
    return first(fc, 3), first(fc, 4).decode(), first(fc, 5)


def produce_consume(bootstrap, topic, count):
    lines = "".join("k%d:value-%d\n" % (i, i) for i in range(count))
    cli(["-b", bootstrap, "produce", topic, "-K", ":", "--acks", "all"], input=lines, timeout=60)
    r = cli(["-b", bootstrap, "consume", topic, "-o", "beginning", "-e", "-f", "%s\n"], timeout=60)
    got = sorted(r.stdout.split())
    want = sorted("value-%d" % i for i in range(count))
    assert got == want, "consumed %d of %d records" % (len(got), count)


def describe(bootstrap, topic):
    r = cli(["-b", bootstrap, "topic", "describe", topic, "--format", "json"], timeout=30)
    return json.loads(r.stdout)


# ------------------------------------------------------------------ tests

def test_external_clients_see_only_external_addresses(workdir):
    internal = [free_port() for _ in range(3)]
    external = [free_port() for _ in range(3)]
    voters = ",".join("%d@127.0.0.1:%d" % (i + 1, p) for i, p in enumerate(internal))
    nodes = [ListenerNode(workdir, i + 1, "broker,controller", internal[i], external[i], voters)
             for i in range(3)]
    for n in nodes:
        n.start()
    ext = ",".join(n.external for n in nodes)
    doc = wait_until("a healthy cluster through EXTERNAL", lambda: healthy(ext, 3))
    assert sorted(b["port"] for b in doc["brokers"]) == sorted(external), doc["brokers"]
    assert doc["quorum"]["leader_port"] in external, doc["quorum"]

    # Every answer on EXTERNAL names EXTERNAL ports; on INTERNAL, INTERNAL ones.
    for n in nodes:
        controller, brokers = metadata(n.external_port)
        assert sorted(p for _, p in brokers.values()) == sorted(external), brokers
        assert controller == doc["quorum"]["leader_id"], (controller, doc["quorum"])
        _, brokers = metadata(n.internal_port)
        assert sorted(p for _, p in brokers.values()) == sorted(internal), brokers

    cli(["-b", ext, "topic", "create", "orders", "-p", "6", "-r", "3"])
    d = describe(ext, "orders")
    assert len(d["partitions"]) == 6 and all(len(p["isr"]) == 3 for p in d["partitions"]), d
    produce_consume(ext, "orders", 300)

    # The group coordinator is named by its EXTERNAL address too.
    found = wait_until("a coordinator", lambda: coordinator(external[0], "billing"), timeout=60)
    assert found[2] == external[found[0] - 1], found


def test_dedicated_controllers_through_forwarding_brokers(workdir):
    internal = [free_port() for _ in range(5)]
    external = [free_port() for _ in range(2)]
    voters = ",".join("%d@127.0.0.1:%d" % (i + 1, internal[i]) for i in range(3))
    controllers = [ListenerNode(workdir, i + 1, "controller", internal[i], None, voters)
                   for i in range(3)]
    brokers = [ListenerNode(workdir, 4 + i, "broker", internal[3 + i], external[i], voters)
               for i in range(2)]
    for n in controllers + brokers:
        n.start()
    ext = ",".join(b.external for b in brokers)
    doc = wait_until("a healthy cluster through the brokers", lambda: healthy(ext, 2))
    # The quorum as its leader sees it, passed on by a broker.
    leader = doc["quorum"]["leader_id"]
    assert leader in (1, 2, 3) and doc["answered_by"] == leader, doc
    assert doc["controller_id"] == leader, doc
    assert len(doc["quorum"]["voters"]) == 3 and doc["quorum"]["leader_host"] is None, doc["quorum"]
    assert sorted(b["port"] for b in doc["brokers"]) == sorted(external), doc["brokers"]

    # A broker names itself as the controller to send admin requests to.
    for b in brokers:
        controller, seen = metadata(b.external_port)
        assert controller == b.node_id, (controller, b.node_id)
        assert sorted(p for _, p in seen.values()) == sorted(external), seen

    cli(["-b", ext, "topic", "create", "events", "-p", "4", "-r", "2"])
    d = describe(ext, "events")
    assert len(d["partitions"]) == 4, d
    assert all(p["leader"] in (4, 5) for p in d["partitions"]), d
    produce_consume(ext, "events", 200)
    r = cli(["-b", ext, "cluster", "elect-leaders"], timeout=60)
    assert r.returncode == 0, r.stderr

    # The quorum leader dies: forwarding follows the new one.
    victim = controllers[leader - 1]
    victim.kill9()
    wait_until("a new quorum leader", lambda: (lambda s: s[1] and s[1]["quorum"]["leader_id"] not in (-1, leader)
                                               and s[1]["answered_by"] == s[1]["quorum"]["leader_id"])(status(ext)),
               timeout=60)
    cli(["-b", ext, "topic", "create", "after", "-p", "2", "-r", "2"], timeout=120)
    cli(["-b", ext, "topic", "delete", "events"], timeout=120)
    # Each broker applies the deletion a moment after the controller
    # answers it; the listing comes from whichever broker answers.
    wait_until("the deletion to reach the brokers", lambda: (lambda listed: "after" in listed and
                                                           "events" not in listed)(
        cli(["-b", ext, "topic", "list"]).stdout.split()), timeout=30)


if __name__ == "__main__":
    rtest.run([test_external_clients_see_only_external_addresses,
               test_dedicated_controllers_through_forwarding_brokers])
