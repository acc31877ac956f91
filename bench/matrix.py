"""matrix: runs Runnel's benchmark matrix on this machine and writes docs/benchmarks.md.

Started by bench/run_matrix.sh, which installs what it needs and builds first.
Every node and server it starts runs on a free loopback port with its data
under one temporary directory, removed at the end; each is stopped by PID.
"""

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import benchlib as bl
import report
import scenarios

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Sizes of a full run; --quick divides every count by QUICK_DIVISOR.
FULL_SIZES = {
    "small_records": 5_000_000,    # 100-byte records per produce or consume run
    "kb_records": 1_000_000,       # 1 KiB records per run (about 1 GB)
    "rf3_records": 5_000_000,      # 100-byte records per replicated produce run
    "e2e_records": 1_000_000,      # 10 s at 100,000 records/s
    "redis_requests": 5_000_000,   # XADD calls per redis-benchmark run
    "mem_small_bytes": 1 << 30,    # the two sizes of the memory test
    "mem_large_bytes": 10 << 30,
}
QUICK_DIVISOR = 10
RUNS = 3


def parse_args(argv):
    p = argparse.ArgumentParser(prog="bench/run_matrix.sh", description=__doc__)
    p.add_argument("--quick", action="store_true", help="every count 10x smaller (to check the script)")
    p.add_argument("--build-dir", default="build", help="build directory holding runneld and runnel")
    p.add_argument("--work-dir", default=None, help="where the temporary data directory goes (default $TMPDIR)")
    p.add_argument("--out", default=os.path.join(ROOT, "docs", "benchmarks.md"), help="the document to update")
    p.add_argument("--json", default=None, help="also write every raw result to this file")
    p.add_argument("--report-from", default=None, metavar="FILE",
                   help="run nothing: rewrite the document from a --json file of an earlier run")
    p.add_argument("--only", default=None,
                   help="comma-separated groups to run (one_node,three_nodes,redis,memory,cli); "
                        "the document is not written")
    return p.parse_args(argv)


def sizes_for(quick):
    return {k: v // QUICK_DIVISOR if quick else v for k, v in FULL_SIZES.items()}


def run_groups(ctx, only):
    """Runs each benchmark group in order; a group that fails is reported and the rest still run."""
    groups = [("one_node", scenarios.one_node), ("three_nodes", scenarios.three_nodes),
              ("redis", scenarios.redis), ("memory", scenarios.memory_scale), ("cli", scenarios.cli_pipe)]
    for name, fn in groups:
        if only and name not in only:
            continue
        start = time.monotonic()
        print("== %s" % name, flush=True)
        work = tempfile.mkdtemp(prefix="%s-" % name, dir=ctx.work_root)
        try:
            fn(ctx, work)
        except bl.BenchError as e:
            ctx.errors.append("%s: %s" % (name, e))
            print("!! %s failed: %s" % (name, e), flush=True)
        finally:
            bl.stop_all()
            shutil.rmtree(work, ignore_errors=True)
        print("   %s took %.0f s" % (name, time.monotonic() - start), flush=True)


class Context:
    """What every scenario needs: binaries, sizes, the memory sampler, and where results go."""

    def __init__(self, args, work_root):
        self.build_dir = os.path.abspath(args.build_dir)
        self.cli = bl.Cli(self.build_dir)
        self.quick = args.quick
        self.sizes = sizes_for(args.quick)
        self.runs = RUNS
        self.work_root = work_root
        self.sampler = bl.MemorySampler()
        self.results = {}
        self.errors = []
        self.notes = []


def build_facts(build_dir):
    """The commit and build type the numbers belong to."""
    facts = {"commit": "unknown", "dirty": False, "buildtype": "unknown"}
    try:
        facts["commit"] = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                                         text=True, check=True).stdout.strip()
        facts["dirty"] = bool(subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                                             capture_output=True, text=True, check=True).stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        pass
    try:
        with open(os.path.join(build_dir, "meson-info", "intro-buildoptions.json")) as f:
            opts = {o["name"]: o["value"] for o in json.load(f)}
        facts["buildtype"] = "%s (-O%s)" % (opts.get("buildtype"), opts.get("optimization"))
    except (OSError, ValueError, KeyError):
        pass
    return facts


def report_from(args):
    """Rewrites the document from the raw results of an earlier run."""
    with open(args.report_from) as f:
        saved = json.load(f)
    args.quick = saved["quick"]
    ctx = Context(args, None)
    ctx.sampler.close()
    ctx.results, ctx.errors, ctx.notes = saved["results"], saved["errors"], saved["notes"]
    report.write(args.out, ctx, saved["machine"])
    return 0


def main(argv):
    args = parse_args(argv)
    if args.report_from:
        return report_from(args)
    for exe in ("broker/runneld", "clients/runnel"):
        if not os.access(os.path.join(args.build_dir, exe), os.X_OK):
            sys.exit("matrix: %s/%s is missing; build first" % (args.build_dir, exe))
    work_root = tempfile.mkdtemp(prefix="runnel-matrix-", dir=args.work_dir)
    ctx = Context(args, work_root)
    machine = bl.machine_info(work_root)
    machine.update(build_facts(ctx.build_dir))
    machine["date"] = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    started = time.monotonic()
    cpu_start = bl.cpu_snapshot()
    try:
        run_groups(ctx, set(args.only.split(",")) if args.only else None)
    finally:
        bl.stop_all()
        ctx.sampler.close()
        shutil.rmtree(work_root, ignore_errors=True)
    machine["load_end"] = os.getloadavg()
    machine["other_cores"], machine["steal_cores"] = bl.cpu_others(cpu_start, bl.cpu_snapshot())
    machine["duration_s"] = time.monotonic() - started
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine, "quick": ctx.quick, "results": ctx.results, "errors": ctx.errors,
                       "notes": ctx.notes}, f, indent=1)
    if not args.only:
        report.write(args.out, ctx, machine)
    for e in ctx.errors:
        print("error: %s" % e, file=sys.stderr)
    return 1 if ctx.errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
