"""A three-node controller quorum on loopback: elections, restarts, catch-up, isolation."""

import json
import os
import shutil
import signal
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import rtest  # noqa: E402
from rtest import Cluster, cli  # noqa: E402

# Short broker sessions keep fencing tests quick; snapshots every few records
# make the log prefix truncate within a test.
FAST = ["--broker-session-timeout-ms", "3000", "--broker-heartbeat-interval-ms", "500",
        "--metadata-snapshot-interval-records", "20"]


def topics_via(node):
    r = cli(["-b", node.address, "topic", "list"], timeout=30)
    return sorted(r.stdout.split())


def create(cluster, name, partitions=3, replicas=3):
    cli(["-b", cluster.bootstrap, "topic", "create", name, "-p", str(partitions), "-r", str(replicas)], timeout=60)


def wait_until(what, fn, timeout=30.0, interval=0.1):
    return rtest.wait_until(what, fn, timeout, interval)


def test_leader_kill_elects_new_leader(workdir):
    cluster = Cluster(workdir, extra_args=FAST).start()
    create(cluster, "before", partitions=6)
    timings = []
    for round_ in range(5):
        old = cluster.wait_leader()
        victim = cluster.node(old)
        t0 = time.time()
        victim.kill9()
        new = cluster.wait_leader(exclude=(old,), timeout=30)
        timings.append(time.time() - t0)
        assert new != old
        # Metadata made before the kill is intact on the survivors, and the
        # new leader accepts changes.
        for n in cluster.alive():
            wait_until("node %d to list the old topic" % n.node_id, lambda: "before" in topics_via(n))
        # Two replicas: whether the dead broker is fenced yet (and so not
        # eligible for placement) depends on how long the election took.
        create(cluster, "after-%d" % round_, partitions=2, replicas=2)
        victim.start(wait=False)
        cluster.wait_healthy(60)
        wait_until("restarted node to see the new topic",
                   lambda: "after-%d" % round_ in topics_via(victim))
    ms = sorted(int(t * 1000) for t in timings)
    print("     re-election after kill -9 of the quorum leader (ms): %s; median %d, max %d"
          % (ms, statistics.median(ms), max(ms)), flush=True)
    out = os.environ.get("RUNNEL_ELECTION_TIMINGS")
    if out:
        with open(out, "a") as f:
            f.write(json.dumps(ms) + "\n")
    d = json.loads(cli(["-b", cluster.bootstrap, "topic", "describe", "before", "--format", "json"]).stdout)
    assert len(d["partitions"]) == 6
    cluster.stop()


def test_restart_all_keeps_metadata(workdir):
    cluster = Cluster(workdir, extra_args=FAST).start()
    for i in range(30):
        create(cluster, "t%02d" % i, partitions=2)
    # Followers apply the metadata log a moment after the controller answers.
    before = wait_until("node 1 to list all 30 topics",
                        lambda: (lambda t: t if len(t) == 30 else None)(topics_via(cluster.node(1))))
    cluster.stop()
    cluster.start()
    for n in cluster.nodes:
        wait_until("node %d to list every topic" % n.node_id, lambda: topics_via(n) == before)
    # kill -9 of every node at once, then start again.
    for n in cluster.nodes:
        n.kill9()
    cluster.start()
    for n in cluster.nodes:
        wait_until("node %d to list every topic after kill -9" % n.node_id, lambda: topics_via(n) == before)
    create(cluster, "fresh")
    cluster.stop()


def test_empty_node_catches_up_through_snapshot(workdir):
    cluster = Cluster(workdir, extra_args=FAST).start()
    for i in range(60):
        create(cluster, "s%02d" % i, partitions=1)
    leader = cluster.wait_leader()
    lagger = cluster.node(1 if leader != 1 else 2)
    lagger.stop()
    shutil.rmtree(lagger.data_dir)
    for i in range(60, 70):
        # Two live brokers: a third replica cannot be placed while one is down.
        create(cluster, "s%02d" % i, partitions=1, replicas=2)
    expected = wait_until("the leader to list all 70 topics",
                          lambda: (lambda t: t if len(t) == 70 else None)(topics_via(cluster.node(leader))))
    lagger.start(wait=False)
    wait_until("the wiped node to rebuild its metadata", lambda: topics_via(lagger) == expected, timeout=60)
    log = lagger.log(tail=None).lower()
    assert "snapshot" in log, "the wiped node did not report installing a snapshot:\n" + lagger.log()
    cluster.wait_healthy(60)
    cluster.stop()


