"""lz4 and zstd batches through real runneld processes: round trips, disk use, refusals."""

import collections
import glob
import json
import os
import random
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import rtest  # noqa: E402
from rtest import Cluster, Node, cli, first, pb_bytes, pb_int, read_frame, record_batch, request  # noqa: E402

CODECS = ["none", "lz4", "zstd"]
RECORDS = 20000
PARTITIONS = 2
FMT = "%p|%o|%k|%s|%h\n"
API_PRODUCE = 0
CORRUPT_MESSAGE = 2
UNSUPPORTED_COMPRESSION_TYPE = 76

# Batch header offsets (docs/record-batch.md).
OFF_CRC = 17
CRC_START = 21
OFF_ATTRIBUTES = 21
HEADER_BYTES = 61


def json_lines(n):
    """Keyed lines of JSON-like text: the kind of data compression is for."""
    return "".join('user-%d:{"user":%d,"event":"page_view","path":"/items/%d","n":%d}\n'
                   % (i % 500, i % 500, i % 37, i) for i in range(n))


def produce(address, topic, lines, *extra, timeout=300):
    cli(["-b", address, "produce", topic, "-K", ":", "-H", "source=it"] + list(extra),
        input=lines, timeout=timeout)


def consume(address, topic, expected, *extra):
    r = cli(["-b", address, "consume", topic, "-o", "beginning", "-e", "-f", FMT] + list(extra),
            timeout=300)
    rows = [line.split("|") for line in r.stdout.splitlines()]
    assert len(rows) == expected, "%s: consumed %d records, expected %d" % (topic, len(rows), expected)
    return rows


def by_partition(rows):
    """Each partition's records in offset order as (offset, key, value, headers)."""
    parts = collections.defaultdict(list)
    for p, o, k, v, h in rows:
        parts[int(p)].append((int(o), k, v, h))
    for items in parts.values():
        items.sort()
    return dict(parts)


def segment_bytes(node, topic):
    return sum(os.path.getsize(f) for f in glob.glob(os.path.join(node.data_dir, "topics", topic + "-*", "*.log")))


def test_codecs_round_trip_and_shrink_the_log(workdir):
    node = Node(workdir).start()
    lines = json_lines(RECORDS)
    rows = {}
    for codec in CODECS:
        topic = "events-" + codec
        cli(["-b", node.address, "topic", "create", topic, "-p", str(PARTITIONS)])
        produce(node.address, topic, lines, "-z", codec)
        rows[codec] = by_partition(consume(node.address, topic, RECORDS))

    # The same records at the same partitions and offsets, whatever the codec.
    assert rows["lz4"] == rows["none"], "lz4 records differ from uncompressed ones"
    assert rows["zstd"] == rows["none"], "zstd records differ from uncompressed ones"
    sent = sorted(line.split(":", 1) for line in lines.splitlines())
    got = sorted([k, v] for items in rows["zstd"].values() for _, k, v, _ in items)
    assert got == sent, "consumed records are not the produced ones"
    assert all(h == "source=it" for items in rows["lz4"].values() for _, _, _, h in items)

    sizes = {codec: segment_bytes(node, "events-" + codec) for codec in CODECS}
    print("     log bytes for %d records: %s" % (RECORDS, sizes), flush=True)
    assert sizes["lz4"] * 2 < sizes["none"], sizes
    assert sizes["zstd"] * 2 < sizes["none"], sizes

    # Positions inside compressed batches: an offset and a timestamp.
    for codec in ("lz4", "zstd"):
        topic = "events-" + codec
        r = cli(["-b", node.address, "consume", topic, "-p", "0", "-o", "123", "-n", "3", "-f", "%o\n"])
        assert r.stdout.split() == ["123", "124", "125"], r.stdout
        first_ts = int(cli(["-b", node.address, "consume", topic, "-p", "0", "-o", "beginning", "-n", "1",
                            "-f", "%T\n"]).stdout.split()[0])
        r = cli(["-b", node.address, "consume", topic, "-p", "0", "-o", "@%d" % first_ts, "-n", "1", "-f", "%o\n"])
        assert r.stdout.split() == ["0"], r.stdout

    # Recovery after a crash checks every batch again, compressed ones included.
    node.kill9()
    node.start()
    for codec in ("lz4", "zstd"):
        again = by_partition(consume(node.address, "events-" + codec, RECORDS))
        assert again == rows["none"], "%s records changed across a restart" % codec
    node.stop()


