"""The failure-injection checker (fault-check) against real runneld processes.

Shows that fault-check passes a clean run, and that it fails, with the right
counts, when acknowledged records are missing, moved, out of order or
duplicated, or when a partition cannot be read.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import rtest  # noqa: E402
from rtest import Cluster, Node, cli  # noqa: E402

FAULT_CHECK = os.environ.get("FAULT_CHECK_BIN", "build/test/fault/fault-check")
FAST = ["--broker-session-timeout-ms", "3000", "--broker-heartbeat-interval-ms", "500",
        "--replica-lag-time-max-ms", "2000"]


class Run:
    def __init__(self, rc, out, err):
        self.rc, self.out, self.err = rc, out, err

    def __repr__(self):
        return "exit %s\nstdout:\n%s\nstderr:\n%s" % (self.rc, self.out, self.err)


def start_fc(args):
    p = subprocess.Popen([FAULT_CHECK] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    rtest._children.append(p)
    return p


def finish_fc(p, timeout):
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        raise AssertionError("fault-check did not end within %ss: %s" % (timeout, err.decode()[-2000:]))
    return Run(p.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))


def fc(args, timeout=120):
    return finish_fc(start_fc(args), timeout)


def produce(bootstrap, topic, state, seconds, rate=400, extra=()):
    r = fc(["produce", "-b", bootstrap, "-t", topic, "--state", state, "--duration-s", str(seconds),
            "--rate", str(rate)] + list(extra), timeout=seconds + 150)
    assert r.rc == 0, r
    return r


def verify(bootstrap, topic, state, report, extra=(), timeout_s=60):
    r = fc(["verify", "-b", bootstrap, "-t", topic, "--state", state, "--report", report,
            "--timeout-s", str(timeout_s)] + list(extra), timeout=timeout_s + 60)
    assert r.rc in (0, 1), r
    with open(report) as f:
        doc = json.load(f)
    assert doc["ok"] == (r.rc == 0), (doc, r)
    return r, doc


def state_lines(path):
    with open(path) as f:
        return f.read().splitlines()


def acks_of(path):
    """{id: (partition, offset)} from a state file."""
    acks = {}
    for line in state_lines(path):
        if line.startswith("ack "):
            _, i, p, o = line.split()
            acks[int(i)] = (int(p), int(o))
    return acks


def stats_of(path):
    for line in state_lines(path):
        if line.startswith("stats "):
            words = line.split()[1:]
            return {words[i]: int(words[i + 1]) for i in range(0, len(words), 2)}
    return None


def create_topic(bootstrap, topic, partitions, replicas=1):
    cli(["-b", bootstrap, "topic", "create", topic, "-p", str(partitions), "-r", str(replicas)], timeout=60)


def single_node(workdir):
    n = Node(workdir)
    n.start()
    return n


def test_clean_run_verifies(workdir):
    node = single_node(workdir)
    create_topic(node.address, "clean", 3)
    state = os.path.join(workdir, "state")
    r = produce(node.address, "clean", state, seconds=4, rate=400)
    assert "acknowledged" in r.out and "failed 0" in r.out, r
    lines = state_lines(state)
    assert lines[0] == "runnel-fault-check-state 1" and lines[-1] == "end", lines[:3] + lines[-3:]
    st = stats_of(state)
    sent = int([ln for ln in lines if ln.startswith("sent ")][0].split()[1])
    # Paced at 400/s for 4 s: the schedule allows 1600 sends at most.
    assert 1400 <= sent <= 1600, sent
    assert st["acknowledged"] == sent and st["failed"] == 0 and st["unresolved"] == 0, st
    acks = acks_of(state)
    assert sorted(acks) == list(range(sent))
    # Offsets within a partition are exactly 0..n-1: one record each.
    by_part = {}
    for p, o in acks.values():
        by_part.setdefault(p, []).append(o)
    assert sorted(by_part) == [0, 1, 2], by_part.keys()
    for p, offs in by_part.items():
        assert sorted(offs) == list(range(len(offs))), p

    w = fc(["whole", "-b", node.address, "-t", "clean", "--timeout-s", "30"], timeout=60)
    assert w.rc == 0 and w.out.startswith("whole after "), w
    whole_ms = int(w.out.split()[2])

    report = os.path.join(workdir, "report.json")
    v, doc = verify(node.address, "clean", state, report, ["--whole-ms", str(whole_ms)])
    assert v.rc == 0, v
    assert doc["acknowledged"] == sent and doc["read"] == sent and doc["records_read"] == sent, doc
    assert doc["lost"] == doc["duplicated"] == doc["out_of_order"] == doc["conflicts"] == 0, doc
    assert doc["unreadable_partitions"] == 0 and doc["whole_ms"] == whole_ms, doc
    assert doc["run_id"] == [ln for ln in lines if ln.startswith("run_id ")][0].split()[1]
    assert sum(pp["high_watermark"] for pp in doc["partitions"].values()) == sent, doc["partitions"]
    assert "result                       OK" in v.out, v.out

    # A second run in the same topic, without idempotence: the first run's
    # verify counts its records as another run's and still passes.
    state2 = os.path.join(workdir, "state2")
    produce(node.address, "clean", state2, seconds=2, rate=300, extra=["--no-idempotence"])
    sent2 = stats_of(state2)["acknowledged"]
    v, doc = verify(node.address, "clean", state, report)
    assert v.rc == 0 and doc["other_records"] == sent2 and doc["read"] == sent, (v, doc)
    v, doc = verify(node.address, "clean", state2, report)
    assert v.rc == 0 and doc["other_records"] == sent and doc["read"] == sent2, (v, doc)


def test_signals_and_journal(workdir):
    node = single_node(workdir)
    create_topic(node.address, "sig", 2)
    report = os.path.join(workdir, "report.json")

    # SIGTERM ends the sending early; the producer still waits for its
    # answers and writes the full state.
    state = os.path.join(workdir, "term")
    p = start_fc(["produce", "-b", node.address, "-t", "sig", "--state", state, "--duration-s", "120"])
    time.sleep(2.5)
    started = time.time()
    p.send_signal(signal.SIGTERM)
    r = finish_fc(p, 30)
    assert r.rc == 0 and time.time() - started < 15, r
    assert state_lines(state)[-1] == "end"
    st = stats_of(state)
    assert st["acknowledged"] > 500 and st["unresolved"] == 0 and st["duration_ms"] < 10000, st
    v, doc = verify(node.address, "sig", state, report)
    assert v.rc == 0 and doc["state_complete"] and doc["acknowledged"] == st["acknowledged"], (v, doc)

    # A producer killed outright leaves its journal: verify takes it.
    state = os.path.join(workdir, "killed")
    p = start_fc(["produce", "-b", node.address, "-t", "sig", "--state", state, "--duration-s", "120"])
    time.sleep(3.5)
    p.send_signal(signal.SIGKILL)
    p.wait(10)
    lines = state_lines(state)
    assert lines[-1] != "end" and not os.path.exists(state + ".tmp")
    journal_acks = len(acks_of(state))
    # The journal is pushed to the file every second.
    assert journal_acks > 1000, journal_acks
    v, doc = verify(node.address, "sig", state, report)
    assert v.rc == 0 and not doc["state_complete"], (v, doc)
    assert doc["acknowledged"] == journal_acks and doc["read"] >= journal_acks, doc
    assert doc["longest_unavailable_ms"] is None, doc
    assert "journal only" in v.out


def test_lost_records_detected(workdir):
    """The node loses its disk: the topic comes back empty under the same
    name and another run writes into it."""
    node = single_node(workdir)
    create_topic(node.address, "gone", 3)
    state = os.path.join(workdir, "state")
    produce(node.address, "gone", state, seconds=3, rate=400)
    acked = stats_of(state)["acknowledged"]
    assert acked > 1000, acked
    node.stop()
    shutil.rmtree(node.data_dir)
    node.start()
    create_topic(node.address, "gone", 3)
    produce(node.address, "gone", os.path.join(workdir, "other"), seconds=1, rate=200)

    report = os.path.join(workdir, "report.json")
    v, doc = verify(node.address, "gone", state, report)
    assert v.rc == 1, v
    assert doc["lost"] == acked and doc["read"] == 0 and doc["acknowledged"] == acked, doc
    # Every offset the new run wrote was acknowledged to the old run too.
    other = doc["other_records"]
    assert other > 0 and doc["conflicts"] == other, doc
    assert len(doc["lost_examples"]) == 20 and len(doc["conflict_examples"]) == 20, doc
    assert all(e["found"] == "other" for e in doc["conflict_examples"]), doc["conflict_examples"]
    assert "result                       FAILED" in v.out, v.out


def rewrite_acks(src, dst, change):
    """Copies a state file, passing each ack line's (id, p, o) through change."""
    out = []
    for line in state_lines(src):
        if line.startswith("ack "):
            _, i, p, o = line.split()
            new = change(int(i), int(p), int(o))
            if new is None:
                continue
            line = "ack %d %d %d" % new
        out.append(line)
    with open(dst, "w") as f:
        f.write("\n".join(out) + "\n")


