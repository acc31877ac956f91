#!/usr/bin/env python3
"""run_faults: injects faults into a three-node Runnel cluster while a checker
produces unique records with acks=all, then verifies that no acknowledged
record was lost.

    python3 test/fault/run_faults.py --target local              # every scenario
    python3 test/fault/run_faults.py --target compose --scenario kill-all

Each scenario gets a fresh topic (6 partitions, replication factor 3,
min.insync.replicas=2), starts `fault-check produce` in the background,
injects its fault, heals it, waits with `fault-check whole` until every
partition is fully replicated again, stops the producer and runs
`fault-check verify` (with --fail-on-duplicates for the leader-kill
scenarios: the producer is idempotent unless --no-idempotence is given).
The control scenario lose-all-logs (local target
only) destroys every replica of the topic and passes only when the verify
reports the loss. Reports go to --report-dir; a summary table of every
scenario ends the run. Exit status: 0 when every scenario passed, 1 when a
verify failed or a scenario could not run, 2 on usage errors, 77 when the
compose target cannot run here (no docker, no compose tool, no daemon).
See docs/fault-injection.md.
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faultlib as fl  # noqa: E402
from faultlib import log  # noqa: E402

EXIT_SKIP = 77

# The producer runs this long before the first fault and after the last
# heal, so every scenario has acknowledged records on both sides of it.
WARMUP_S = 3.0
COOLDOWN_S = 2.0
ROUNDS = 3
PARTITION_CUT_S = 10.0
# A producer's records wait this long for a leader before they count as
# failed; longer than any outage a scenario causes.
DELIVERY_TIMEOUT_MS = 60000
# The producer runs until it is stopped; this bounds it should the run
# fail to stop it.
PRODUCER_MAX_S = 900


class Checker:
    """The fault-check binary: a background producer, whole and verify."""

    def __init__(self, binary, workdir):
        self.binary = binary
        self.workdir = workdir

    def start_producer(self, bootstrap, topic, state, rate, idempotent=True):
        logp = os.path.join(self.workdir, topic + ".produce.log")
        args = [self.binary, "produce", "-b", bootstrap, "-t", topic, "--state", state,
                "--duration-s", str(PRODUCER_MAX_S), "--rate", str(rate),
                "--delivery-timeout-ms", str(DELIVERY_TIMEOUT_MS)]
        if not idempotent:
            args.append("--no-idempotence")
        with open(logp, "ab") as f:
            proc = subprocess.Popen(args, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    preexec_fn=fl.die_with_parent)
        return Producer(proc, logp)

    def whole(self, bootstrap, topic, timeout_s=fl.WHOLE_TIMEOUT_S):
        """Waits until topic is whole; returns the ms fault-check reports."""
        r = subprocess.run([self.binary, "whole", "-b", bootstrap, "-t", topic,
                            "--timeout-s", str(int(timeout_s))],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                           text=True, timeout=timeout_s + 60)
        m = re.search(r"whole after (\d+) ms", r.stdout)
        if r.returncode != 0 or not m:
            raise RuntimeError("fault-check whole exited %d: %s" % (r.returncode, r.stdout.strip()[-2000:]))
        return int(m.group(1))

    def verify(self, bootstrap, topic, state, report, whole_ms, no_duplicates=False):
        """Runs verify; returns (exit code, its output). no_duplicates fails
        it when a record was written twice, too."""
        args = [self.binary, "verify", "-b", bootstrap, "-t", topic, "--state", state,
                "--report", report, "--timeout-s", "120"]
        if no_duplicates:
            args.append("--fail-on-duplicates")
        if whole_ms is not None:
            args += ["--whole-ms", str(whole_ms)]
        r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, text=True, timeout=300)
        return r.returncode, r.stdout


class Producer:
    """A running `fault-check produce`, stopped by its PID."""

    def __init__(self, proc, log_path):
        self.proc = proc
        self.log_path = log_path

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        """SIGTERM, then waits for the flush (bounded by the delivery
        timeout); returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(DELIVERY_TIMEOUT_MS / 1000 + 30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError("fault-check produce did not stop after SIGTERM")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def output(self, tail=3000):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-tail:].decode("utf-8", "replace")
        except OSError:
            return ""


