"""runnel perf against a real runneld: produce, consume and e2e runs, their reports and errors."""

import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import rtest  # noqa: E402
from rtest import Node, cli  # noqa: E402

RECORDS = 20000
SIZE = 100
NUM = r"(\d+(?:\.\d+)?)"
LATENCY_LINE = re.compile(
    r"^(\d+) records (sent|received), " + NUM + r" records/sec \(" + NUM + r" MB/sec\), "
    + NUM + r" ms avg latency, " + NUM + r" ms max latency, " + NUM + r" ms 50th, "
    + NUM + r" ms 95th, " + NUM + r" ms 99th, " + NUM + r" ms 99\.9th\.$")
PROGRESS_LINE = re.compile(
    r"^(\d+) records (sent|received), " + NUM + r" records/sec \(" + NUM + r" MB/sec\), "
    + NUM + r" ms avg latency, " + NUM + r" ms max latency\.$")
CONSUME_HEADER = ("start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, "
                  "nMsg.sec, fetch.time.ms")
TIME = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d:\d{3}"
CONSUME_LINE = re.compile(r"^" + TIME + ", " + TIME + ", " + NUM + ", " + NUM + r", (\d+), " + NUM
                          + r", (\d+)$")


def perf(node, args, timeout=60, check=True):
    return cli(["-b", node.address, "perf"] + args, timeout=timeout, check=check)


def parse_latency_text(out, verb):
    lines = out.strip().splitlines()
    assert len(lines) == 1, "expected one result line, got: %r" % out
    m = LATENCY_LINE.match(lines[0])
    assert m, "result line does not match: %r" % lines[0]
    assert m.group(2) == verb, lines[0]
    rate, mb, avg, mx, p50, p95, p99, p999 = (float(g) for g in m.groups()[2:])
    return {"records": int(m.group(1)), "records_per_sec": rate, "mb_per_sec": mb,
            "latency_ms": {"avg": avg, "max": mx, "p50": p50, "p95": p95, "p99": p99, "p999": p999}}


def check_latency_report(rep, records, size):
    assert rep["records"] == records, rep
    assert rep["records_per_sec"] > 0 and rep["mb_per_sec"] > 0, rep
    # Throughput in bytes follows from throughput in records (2 decimals of MB/s).
    expect_mb = rep["records_per_sec"] * size / (1024.0 * 1024.0)
    assert abs(rep["mb_per_sec"] - expect_mb) <= 0.01 + expect_mb * 0.01, rep
    lat = rep["latency_ms"]
    assert 0 <= lat["p50"] <= lat["p95"] <= lat["p99"] <= lat["p999"] <= lat["max"], lat
    assert 0 < lat["max"] and lat["avg"] <= lat["max"], lat
    assert lat["max"] < 60000, lat


def high_watermarks(node, topic):
    r = cli(["-b", node.address, "topic", "describe", topic, "--format", "json"])
    doc = json.loads(r.stdout)
    return sum(p["high_watermark"] for p in doc["partitions"])


def test_produce_then_consume(workdir):
    node = Node(workdir).start()
    cli(["-b", node.address, "topic", "create", "bench", "-p", "4"])

    r = perf(node, ["produce", "bench", "--records", str(RECORDS), "--record-size", str(SIZE),
                    "--acks", "1"])
    check_latency_report(parse_latency_text(r.stdout, "sent"), RECORDS, SIZE)

    r = perf(node, ["produce", "bench", "--records", str(RECORDS), "--record-size", str(SIZE),
                    "--acks", "all", "--batch-size", "16384", "--linger-ms", "2",
                    "--throughput", "-1", "--format", "json", "-X", "buffer.memory=4000000"])
    rep = json.loads(r.stdout)
    check_latency_report(rep, RECORDS, SIZE)
    assert rep["bytes"] == RECORDS * SIZE and rep["elapsed_ms"] > 0, rep

    # Every acknowledged record is in the log, spread over the partitions.
    assert high_watermarks(node, "bench") == 2 * RECORDS
    doc = json.loads(cli(["-b", node.address, "topic", "describe", "bench", "--format", "json"]).stdout)
    assert sum(1 for p in doc["partitions"] if p["high_watermark"] > 0) >= 2, doc["partitions"]

    r = perf(node, ["consume", "bench", "--records", str(2 * RECORDS)])
    lines = r.stdout.strip().splitlines()
    assert lines[0] == CONSUME_HEADER, lines
    m = CONSUME_LINE.match(lines[1])
    assert m, lines[1]
    mb, mb_sec, n, n_sec, fetch_ms = float(m.group(1)), float(m.group(2)), int(m.group(3)), float(m.group(4)), int(m.group(5))
    assert n == 2 * RECORDS, lines
    assert abs(mb - 2 * RECORDS * SIZE / (1024.0 * 1024.0)) < 0.001, lines
    assert mb_sec > 0 and n_sec > 0 and fetch_ms >= 0, lines

    r = perf(node, ["consume", "bench", "--records", str(RECORDS), "--format", "json",
                    "-X", "max.partition.fetch.bytes=65536"])
    rep = json.loads(r.stdout)
    assert rep["records"] == RECORDS and rep["bytes"] == RECORDS * SIZE, rep
    assert rep["records_per_sec"] > 0 and rep["mb_per_sec"] > 0 and rep["elapsed_ms"] > 0, rep
    secs = rep["elapsed_ms"] / 1000.0
    assert abs(rep["records_per_sec"] * secs - RECORDS) <= RECORDS * 0.01, rep

    # Asking for more than the topic holds waits --timeout-ms for the rest, then fails.
    start = time.time()
    r = perf(node, ["consume", "bench", "--records", str(2 * RECORDS + 1), "--timeout-ms", "1500"],
             check=False)
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert "TIMEOUT" in r.stderr and "consumed %d of %d" % (2 * RECORDS, 2 * RECORDS + 1) in r.stderr, r.stderr
    assert r.stdout == "", r.stdout
    assert time.time() - start < 20
    node.stop()