def test_edited_state_detected(workdir):
    """A state that claims other offsets than the log holds fails verify."""
    node = single_node(workdir)
    create_topic(node.address, "edit", 2)
    state = os.path.join(workdir, "state")
    produce(node.address, "edit", state, seconds=2, rate=300)
    acks = acks_of(state)
    report = os.path.join(workdir, "report.json")
    v, doc = verify(node.address, "edit", state, report)
    assert v.rc == 0, v

    # Two ids of partition 0 swap offsets: both offsets hold the other id.
    a, b = sorted(i for i, (p, _) in acks.items() if p == 0)[3:5]
    swapped = os.path.join(workdir, "swapped")
    rewrite_acks(state, swapped, lambda i, p, o: (i, p, acks[b][1]) if i == a else
                 (i, p, acks[a][1]) if i == b else (i, p, o))
    v, doc = verify(node.address, "edit", swapped, report)
    assert v.rc == 1 and doc["conflicts"] == 2 and doc["lost"] == 0, (v, doc)
    assert sorted(e["id"] for e in doc["conflict_examples"]) == [a, b], doc
    assert {e["found"] for e in doc["conflict_examples"]} == {a, b}, doc

    # An acknowledgement for an id that was never written is lost.
    invented = os.path.join(workdir, "invented")
    n = max(acks) + 1
    with open(state) as f:
        text = f.read().replace("\nsent ", "\nack %d 1 0\nsent " % (n + 5), 1)
    with open(invented, "w") as f:
        f.write(text)
    v, doc = verify(node.address, "edit", invented, report)
    assert v.rc == 1 and doc["lost"] == 1 and doc["conflicts"] == 1, (v, doc)
    assert doc["lost_examples"] == [{"id": n + 5, "partition": 1, "offset": 0}], doc