def test_isolated_follower_rejoins_without_disturbing_leader(workdir):
    cluster = Cluster(workdir, extra_args=FAST).start()
    leader = cluster.wait_leader()
    _, doc = cluster.status(via=cluster.node(leader))
    epoch = doc["quorum"]["epoch"]
    follower = cluster.node(1 if leader != 1 else 2)
    follower.proc.send_signal(signal.SIGSTOP)
    try:
        # The majority keeps committing.
        for i in range(5):
            cli(["-b", cluster.node(leader).address, "topic", "create", "during-%d" % i], timeout=30)
        time.sleep(4)  # several election timeouts pass on the stopped node's clock
    finally:
        follower.proc.send_signal(signal.SIGCONT)
    wait_until("the isolated node to catch up",
               lambda: all("during-%d" % i in topics_via(follower) for i in range(5)), timeout=30)
    time.sleep(2)
    _, doc = cluster.status(via=cluster.node(leader))
    assert doc["quorum"]["leader_id"] == leader, "the returning node disturbed the leader: %s" % doc["quorum"]
    assert doc["quorum"]["epoch"] == epoch, "the epoch moved from %d to %d" % (epoch, doc["quorum"]["epoch"])
    cluster.stop()


def test_isolated_leader_is_replaced_and_steps_down(workdir):
    cluster = Cluster(workdir, extra_args=FAST).start()
    old = cluster.wait_leader()
    victim = cluster.node(old)
    victim.proc.send_signal(signal.SIGSTOP)
    try:
        others = [n for n in cluster.nodes if n is not victim]
        new = wait_until("a new leader among the majority", lambda: (
            lambda ids: ids.pop() if len(ids) == 1 and None not in ids and old not in ids else None)(
            set(cluster.leader_id(via=n) for n in others)), timeout=30)
        cli(["-b", others[0].address, "topic", "create", "while-stopped"], timeout=30)
    finally:
        victim.proc.send_signal(signal.SIGCONT)
    wait_until("the old leader to follow the new one", lambda: cluster.leader_id(via=victim) == new, timeout=30)
    wait_until("the old leader to see the new topic", lambda: "while-stopped" in topics_via(victim), timeout=30)
    cluster.stop()


def test_dead_broker_is_fenced_and_its_partitions_move(workdir):
    cluster = Cluster(workdir, extra_args=FAST).start()
    create(cluster, "moving", partitions=6, replicas=3)
    leader = cluster.wait_leader()
    victim = cluster.node(1 if leader != 1 else 2)
    d = json.loads(cli(["-b", cluster.bootstrap, "topic", "describe", "moving", "--format", "json"]).stdout)
    led = {p["partition"]: p["leader_epoch"] for p in d["partitions"] if p["leader"] == victim.node_id}
    assert led, "placement gave node %d no leadership: %s" % (victim.node_id, d)
    victim.kill9()

    def fenced():
        rc, doc = cluster.status()
        if not doc:
            return None
        states = {b["id"]: b["state"] for b in doc["brokers"]}
        return (rc, doc) if states.get(victim.node_id) == "fenced" else None

    rc, doc = wait_until("the dead broker to be fenced", fenced, timeout=30)
    assert rc == 3, "status should exit 3 (unhealthy) while a broker is fenced, got %d" % rc
    d = json.loads(cli(["-b", cluster.bootstrap, "topic", "describe", "moving", "--format", "json"]).stdout)
    for p in d["partitions"]:
        assert victim.node_id not in p["isr"], "fenced broker still in the ISR: %s" % p
        if p["partition"] in led:
            assert p["leader"] not in (victim.node_id, -1), "partition %d has no live leader: %s" % (p["partition"], p)
            assert p["leader_epoch"] > led[p["partition"]], "leader epoch did not move: %s" % p
    victim.start(wait=False)
    cluster.wait_healthy(60)
    cluster.stop()


if __name__ == "__main__":
    rtest.run([test_leader_kill_elects_new_leader, test_restart_all_keeps_metadata,
               test_empty_node_catches_up_through_snapshot, test_isolated_follower_rejoins_without_disturbing_leader,
               test_isolated_leader_is_replaced_and_steps_down, test_dead_broker_is_fenced_and_its_partitions_move])