def test_throttled_produce_reports_progress(workdir):
    node = Node(workdir).start()
    cli(["-b", node.address, "topic", "create", "slow", "-p", "2"])
    n, rate = 6000, 1000
    start = time.time()
    r = perf(node, ["produce", "slow", "--records", str(n), "--record-size", "50",
                    "--throughput", str(rate), "--acks", "1"])
    took = time.time() - start
    rep = parse_latency_text(r.stdout, "sent")
    check_latency_report(rep, n, 50)
    # Paced: the last record cannot go before (n-1)/rate seconds.
    assert took >= (n - 1) / rate, took
    assert rep["records_per_sec"] <= rate * 1.02, rep
    # A run over 5 s prints progress lines on stderr, in the same form.
    progress = [line for line in r.stderr.splitlines() if line]
    assert progress, "no progress line in: %r" % r.stderr
    for line in progress:
        m = PROGRESS_LINE.match(line)
        assert m and m.group(2) == "sent", line
        assert 0 < int(m.group(1)) <= n and float(m.group(3)) <= rate * 1.1, line
    assert high_watermarks(node, "slow") == n
    node.stop()


def test_e2e(workdir):
    node = Node(workdir).start()
    cli(["-b", node.address, "topic", "create", "e2e", "-p", "3"])
    # Records already there are not part of the run: it starts at the end.
    perf(node, ["produce", "e2e", "--records", "1000", "--record-size", "20"])

    n, rate = 4000, 2000
    r = perf(node, ["e2e", "e2e", "--records", str(n), "--throughput", str(rate), "--acks", "1"])
    rep = parse_latency_text(r.stdout, "received")
    check_latency_report(rep, n, 100)
    assert rep["records_per_sec"] <= rate * 1.02, rep

    r = perf(node, ["e2e", "e2e", "--records", str(n), "--throughput", str(rate), "--record-size", "64",
                    "--format", "json", "-X", "linger.ms=0", "-X", "fetch.max.wait.ms=100"])
    rep = json.loads(r.stdout)
    check_latency_report(rep, n, 64)
    assert rep["bytes"] == n * 64, rep
    assert rep["elapsed_ms"] >= (n - 1) * 1000.0 / rate, rep

    # What was consumed is what was produced: the log holds both runs and the first 1000.
    assert high_watermarks(node, "e2e") == 1000 + 2 * n
    node.stop()


def test_errors(workdir):
    node = Node(workdir).start()
    cli(["-b", node.address, "topic", "create", "t", "-p", "1", "-c", "max.message.bytes=1000"])

    for args in (["produce", "nope", "--records", "10", "--record-size", "10"],
                 ["consume", "nope", "--records", "10"],
                 ["e2e", "nope", "--records", "10", "--throughput", "10"]):
        r = perf(node, args, check=False)
        assert r.returncode == 1, (args, r.returncode, r.stderr)
        assert "UNKNOWN_TOPIC_OR_PARTITION" in r.stderr and "nope" in r.stderr, r.stderr
        assert r.stdout == "", r.stdout

    # The node refuses every batch: delivery failures, counted and named.
    r = perf(node, ["produce", "t", "--records", "10", "--record-size", "2000"], check=False)
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert "10 of 10 records were not acknowledged: MESSAGE_TOO_LARGE" in r.stderr, r.stderr
    assert r.stdout == ""

    usage = [
        ["produce", "t", "--record-size", "10"],
        ["produce", "t", "--records", "10"],
        ["produce", "t", "--records", "0", "--record-size", "10"],
        ["produce", "t", "--records", "10", "--record-size", "10", "--acks", "2"],
        ["produce", "t", "--records", "10", "--record-size", "10", "--throughput", "0"],
        ["produce", "t", "--records", "10", "--record-size", "10", "--timeout-ms", "5"],
        ["produce", "t", "--records", "10", "--record-size", "10", "-X", "no.such.key=1"],
        ["produce", "t", "--records", "10", "--record-size", "10", "-X", "linger.ms=soon"],
        ["produce", "t", "--records", "10", "--record-size", "10", "--format", "xml"],
        ["consume", "t", "--records", "10", "--record-size", "10"],
        ["consume", "t", "u", "--records", "10"],
        ["e2e", "t", "--records", "10"],
        ["e2e", "t", "--records", "10", "--throughput", "10", "--record-size", "7"],
        ["bench", "t"],
        [],
    ]
    for args in usage:
        r = perf(node, args, check=False)
        assert r.returncode == 2, (args, r.returncode, r.stderr)
        assert "runnel: perf" in r.stderr or "usage" in r.stderr, (args, r.stderr)
    # Nothing reached the topic.
    assert high_watermarks(node, "t") == 0
    r = perf(node, ["produce", "--help"])
    assert "perf e2e" in r.stdout
    node.stop()


if __name__ == "__main__":
    rtest.run([test_produce_then_consume, test_throttled_produce_reports_progress, test_e2e, test_errors])