def write_state(path, run_id, topic, acks):
    with open(path, "w") as f:
        f.write("runnel-fault-check-state 1\nrun_id %s\ntopic %s\n" % (run_id, topic))
        for i, (p, o) in sorted(acks.items()):
            f.write("ack %d %d %d\n" % (i, p, o))
        f.write("sent %d\nstats acknowledged %d failed 0 unresolved 0 longest_unavailable_ms 1 "
                "longest_unavailable_at_ms 0 duration_ms 1\nend\n" % (len(acks), len(acks)))


def write_records(bootstrap, topic, run_id, ids):
    """Appends records in the checker's format, in this order, to partition 0."""
    lines = "".join("%d:%s:%d:pad\n" % (i, run_id, i) for i in ids)
    cli(["-b", bootstrap, "produce", topic, "-K", ":", "-p", "0"], input=lines, timeout=60)


def test_order_and_duplicates_detected(workdir):
    node = single_node(workdir)
    report = os.path.join(workdir, "report.json")
    state = os.path.join(workdir, "state")

    # Ids 0, 2, 1, 3, 3: id 1 comes after 2, and 3 is there twice.
    create_topic(node.address, "order", 1)
    write_records(node.address, "order", "hand-1", [0, 2, 1, 3, 3])
    write_state(state, "hand-1", "order", {0: (0, 0), 1: (0, 2), 2: (0, 1), 3: (0, 3)})
    v, doc = verify(node.address, "order", state, report)
    assert v.rc == 1, v
    assert doc["out_of_order"] == 1 and doc["duplicated"] == 1, doc
    assert doc["lost"] == 0 and doc["conflicts"] == 0 and doc["read"] == 4, doc
    assert doc["out_of_order_examples"] == [{"id": 1, "partition": 0, "offset": 2}], doc
    assert doc["duplicate_examples"] == [{"id": 3, "partition": 0, "offset": 4}], doc

    # In order, 1 twice: duplicates alone pass unless asked to fail.
    create_topic(node.address, "dups", 1)
    write_records(node.address, "dups", "hand-2", [0, 1, 1, 2])
    write_state(state, "hand-2", "dups", {0: (0, 0), 1: (0, 1), 2: (0, 3)})
    v, doc = verify(node.address, "dups", state, report)
    assert v.rc == 0 and doc["duplicated"] == 1 and doc["out_of_order"] == 0, (v, doc)
    v, doc = verify(node.address, "dups", state, report, ["--fail-on-duplicates"])
    assert v.rc == 1 and not doc["ok"], (v, doc)

    # Usage errors exit 2: a state of another topic, a missing file.
    r = fc(["verify", "-b", node.address, "-t", "order", "--state", state, "--report", report])
    assert r.rc == 2 and "not order" in r.err, r
    r = fc(["verify", "-b", node.address, "-t", "dups", "--state", state + ".none", "--report", report])
    assert r.rc == 2, r
    r = fc(["produce", "-b", node.address, "-t", "nosuch", "--state", state, "--duration-s", "1"])
    assert r.rc == 2 and "UNKNOWN_TOPIC" in r.err.upper().replace(" ", "_"), r
    # An idempotent producer keeps at most 5 requests in flight.
    r = fc(["produce", "-b", node.address, "-t", "dups", "--state", state + ".x", "--duration-s", "1",
            "--max-in-flight", "6"])
    assert r.rc == 2 and "--no-idempotence" in r.err, r


