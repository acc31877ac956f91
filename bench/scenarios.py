"""scenarios: the benchmark groups of the matrix, each on its own nodes and data.

Each group starts what it measures, records its results in ctx.results under
a scenario id, and leaves stopping and cleaning up to the caller.
"""

import os
import shutil
import subprocess
import time

import benchlib as bl

PARTITIONS = 8            # what a user would give a busy topic on a small machine
SMALL_BYTES = 100
KB_BYTES = 1024
E2E_RATE = 100_000        # records/s of the end-to-end latency scenario
MEM_PARTITIONS = 100
REDIS_PIPELINE = 100
REDIS_CLIENTS = 50        # redis-benchmark's default
COMPRESSION_TYPES = ("lz4", "zstd")


def record(ctx, sid, label, metric, values, **extra):
    """Stores one scenario's runs with the node memory peaks seen while it ran."""
    rss, hwm = ctx.sampler.take()
    entry = {"label": label, "metric": metric, "values": values, "peak_rss": rss, "peak_hwm": hwm}
    entry.update(extra)
    ctx.results[sid] = entry
    print("   %-48s %s" % (label, ", ".join("%.1f" % v for v in values)), flush=True)


def produce_runs(ctx, boot, prefix, partitions, size, records, acks, replicas=1, extra=()):
    """Produces `records` records into a fresh topic per run; returns the perf results."""
    out = []
    for i in range(ctx.runs):
        topic = "%s-%d" % (prefix, i)
        bl.create_topic(ctx.cli, boot, topic, partitions, replicas)
        bl.settle()
        res = ctx.cli.perf(boot, "produce", topic, ["--records", str(records), "--record-size", str(size),
                                                    "--acks", acks] + list(extra))
        stored = bl.stored_records(ctx.cli, boot, topic)
        if res["records"] != records or stored != records:
            raise bl.BenchError("%s: %d acknowledged, %d stored, %d sent" % (topic, res["records"], stored, records))
        res["bytes_per_sec"] = res["bytes"] / (res["elapsed_ms"] / 1000.0)
        out.append(res)
    return out


def consume_runs(ctx, boot, topic, records):
    """Reads the whole topic from the start once per run; returns the perf results."""
    out = []
    for _ in range(ctx.runs):
        bl.settle()
        res = ctx.cli.perf(boot, "consume", topic, ["--records", str(records)])
        res["bytes_per_sec"] = res["bytes"] / (res["elapsed_ms"] / 1000.0)
        out.append(res)
    return out


def produce_scenario(ctx, boot, sid, label, partitions, size, records, acks, metric="records_per_sec",
                     replicas=1, compression="none"):
    ctx.sampler.take()
    extra = ("-X", "compression.type=" + compression) if compression != "none" else ()
    runs = produce_runs(ctx, boot, sid, partitions, size, records, acks, replicas, extra)
    record(ctx, sid, label, metric, [r[metric] for r in runs], partitions=partitions, record_bytes=size,
           records=records, acks=acks, replicas=replicas, compression=compression, runs=runs)


def consume_scenario(ctx, boot, sid, label, topic, partitions, records):
    ctx.sampler.take()
    runs = consume_runs(ctx, boot, topic, records)
    record(ctx, sid, label, "records_per_sec", [r["records_per_sec"] for r in runs], partitions=partitions,
           record_bytes=SMALL_BYTES, records=records, runs=runs)


def start_cluster(ctx, work, count):
    """Starts `count` nodes, each controller and broker, and waits until all are alive."""
    nodes = [bl.Node(ctx.build_dir, work, i + 1) for i in range(count)]
    voters = ",".join("%d@%s" % (n.node_id, n.address) for n in nodes) if count > 1 else None
    for n in nodes:
        n.voters = voters
        n.start()
    bl.wait_healthy(ctx.cli, nodes, count)
    ctx.sampler.watch(nodes)
    return nodes, ",".join(n.address for n in nodes)


def one_node(ctx, work):
    """Produce and consume on one node: 100-byte and 1 KiB records, 8 and 1 partitions."""
    nodes, boot = start_cluster(ctx, work, 1)
    n, nkb = ctx.sizes["small_records"], ctx.sizes["kb_records"]
    produce_scenario(ctx, boot, "produce", "produce, 1 node, 100 B, acks=1", PARTITIONS, SMALL_BYTES, n, "1")
    produce_scenario(ctx, boot, "produce_p1", "produce, 1 node, 100 B, acks=1", 1, SMALL_BYTES, n, "1")
    consume_scenario(ctx, boot, "consume", "consume, 1 node, 100 B", "produce-0", PARTITIONS, n)
    consume_scenario(ctx, boot, "consume_p1", "consume, 1 node, 100 B", "produce_p1-0", 1, n)
    compressed_produce(ctx, boot, n)
    produce_scenario(ctx, boot, "produce_kb", "produce, 1 node, 1 KiB, acks=1", PARTITIONS, KB_BYTES, nkb, "1",
                     metric="bytes_per_sec")
    produce_scenario(ctx, boot, "produce_kb_p1", "produce, 1 node, 1 KiB, acks=1", 1, KB_BYTES, nkb, "1",
                     metric="bytes_per_sec")
    for node in nodes:
        node.stop()