def test_levels_and_incompressible_values(workdir):
    node = Node(workdir).start()
    rnd = random.Random(7)
    lines = "".join("k%d:%s\n" % (i, "%032x" % rnd.getrandbits(128) * 8) for i in range(3000))
    cases = [("lz4", "9"), ("zstd", "19"), ("zstd", "1"), ("lz4", "0")]
    for codec, level in cases:
        topic = "rnd-%s-%s" % (codec, level)
        cli(["-b", node.address, "topic", "create", topic, "-p", "1"])
        produce(node.address, topic, lines, "-X", "compression.type=" + codec, "-X", "compression.level=" + level)
        rows = consume(node.address, topic, 3000)
        assert ["%s:%s" % (k, v) for _, _, k, v, _ in rows] == lines.splitlines(), topic
    # A level the codec does not have is refused before anything is sent.
    r = cli(["-b", node.address, "produce", "rnd-lz4-9", "-z", "lz4", "-X", "compression.level=40"],
            input="x\n", check=False)
    assert r.returncode != 0 and "compression.level" in r.stderr, r.stderr
    r = cli(["-b", node.address, "produce", "rnd-lz4-9", "-z", "gzip"], input="x\n", check=False)
    assert r.returncode == 2 and "gzip is not supported" in r.stderr, r.stderr
    node.stop()


def produce_raw(node, topic, batch):
    """Sends one Produce request with batch; returns (error code, message)."""
    part = pb_int(1, 0) + pb_bytes(2, batch)
    t = pb_bytes(1, topic) + pb_bytes(2, part)
    body = pb_int(1, 1) + pb_int(2, 5000) + pb_bytes(3, t)
    with socket.create_connection(("127.0.0.1", node.port), timeout=10) as s:
        s.sendall(request(API_PRODUCE, 9, body))
        resp = read_frame(s)
    assert resp is not None, "no answer to the produce"
    pr = rtest.pb_decode(first(resp, API_PRODUCE + 100, b""))
    tr = rtest.pb_decode(first(pr, 1, b""))
    part = rtest.pb_decode(first(tr, 2, b""))
    msg = first(part, 3, b"")
    return first(part, 2), msg.decode() if isinstance(msg, bytes) else msg


def with_attributes(batch, attributes):
    b = bytearray(batch)
    struct.pack_into(">h", b, OFF_ATTRIBUTES, attributes)
    struct.pack_into(">I", b, OFF_CRC, rtest.crc32c(bytes(b[CRC_START:])))
    return bytes(b)


def first_batch_on_disk(node, topic):
    path = glob.glob(os.path.join(node.data_dir, "topics", topic + "-0", "*.log"))[0]
    with open(path, "rb") as f:
        data = f.read()
    length = struct.unpack_from(">i", data, 8)[0]
    return data[:12 + length]


