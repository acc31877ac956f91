"""Idempotent producers: retries answered with the original offsets and stored once,
gaps and fenced epochs refused, across restarts and a leader failover."""

import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import rtest  # noqa: E402
from rtest import Cluster, Node, cli, first, pb_bytes, pb_int, read_frame, record_batch, request  # noqa: E402

API_PRODUCE = 0
OUT_OF_ORDER_SEQUENCE_NUMBER = 45
INVALID_PRODUCER_EPOCH = 47
INVALID_RECORD = 87
ACKS_ALL = -1
FAST = ["--broker-session-timeout-ms", "3000", "--broker-heartbeat-interval-ms", "500",
        "--replica-lag-time-max-ms", "2000"]


def signed64(v):
    return v - (1 << 64) if v >= 1 << 63 else v


def produce_raw(address, topic, batch, acks=1):
    """Sends one Produce request with batch for partition 0; returns
    (error code, base offset, message)."""
    host, port = address.rsplit(":", 1)
    part = pb_int(1, 0) + pb_bytes(2, batch)
    t = pb_bytes(1, topic) + pb_bytes(2, part)
    body = pb_int(1, acks) + pb_int(2, 10000) + pb_bytes(3, t)
    with socket.create_connection((host, int(port)), timeout=15) as s:
        s.sendall(request(API_PRODUCE, 7, body))
        resp = read_frame(s, timeout=15)
    assert resp is not None, "no answer to the produce"
    pr = rtest.pb_decode(first(resp, API_PRODUCE + 100, b""))
    tr = rtest.pb_decode(first(pr, 1, b""))
    part = rtest.pb_decode(first(tr, 2, b""))
    msg = first(part, 3, b"")
    return (first(part, 2), signed64(first(part, 4)),
            msg.decode() if isinstance(msg, bytes) else msg)


def batch(pid, epoch, seq, n, tag):
    return record_batch([(b"k", ("%s-%d" % (tag, i)).encode()) for i in range(n)],
                        producer_id=pid, producer_epoch=epoch, base_sequence=seq)


def values(bootstrap, topic, expect):
    """The values of the topic's records, read from the beginning."""
    r = cli(["-b", bootstrap, "consume", topic, "-o", "beginning", "-e", "-f", "%o %s\n"], timeout=60)
    rows = [line.split(" ", 1) for line in r.stdout.splitlines() if line]
    assert len(rows) == expect, "expected %d records, read %d: %s" % (expect, len(rows), rows)
    return [(int(o), v) for o, v in rows]


def expect_ok(res, offset, what):
    code, base, msg = res
    assert code == 0 and base == offset, "%s: expected offset %d, got code %d offset %d (%s)" % (
        what, offset, code, base, msg)