def compressed_produce(ctx, boot, records):
    """Measures compressed produce when the CLI offers compression.type; notes it when not."""
    bl.create_topic(ctx.cli, boot, "compression-probe", 1)
    for ctype in COMPRESSION_TYPES:
        rc, _, err = ctx.cli.run(boot, ["perf", "produce", "compression-probe", "--records", "10", "--record-size",
                                        "100", "-X", "compression.type=" + ctype], 60, check=False)
        if rc != 0:
            ctx.results["compression_" + ctype] = {"unsupported": err.strip().splitlines()[-1] if err else "exit %d" % rc}
            print("   compression %s: not offered (%s)" % (ctype, err.strip()), flush=True)
            continue
        produce_scenario(ctx, boot, "produce_" + ctype, "produce, 1 node, 100 B, acks=1", PARTITIONS, SMALL_BYTES,
                         records, "1", compression=ctype)


def three_nodes(ctx, work):
    """Replicated produce (factor 3, acks=all) and end-to-end latency on three local nodes."""
    nodes, boot = start_cluster(ctx, work, 3)
    n = ctx.sizes["rf3_records"]
    produce_scenario(ctx, boot, "rf3", "produce, 3 nodes, RF 3, 100 B, acks=all", PARTITIONS, SMALL_BYTES, n,
                     "all", replicas=3)
    produce_scenario(ctx, boot, "rf3_p1", "produce, 3 nodes, RF 3, 100 B, acks=all", 1, SMALL_BYTES, n, "all",
                     replicas=3)
    e2e_scenario(ctx, boot, "e2e", ["--linger-ms", "0"], ctx.runs, linger_ms=0)
    e2e_scenario(ctx, boot, "e2e_linger5", [], 1, linger_ms=5)
    for node in nodes:
        node.stop()