def test_refused_codecs_and_damaged_frames(workdir):
    node = Node(workdir).start()
    cli(["-b", node.address, "topic", "create", "t", "-p", "1"])
    plain = record_batch([(b"k", b"v" * 50), (None, b"w")])
    for codec, name in ((1, "gzip"), (2, "snappy")):
        code, msg = produce_raw(node, "t", with_attributes(plain, codec))
        assert code == UNSUPPORTED_COMPRESSION_TYPE, (name, code, msg)
        assert "gzip" in msg and "snappy" in msg and "lz4" in msg, msg
    # Plain records labelled lz4 are no lz4 frame.
    code, msg = produce_raw(node, "t", with_attributes(plain, 3))
    assert code == CORRUPT_MESSAGE, (code, msg)

    # A real zstd batch, taken from a log, damaged in its frame with the CRC made
    # to match: refused, while the batch as it was is taken.
    cli(["-b", node.address, "topic", "create", "z", "-p", "1"])
    produce(node.address, "z", json_lines(200), "-z", "zstd")
    good = first_batch_on_disk(node, "z")
    assert struct.unpack_from(">h", good, OFF_ATTRIBUTES)[0] & 7 == 4, "the batch on disk is not zstd"
    bad = bytearray(good)
    bad[HEADER_BYTES] ^= 0xff  # the frame's magic number
    struct.pack_into(">I", bad, OFF_CRC, rtest.crc32c(bytes(bad[CRC_START:])))
    code, msg = produce_raw(node, "t", bytes(bad))
    assert code == CORRUPT_MESSAGE, (code, msg)
    code, msg = produce_raw(node, "t", good)
    assert code == 0, (code, msg)
    rows = consume(node.address, "t", 200)
    assert rows[0][2].startswith("user-0"), rows[0]
    node.stop()


def test_perf_produce_with_codecs(workdir):
    node = Node(workdir).start()
    for codec in ("lz4", "zstd"):
        topic = "perf-" + codec
        cli(["-b", node.address, "topic", "create", topic, "-p", "2"])
        r = cli(["-b", node.address, "perf", "produce", topic, "--records", "20000", "--record-size", "1000",
                 "--format", "json", "-X", "compression.type=" + codec], timeout=120)
        rep = json.loads(r.stdout)
        assert rep["records"] == 20000, rep
        doc = json.loads(cli(["-b", node.address, "topic", "describe", topic, "--format", "json"]).stdout)
        assert sum(p["high_watermark"] for p in doc["partitions"]) == 20000, doc
        # The payload repeats, so the log holds far less than 20 MB.
        assert segment_bytes(node, topic) < 20000 * 1000 // 4, segment_bytes(node, topic)
    r = cli(["-b", node.address, "perf", "produce", "perf-lz4", "--records", "10", "--record-size", "10",
             "-X", "compression.type=snappy"], check=False)
    assert r.returncode == 2, (r.returncode, r.stderr)
    node.stop()


def test_replicas_take_compressed_batches(workdir):
    c = Cluster(workdir, n=3, extra_args=["--broker-session-timeout-ms", "3000",
                                           "--broker-heartbeat-interval-ms", "500"]).start()
    cli(["-b", c.bootstrap, "topic", "create", "rep", "-p", "2", "-r", "3"], timeout=60)
    lines = json_lines(5000)
    deadline = time.time() + 30
    while True:
        r = cli(["-b", c.bootstrap, "produce", "rep", "-K", ":", "-z", "zstd", "--acks", "all"],
                input=lines, check=False, timeout=120)
        if r.returncode == 0 or time.time() > deadline:
            break
        time.sleep(0.5)  # the new topic's leaders may still be settling
    assert r.returncode == 0, r.stderr
    rows = by_partition(consume(c.bootstrap, "rep", 5000))
    assert sum(len(v) for v in rows.values()) == 5000
    # Every replica validated the leader's compressed batches and stored
    # them as they came: the three copies of each log are the same bytes.
    def copies_equal():
        for part in range(2):
            copies = set()
            for n in c.nodes:
                files = sorted(glob.glob(os.path.join(n.data_dir, "topics", "rep-%d" % part, "*.log")))
                copies.add(b"".join(open(f, "rb").read() for f in files))
            if len(copies) != 1 or not next(iter(copies)):
                return False
        return True
    deadline = time.time() + 30
    while not copies_equal():
        assert time.time() < deadline, "replicas of rep still differ after 30s"
        time.sleep(0.5)
    for n in c.nodes:
        assert "cannot append" not in n.log(None), "node %d refused a batch:\n%s" % (n.node_id, n.log())
    c.stop()


if __name__ == "__main__":
    rtest.run([test_codecs_round_trip_and_shrink_the_log, test_levels_and_incompressible_values,
               test_refused_codecs_and_damaged_frames, test_perf_produce_with_codecs,
               test_replicas_take_compressed_batches])
