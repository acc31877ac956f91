"""Log compaction through real runneld processes: the latest value of every key
survives, tombstones go after delete.retention.ms, offsets never change, and a
node killed while it cleans restarts with a whole log."""

import glob
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import rtest  # noqa: E402
from rtest import Cluster, Node, cli  # noqa: E402

CLEANER_ARGS = ["--log-cleaner-backoff-ms", "200"]
PRODUCER_X = ["-X", "batch.size=2000", "-X", "linger.ms=0"]
TOPIC_CONF = ["-c", "cleanup.policy=compact", "-c", "segment.bytes=4096",
              "-c", "min.cleanable.dirty.ratio=0.01", "-c", "delete.retention.ms=1500"]
KEYS = 100


def produce(address, topic, lines, *extra):
    cli(["-b", address, "produce", topic, "-K", ":", "-Z"] + PRODUCER_X + list(extra),
        input="".join(lines), timeout=120)


def updates(rounds, first_round=0, keys=KEYS):
    return ["k%03d:v%03d-%04d\n" % (k, k, r) for r in range(first_round, first_round + rounds)
            for k in range(keys)]


def consume(address, topic):
    """[(offset, key, value)] from the beginning to the end."""
    r = cli(["-b", address, "consume", topic, "-o", "beginning", "-e", "-f", "%o %k %s\\n"],
            timeout=60)
    out = []
    for line in r.stdout.splitlines():
        parts = line.split(" ")
        out.append((int(parts[0]), parts[1], parts[2] if len(parts) > 2 else ""))
    return out


def wait_for(what, fn, timeout=30.0, interval=0.1):
    return rtest.wait_until(what, fn, timeout, interval)


def cleanings(node, topic):
    return node.log(tail=10 ** 7).count("%s-0: cleaned offsets" % topic)


def check_latest(recs, deleted=()):
    """Offsets increase; every key appears at most once before its latest
    record and its latest value is there; deleted keys are absent."""
    offs = [o for o, _, _ in recs]
    assert offs == sorted(set(offs)), "offsets not increasing"
    latest = {}
    for o, k, v in recs:
        latest[k] = (o, v)
    for k in range(KEYS):
        key = "k%03d" % k
        if key in deleted:
            assert key not in latest or latest[key][1] == "", (key, latest.get(key))
        else:
            assert key in latest, key
    return latest


def test_compaction_keeps_latest_values(workdir):
    node = Node(workdir, extra_args=CLEANER_ARGS).start()
    b = node.address
    cli(["-b", b, "topic", "create", "table", "-p", "1"] + TOPIC_CONF)
    produce(b, "table", updates(20))
    # Tombstones for five keys, then fresh keys that push them out of the
    # active segment.
    produce(b, "table", ["k%03d:\n" % k for k in range(5)])
    produce(b, "table", ["f%04d:x\n" % i for i in range(300)])
    wait_for("a cleaning", lambda: cleanings(node, "table") > 0)
    recs = consume(b, "table")
    latest = check_latest(recs, deleted=["k%03d" % k for k in range(5)])
    for k in range(5, KEYS):
        assert latest["k%03d" % k][1] == "v%03d-0019" % k, latest["k%03d" % k]
    # Every key's latest record before the first tombstone is present once:
    # older updates of the table's keys are gone.
    table = [(o, k) for o, k, _ in recs if k.startswith("k")]
    assert len(table) <= KEYS + 5 + 200, len(table)
    assert recs[-1][0] == 2000 + 5 + 300 - 1, recs[-1]
    # After delete.retention.ms and more dirty data, the tombstones go.
    time.sleep(1.6)
    before = cleanings(node, "table")
    produce(b, "table", ["g%04d:x\n" % i for i in range(300)])
    wait_for("another cleaning", lambda: cleanings(node, "table") > before)
    time.sleep(0.5)
    recs = consume(b, "table")
    # Nothing of a deleted key is left, tombstones included, and every
    # other key of the table appears once: its latest value.
    deleted = ["k%03d" % i for i in range(5)]
    assert not [r for r in recs if r[1] in deleted], [r for r in recs if r[1] in deleted][:10]
    table = [k for _, k, _ in recs if k.startswith("k")]
    assert sorted(table) == ["k%03d" % k for k in range(5, KEYS)], len(table)
    check_latest(recs, deleted=deleted)
    assert not glob.glob(os.path.join(node.data_dir, "topics", "table-0", "*.cleaned"))
    # The cleaned log reopens with the same content.
    node.stop()
    node.start()
    assert consume(b, "table") == recs
    node.stop()


