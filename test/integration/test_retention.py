"""Retention through real runneld processes: segments deleted by size and by age,
the log start offset that consumers, groups and followers see afterwards."""

import glob
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import rtest  # noqa: E402
from rtest import Cluster, Node, cli  # noqa: E402

CHECK_ARGS = ["--log-retention-check-interval-ms", "200"]
GROUP_ARGS = ["--group-initial-rebalance-delay-ms", "0", "--group-min-session-timeout-ms", "1000",
              "--offsets-topic-num-partitions", "2"]
CONSUMER_X = ["-X", "session.timeout.ms=3000", "-X", "heartbeat.interval.ms=300"]
# Small batches, so that segments of 1 KiB hold several and retention has
# something to choose from.
PRODUCER_X = ["-X", "batch.size=300", "-X", "linger.ms=0"]
SEGMENT = 1024
RETAIN = 8192


def produce(address, topic, first, count, *extra):
    lines = "".join("k%06d:value-%06d-padding-padding\n" % (i, i) for i in range(first, first + count))
    cli(["-b", address, "produce", topic, "-K", ":"] + PRODUCER_X + list(extra), input=lines, timeout=120)


def offsets(address, topic):
    """[(log_start_offset, high_watermark)] per partition, from topic describe --format json."""
    r = cli(["-b", address, "topic", "describe", topic, "--format", "json"])
    doc = json.loads(r.stdout)
    return [(p["log_start_offset"], p["high_watermark"])
            for p in sorted(doc["partitions"], key=lambda p: p["partition"])]


def wait_for(what, fn, timeout=15.0, interval=0.1):
    return rtest.wait_until(what, fn, timeout, interval)


def first_offsets(address, topic, *extra):
    r = cli(["-b", address, "consume", topic, "-o", "beginning", "-e", "-f", "%o\n"] + list(extra),
            timeout=60)
    return [int(x) for x in r.stdout.split()]


def segment_bases(data_dir, topic, partition=0):
    files = glob.glob(os.path.join(data_dir, "topics", "%s-%d" % (topic, partition), "*.log"))
    return sorted(int(os.path.basename(f)[:20]) for f in files)


def log_bytes(data_dir, topic, partition=0):
    files = glob.glob(os.path.join(data_dir, "topics", "%s-%d" % (topic, partition), "*.log"))
    return sum(os.path.getsize(f) for f in files)


def test_retention_bytes_moves_the_log_start(workdir):
    node = Node(workdir, extra_args=CHECK_ARGS + GROUP_ARGS).start()
    b = node.address
    cli(["-b", b, "topic", "create", "sized", "-p", "1", "-c", "segment.bytes=%d" % SEGMENT,
         "-c", "retention.bytes=%d" % RETAIN])
    produce(b, "sized", 0, 40)
    # A group commits offset 20, then retention deletes past it.
    r = cli(["-b", b, "consume", "sized", "-g", "readers", "-o", "beginning", "-n", "20", "-f", "%o\n",
             "-X", "enable.auto.commit=false"] + CONSUMER_X, timeout=60)
    assert [int(x) for x in r.stdout.split()] == list(range(20)), r.stdout
    produce(b, "sized", 40, 1960)
    start, hw = wait_for("the log start to pass 20", lambda: (lambda o: o if o[0] > 20 else None)(offsets(b, "sized")[0]))
    assert hw == 2000, (start, hw)
    # At least retention.bytes stay, but not a whole segment more than that
    # (plus the active segment, which is never deleted).
    time.sleep(0.6)
    start, hw = offsets(b, "sized")[0]
    size = log_bytes(node.data_dir, "sized")
    bases = segment_bases(node.data_dir, "sized")
    assert bases[0] == start, (bases[:3], start)
    assert RETAIN <= size <= RETAIN + 3 * SEGMENT, size
    assert not glob.glob(os.path.join(node.data_dir, "topics", "sized-0", "*.deleted"))
    # Reading from the beginning starts at the new log start and loses nothing after it.
    got = first_offsets(b, "sized")
    assert got == list(range(start, 2000)), (got[:3], start)
    # The group's commit fell below the start: auto.offset.reset=earliest.
    r = cli(["-b", b, "consume", "sized", "-g", "readers", "-o", "beginning", "-e", "-f", "%o\n"] + CONSUMER_X,
            timeout=60)
    got = [int(x) for x in r.stdout.split()]
    assert got and got[0] >= start and got[-1] == 1999 and got == list(range(got[0], 2000)), (got[:3], start)
    # The node says what it deleted and why.
    assert "deleted" in node.log() and "by retention.bytes; log start offset now" in node.log()
    # The start survives a restart.
    node.stop()
    node.start()
    s2, hw2 = offsets(b, "sized")[0]
    assert s2 >= start and hw2 == 2000, (s2, hw2, start)
    node.stop()


