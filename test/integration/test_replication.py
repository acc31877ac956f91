"""Partition replication with real processes: failover without losing acknowledged writes."""

import collections
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import rtest  # noqa: E402
from rtest import Cluster, cli, wait_until  # noqa: E402

LAG_MS = 2000
FAST = ["--broker-session-timeout-ms", "3000", "--broker-heartbeat-interval-ms", "500",
        "--replica-lag-time-max-ms", str(LAG_MS)]
FMT = "%p\t%o\t%k\t%s\n"
CHAOS_SECONDS = int(os.environ.get("RUNNEL_CHAOS_SECONDS", "60"))


def racked(n):
    """Extra arguments for a cluster of n nodes, node i in rack r<i>."""
    return [["--rack", "r%d" % (i + 1)] for i in range(n)]


def make_cluster(workdir, n=3, lag_ms=LAG_MS):
    args = [a if a != str(LAG_MS) else str(lag_ms) for a in FAST]
    c = Cluster(workdir, n=n, extra_args=args)
    for node, extra in zip(c.nodes, racked(n)):
        node.extra_args += extra
    return c.start()


def describe(cluster, topic):
    # A node applies a new topic a moment after the controller answers the
    # create; until then it does not know the name.
    deadline = time.time() + 20
    while True:
        r = cli(["-b", cluster.bootstrap, "topic", "describe", topic, "--format", "json"], timeout=60, check=False)
        if r.returncode == 0:
            return {p["partition"]: p for p in json.loads(r.stdout)["partitions"]}
        if "UNKNOWN_TOPIC_OR_PARTITION" not in r.stderr or time.time() > deadline:
            raise AssertionError("topic describe %s failed: %s" % (topic, r.stderr))
        time.sleep(0.1)


def read_replica(cluster, topic, node):
    """Every record of topic as node's replica holds it below its high watermark."""
    r = cli(["-b", cluster.bootstrap, "consume", topic, "-o", "beginning", "-e", "--rack", "r%d" % node.node_id,
             "-f", FMT], timeout=300)
    rows = {}
    for line in r.stdout.splitlines():
        p, o, k, v = line.split("\t")
        rows[(int(p), int(o))] = (k, v)
    return rows


