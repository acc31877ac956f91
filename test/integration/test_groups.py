"""Consumer groups with real processes: assignment, failover, commits, coordinators."""

import collections
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import rtest  # noqa: E402
from rtest import Cluster, Node, cli, first, pb_bytes, pb_decode, pb_int, read_frame, request, wait_until  # noqa: E402

NODE_ARGS = ["--group-initial-rebalance-delay-ms", "500", "--group-min-session-timeout-ms", "1000",
             "--offsets-topic-num-partitions", "8"]
CONSUMER_X = ["-X", "session.timeout.ms=3000", "-X", "heartbeat.interval.ms=300",
              "-X", "auto.commit.interval.ms=500"]
FMT = "%p\t%o\t%k\t%s\n"

ILLEGAL_GENERATION = 22
UNKNOWN_MEMBER_ID = 25
REBALANCE_IN_PROGRESS = 27


class Consumer:
    """A `runnel consume -g` process whose output is collected as it arrives."""

    def __init__(self, bootstrap, topic, group, extra=()):
        self.proc = subprocess.Popen([rtest.RUNNEL, "-b", bootstrap, "consume", topic, "-g", group, "-o", "beginning",
                                      "-f", FMT] + CONSUMER_X + list(extra),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        rtest._children.append(self.proc)
        self.rows = []
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            p, o, k, v = line.decode().rstrip("\n").split("\t")
            with self.lock:
                self.rows.append((int(p), int(o), k, v))

    def snapshot(self):
        with self.lock:
            return list(self.rows)

    def partitions(self, since=0):
        return set(p for p, _, _, _ in self.snapshot()[since:])

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(30)
        self.reader.join(10)
        return rc


def produce(bootstrap, topic, start, count):
    lines = "".join("k%06d:v%06d\n" % (i, i) for i in range(start, start + count))
    cli(["-b", bootstrap, "produce", topic, "-K", ":", "--acks", "all"], input=lines, timeout=120)


def consumed_keys(consumers):
    return set(k for c in consumers for _, _, k, _ in c.snapshot())


def describe_group(bootstrap, group):
    r = cli(["-b", bootstrap, "group", "describe", group, "--format", "json"], timeout=60, check=False)
    if r.returncode != 0:
        return None
    return json.loads(r.stdout)


def test_partitions_split_and_move_when_a_consumer_dies(workdir):
    node = Node(workdir, extra_args=NODE_ARGS).start()
    b = node.address
    cli(["-b", b, "topic", "create", "orders", "-p", "6"])
    consumers = [Consumer(b, "orders", "billing") for _ in range(3)]
    wait_until("three stable members", lambda: (lambda g: g if g and g.get("state") == "Stable" and len(
        g.get("members", [])) == 3 else None)(describe_group(b, "billing")))
    produce(b, "orders", 0, 3000)
    wait_until("3000 records consumed", lambda: len(consumed_keys(consumers)) == 3000 or None)

    # Each partition went to exactly one consumer, and all three got some.
    owners = collections.defaultdict(set)
    for i, c in enumerate(consumers):
        for p in c.partitions():
            owners[p].add(i)
    assert sorted(owners) == list(range(6)), owners
    assert all(len(v) == 1 for v in owners.values()), "a partition was read by two members: %s" % dict(owners)
    assert all(c.partitions() for c in consumers), "a consumer got no partition: %s" % dict(owners)
    d = wait_until("the group to show 3 members", lambda: (lambda g: g if g and len(
        set(p["member_id"] for p in g["partitions"] if p.get("member_id"))) == 3 else None)(describe_group(b, "billing")))
    assert len(d["partitions"]) == 6, d

    victim = consumers[0]
    lost = victim.partitions()
    victim.proc.send_signal(signal.SIGKILL)
    victim.proc.wait()
    killed_at = time.time()
    survivors = consumers[1:]
    marks = [len(c.snapshot()) for c in survivors]
    produce(b, "orders", 3000, 3000)
    wait_until("the survivors to read the dead consumer's partitions", lambda: lost <= set().union(
        *[c.partitions(since=m) for c, m in zip(survivors, marks)]) or None, timeout=60, interval=0.05)
    print("     partitions %s moved to the survivors %.1f s after kill -9 (session timeout 3 s)"
          % (sorted(lost), time.time() - killed_at), flush=True)
    wait_until("all 6000 records consumed", lambda: len(consumed_keys(consumers)) == 6000 or None, timeout=60)
    taken = set()
    for c, m in zip(survivors, marks):
        taken |= c.partitions(since=m)
    assert lost <= taken, "partitions %s of the dead consumer were not taken over (%s)" % (lost, taken)
    # Nothing lost: every offset of every partition was read by someone.
    seen = collections.defaultdict(set)
    for c in consumers:
        for p, o, _, _ in c.snapshot():
            seen[p].add(o)
    for p, offs in seen.items():
        assert offs == set(range(max(offs) + 1)), "partition %d has unread offsets" % p
    for c in survivors:
        assert c.stop() == 0
    wait_until("the group to be empty after clean leaves",
               lambda: (lambda g: g if g and g.get("state") == "Empty" else None)(describe_group(b, "billing")))
    node.stop()


def test_manual_commit_resume_without_gap(workdir):
    node = Node(workdir, extra_args=NODE_ARGS).start()
    b = node.address
    cli(["-b", b, "topic", "create", "ledger", "-p", "2"])
    produce(b, "ledger", 0, 1000)
    got = []
    for _ in range(4):
        r = cli(["-b", b, "consume", "ledger", "-g", "audit", "-o", "beginning", "-n", "250", "-f", FMT,
                 "-X", "enable.auto.commit=false"] + CONSUMER_X, timeout=60)
        got += [tuple(line.split("\t")) for line in r.stdout.splitlines()]
    keys = [k for _, _, k, _ in got]
    assert len(keys) == 1000 and len(set(keys)) == 1000, "%d records, %d distinct" % (len(keys), len(set(keys)))
    d = describe_group(b, "audit")
    total_committed = sum(p["committed_offset"] for p in d["partitions"])
    assert total_committed == 1000 and all(p["lag"] == 0 for p in d["partitions"]), d
    node.stop()


def test_two_groups_each_receive_everything(workdir):
    node = Node(workdir, extra_args=NODE_ARGS).start()
    b = node.address
    cli(["-b", b, "topic", "create", "shared", "-p", "3"])
    produce(b, "shared", 0, 600)
    for g in ("analytics", "archive"):
        r = cli(["-b", b, "consume", "shared", "-g", g, "-o", "beginning", "-n", "600", "-f", "%k\n"] + CONSUMER_X,
                timeout=60)
        assert sorted(r.stdout.split()) == ["k%06d" % i for i in range(600)], g
    r = cli(["-b", b, "group", "list", "--format", "json"])
    names = sorted(g["group"] if "group" in g else g["group_id"] for g in json.loads(r.stdout))
    assert names == ["analytics", "archive"], names
    node.stop()


def test_committed_offsets_survive_coordinator_failure(workdir):
    cluster = Cluster(workdir, extra_args=NODE_ARGS + ["--broker-session-timeout-ms", "3000",
                                                        "--broker-heartbeat-interval-ms", "500"]).start()
    b = cluster.bootstrap
    cli(["-b", b, "topic", "create", "pay", "-p", "3", "-r", "3"])
    produce(b, "pay", 0, 900)
    r = cli(["-b", b, "consume", "pay", "-g", "settle", "-o", "beginning", "-n", "300", "-f", "%k\n"] + CONSUMER_X,
            timeout=60)
    first_part = r.stdout.split()
    assert len(first_part) == 300
    d = wait_until("the group's description", lambda: describe_group(b, "settle"))
    coordinator = d["coordinator"]
    coordinator = coordinator if isinstance(coordinator, int) else int(str(coordinator).split(":")[0])
    cluster.node(coordinator).kill9()
    killed_at = time.time()
    d2 = wait_until("a new coordinator with the same commits", lambda: (lambda g: g if g and g["coordinator"] != d[
        "coordinator"] and sum(p["committed_offset"] for p in g["partitions"]) == 300 else None)(
        describe_group(",".join(n.address for n in cluster.alive()), "settle")), timeout=60)
    assert d2
    print("     coordinator %s killed; node %s serves the group's commits %.1f s later"
          % (d["coordinator"], d2["coordinator"], time.time() - killed_at), flush=True)
    r = cli(["-b", ",".join(n.address for n in cluster.alive()), "consume", "pay", "-g", "settle", "-n", "600",
             "-f", "%k\n"] + CONSUMER_X, timeout=90)
    rest = r.stdout.split()
    assert sorted(first_part + rest) == ["k%06d" % i for i in range(900)], "records lost or repeated"
    cluster.stop()


# ------------------------------------------------- raw protocol: stale commits

def call(sock, api, cid, body):
    sock.sendall(request(api, cid, body))
    resp = read_frame(sock)
    assert resp is not None and first(resp, 2) == 0, resp
    return pb_decode(first(resp, api + 100, b""))


def find_coordinator(node, group):
    deadline = time.time() + 30
    while time.time() < deadline:
        with socket.create_connection(("127.0.0.1", node.port), timeout=10) as s:
            r = call(s, 10, 1, pb_bytes(1, group))
        if first(r, 1) == 0:
            return first(r, 5)
        time.sleep(0.2)
    raise AssertionError("no coordinator for %s" % group)


def join(sock, cid, group, member_id, topic):
    sub = pb_bytes(1, topic)
    proto = pb_bytes(1, "range") + pb_bytes(2, sub)
    body = pb_bytes(1, group) + pb_int(2, 6000) + pb_int(3, 10000) + pb_bytes(4, member_id) + \
        pb_bytes(6, "consumer") + pb_bytes(7, proto) + pb_bytes(9, "rtest")
    return call(sock, 11, cid, body)


def commit(sock, cid, group, generation, member_id, topic, offset):
    part = pb_int(1, 0) + pb_int(2, offset)
    body = pb_bytes(1, group) + pb_int(2, generation) + pb_bytes(3, member_id) + \
        pb_bytes(4, pb_bytes(1, topic) + pb_bytes(2, part))
    r = call(sock, 8, cid, body)
    if first(r, 1):
        return first(r, 1)
    t = pb_decode(first(r, 3, b""))
    return first(pb_decode(first(t, 2, b"")), 2)


def test_commit_from_stale_generation_is_refused(workdir):
    node = Node(workdir, extra_args=["--group-initial-rebalance-delay-ms", "0", "--group-min-session-timeout-ms",
                                     "1000", "--offsets-topic-num-partitions", "2"]).start()
    cli(["-b", node.address, "topic", "create", "z", "-p", "1"])
    port = find_coordinator(node, "zombies")
    with socket.create_connection(("127.0.0.1", port), timeout=30) as a:
        j = join(a, 1, "zombies", "", "z")
        assert first(j, 1) == 0, j
        gen1, member_a = first(j, 3), first(j, 7).decode()
        assign = pb_bytes(1, pb_bytes(1, "z") + pb_int(2, 0))
        s = call(a, 14, 2, pb_bytes(1, "zombies") + pb_int(2, gen1) + pb_bytes(3, member_a) +
                 pb_bytes(4, "consumer") + pb_bytes(5, "range") +
                 pb_bytes(6, pb_bytes(1, member_a) + pb_bytes(2, assign)))
        assert first(s, 1) == 0, s
        assert commit(a, 3, "zombies", gen1, member_a, "z", 5) == 0
        assert commit(a, 4, "zombies", gen1 - 1, member_a, "z", 6) == ILLEGAL_GENERATION
        assert commit(a, 5, "zombies", gen1, "nobody", "z", 6) == UNKNOWN_MEMBER_ID
        # A second member joins: the group rebalances to a new generation, and
        # a commit still carrying the old one is refused.
        with socket.create_connection(("127.0.0.1", port), timeout=30) as b:
            b.sendall(request(11, 6, pb_bytes(1, "zombies") + pb_int(2, 6000) + pb_int(3, 10000) +
                              pb_bytes(4, "") + pb_bytes(6, "consumer") +
                              pb_bytes(7, pb_bytes(1, "range") + pb_bytes(2, pb_bytes(1, "z"))) + pb_bytes(9, "b")))
            hb = call(a, 12, 7, pb_bytes(1, "zombies") + pb_int(2, gen1) + pb_bytes(3, member_a))
            deadline = time.time() + 10
            while first(hb, 1) != REBALANCE_IN_PROGRESS and time.time() < deadline:
                time.sleep(0.1)
                hb = call(a, 12, 8, pb_bytes(1, "zombies") + pb_int(2, gen1) + pb_bytes(3, member_a))
            assert first(hb, 1) == REBALANCE_IN_PROGRESS, hb
            j2 = join(a, 9, "zombies", member_a, "z")
            assert first(j2, 1) == 0 and first(j2, 3) > gen1, j2
            assert commit(a, 10, "zombies", gen1, member_a, "z", 7) == ILLEGAL_GENERATION
    node.stop()


if __name__ == "__main__":
    rtest.run([test_commit_from_stale_generation_is_refused, test_manual_commit_resume_without_gap,
               test_two_groups_each_receive_everything, test_partitions_split_and_move_when_a_consumer_dies,
               test_committed_offsets_survive_coordinator_failure])