class Run:
    """One scenario's context: the cluster, the topic, the checker, and a
    record of what happened."""

    def __init__(self, cluster, checker, topic):
        self.c = cluster
        self.checker = checker
        self.topic = topic
        self.events = []
        self.whole_ms = []
        self.t0 = time.monotonic()

    def event(self, msg):
        stamp = time.monotonic() - self.t0
        self.events.append("%6.1fs %s" % (stamp, msg))
        log("  " + msg)

    def wait_whole(self, healed_at):
        """Waits until the topic is whole; returns the ms since healed_at
        (the moment the fault was healed)."""
        ms = self.checker.whole(self.c.bootstrap, self.topic)
        since = int((time.monotonic() - healed_at) * 1000)
        self.whole_ms.append(since)
        self.event("whole %d ms after the heal (fault-check whole waited %d ms)" % (since, ms))
        return since


# ---------------------------------------------------------------- scenarios

def scenario_kill9_partition_leader(r):
    """kill -9 the leader of a partition; wait for a new leader; restart it."""
    for rnd in range(ROUNDS):
        p = (rnd * 2) % fl.TOPIC_PARTITIONS
        victim = r.c.leader_of(r.topic, p)
        if victim is None or victim <= 0:
            raise RuntimeError("partition %d has no leader before round %d" % (p, rnd + 1))
        r.event("round %d: kill -9 node %d, leader of partition %d" % (rnd + 1, victim, p))
        r.c.kill9(victim)
        ms = r.c.wait_leader_moves(r.topic, [p], victim)
        r.event("partition %d led by node %d after %d ms" % (p, r.c.leader_of(r.topic, p), ms))
        healed = time.monotonic()
        r.c.start_node(victim)
        r.event("node %d started again" % victim)
        r.wait_whole(healed)


def scenario_kill9_quorum_leader(r):
    """kill -9 the metadata quorum leader; wait for a new one and for the
    dead node's broker to be fenced; restart it."""
    for rnd in range(ROUNDS):
        victim = r.c.quorum_leader()
        if victim is None:
            raise RuntimeError("no quorum leader before round %d" % (rnd + 1))
        r.event("round %d: kill -9 node %d, the quorum leader" % (rnd + 1, victim))
        r.c.kill9(victim)
        lid, ms = r.c.wait_quorum_leader_other_than(victim)
        r.event("node %d leads the quorum after %d ms" % (lid, ms))
        ms = r.c.wait_fenced(victim)
        r.event("node %d fenced %d ms later" % (victim, ms))
        healed = time.monotonic()
        r.c.start_node(victim)
        r.event("node %d started again" % victim)
        r.wait_whole(healed)


def led_by(r, node):
    ls = r.c.leaders(r.topic) or {}
    return sorted(p for p, lid in ls.items() if lid == node)


def scenario_pause_leader(r):
    """Stop the busiest partition leader (SIGSTOP / docker pause) for longer
    than the session timeout, then resume it."""
    victim = r.c.busiest_leader(r.topic)
    parts = led_by(r, victim)
    r.event("%s node %d, leader of partitions %s" % (r.c.pause_method, victim, parts))
    r.c.pause(victim)
    start = time.monotonic()
    ms = r.c.wait_leader_moves(r.topic, parts, victim)
    r.event("its partitions have new leaders after %d ms" % ms)
    hold = fl.SESSION_TIMEOUT_S + 3.0
    time.sleep(max(0.0, hold - (time.monotonic() - start)))
    healed = time.monotonic()
    r.c.resume(victim)
    r.event("node %d resumed after %.1f s" % (victim, healed - start))
    r.wait_whole(healed)


def scenario_partition_leader(r):
    """Cut the busiest partition leader off the network for ~10 s, then heal."""
    victim = r.c.busiest_leader(r.topic)
    parts = led_by(r, victim)
    r.event("cut off node %d (%s), leader of partitions %s" % (victim, r.c.partition_method, parts))
    r.c.isolate(victim)
    start = time.monotonic()
    ms = r.c.wait_leader_moves(r.topic, parts, victim)
    r.event("its partitions have new leaders after %d ms" % ms)
    time.sleep(max(0.0, PARTITION_CUT_S - (time.monotonic() - start)))
    healed = time.monotonic()
    r.c.heal(victim)
    r.event("node %d reconnected after %.1f s" % (victim, healed - start))
    r.wait_whole(healed)