def e2e_scenario(ctx, boot, sid, extra, runs, linger_ms):
    """Paced end-to-end latency at E2E_RATE records/s, replication factor 3, acks=all."""
    topic = sid
    bl.create_topic(ctx.cli, boot, topic, PARTITIONS, 3)
    ctx.sampler.take()
    n = ctx.sizes["e2e_records"]
    args = ["--throughput", str(E2E_RATE), "--record-size", str(SMALL_BYTES), "--acks", "all"] + extra
    # A warm-up run, not recorded: the partitions' first batches on every
    # replica write their leader-epoch checkpoints (fsynced), which after the
    # gigabytes the earlier scenarios left dirty can take tens of ms; the
    # scenario measures the steady state.
    bl.settle()
    ctx.cli.perf(boot, "e2e", topic, ["--records", str(max(n // 10, 1000))] + args)
    out = []
    for _ in range(runs):
        bl.settle()
        res = ctx.cli.perf(boot, "e2e", topic, ["--records", str(n)] + args)
        out.append(res)
    record(ctx, sid, "end-to-end p99, 3 nodes, RF 3, acks=all, {:,} records/s".format(E2E_RATE), "p99_ms",
           [r["latency_ms"]["p99"] for r in out], partitions=PARTITIONS, record_bytes=SMALL_BYTES, records=n,
           linger_ms=linger_ms, runs=out)


def redis(ctx, work):
    """Redis Streams on the same machine: pipelined XADD of 100-byte values by redis-benchmark."""
    for exe in ("redis-server", "redis-benchmark", "redis-cli"):
        if not shutil.which(exe):
            raise bl.BenchError("%s is not installed (apt-get install redis-server redis-tools)" % exe)
    version = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.split()
    ctx.notes.append("redis: " + " ".join(version[:3]))
    configs = [("redis", ["--appendonly", "no", "--save", ""]),
               ("redis_aof", ["--appendonly", "yes", "--appendfsync", "no", "--save", ""])]
    for sid, conf in configs:
        ctx.results[sid] = redis_config(ctx, work, sid, conf)


def redis_config(ctx, work, sid, conf):
    """Starts redis-server with conf on a free port, runs the XADD benchmark RUNS times, stops it."""
    port = bl.free_port()
    data = os.path.join(work, sid)
    os.makedirs(data)
    server = bl.spawn(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", data,
                       "--daemonize", "no"] + conf, os.path.join(work, sid + ".log"))
    cli = ["redis-cli", "-p", str(port)]
    deadline = time.monotonic() + bl.READY_TIMEOUT_S
    while subprocess.run(cli + ["ping"], capture_output=True, text=True).stdout.strip() != "PONG":
        if server.poll() is not None or time.monotonic() > deadline:
            raise bl.BenchError("redis-server did not start; see %s.log" % sid)
        time.sleep(0.1)
    values = [redis_run(ctx, port, "bench-%d" % i) for i in range(ctx.runs)]
    bl.stop_process(server)
    print("   %-48s %s" % (sid, ", ".join("%.1f" % v for v in values)), flush=True)
    return {"label": "Redis Streams XADD, 100 B values, pipeline %d" % REDIS_PIPELINE, "metric": "records_per_sec",
            "values": values, "config": " ".join(c if c else "''" for c in conf), "requests": ctx.sizes["redis_requests"]}


def redis_run(ctx, port, key):
    """One redis-benchmark run of pipelined XADDs to a fresh stream; returns requests/s."""
    args = ["redis-benchmark", "-p", str(port), "-c", str(REDIS_CLIENTS), "-P", str(REDIS_PIPELINE),
            "-n", str(ctx.sizes["redis_requests"]), "--csv", "XADD", key, "*", "f", "x" * SMALL_BYTES]
    bl.settle()
    out = subprocess.run(args, capture_output=True, text=True, timeout=900)
    lines = [l for l in out.stdout.splitlines() if l.startswith('"XADD')]
    if out.returncode != 0 or not lines:
        raise bl.BenchError("redis-benchmark exited %d: %s" % (out.returncode, out.stderr.strip()[-300:]))
    length = subprocess.run(["redis-cli", "-p", str(port), "XLEN", key], capture_output=True, text=True).stdout
    if int(length) != ctx.sizes["redis_requests"]:
        raise bl.BenchError("redis stream %s holds %s entries, expected %d" % (key, length.strip(),
                                                                              ctx.sizes["redis_requests"]))
    subprocess.run(["redis-cli", "-p", str(port), "DEL", key], capture_output=True)
    return float(lines[0].split('","')[1])


def memory_scale(ctx, work):
    """Node memory with 1 GiB and then 10 GiB stored over 100 partitions: after writing, reading, restarting."""
    small, large = ctx.sizes["mem_small_bytes"], ctx.sizes["mem_large_bytes"]
    steps = [small]
    if bl.free_bytes(work) >= 2.5 * large:
        steps.append(large)
    else:
        ctx.notes.append("memory: %.0f GiB stage skipped, %.1f GiB free where at least %.0f GiB are needed"
                         % (large / bl.GIB, bl.free_bytes(work) / bl.GIB, 2.5 * large / bl.GIB))
    nodes, boot = start_cluster(ctx, work, 1)
    bl.create_topic(ctx.cli, boot, "stored", MEM_PARTITIONS)
    stages, written = [], 0
    for target in steps:
        records = (target - written) // KB_BYTES
        ctx.cli.perf(boot, "produce", "stored", ["--records", str(records), "--record-size", str(KB_BYTES),
                                                 "--acks", "1"], timeout=3600)
        written += records * KB_BYTES
        stages.append(memory_stage(nodes[0], target, "after writing"))
        ctx.cli.perf(boot, "consume", "stored", ["--records", str(written // KB_BYTES)], timeout=3600)
        stages.append(memory_stage(nodes[0], target, "after reading it all"))
        stages.append(restart_stage(ctx, nodes, boot, target, written // KB_BYTES))
    nodes[0].stop()
    rss, hwm = ctx.sampler.take()
    ctx.results["memory_scale"] = {"stages": stages, "partitions": MEM_PARTITIONS, "record_bytes": KB_BYTES,
                                   "peak_rss": rss, "peak_hwm": hwm}


def memory_stage(node, stored, when, **extra):
    rss, hwm = bl.proc_memory(node.pid)
    stage = {"stored": stored, "when": when, "rss": rss, "hwm": hwm}
    stage.update(extra)
    print("   %-48s rss %.1f MiB, hwm %.1f MiB" % ("%s, %.2f GiB" % (when, stored / bl.GIB), rss / bl.MIB,
                                                    hwm / bl.MIB), flush=True)
    return stage


def restart_stage(ctx, nodes, boot, stored, records):
    """Restarts the node and measures it once it serves every stored record again."""
    nodes[0].stop()
    start = time.monotonic()
    nodes[0].start()
    bl.wait_healthy(ctx.cli, nodes, 1)
    while bl.stored_records(ctx.cli, boot, "stored") != records:
        if time.monotonic() - start > bl.READY_TIMEOUT_S:
            raise bl.BenchError("after restart the node does not show all %d records" % records)
        time.sleep(0.2)
    return memory_stage(nodes[0], stored, "after a restart", recovery_s=time.monotonic() - start)


def cli_pipe(ctx, work):
    """bench/cli_throughput.sh: what a shell user sees piping records through the CLI."""
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cli_throughput.sh")
    rows = []
    for records, size in ((ctx.sizes["small_records"] * 2 // 5, SMALL_BYTES), (ctx.sizes["kb_records"] // 5, 1000)):
        out = subprocess.run([script, str(records), str(size)], capture_output=True, text=True, timeout=900,
                             env=dict(os.environ, RUNNEL_BUILD_DIR=ctx.build_dir, TMPDIR=work))
        if out.returncode != 0:
            raise bl.BenchError("cli_throughput.sh exited %d: %s" % (out.returncode, out.stderr.strip()[-300:]))
        rows += [l for l in out.stdout.splitlines() if l.startswith("| ") and "---" not in l and "scenario" not in l]
    ctx.results["cli_pipe"] = {"rows": rows}
