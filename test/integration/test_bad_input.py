"""Malformed and hostile input gets a clear error, and never hurts other clients."""

import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import rtest  # noqa: E402
from rtest import Node, cli, first, pb_bytes, pb_int, read_frame, record_batch, request  # noqa: E402

API_PRODUCE, API_FETCH, API_LIST_OFFSETS, API_METADATA, API_VERSIONS, API_CREATE = 0, 1, 2, 3, 18, 19

# Error codes (docs/protocol.md).
OFFSET_OUT_OF_RANGE = 1
CORRUPT_MESSAGE = 2
UNKNOWN_TOPIC_OR_PARTITION = 3
INVALID_TOPIC = 17
UNSUPPORTED_VERSION = 35
INVALID_PARTITIONS = 37
INVALID_REPLICATION_FACTOR = 38
INVALID_CONFIG = 40
INVALID_REQUIRED_ACKS = 21
INVALID_RECORD = 87
UNSUPPORTED_API = 1001
FRAME_TOO_LARGE = 1002
MALFORMED_FRAME = 1003


def connect(node):
    s = socket.create_connection(("127.0.0.1", node.port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def api_versions_ok(node):
    """Another client is still served correctly."""
    with connect(node) as s:
        s.sendall(request(API_VERSIONS, 4242))
        resp = read_frame(s)
        assert resp is not None, "no answer to ApiVersions"
        assert first(resp, 1) == 4242 and first(resp, 2) == 0, resp
    cli(["-b", node.address, "topic", "list"])


def produce_body(topic, partition, batch, acks=1):
    part = pb_int(1, partition) + pb_bytes(2, batch)
    t = pb_bytes(1, topic) + pb_bytes(2, part)
    return pb_int(1, acks) + pb_int(2, 5000) + pb_bytes(3, t)


def partition_error(resp, body_field):
    """The error code of the first partition in a produce/fetch/list-offsets response."""
    body = rtest.pb_decode(first(resp, body_field, b""))
    topic = rtest.pb_decode(first(body, 1 if body_field != 101 else 2, b""))
    part = rtest.pb_decode(first(topic, 2, b""))
    return first(part, 2), part


def test_unknown_api_and_version(workdir):
    node = Node(workdir).start()
    with connect(node) as s:
        s.sendall(request(77, 5, body_field=177))
        resp = read_frame(s)
        assert first(resp, 1) == 5 and first(resp, 2) == UNSUPPORTED_API, resp
        assert first(resp, 3), "no error message"
        s.sendall(request(API_VERSIONS, 6, api_version=99))
        resp = read_frame(s)
        assert first(resp, 1) == 6 and first(resp, 2) == UNSUPPORTED_VERSION, resp
        # The connection stays usable after a refused request.
        s.sendall(request(API_VERSIONS, 7))
        resp = read_frame(s)
        assert first(resp, 1) == 7 and first(resp, 2) == 0, resp
        apis = [rtest.pb_decode(a) for a in rtest.pb_decode(first(resp, 118))[1]]
        keys = sorted(first(a, 1) for a in apis)
        for k in (API_PRODUCE, API_FETCH, API_LIST_OFFSETS, API_METADATA, API_VERSIONS, API_CREATE, 20):
            assert k in keys, "ApiVersions does not list %d: %s" % (k, keys)
    node.stop()


def test_pipelined_requests_answered_in_order(workdir):
    node = Node(workdir).start()
    cli(["-b", node.address, "topic", "create", "p", "-p", "1"])
    with connect(node) as s:
        # A long-polling fetch first, then quick requests: answers keep request order.
        fetch_part = pb_int(1, 0) + pb_int(2, 0) + pb_int(3, 1 << 20) + pb_int(4, -1)
        fetch = pb_int(1, -1) + pb_int(2, 500) + pb_int(3, 1) + pb_int(4, 1 << 20) + \
            pb_bytes(5, pb_bytes(1, "p") + pb_bytes(2, fetch_part))
        frames = request(API_FETCH, 100, fetch) + request(API_VERSIONS, 101) + \
            request(API_METADATA, 102, pb_int(2, 1)) + request(API_VERSIONS, 103)
        s.sendall(frames)
        ids = [first(read_frame(s), 1) for _ in range(4)]
        assert ids == [100, 101, 102, 103], ids
    node.stop()


def test_truncated_and_garbage_frames(workdir):
    node = Node(workdir).start()
    # A frame cut short, then the client goes away.
    with connect(node) as s:
        s.sendall(request(API_VERSIONS, 1)[:-3])
    api_versions_ok(node)
    # A length prefix alone.
    with connect(node) as s:
        s.sendall(struct.pack(">I", 1000))
    api_versions_ok(node)
    # Bytes that are not a protobuf Request.
    with connect(node) as s:
        s.sendall(struct.pack(">I", 6) + b"\xff\xff\xff\xff\xff\xff")
        resp = read_frame(s)
        assert resp is not None and first(resp, 2) == MALFORMED_FRAME, resp
        assert read_frame(s) is None, "connection should be closed after a malformed frame"
    # A zero-length frame.
    with connect(node) as s:
        s.sendall(struct.pack(">I", 0))
        resp = read_frame(s)
        assert resp is None or first(resp, 2) == MALFORMED_FRAME, resp
    api_versions_ok(node)
    node.stop()


def test_oversized_frame(workdir):
    node = Node(workdir).start()
    with connect(node) as s:
        s.sendall(struct.pack(">I", 0x7FFFFFFF) + b"\x00" * 1024)
        resp = read_frame(s)
        assert resp is not None and first(resp, 2) == FRAME_TOO_LARGE, resp
        assert b"frame" in first(resp, 3, b"").lower(), resp
        assert read_frame(s) is None, "connection should be closed after an oversized frame"
    api_versions_ok(node)
    node.stop()


def test_corrupt_batches(workdir):
    node = Node(workdir).start()
    cli(["-b", node.address, "topic", "create", "c", "-p", "1"])
    good = record_batch([(b"k", b"v1"), (None, b"v2")])
    with connect(node) as s:
        # A flipped bit in the records: CRC mismatch.
        bad = bytearray(good)
        bad[-3] ^= 0x10
        s.sendall(request(API_PRODUCE, 1, produce_body("c", 0, bytes(bad))))
        err, part = partition_error(read_frame(s), 100)
        assert err == CORRUPT_MESSAGE, part
        # A batch cut short.
        s.sendall(request(API_PRODUCE, 2, produce_body("c", 0, good[:-5])))
        err, _ = partition_error(read_frame(s), 100)
        assert err == CORRUPT_MESSAGE
        # Wrong magic.
        bad = bytearray(good)
        bad[16] = 7
        s.sendall(request(API_PRODUCE, 3, produce_body("c", 0, bytes(bad))))
        err, _ = partition_error(read_frame(s), 100)
        assert err == CORRUPT_MESSAGE
        # Unknown topic and partition.
        s.sendall(request(API_PRODUCE, 4, produce_body("nope", 0, good)))
        err, _ = partition_error(read_frame(s), 100)
        assert err == UNKNOWN_TOPIC_OR_PARTITION
        s.sendall(request(API_PRODUCE, 5, produce_body("c", 9, good)))
        err, _ = partition_error(read_frame(s), 100)
        assert err == UNKNOWN_TOPIC_OR_PARTITION
        # Bad acks.
        s.sendall(request(API_PRODUCE, 6, produce_body("c", 0, good, acks=3)))
        resp = read_frame(s)
        assert first(resp, 2) == INVALID_REQUIRED_ACKS or partition_error(resp, 100)[0] == INVALID_REQUIRED_ACKS, resp
        # An empty batch claiming 1001 offsets: what compaction leaves in a
        # log, never what a producer may send.
        ts = int(time.time() * 1000)
        after_crc = struct.pack(">hiqqqhii", 0, 1000, ts, ts, -1, -1, -1, 0)
        head = struct.pack(">ib", -1, 2) + struct.pack(">I", rtest.crc32c(after_crc))
        empty = struct.pack(">qi", 0, len(head) + len(after_crc)) + head + after_crc
        s.sendall(request(API_PRODUCE, 8, produce_body("c", 0, empty)))
        err, _ = partition_error(read_frame(s), 100)
        assert err == INVALID_RECORD
        # The good batch is accepted on the same connection, at offset 0:
        # nothing of the refused ones was stored.
        s.sendall(request(API_PRODUCE, 9, produce_body("c", 0, good)))
        err, part = partition_error(read_frame(s), 100)
        assert err == 0 and first(part, 4) == 0, part
    r = cli(["-b", node.address, "consume", "c", "-o", "beginning", "-e", "-f", "%o:%k:%s\n"])
    assert r.stdout.splitlines() == ["0:k:v1", "1::v2"], r.stdout
    api_versions_ok(node)
    node.stop()


def test_fetch_and_list_offsets_errors(workdir):
    node = Node(workdir).start()
    cli(["-b", node.address, "topic", "create", "f", "-p", "1"])
    cli(["-b", node.address, "produce", "f"], input="a\nb\n")
    with connect(node) as s:
        part = pb_int(1, 0) + pb_int(2, 50) + pb_int(3, 1 << 20) + pb_int(4, -1)
        fetch = pb_int(1, -1) + pb_int(2, 0) + pb_int(3, 0) + pb_int(4, 1 << 20) + \
            pb_bytes(5, pb_bytes(1, "f") + pb_bytes(2, part))
        s.sendall(request(API_FETCH, 1, fetch))
        err, p = partition_error(read_frame(s), 101)
        assert err == OFFSET_OUT_OF_RANGE, p
        assert first(p, 4) == 2, "high watermark should be 2: %s" % p
        fetch_unknown = pb_int(1, -1) + pb_int(2, 0) + pb_int(3, 0) + pb_int(4, 1 << 20) + \
            pb_bytes(5, pb_bytes(1, "zz") + pb_bytes(2, part))
        s.sendall(request(API_FETCH, 2, fetch_unknown))
        err, p = partition_error(read_frame(s), 101)
        assert err == UNKNOWN_TOPIC_OR_PARTITION, p
        lo = pb_int(1, -1) + pb_bytes(2, pb_bytes(1, "f") + pb_bytes(2, pb_int(1, 0) + pb_int(2, -1)))
        s.sendall(request(API_LIST_OFFSETS, 3, lo))
        err, p = partition_error(read_frame(s), 102)
        assert err == 0 and first(p, 5) == 2, p
        lo = pb_int(1, -1) + pb_bytes(2, pb_bytes(1, "f") + pb_bytes(2, pb_int(1, 0) + pb_int(2, -2)))
        s.sendall(request(API_LIST_OFFSETS, 4, lo))
        err, p = partition_error(read_frame(s), 102)
        assert err == 0 and first(p, 5) == 0, p
    node.stop()


def test_invalid_topics_refused(workdir):
    node = Node(workdir).start()
    cases = [
        (["topic", "create", "bad name!"], "INVALID_TOPIC"),
        (["topic", "create", "x" * 250], "INVALID_TOPIC"),
        (["topic", "create", "zero", "-p", "0"], "-p"),
        (["topic", "create", "many", "-p", "100000"], "-p"),
        (["topic", "create", "rf", "-r", "3"], "INVALID_REPLICATION_FACTOR"),
        (["topic", "create", "cfg", "-c", "cleanup.policy=sometimes"], "INVALID_CONFIG"),
        (["topic", "create", "cfg2", "-c", "no.such.key=1"], "INVALID_CONFIG"),
    ]
    for args, name in cases:
        r = cli(["-b", node.address] + args, check=False)
        assert r.returncode != 0, "%s succeeded" % args
        assert name in r.stderr, "%s: expected %s in %r" % (args, name, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1, "error is not one line: %r" % r.stderr
    # The node's own checks, without the CLI's: partition counts out of range.
    with connect(node) as s:
        for i, n in enumerate((-5, 100000)):
            topic = pb_bytes(1, "np%d" % i) + pb_int(2, n) + pb_int(3, 1)
            s.sendall(request(API_CREATE, 10 + i, pb_bytes(1, topic) + pb_int(2, 5000)))
            body = rtest.pb_decode(first(read_frame(s), 119, b""))
            res = rtest.pb_decode(first(body, 1, b""))
            assert first(res, 2) == INVALID_PARTITIONS, res
            assert first(res, 3), "no error message: %s" % res
    r = cli(["-b", node.address, "topic", "create", "cfg", "-c", "cleanup.policy=sometimes"], check=False)
    assert "cleanup.policy" in r.stderr, r.stderr
    cli(["-b", node.address, "topic", "create", "dup"])
    r = cli(["-b", node.address, "topic", "create", "dup"], check=False)
    assert r.returncode != 0 and "TOPIC_ALREADY_EXISTS" in r.stderr, r.stderr
    r = cli(["-b", node.address, "topic", "list"])
    assert r.stdout.split() == ["dup"], r.stdout
    api_versions_ok(node)
    node.stop()


def test_many_bad_clients_one_good(workdir):
    node = Node(workdir).start()
    cli(["-b", node.address, "topic", "create", "g", "-p", "1"])
    socks = []
    for i in range(50):
        s = connect(node)
        kind = i % 3
        if kind == 0:
            s.sendall(struct.pack(">I", 0x7FFFFFFF))
        elif kind == 1:
            s.sendall(b"\x00\x00\x00\x10garbage")
        else:
            s.sendall(request(API_VERSIONS, i)[:7])
        socks.append(s)
    cli(["-b", node.address, "produce", "g"], input="".join("r%d\n" % i for i in range(1000)))
    r = cli(["-b", node.address, "consume", "g", "-o", "beginning", "-e"])
    assert r.stdout.split() == ["r%d" % i for i in range(1000)]
    for s in socks:
        s.close()
    api_versions_ok(node)
    node.stop()


if __name__ == "__main__":
    rtest.run([test_unknown_api_and_version, test_pipelined_requests_answered_in_order,
               test_truncated_and_garbage_frames, test_oversized_frame, test_corrupt_batches,
               test_fetch_and_list_offsets_errors, test_invalid_topics_refused,
               test_many_bad_clients_one_good])