def broker_fenced(cluster, node_id):
    _, doc = cluster.status()
    for b in (doc or {}).get("brokers", []):
        if b.get("id") == node_id:
            return b.get("state") == "fenced"
    return False


def test_whole_and_unreadable(workdir):
    """Three nodes: whole waits for full replication; a partition whose
    only replica is down is unreadable."""
    c = Cluster(workdir, n=3, extra_args=FAST).start()
    b = c.bootstrap
    create_topic(b, "rep", 3, replicas=3)
    create_topic(b, "single", 3, replicas=1)
    w = fc(["whole", "-b", b, "-t", "rep", "--timeout-s", "60"], timeout=90)
    assert w.rc == 0, w
    rep_state = os.path.join(workdir, "rep")
    single_state = os.path.join(workdir, "single")
    produce(b, "rep", rep_state, seconds=2, rate=300)
    produce(b, "single", single_state, seconds=2, rate=300)

    # The leader of a partition of "single" holds its only replica.
    r = cli(["-b", b, "topic", "describe", "single", "--format", "json"], timeout=60)
    parts = json.loads(r.stdout)["partitions"]
    victim_id = [pp["leader"] for pp in parts if pp["partition"] == 0][0]
    victim = c.node(victim_id)
    victim.kill9()
    alive = ",".join(n.address for n in c.alive())
    # Until its session lapses the cluster still counts the dead node as
    # alive and in sync; once it is fenced, the topic is not whole.
    deadline = time.time() + 30
    while not broker_fenced(c, victim_id):
        assert time.time() < deadline, "node %d never fenced" % victim_id
        time.sleep(0.2)
    w = fc(["whole", "-b", alive, "-t", "rep", "--timeout-s", "3"], timeout=60)
    assert w.rc == 1 and w.out.startswith("not whole after "), w

    report = os.path.join(workdir, "report.json")
    v, doc = verify(alive, "single", single_state, report, timeout_s=6)
    parts = {int(p): pp for p, pp in doc["partitions"].items()}
    down = [p for p, pp in parts.items() if not pp["complete"]]
    assert v.rc == 1 and doc["unreadable_partitions"] == len(down) >= 1 and len(down) < 3, (v, doc)
    assert doc["read"] == sum(parts[p]["acknowledged"] for p in parts if p not in down) > 0, doc
    # What was readable is all there; the rest counts as lost.
    assert doc["lost"] == doc["lost_in_unreadable_partitions"] == sum(parts[p]["acknowledged"] for p in down), doc
    v, doc = verify(alive, "rep", rep_state, report)
    assert v.rc == 0, v

    victim.start(wait=False)
    w = fc(["whole", "-b", b, "-t", "rep", "--timeout-s", "90"], timeout=120)
    assert w.rc == 0, w
    v, doc = verify(b, "single", single_state, report)
    assert v.rc == 0 and doc["unreadable_partitions"] == 0, (v, doc)


if __name__ == "__main__":
    rtest.run([test_clean_run_verifies, test_signals_and_journal, test_lost_records_detected,
               test_edited_state_detected, test_order_and_duplicates_detected,
               test_whole_and_unreadable])