def start_producer(cluster, topic, acks="all"):
    proc = subprocess.Popen([rtest.RUNNEL, "-b", cluster.bootstrap, "produce", topic, "-K", ":", "--print-acks",
                             "--acks", acks, "--delivery-timeout", "120000"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    rtest._children.append(proc)
    acks_seen = []
    reader = threading.Thread(target=lambda: acks_seen.extend(
        tuple(line.decode().rstrip("\n").split("\t")) for line in proc.stdout), daemon=True)
    reader.start()
    return proc, acks_seen, reader


def test_no_acknowledged_record_lost_while_leaders_die(workdir):
    cluster = make_cluster(workdir)
    cli(["-b", cluster.bootstrap, "topic", "create", "chaos", "-p", "3", "-r", "3", "-c", "min.insync.replicas=2"])
    proc, acks, reader = start_producer(cluster, "chaos")
    stop_feeding = threading.Event()
    sent = [0]

    def feed():
        i = 0
        try:
            while not stop_feeding.is_set():
                chunk = "".join("k%08d:v%08d\n" % (j, j) for j in range(i, i + 50))
                proc.stdin.write(chunk.encode())
                proc.stdin.flush()
                i += 50
                sent[0] = i
                time.sleep(0.01)
        except BrokenPipeError:
            pass
        finally:
            try:
                proc.stdin.close()
            except BrokenPipeError:
                pass

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    rng = random.Random(int(os.environ.get("RUNNEL_CHAOS_SEED", "7")))
    kills = 0
    deadline = time.time() + CHAOS_SECONDS
    while (time.time() < deadline or kills < CHAOS_SECONDS // 5) and time.time() < deadline + CHAOS_SECONDS:
        time.sleep(rng.uniform(2.0, 4.0))
        parts = describe(cluster, "chaos")
        leader = parts[rng.randrange(3)]["leader"]
        if leader < 1:
            continue
        victim = cluster.node(leader)
        if victim.proc.poll() is not None:
            continue
        victim.kill9()
        kills += 1
        time.sleep(rng.uniform(0.5, 2.0))
        victim.start(wait=False)
    stop_feeding.set()
    feeder.join(30)
    rc = proc.wait(timeout=300)
    reader.join(30)
    err = proc.stderr.read().decode()
    assert kills >= CHAOS_SECONDS // 5, "only %d kills" % kills

    cluster.wait_healthy(90)
    # Every replica back in the ISR, so every replica can be read.
    wait_until("every ISR to be whole", lambda: all(
        sorted(p["isr"]) == sorted(p["replicas"]) for p in describe(cluster, "chaos").values()), timeout=90)
    replicas = [read_replica(cluster, "chaos", n) for n in cluster.nodes]
    stored = replicas[0]
    for n, other in zip(cluster.nodes[1:], replicas[1:]):
        common = set(stored) & set(other)
        differ = [off for off in common if stored[off] != other[off]]
        assert not differ, "replica %d disagrees at %s" % (n.node_id, sorted(differ)[:5])
    missing = [a for a in acks if stored.get((int(a[1]), int(a[2]))) != (a[0], "v" + a[0][1:])]
    assert not missing, "%d acknowledged records lost or changed, first: %s" % (len(missing), missing[:5])
    for p in range(3):
        offs = sorted(o for q, o in stored if q == p)
        assert offs == list(range(len(offs))), "partition %d has holes" % p
    keys = collections.Counter(k for k, _ in stored.values())
    dups = sum(c - 1 for c in keys.values() if c > 1)
    print("     %d records fed, %d acknowledged, %d stored, %d duplicates, %d leader kills, producer exit %d"
          % (sent[0], len(acks), len(stored), dups, kills, rc), flush=True)
    if rc != 0:
        assert "not acknowledged" in err, err
    cluster.stop()


def test_isr_shrinks_and_expands(workdir):
    cluster = make_cluster(workdir)
    cli(["-b", cluster.bootstrap, "topic", "create", "isr", "-p", "1", "-r", "3", "-c", "min.insync.replicas=2"])
    p0 = describe(cluster, "isr")[0]
    follower = cluster.node([r for r in p0["replicas"] if r != p0["leader"]][0])
    follower.proc.send_signal(signal.SIGSTOP)
    try:
        lines = "".join("s%d:x\n" % i for i in range(100))
        for _ in range(10):
            cli(["-b", cluster.bootstrap, "produce", "isr", "-K", ":", "--acks", "all"], input=lines, timeout=120)
            time.sleep(0.3)
        wait_until("the ISR to drop the stopped follower",
                   lambda: follower.node_id not in describe(cluster, "isr")[0]["isr"], timeout=30)
        # Writes go on with the smaller ISR.
        cli(["-b", cluster.bootstrap, "produce", "isr", "-K", ":", "--acks", "all"], input=lines, timeout=60)
    finally:
        follower.proc.send_signal(signal.SIGCONT)
    wait_until("the follower to rejoin the ISR",
               lambda: follower.node_id in describe(cluster, "isr")[0]["isr"], timeout=60)
    rows = read_replica(cluster, "isr", follower)
    assert len(rows) == 1100, "the rejoined follower holds %d of 1100 records" % len(rows)
    cluster.stop()


def test_not_enough_replicas(workdir):
    # Five nodes so that the controller quorum survives two stopped nodes.
    cluster = make_cluster(workdir, n=5)
    cli(["-b", cluster.bootstrap, "topic", "create", "mir", "-p", "1", "-r", "3", "-c", "min.insync.replicas=2"])
    p0 = describe(cluster, "mir")[0]
    followers = [cluster.node(r) for r in p0["replicas"] if r != p0["leader"]]
    for f in followers:
        f.stop()
    wait_until("the ISR to shrink to the leader", lambda: describe(cluster, "mir")[0]["isr"] == [p0["leader"]])
    r = cli(["-b", cluster.bootstrap, "produce", "mir", "--acks", "all", "--delivery-timeout", "3000"],
            input="a\n", check=False, timeout=60)
    assert r.returncode != 0 and "NOT_ENOUGH_REPLICAS" in r.stderr, r.stderr
    cli(["-b", cluster.bootstrap, "produce", "mir", "--acks", "1"], input="b\n", timeout=60)
    for f in followers:
        f.start(wait=False)
    wait_until("the ISR to be whole again",
               lambda: sorted(describe(cluster, "mir")[0]["isr"]) == sorted(p0["replicas"]), timeout=60)
    cli(["-b", cluster.bootstrap, "produce", "mir", "--acks", "all"], input="c\n", timeout=60)
    r = cli(["-b", cluster.bootstrap, "consume", "mir", "-o", "beginning", "-e"], timeout=60)
    assert r.stdout.split() == ["b", "c"], r.stdout
    cluster.stop()


def test_deposed_leader_truncates(workdir):
    # A long lag time: the leader must not drop the briefly stopped followers
    # from the ISR, or none of them could be elected.
    cluster = make_cluster(workdir, lag_ms=10000)
    cli(["-b", cluster.bootstrap, "topic", "create", "dep", "-p", "1", "-r", "3", "-c", "min.insync.replicas=2"])
    cli(["-b", cluster.bootstrap, "produce", "dep", "-K", ":", "--acks", "all"],
        input="".join("c%d:committed\n" % i for i in range(50)))
    p0 = describe(cluster, "dep")[0]
    old = cluster.node(p0["leader"])
    followers = [cluster.node(r) for r in p0["replicas"] if r != p0["leader"]]
    # The followers stop fetching: the leader takes acks=1 writes nobody copies.
    for f in followers:
        f.proc.send_signal(signal.SIGSTOP)
    # Fetches the followers had already sent may still be answered into their
    # socket buffers; wait out the longest fetch wait so none is pending.
    time.sleep(1.5)
    cli(["-b", old.address, "produce", "dep", "-K", ":", "--acks", "1"],
        input="".join("u%d:uncommitted\n" % i for i in range(20)), timeout=30)
    # Now the leader goes silent and the followers come back: they elect a new
    # leader among themselves and take new writes.
    old.proc.send_signal(signal.SIGSTOP)
    for f in followers:
        f.proc.send_signal(signal.SIGCONT)
    others = ",".join(f.address for f in followers)
    wait_until("a new partition leader", lambda: (lambda p: p["leader"] in [f.node_id for f in followers])(
        json.loads(cli(["-b", others, "topic", "describe", "dep", "--format", "json"], timeout=60).stdout)
        ["partitions"][0]), timeout=60)
    cli(["-b", others, "produce", "dep", "-K", ":", "--acks", "all"],
        input="".join("n%d:new\n" % i for i in range(30)), timeout=60)
    old.proc.send_signal(signal.SIGCONT)
    wait_until("the old leader back in the ISR",
               lambda: old.node_id in describe(cluster, "dep")[0]["isr"], timeout=60)
    logs = [read_replica(cluster, "dep", n) for n in cluster.nodes]
    assert logs[0] == logs[1] == logs[2], "replicas differ after the old leader returned"
    values = [v for _, (_, v) in sorted(logs[0].items())]
    assert values.count("committed") == 50 and values.count("new") == 30, collections.Counter(values)
    assert "uncommitted" not in values, "the deposed leader's uncommitted records survived"
    cluster.stop()


def test_new_partition_replicates_at_once(workdir):
    # Followers park their fetch at the leader for replica.fetch.wait.max.ms.
    # A partition created while one is parked must not wait that out: the
    # follower asks again at once and the leader answers the parked fetch,
    # so an acks=all produce to the new topic is acknowledged promptly.
    wait_ms = 8000
    cluster = Cluster(workdir, n=3, extra_args=FAST[:4] + ["--replica-lag-time-max-ms", "30000",
                                                           "--replica-fetch-wait-max-ms", str(wait_ms)])
    cluster.start()
    cli(["-b", cluster.bootstrap, "topic", "create", "older", "-p", "3", "-r", "3"])
    describe(cluster, "older")
    cli(["-b", cluster.bootstrap, "produce", "older", "--acks", "all"], input="x\ny\nz\n", timeout=60)
    time.sleep(1.0)  # every follower's fetch is parked at its leaders again
    cli(["-b", cluster.bootstrap, "topic", "create", "newer", "-p", "3", "-r", "3"])
    wait_until("every partition of the new topic led", lambda: all(
        p["leader"] > 0 for p in describe(cluster, "newer").values()))
    start = time.monotonic()
    cli(["-b", cluster.bootstrap, "produce", "newer", "--acks", "all"], input="a\nb\nc\nd\ne\nf\n", timeout=60)
    took = time.monotonic() - start
    assert took < wait_ms / 2000.0, "acks=all produce to a new topic took %.1f s" % took
    r = cli(["-b", cluster.bootstrap, "consume", "newer", "-o", "beginning", "-e"], timeout=60)
    assert sorted(r.stdout.split()) == ["a", "b", "c", "d", "e", "f"], r.stdout
    cluster.stop()


if __name__ == "__main__":
    rtest.run([test_isr_shrinks_and_expands, test_new_partition_replicates_at_once, test_not_enough_replicas, test_deposed_leader_truncates,
               test_no_acknowledged_record_lost_while_leaders_die])