def scenario_rolling_restart(r):
    """Each node in turn: SIGTERM, start again, wait until whole."""
    for i in r.c.node_ids:
        r.event("stop node %d (SIGTERM)" % i)
        start = time.monotonic()
        r.c.stop_node(i)
        r.event("node %d stopped after %d ms" % (i, (time.monotonic() - start) * 1000))
        healed = time.monotonic()
        r.c.start_node(i)
        r.wait_whole(healed)


def scenario_kill_all(r):
    """kill -9 every node at once, start them all, wait until whole."""
    r.event("kill -9 nodes %s" % list(r.c.node_ids))
    for i in r.c.node_ids:
        r.c.kill9(i)
    time.sleep(1.0)
    healed = time.monotonic()
    for i in r.c.node_ids:
        r.c.start_node(i)
    r.event("all nodes started again")
    # Right after the restart the metadata may still show the brokers of
    # before the crash, so "whole" alone could pass before anything has
    # recovered; first wait until every partition commits records again.
    first = wait_known_high_watermarks(r)
    r.c.wait_progress(r.topic, first)
    r.event("every partition committing again %d ms after the restart" % ((time.monotonic() - healed) * 1000))
    r.wait_whole(healed)


def wait_known_high_watermarks(r, timeout=fl.WHOLE_TIMEOUT_S):
    """The first high watermarks every partition's leader reports."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        hws = r.c.high_watermarks(r.topic)
        if hws and all(v >= 0 for v in hws.values()):
            return hws
        time.sleep(0.3)
    raise RuntimeError("partitions of %s have no leader %.0f s after the restart" % (r.topic, timeout))


def scenario_lose_all_logs(r):
    """Control run: kill -9 every node and delete the topic's partition logs
    on all of them (every replica loses its disk), then restart.  The
    verify must find acknowledged records lost; if it does not, the fault
    runs could not catch a loss either."""
    r.event("kill -9 nodes %s" % list(r.c.node_ids))
    for i in r.c.node_ids:
        r.c.kill9(i)
    for i in r.c.node_ids:
        n = r.c.remove_partition_logs(i, r.topic)
        r.event("removed %d partition logs of node %d" % (n, i))
    healed = time.monotonic()
    for i in r.c.node_ids:
        r.c.start_node(i)
    r.event("all nodes started again")
    first = wait_known_high_watermarks(r)
    r.c.wait_progress(r.topic, first)
    r.wait_whole(healed)


class Scenario:
    """A named fault run; expect_loss marks a control run, which passes only
    when the verify reports lost records."""

    def __init__(self, name, fn, expect_loss=False, targets=("local", "compose"), no_duplicates=False):
        self.name = name
        self.fn = fn
        self.expect_loss = expect_loss
        self.targets = targets
        # With an idempotent producer (the default) the verify also fails
        # on a record written twice: the leaders keep each producer's
        # recent batches, and a new leader answers a retry of one of them
        # with its first offsets instead of writing it again.
        self.no_duplicates = no_duplicates


SCENARIOS = [
    Scenario("kill9-partition-leader", scenario_kill9_partition_leader, no_duplicates=True),
    Scenario("kill9-quorum-leader", scenario_kill9_quorum_leader, no_duplicates=True),
    Scenario("pause-leader", scenario_pause_leader),
    Scenario("partition-leader", scenario_partition_leader),
    Scenario("rolling-restart", scenario_rolling_restart),
    Scenario("kill-all", scenario_kill_all),
    # The compose target cannot reach into the nodes' volumes (the image
    # has no shell), so the control runs locally only.
    Scenario("lose-all-logs", scenario_lose_all_logs, expect_loss=True, targets=("local",)),
]


# ------------------------------------------------------------------ driving

def run_scenario(cluster, checker, sc, args, workdir):
    """Runs one scenario; returns its summary row (a dict)."""
    name = sc.name
    row = {"scenario": name, "target": cluster.name, "result": "ERROR", "expect_loss": sc.expect_loss}
    start = time.monotonic()
    topic = "fault-%s-%d" % (name, int(time.time()))
    state = os.path.join(workdir, topic + ".state")
    report = os.path.join(args.report_dir, "%s-%s.json" % (cluster.name, name))
    if os.path.exists(report):
        os.unlink(report)
    producer = None
    r = Run(cluster, checker, topic)
    log("=== %s (%s target)" % (name, cluster.name))
    try:
        cluster.ensure_running()
        cluster.wait_healthy()
        cluster.create_topic(topic)
        checker.whole(cluster.bootstrap, topic)
        idempotent = not args.no_idempotence
        producer = checker.start_producer(cluster.bootstrap, topic, state, args.rate, idempotent)
        r.event("producing to %s at %d records/s (%s)"
                % (topic, args.rate, "idempotent" if idempotent else "not idempotent"))
        time.sleep(WARMUP_S)
        if not producer.alive():
            raise RuntimeError("fault-check produce exited early:\n" + producer.output())
        sc.fn(r)
        time.sleep(COOLDOWN_S)
        code = producer.stop()
        r.event("producer stopped (exit %d): %s" % (code, last_line(producer.output())))
        producer = None
        whole = max(r.whole_ms) if r.whole_ms else None
        if sc.expect_loss:
            r.event("control run: the verify below must report lost records")
        no_dup = idempotent and sc.no_duplicates
        if no_dup:
            r.event("idempotent producer: the verify below must find no duplicates either")
        rc, out = checker.verify(cluster.bootstrap, topic, state, report, whole, no_dup)
        print(out.rstrip(), flush=True)
        row.update(read_report(report))
        if rc not in (0, 1):
            row["error"] = "fault-check verify exited %d" % rc
        elif sc.expect_loss:
            # A control run passes when the checker reports the loss.
            found = rc == 1 and row.get("lost", 0) > 0
            row["result"] = "ok" if found else "FAIL"
            if not found:
                row["error"] = "the checker did not report the records this run destroyed"
        else:
            row["result"] = "ok" if rc == 0 else "FAIL"
    except Exception as e:  # a scenario that cannot run is reported, not fatal
        row["error"] = str(e)
        log("  ERROR: %s" % e)
        for i in cluster.node_ids:
            try:
                print("--- node %d log tail\n%s" % (i, cluster.node_log(i, 2500)), flush=True)
            except Exception as log_error:
                print("--- node %d log unavailable: %s" % (i, log_error), flush=True)
    finally:
        if producer is not None:
            producer.kill()
    row["whole_ms_rounds"] = r.whole_ms
    row["events"] = r.events
    row["duration_s"] = round(time.monotonic() - start, 1)
    with open(os.path.join(args.report_dir, "%s-%s.events.json" % (cluster.name, name)), "w") as f:
        json.dump(row, f, indent=1)
    log("=== %s: %s in %.1f s" % (name, row["result"], row["duration_s"]))
    return row


def last_line(text):
    lines = [x for x in text.strip().splitlines() if x.strip()]
    return lines[-1] if lines else ""


def read_report(path):
    """The numbers of a verify report that the summary shows."""
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError):
        return {}
    keys = ("sent", "acknowledged", "failed_deliveries", "read", "lost", "duplicated", "out_of_order",
            "conflicts", "longest_unavailable_ms", "whole_ms")
    return {k: doc[k] for k in keys if k in doc}


def print_summary(rows, target):
    cols = [("scenario", "scenario"), ("result", "result"), ("acknowledged", "acked"),
            ("failed_deliveries", "failed"), ("lost", "lost"), ("duplicated", "dup"),
            ("out_of_order", "disorder"), ("conflicts", "conflicts"),
            ("longest_unavailable_ms", "unavailable ms"), ("whole_ms", "whole ms"),
            ("duration_s", "run s")]
    table = [[h for _, h in cols]]
    for row in rows:
        cells = [str(row.get(k, "-")) for k, _ in cols]
        if row.get("expect_loss"):
            cells[0] += " (control: loss expected)"
        table.append(cells)
    widths = [max(len(t[i]) for t in table) for i in range(len(cols))]
    print("\nSummary (%s target):" % target)
    for t in table:
        print("  " + "  ".join(v.ljust(widths[i]) for i, v in enumerate(t)).rstrip())
    for row in rows:
        if row.get("error"):
            print("  %s: %s" % (row["scenario"], row["error"]))
    sys.stdout.flush()


def default_build_dir():
    if os.environ.get("RUNNEL_BUILD_DIR"):
        return os.environ["RUNNEL_BUILD_DIR"]
    if os.environ.get("RUNNEL_BIN"):
        return os.path.dirname(os.path.dirname(os.path.abspath(os.environ["RUNNEL_BIN"])))
    return os.path.join(fl.REPO, "build")


def parse_args():
    names = [sc.name for sc in SCENARIOS]
    ap = argparse.ArgumentParser(description="Inject faults into a Runnel cluster and verify no acknowledged record is lost.")
    ap.add_argument("--target", choices=["local", "compose"], default="local")
    ap.add_argument("--scenario", default="all", help="one of %s, or all (comma list allowed)" % ", ".join(names))
    ap.add_argument("--report-dir", help="default: BUILD_DIR/fault-reports")
    ap.add_argument("--build-dir", default=default_build_dir(), help="where runneld, runnel and fault-check are built")
    ap.add_argument("--rate", type=int, default=500, help="records per second the checker produces")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (node logs, checker state)")
    ap.add_argument("--no-netns", action="store_true",
                    help="local target: run the nodes on loopback, not in network namespaces "
                         "(the partition fault then uses SIGSTOP)")
    ap.add_argument("--no-idempotence", action="store_true",
                    help="produce without idempotence (retries may write records twice; "
                         "duplicates are then counted, not failed)")
    args = ap.parse_args()
    if args.scenario == "all":
        wanted = [sc.name for sc in SCENARIOS if args.target in sc.targets]
    else:
        wanted = args.scenario.split(",")
    for w in wanted:
        if w not in names:
            ap.error("unknown scenario %s (known: %s)" % (w, ", ".join(names)))
    args.scenarios = [sc for sc in SCENARIOS if sc.name in wanted]
    for sc in args.scenarios:
        if args.target not in sc.targets:
            ap.error("scenario %s runs only on the %s target" % (sc.name, ", ".join(sc.targets)))
    args.build_dir = os.path.abspath(args.build_dir)
    args.report_dir = os.path.abspath(args.report_dir or os.path.join(args.build_dir, "fault-reports"))
    return args


def on_signal(signum, frame):
    # Turn SIGTERM and SIGHUP into an exception so that the finally blocks
    # stop every process and remove every namespace or container.
    raise SystemExit(128 + signum)


def main():
    args = parse_args()
    fault_check = os.environ.get("FAULT_CHECK_BIN", os.path.join(args.build_dir, "test", "fault", "fault-check"))
    for b in (fault_check, os.path.join(args.build_dir, "broker", "runneld"),
              os.path.join(args.build_dir, "clients", "runnel")):
        if not os.access(b, os.X_OK):
            print("run_faults: %s is missing; build first (ninja -C %s)" % (b, args.build_dir), file=sys.stderr)
            return 2
    if args.target == "compose":
        why = fl.docker_available()
        if why:
            print("run_faults: skipping the compose target: %s" % why)
            return EXIT_SKIP
    os.makedirs(args.report_dir, exist_ok=True)
    workdir = fl.make_workdir("runnel-fault-%s-" % args.target)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    rows = []
    cluster = None
    ok = False
    started = time.monotonic()
    try:
        if args.target == "local":
            cluster = fl.LocalCluster(args.build_dir, workdir, use_netns=False if args.no_netns else None)
        else:
            cluster = fl.ComposeCluster(args.build_dir, workdir)
        cluster.start()
        checker = Checker(fault_check, workdir)
        for sc in args.scenarios:
            rows.append(run_scenario(cluster, checker, sc, args, workdir))
        ok = all(r["result"] == "ok" for r in rows)
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if cluster is not None:
            if not ok and hasattr(cluster, "save_logs"):
                cluster.save_logs(os.path.join(workdir, "compose.log"))
            cluster.teardown()
        if rows:
            print_summary(rows, args.target)
            with open(os.path.join(args.report_dir, "%s-summary.json" % args.target), "w") as f:
                json.dump({"target": args.target, "duration_s": round(time.monotonic() - started, 1),
                           "scenarios": rows}, f, indent=1)
        print("total %.1f s; reports in %s" % (time.monotonic() - started, args.report_dir))
        if ok and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print("work directory kept: %s" % workdir)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