def test_duplicates_gaps_epochs_and_restarts(workdir):
    node = Node(workdir).start()
    cli(["-b", node.address, "topic", "create", "idem", "-p", "1"])
    a0 = batch(1000, 0, 0, 3, "a0")
    a1 = batch(1000, 0, 3, 2, "a1")
    expect_ok(produce_raw(node.address, "idem", a0), 0, "first batch")
    expect_ok(produce_raw(node.address, "idem", a1), 3, "second batch")
    # Retries (the same bytes again) get the offsets the originals got.
    expect_ok(produce_raw(node.address, "idem", a0), 0, "retry of the first batch")
    expect_ok(produce_raw(node.address, "idem", a1), 3, "retry of the second batch")

    code, _, msg = produce_raw(node.address, "idem", batch(1000, 0, 10, 1, "gap"))
    assert code == OUT_OF_ORDER_SEQUENCE_NUMBER, (code, msg)
    assert "producer id 1000" in msg and "sequence 10 received, 5 expected" in msg, msg
    # A new epoch starts at sequence 0; the old one is then fenced.
    b0 = batch(1000, 1, 0, 1, "b0")
    expect_ok(produce_raw(node.address, "idem", b0), 5, "a new epoch")
    code, _, msg = produce_raw(node.address, "idem", batch(1000, 0, 5, 1, "zombie"))
    assert code == INVALID_PRODUCER_EPOCH, (code, msg)
    assert "epoch 0 is older than its current epoch 1" in msg, msg
    code, _, msg = produce_raw(node.address, "idem", batch(1000, 1, -1, 1, "noseq"))
    assert code == INVALID_RECORD, (code, msg)
    # Producers without an id are never deduplicated.
    plain = record_batch([(b"k", b"plain")])
    expect_ok(produce_raw(node.address, "idem", plain), 6, "a plain batch")
    expect_ok(produce_raw(node.address, "idem", plain), 7, "the plain batch again")
    rows = values(node.address, "idem", 8)
    assert [v for _, v in rows] == ["a0-0", "a0-1", "a0-2", "a1-0", "a1-1", "b0-0", "plain", "plain"], rows

    # A clean restart keeps the state (a snapshot at the log end).
    node.stop()
    node.start()
    expect_ok(produce_raw(node.address, "idem", b0), 5, "a retry after a restart")
    b1 = batch(1000, 1, 1, 2, "b1")
    expect_ok(produce_raw(node.address, "idem", b1), 8, "the next batch after a restart")
    # A crash: the state comes from the snapshot and the batches after it.
    node.kill9()
    node.start()
    expect_ok(produce_raw(node.address, "idem", b1), 8, "a retry after a crash")
    expect_ok(produce_raw(node.address, "idem", b0), 5, "an older cached retry after a crash")
    values(node.address, "idem", 10)
    snaps = [f for f in os.listdir(os.path.join(node.data_dir, "topics", "idem-0")) if f.endswith(".pstate")]
    assert snaps, "no producer-state snapshot in the partition directory"
    node.stop()


def describe(bootstrap, topic):
    r = cli(["-b", bootstrap, "topic", "describe", topic, "--format", "json"], check=False, timeout=30)
    if r.returncode != 0:
        return None
    return json.loads(r.stdout)["partitions"][0]


def wait_for(what, fn, timeout=40.0, interval=0.2):
    return rtest.wait_until(what, fn, timeout, interval)


def test_a_retry_after_failover_gets_the_original_offset(workdir):
    c = Cluster(workdir, n=3, extra_args=FAST).start()
    cli(["-b", c.bootstrap, "topic", "create", "fo", "-p", "1", "-r", "3"])
    part = wait_for("a leader with three in-sync replicas",
                    lambda: (lambda p: p if p and p.get("leader", -1) > 0 and len(p.get("isr", [])) == 3
                             else None)(describe(c.bootstrap, "fo")))
    old = part["leader"]
    first_batch = batch(2000, 0, 0, 2, "x")
    second_batch = batch(2000, 0, 2, 3, "y")
    # acks=all: every in-sync replica has both batches once answered.
    expect_ok(wait_for("the first produce", lambda: (lambda r: r if r[0] == 0 else None)(
        produce_raw(c.node(old).address, "fo", first_batch, acks=ACKS_ALL))), 0, "first batch")
    expect_ok(produce_raw(c.node(old).address, "fo", second_batch, acks=ACKS_ALL), 2, "second batch")

    c.node(old).kill9()
    alive = ",".join(n.address for n in c.alive())
    part = wait_for("a new leader", lambda: (lambda p: p if p and p.get("leader", -1) not in (-1, old)
                                             else None)(describe(alive, "fo")))
    new = c.node(part["leader"])

    # The producer never saw the answer to its second batch: it retries both
    # at the new leader, which answers from the state it kept as a follower.
    def retry():
        r = produce_raw(new.address, "fo", second_batch, acks=ACKS_ALL)
        return r if r[0] == 0 else None
    expect_ok(wait_for("the retry at the new leader", retry), 2, "retry after failover")
    expect_ok(produce_raw(new.address, "fo", first_batch, acks=ACKS_ALL), 0, "older retry after failover")
    expect_ok(produce_raw(new.address, "fo", batch(2000, 0, 5, 1, "z"), acks=ACKS_ALL), 5,
              "the next batch after failover")
    rows = values(alive, "fo", 6)
    assert [v for _, v in rows] == ["x-0", "x-1", "y-0", "y-1", "y-2", "z-0"], rows
    c.stop()


if __name__ == "__main__":
    rtest.run([test_duplicates_gaps_epochs_and_restarts, test_a_retry_after_failover_gets_the_original_offset])
