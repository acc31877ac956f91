"""Produce and consume through real runneld processes with the runnel CLI."""

import collections
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import rtest  # noqa: E402
from rtest import Node, cli, partition_for_key  # noqa: E402

RECORDS = 100000
PARTITIONS = 8
FMT = "%p\t%o\t%k\t%s\n"


def consume_all(node, topic, expected):
    r = cli(["-b", node.address, "consume", topic, "-o", "beginning", "-e", "-f", FMT], timeout=300)
    rows = [line.split("\t") for line in r.stdout.splitlines()]
    assert len(rows) == expected, "consumed %d records, expected %d" % (len(rows), expected)
    return [(int(p), int(o), k, v) for p, o, k, v in rows]


def check_keyed(rows):
    """Every record is where murmur2 puts it, offsets are dense from 0 in each
    partition, and each key's values come back in the order produced."""
    by_partition = collections.defaultdict(list)
    for p, o, k, v in rows:
        assert partition_for_key(k.encode(), PARTITIONS) == p, "key %s in partition %d" % (k, p)
        assert v == "value-" + k, "key %s has value %s" % (k, v)
        by_partition[p].append((o, int(k[4:])))
    assert len(by_partition) == PARTITIONS, "records landed in %d partitions" % len(by_partition)
    for p, items in by_partition.items():
        offsets = [o for o, _ in items]
        assert offsets == list(range(len(offsets))), "partition %d offsets are not 0..n-1 in order" % p
        seq = [s for _, s in items]
        assert seq == sorted(seq), "partition %d lost the production order" % p


def test_keyed_records_survive_restart(workdir):
    node = Node(workdir).start()
    cli(["-b", node.address, "topic", "create", "events", "-p", str(PARTITIONS)])
    lines = "".join("key-%06d:value-key-%06d\n" % (i, i) for i in range(RECORDS))
    cli(["-b", node.address, "produce", "events", "-K", ":", "--acks", "all"], input=lines, timeout=300)
    rows = consume_all(node, "events", RECORDS)
    check_keyed(rows)
    assert sorted(k for _, _, k, _ in rows) == ["key-%06d" % i for i in range(RECORDS)]

    node.stop()
    node.start()
    rows_after = consume_all(node, "events", RECORDS)
    assert sorted(rows_after) == sorted(rows), "records changed across a restart"

    # The log keeps accepting writes after the restart, at the next offsets.
    cli(["-b", node.address, "produce", "events", "-K", ":"], input="key-999999:value-key-999999\n")
    p = partition_for_key(b"key-999999", PARTITIONS)
    r = cli(["-b", node.address, "consume", "events", "-p", str(p), "-o", "-1", "-e", "-f", FMT])
    last = r.stdout.splitlines()[-1].split("\t")
    expected_offset = sum(1 for row in rows if row[0] == p)
    assert last == [str(p), str(expected_offset), "key-999999", "value-key-999999"], last
    node.stop()


def test_keyless_records_spread(workdir):
    node = Node(workdir).start()
    cli(["-b", node.address, "topic", "create", "spread", "-p", "4"])
    n = 20000
    cli(["-b", node.address, "produce", "spread"], input="".join("v%d\n" % i for i in range(n)))
    r = cli(["-b", node.address, "consume", "spread", "-o", "beginning", "-e", "-f", "%p %s\n"])
    rows = [line.split(" ") for line in r.stdout.splitlines()]
    assert len(rows) == n
    counts = collections.Counter(p for p, _ in rows)
    assert len(counts) >= 2, "keyless records all went to one partition: %s" % counts
    assert sorted(int(v[1:]) for _, v in rows) == list(range(n))
    node.stop()


def test_headers_timestamps_and_positions(workdir):
    node = Node(workdir).start()
    cli(["-b", node.address, "topic", "create", "t", "-p", "1"])
    cli(["-b", node.address, "produce", "t", "-K", "=", "-H", "source=it", "-H", "kind=test"],
        input="".join("k%d=v%d\n" % (i, i) for i in range(10)))
    r = cli(["-b", node.address, "consume", "t", "-o", "beginning", "-e", "-f", "%o|%k|%s|%h|%T\n"])
    rows = [line.split("|") for line in r.stdout.splitlines()]
    assert [row[0] for row in rows] == [str(i) for i in range(10)]
    assert rows[3][1:3] == ["k3", "v3"]
    assert "source=it" in rows[0][3] and "kind=test" in rows[0][3], rows[0][3]
    ts = int(rows[5][4])
    assert ts > 1600000000000, ts

    # -o OFFSET, -o -N, -n COUNT and -o @TIMESTAMP
    r = cli(["-b", node.address, "consume", "t", "-o", "7", "-e", "-f", "%o\n"])
    assert r.stdout.split() == ["7", "8", "9"], r.stdout
    r = cli(["-b", node.address, "consume", "t", "-o", "-2", "-e", "-f", "%o\n"])
    assert r.stdout.split() == ["8", "9"], r.stdout
    r = cli(["-b", node.address, "consume", "t", "-o", "beginning", "-n", "4", "-f", "%o\n"])
    assert r.stdout.split() == ["0", "1", "2", "3"], r.stdout
    r = cli(["-b", node.address, "consume", "t", "-o", "@%d" % ts, "-e", "-f", "%o\n"])
    assert r.stdout.split()[0] == "0" and r.stdout.split()[-1] == "9", r.stdout
    r = cli(["-b", node.address, "consume", "t", "-o", "@%d" % (ts + 3600 * 1000), "-e", "-f", "%o\n"])
    assert r.stdout.split() == [], r.stdout
    node.stop()


def test_consume_from_end_sees_only_new_records(workdir):
    node = Node(workdir).start()
    cli(["-b", node.address, "topic", "create", "live", "-p", "2"])
    cli(["-b", node.address, "produce", "live"], input="old1\nold2\n")
    import subprocess
    import time
    consumer = subprocess.Popen([rtest.RUNNEL, "-b", node.address, "consume", "live", "-n", "3"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    rtest._children.append(consumer)
    # Keep producing new records until the consumer has read three: however
    # long it takes to position itself, it must never see the old ones.
    deadline = time.time() + 60
    i = 0
    while consumer.poll() is None and time.time() < deadline:
        cli(["-b", node.address, "produce", "live"], input="new%d\n" % i)
        i += 1
        time.sleep(0.3)
    out, err = consumer.communicate(timeout=10)
    assert consumer.returncode == 0, err
    got = out.decode().split()
    assert len(got) == 3 and all(v.startswith("new") for v in got), got
    node.stop()


if __name__ == "__main__":
    rtest.run([test_keyed_records_survive_restart, test_keyless_records_spread,
               test_headers_timestamps_and_positions, test_consume_from_end_sees_only_new_records])