def test_retention_ms_deletes_old_segments(workdir):
    node = Node(workdir, extra_args=CHECK_ARGS).start()
    b = node.address
    cli(["-b", b, "topic", "create", "aged", "-p", "2", "-c", "segment.bytes=%d" % SEGMENT,
         "-c", "retention.ms=1500"])
    # A topic without deletion in its cleanup policy keeps everything.
    cli(["-b", b, "topic", "create", "kept", "-p", "1", "-c", "segment.bytes=%d" % SEGMENT,
         "-c", "retention.ms=1", "-c", "cleanup.policy=compact"])
    produce(b, "aged", 0, 600)
    produce(b, "kept", 0, 300)
    before = offsets(b, "aged")
    assert all(s == 0 for s, _ in before), before
    # Every closed segment's newest record is older than 1.5 s soon; the
    # active segments stay, and with them the high watermarks.
    after = wait_for("both partitions to drop their closed segments",
                     lambda: (lambda o: o if all(s > 0 for s, _ in o) else None)(offsets(b, "aged")))
    time.sleep(0.5)
    after = offsets(b, "aged")
    for p, ((s, hw), (_, hw0)) in enumerate(zip(after, before)):
        assert hw == hw0 and 0 < s < hw, (p, after, before)
        assert segment_bases(node.data_dir, "aged", p) == [s], (p, segment_bases(node.data_dir, "aged", p), s)
    got = first_offsets(b, "aged")
    assert len(got) == sum(hw - s for s, hw in after), (len(got), after)
    assert "by retention.ms; log start offset now" in node.log()
    assert offsets(b, "kept") == [(0, 300)], offsets(b, "kept")
    node.stop()


def test_followers_follow_the_leaders_start(workdir):
    cluster = Cluster(workdir, n=3, extra_args=CHECK_ARGS + ["--replica-lag-time-max-ms", "1500"]).start()
    b = cluster.bootstrap
    cli(["-b", b, "topic", "create", "copied", "-p", "1", "-r", "3", "-c", "segment.bytes=%d" % SEGMENT,
         "-c", "retention.bytes=3000"])
    doc = json.loads(cli(["-b", b, "topic", "describe", "copied", "--format", "json"]).stdout)
    leader = doc["partitions"][0]["leader"]
    followers = [n for n in cluster.nodes if n.node_id != leader]
    # One follower is down while the log moves past everything it has.
    late = followers[1]
    late.stop()
    produce(b, "copied", 0, 1500, "--acks", "1")
    start, hw = wait_for("the leader's log start to move",
                         lambda: (lambda o: o if o[0] > 0 and o[1] == 1500 else None)(offsets(b, "copied")[0]))
    # The follower that kept up deletes its own old segments.
    wait_for("the live follower to delete old segments",
             lambda: segment_bases(followers[0].data_dir, "copied")[0] > 0
             and log_bytes(followers[0].data_dir, "copied") <= 3000 + 3 * SEGMENT)
    # The late one finds its whole log older than the leader's start: it
    # restarts its log there and copies the rest.
    late.start(wait=False)
    cluster.wait_healthy(30)
    start, _ = offsets(b, "copied")[0]
    wait_for("the late follower to catch up from the leader's start",
             lambda: segment_bases(late.data_dir, "copied")
             and segment_bases(late.data_dir, "copied")[0] >= start
             and log_bytes(late.data_dir, "copied") > 0)
    assert "restarts empty at offset" in late.log(), late.log()[-3000:]
    produce(b, "copied", 1500, 500, "--acks", "all")
    got = first_offsets(b, "copied")
    s, hw = offsets(b, "copied")[0]
    assert hw == 2000 and got == list(range(s, 2000)), (s, hw, got[:3])
    for n in cluster.nodes:
        n.stop()


if __name__ == "__main__":
    rtest.run([test_retention_bytes_moves_the_log_start, test_retention_ms_deletes_old_segments,
               test_followers_follow_the_leaders_start])
