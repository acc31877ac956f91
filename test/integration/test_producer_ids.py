"""Producer ids (InitProducerId) on a three-node quorum: unique across nodes, committed, never reused."""

import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import rtest  # noqa: E402
from rtest import Cluster, first, pb_bytes, pb_decode, pb_int, read_frame, request  # noqa: E402

API_INIT_PRODUCER_ID = 22
API_API_VERSIONS = 18
INVALID_REQUEST = 42
# Answers a client retries: the controller moved or did not answer in time.
RETRIABLE = {7, 13, 41, 1005}  # REQUEST_TIMED_OUT, NETWORK_EXCEPTION, NOT_CONTROLLER, SHUTTING_DOWN

# Short broker sessions keep the failover quick; a snapshot every 20 records
# makes the restarts rebuild the next producer id from a snapshot, not only
# from log entries.
FAST = ["--broker-session-timeout-ms", "3000", "--broker-heartbeat-interval-ms", "500",
        "--metadata-snapshot-interval-records", "20"]


def int64(field, v):
    """A protobuf int64 field; negative values take ten bytes, as on the wire."""
    return pb_int(field, v if v >= 0 else v + (1 << 64))


def init_body(transactional_id="", producer_id=-1, producer_epoch=-1):
    body = int64(3, producer_id) + int64(4, producer_epoch)
    if transactional_id:
        body = pb_bytes(1, transactional_id) + pb_int(2, 60000) + body
    return body


def answer(frame):
    """(error_code, error_message, producer_id, producer_epoch) of one response."""
    assert frame is not None, "connection closed before the answer"
    top_err = first(frame, 2)
    if top_err:
        return top_err, first(frame, 3, b"").decode(), -1, -1
    body = pb_decode(first(frame, 122, b""))
    return (first(body, 1), first(body, 2, b"").decode(), first(body, 3), first(body, 4))


def ask_many(node, count, **kw):
    """Sends count InitProducerId requests at once on one connection (so several
    are in flight together) and returns their answers in order."""
    with socket.create_connection(("127.0.0.1", node.port), timeout=10) as s:
        s.sendall(b"".join(request(API_INIT_PRODUCER_ID, 1000 + i, init_body(**kw))
                           for i in range(count)))
        out = []
        for i in range(count):
            frame = read_frame(s, timeout=40)
            assert frame is not None, "node %d closed the connection after %d of %d answers" % (node.node_id, i, count)
            assert first(frame, 1) == 1000 + i, "answers out of order: %r" % frame
            out.append(answer(frame))
        return out


def new_ids(nodes, count, deadline_s=30.0):
    """count producer ids, asked round-robin over nodes in pipelined rounds;
    retriable answers are asked again until the deadline."""
    ids = []
    deadline = time.time() + deadline_s
    last = None
    while len(ids) < count:
        if time.time() > deadline:
            raise AssertionError("only %d of %d producer ids within %.0fs (last answer %r)"
                                 % (len(ids), count, deadline_s, last))
        need = count - len(ids)
        per = [need // len(nodes) + (1 if i < need % len(nodes) else 0) for i in range(len(nodes))]
        for n, k in zip(nodes, per):
            if k == 0:
                continue
            try:
                answers = ask_many(n, k)
            except OSError as e:
                last = repr(e)
                continue
            for err, msg, pid, epoch in answers:
                last = (err, msg)
                if err in RETRIABLE:
                    continue
                assert err == 0, "InitProducerId via node %d: error %d %s" % (n.node_id, err, msg)
                assert epoch == 0, "a new producer id starts at epoch 0, got %d" % epoch
                assert pid >= 0, "producer id %d" % pid
                ids.append(pid)
        if len(ids) < count:
            time.sleep(0.2)
    return ids


def test_producer_ids_unique_committed_never_reused(workdir):
    cluster = Cluster(workdir, extra_args=FAST).start()

    # ApiVersions lists the API, version 0.
    with socket.create_connection(("127.0.0.1", cluster.node(1).port), timeout=10) as s:
        s.sendall(request(API_API_VERSIONS, 1))
        body = pb_decode(first(read_frame(s), 118))
        apis = {first(pb_decode(a), 1): (first(pb_decode(a), 2), first(pb_decode(a), 3))
                for a in body.get(1, [])}
        assert apis.get(API_INIT_PRODUCER_ID) == (0, 0), apis

    # 50 requests spread over the three nodes, pipelined: the followers forward
    # theirs, and requests in flight together still get distinct ids.
    first_ids = new_ids(cluster.nodes, 50)
    assert len(set(first_ids)) == 50, "duplicate producer ids: %s" % sorted(first_ids)

    # A producer that had an id and asks again gets a new one.
    again = ask_many(cluster.node(1), 1, producer_id=first_ids[0], producer_epoch=0)[0]
    assert again[0] == 0 and again[2] not in first_ids, again
    handed = set(first_ids) | {again[2]}

    # The quorum leader dies: the new one hands out only ids above every id
    # answered before, because those were committed before they were answered.
    old = cluster.wait_leader()
    cluster.node(old).kill9()
    cluster.wait_leader(exclude=(old,), timeout=30)
    after_kill = new_ids(cluster.alive(), 10)
    assert len(set(after_kill)) == 10
    assert min(after_kill) > max(handed), \
        "an id at or below one handed out before the leader died: %s vs max %d" % (sorted(after_kill), max(handed))
    handed |= set(after_kill)

    # Every node restarts (kill -9, so only what is on disk counts).
    for n in cluster.nodes:
        n.kill9()
    cluster.start()
    after_restart = new_ids(cluster.nodes, 10)
    assert len(set(after_restart)) == 10
    assert min(after_restart) > max(handed), \
        "an id at or below one handed out before the restart: %s vs max %d" % (sorted(after_restart), max(handed))

    # Transactions are refused on every node, leader or not, by name.
    for n in cluster.nodes:
        err, msg, pid, epoch = ask_many(n, 1, transactional_id="txn-1")[0]
        assert err == INVALID_REQUEST, (n.node_id, err, msg)
        assert "transactions are not supported" in msg, msg
        assert pid == -1 and epoch == -1, (pid, epoch)
    print("     ids: first %d..%d, after kill %s, after restart %s" % (min(first_ids), max(first_ids), sorted(after_kill), sorted(after_restart)), flush=True)
    cluster.stop()


def test_single_node_keeps_ids_across_restarts(workdir):
    node = rtest.Node(workdir, extra_args=["--metadata-snapshot-interval-records", "20"]).start()
    before = new_ids([node], 30)
    assert sorted(before) == list(range(min(before), min(before) + 30)), sorted(before)
    node.stop()
    node.start()
    after = new_ids([node], 5)
    assert min(after) > max(before), (sorted(before), sorted(after))
    node.stop()


if __name__ == "__main__":
    rtest.run([test_producer_ids_unique_committed_never_reused,
               test_single_node_keeps_ids_across_restarts])