def test_reading_during_compaction_and_kill9(workdir):
    node = Node(workdir, extra_args=CLEANER_ARGS).start()
    b = node.address
    cli(["-b", b, "topic", "create", "big", "-p", "1"] + TOPIC_CONF)
    for r in range(0, 60, 20):
        produce(b, "big", updates(20, r))
        # A consumer reading while the cleaner works sees increasing offsets.
        recs = consume(b, "big")
        offs = [o for o, _, _ in recs]
        assert offs == sorted(set(offs)), "offsets not increasing while cleaning"
    produce(b, "big", ["f%04d:x\n" % i for i in range(300)])
    # Kill the node as soon as a cleaning of this log has begun or ended.
    deadline = time.time() + 20
    while time.time() < deadline and not glob.glob(
            os.path.join(node.data_dir, "topics", "big-0", "cleaner*")) and cleanings(node, "big") == 0:
        time.sleep(0.005)
    node.kill9()
    node.start()
    recs = consume(b, "big")
    latest = check_latest(recs)
    for k in range(KEYS):
        assert latest["k%03d" % k][1] == "v%03d-0059" % k, latest["k%03d" % k]
    assert recs[-1][0] == 6000 + 300 - 1, recs[-1]
    # The restarted node finishes the job.
    wait_for("a cleaning after the restart", lambda: cleanings(node, "big") > 0)
    recs2 = consume(b, "big")
    check_latest(recs2)
    assert len(recs2) < 6300, len(recs2)
    node.stop()


def test_replicas_compact_to_the_same_records(workdir):
    # Every replica cleans its own copy; from the same batches they reach
    # the same records, which a consumer reading from each replica sees.
    cluster = Cluster(workdir, n=3, extra_args=CLEANER_ARGS)
    for i, node in enumerate(cluster.nodes):
        node.extra_args += ["--rack", "r%d" % (i + 1)]
    cluster.start()
    b = cluster.bootstrap
    cli(["-b", b, "topic", "create", "rep", "-p", "1", "-r", "3"] + TOPIC_CONF)
    produce(b, "rep", updates(20), "--acks", "all")
    produce(b, "rep", ["f%04d:x\n" % i for i in range(300)], "--acks", "all")
    wait_for("every replica to clean", lambda: all(cleanings(n, "rep") > 0 for n in cluster.nodes))

    def copies():
        out = []
        for n in cluster.nodes:
            r = cli(["-b", b, "consume", "rep", "-o", "beginning", "-e", "--rack", "r%d" % n.node_id,
                     "-f", "%o %k %s\\n"], timeout=60)
            out.append(r.stdout)
        return out if out[0] == out[1] == out[2] else None

    same = wait_for("the three copies to be equal", copies, timeout=40)
    recs = [tuple(line.split(" ")) for line in same[0].splitlines()]
    table = [k for _, k, _ in recs if k.startswith("k")]
    # Every table key is in a closed segment, cleaned to its latest value.
    assert sorted(table) == ["k%03d" % k for k in range(KEYS)], len(table)
    cluster.stop()


if __name__ == "__main__":
    rtest.run([test_compaction_keeps_latest_values, test_reading_during_compaction_and_kill9,
               test_replicas_compact_to_the_same_records])
