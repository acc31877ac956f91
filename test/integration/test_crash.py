"""kill -9 a node in the middle of a produce: every acknowledged record survives."""

import os
import shutil
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import rtest  # noqa: E402
from rtest import Node, cli  # noqa: E402

FMT = "%p\t%o\t%k\t%s\n"


def produce_through_crash(node, topic, total, kill_after, extra=()):
    """Produces total keyed records, kills the node with SIGKILL once
    kill_after acknowledgements were printed, restarts it, and returns the
    acknowledged (key, partition, offset) triples and the producer's exit code."""
    proc = subprocess.Popen([rtest.RUNNEL, "-b", node.address, "produce", topic, "-K", ":",
                             "--print-acks", "--acks", "all"] + list(extra),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    rtest._children.append(proc)

    def feed():
        try:
            for start in range(0, total, 1000):
                chunk = "".join("k%07d:value-k%07d\n" % (i, i) for i in range(start, min(total, start + 1000)))
                proc.stdin.write(chunk.encode())
            proc.stdin.close()
        except BrokenPipeError:
            pass

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    acks = []
    killed = False
    for line in proc.stdout:
        k, p, o = line.decode().rstrip("\n").split("\t")
        acks.append((k, int(p), int(o)))
        if not killed and len(acks) >= kill_after:
            node.kill9()
            killed = True
            time.sleep(0.5)
            node.start()
    err = proc.stderr.read().decode()
    proc.wait(timeout=300)
    assert killed, "the producer finished before the node was killed (%d acks)" % len(acks)
    print("     %s: %d of %d records acknowledged across the crash, producer exit %d"
          % (topic, len(acks), total, proc.returncode), flush=True)
    return acks, proc.returncode, err


def check_acked_present(node, topic, acks):
    r = cli(["-b", node.address, "consume", topic, "-o", "beginning", "-e", "-f", FMT], timeout=300)
    stored = {}
    for line in r.stdout.splitlines():
        p, o, k, v = line.split("\t")
        stored[(int(p), int(o))] = (k, v)
    missing = [a for a in acks if stored.get((a[1], a[2])) != (a[0], "value-" + a[0])]
    assert not missing, "%d acknowledged records missing or changed, first: %s" % (len(missing), missing[:5])
    # Offsets are dense in every partition: the crash left no hole.
    for p in set(p for p, _ in stored):
        offs = sorted(o for q, o in stored if q == p)
        assert offs == list(range(len(offs))), "partition %d has gaps" % p
    return stored


def test_kill9_during_produce(workdir):
    node = Node(workdir).start()
    cli(["-b", node.address, "topic", "create", "crash", "-p", "4"])
    acks, rc, err = produce_through_crash(node, "crash", 200000, 20000)
    assert len(acks) >= 20000
    stored = check_acked_present(node, "crash", acks)
    if rc == 0:
        assert len(set(k for k, _, _ in acks)) == 200000, "producer exited 0 without acknowledging everything"
    else:
        assert "not acknowledged" in err, err
    # New writes are accepted after recovery.
    cli(["-b", node.address, "produce", "crash", "-K", ":"], input="after:value-after\n")
    r = cli(["-b", node.address, "consume", "crash", "-o", "beginning", "-e", "-f", FMT], timeout=300)
    assert len(r.stdout.splitlines()) == len(stored) + 1
    node.stop()


def test_kill9_with_fsync_per_write(workdir):
    node = Node(workdir).start()
    cli(["-b", node.address, "topic", "create", "durable", "-p", "2", "-c", "flush.messages=1"])
    acks, rc, err = produce_through_crash(node, "durable", 30000, 3000)
    check_acked_present(node, "durable", acks)
    node.stop()


def test_repeated_crashes_keep_log_valid(workdir):
    node = Node(workdir).start()
    cli(["-b", node.address, "topic", "create", "again", "-p", "1"])
    total_acks = []
    for round_ in range(3):
        acks, rc, err = produce_through_crash(node, "again", 20000, 2000)
        total_acks += acks
    check_acked_present(node, "again", total_acks)
    node.stop()


def test_missing_partition_directory_is_reported(workdir):
    # A node whose partition files disappeared while it was down starts the
    # partition empty (there is nothing else to serve), and says so.
    node = Node(workdir).start()
    cli(["-b", node.address, "topic", "create", "gone", "-p", "1"])
    cli(["-b", node.address, "produce", "gone", "--acks", "all"], input="a\nb\nc\n")
    node.stop()
    shutil.rmtree(os.path.join(node.data_dir, "topics", "gone-0"))
    node.start()
    r = cli(["-b", node.address, "consume", "gone", "-o", "beginning", "-e"], timeout=60)
    assert r.stdout.split() == [], r.stdout
    log = node.log(tail=None)
    assert "gone-0: the log directory" in log and "is missing" in log and "high watermark 3" in log, log
    node.stop()


if __name__ == "__main__":
    rtest.run([test_kill9_during_produce, test_kill9_with_fsync_per_write, test_repeated_crashes_keep_log_valid,
               test_missing_partition_directory_is_reported])
