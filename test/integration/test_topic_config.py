"""Topic configs on a three-node cluster: overrides, cluster-wide defaults, sources, validation."""

import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import rtest  # noqa: E402
from rtest import Cluster, cli, first, pb_bytes, pb_decode, pb_int, read_frame, request  # noqa: E402

API_API_VERSIONS = 18
API_DESCRIBE_CONFIGS = 32
API_INCREMENTAL_ALTER_CONFIGS = 44
RESOURCE_TOPIC = 2
OP_SET = 0

FAST = ["--broker-session-timeout-ms", "3000", "--broker-heartbeat-interval-ms", "500"]


def describe_via(node, topic):
    """runnel topic describe --format json through one node's bootstrap."""
    r = cli(["-b", node.address, "topic", "describe", topic, "--format", "json"], timeout=30)
    doc = json.loads(r.stdout)
    return doc["configs"], doc["config_sources"]


def cluster_defaults_via(node):
    r = cli(["-b", node.address, "cluster", "describe-config", "--format", "json"], timeout=30)
    doc = json.loads(r.stdout)
    return doc["configs"], doc["config_sources"]


def expect_everywhere(cluster, fetch, key, value, source):
    """Every node reports key=value from source.  alter-config returns once
    every live broker applied the change, so this holds at once."""
    for node in cluster.nodes:
        configs, sources = fetch(node)
        assert configs.get(key) == value and sources.get(key) == source, (
            "node %d: %s=%r (%r), expected %r (%r)" % (
                node.node_id, key, configs.get(key), sources.get(key), value, source))


def refused(args, *needles):
    r = cli(args, check=False, timeout=60)
    assert r.returncode == 1, "expected a refusal of %s: %s %s" % (args, r.stdout, r.stderr)
    for n in needles:
        assert n in r.stderr, "%r not in %r" % (n, r.stderr)
    return r.stderr


def test_topic_config_lifecycle(workdir):
    c = Cluster(workdir, n=3, extra_args=FAST).start()
    b = c.bootstrap
    cli(["-b", b, "topic", "create", "cfg", "-p", "2", "-r", "3", "-c", "retention.ms=3600000"])
    cli(["-b", b, "topic", "create", "plain", "-p", "1", "-r", "3"])
    topic = lambda t: (lambda node: describe_via(node, t))  # noqa: E731

    # The creation override, and a built-in default, on every node.
    expect_everywhere(c, topic("cfg"), "retention.ms", "3600000", "topic")
    expect_everywhere(c, topic("cfg"), "cleanup.policy", "delete", "default")
    configs, sources = describe_via(c.nodes[0], "cfg")
    assert len(configs) == len(sources) >= 14, configs

    # alter-config sets overrides and removes one, through any node.
    r = cli(["-b", c.nodes[2].address, "topic", "alter-config", "cfg", "-c", "segment.ms=60000",
             "-c", "min.insync.replicas=2", "--delete", "retention.ms"])
    assert "altered topic cfg" in r.stdout, r.stdout
    expect_everywhere(c, topic("cfg"), "segment.ms", "60000", "topic")
    expect_everywhere(c, topic("cfg"), "min.insync.replicas", "2", "topic")
    expect_everywhere(c, topic("cfg"), "retention.ms", "604800000", "default")

    # The text form names every key with its value and source.
    text = cli(["-b", b, "topic", "describe", "cfg"]).stdout
    assert "  segment.ms=60000 (topic)" in text and "  retention.ms=604800000 (default)" in text, text

    # Refusals name the key and the allowed values; nothing changes.
    refused(["-b", b, "topic", "alter-config", "cfg", "-c", "cleanup.policy=sometimes"],
            "INVALID_CONFIG", "cleanup.policy", "delete, compact")
    refused(["-b", b, "topic", "alter-config", "cfg", "-c", "min.insync.replicas=4"],
            "INVALID_CONFIG", "min.insync.replicas", "replication factor (3)")
    refused(["-b", b, "topic", "alter-config", "cfg", "-c", "retention.hours=1"],
            "INVALID_CONFIG", "retention.hours")
    refused(["-b", b, "topic", "alter-config", "nosuch", "-c", "retention.ms=1"],
            "UNKNOWN_TOPIC_OR_PARTITION", "nosuch")
    refused(["-b", b, "cluster", "alter-config", "-c", "segment.bytes=12"],
            "INVALID_CONFIG", "segment.bytes", "1024")
    expect_everywhere(c, topic("cfg"), "cleanup.policy", "delete", "default")
    # --validate-only checks and changes nothing.
    r = cli(["-b", b, "topic", "alter-config", "cfg", "-c", "retention.ms=1000", "--validate-only"])
    assert "nothing changed" in r.stdout, r.stdout
    expect_everywhere(c, topic("cfg"), "retention.ms", "604800000", "default")

    # A cluster-wide default reaches topics without an override only.
    r = cli(["-b", c.nodes[1].address, "cluster", "alter-config", "-c", "retention.ms=7200000",
             "-c", "segment.ms=120000"])
    assert "altered cluster defaults" in r.stdout, r.stdout
    expect_everywhere(c, cluster_defaults_via, "retention.ms", "7200000", "cluster")
    expect_everywhere(c, cluster_defaults_via, "cleanup.policy", "delete", "default")
    expect_everywhere(c, topic("plain"), "retention.ms", "7200000", "cluster")
    expect_everywhere(c, topic("cfg"), "retention.ms", "7200000", "cluster")
    expect_everywhere(c, topic("cfg"), "segment.ms", "60000", "topic")
    expect_everywhere(c, topic("plain"), "segment.ms", "120000", "cluster")
    # A topic created afterwards gets the default too.
    cli(["-b", b, "topic", "create", "later", "-p", "1", "-r", "1"])
    expect_everywhere(c, topic("later"), "retention.ms", "7200000", "cluster")
    # Deleting the topic's override falls back to the cluster default;
    # deleting the default falls back to the built-in one.
    cli(["-b", b, "topic", "alter-config", "cfg", "--delete", "segment.ms"])
    expect_everywhere(c, topic("cfg"), "segment.ms", "120000", "cluster")
    cli(["-b", b, "cluster", "alter-config", "--delete", "segment.ms"])
    expect_everywhere(c, topic("cfg"), "segment.ms", "604800000", "default")
    expect_everywhere(c, cluster_defaults_via, "segment.ms", "604800000", "default")

    # The defaults live in the replicated metadata log: a restarted node
    # still reports them.
    c.node(2).stop()
    c.node(2).start()
    c.wait_healthy()
    configs, sources = describe_via(c.node(2), "plain")
    assert (configs["retention.ms"], sources["retention.ms"]) == ("7200000", "cluster"), configs
    c.stop()


def produce(bootstrap, topic, line):
    # NOT_ENOUGH_REPLICAS is retriable: a short delivery timeout makes the
    # producer give up (and report it) quickly.
    return cli(["-b", bootstrap, "produce", topic, "--acks", "all", "--delivery-timeout", "4000"],
               input=line + "\n", check=False, timeout=60)


def test_partitions_follow_altered_configs(workdir):
    c = Cluster(workdir, n=3, extra_args=FAST).start()
    b = c.bootstrap
    cli(["-b", b, "topic", "create", "big", "-p", "1", "-r", "3"])
    payload = "x" * 4000
    r = produce(b, "big", payload)
    assert r.returncode == 0, r.stderr

    # A topic override: the leader now refuses batches over 1000 bytes.
    cli(["-b", b, "topic", "alter-config", "big", "-c", "max.message.bytes=1000"])
    r = produce(b, "big", payload)
    assert r.returncode != 0 and "MESSAGE_TOO_LARGE" in r.stderr, (r.returncode, r.stderr)
    assert produce(b, "big", "small").returncode == 0

    # Back to the default: the large record goes through again.
    cli(["-b", b, "topic", "alter-config", "big", "--delete", "max.message.bytes"])
    r = produce(b, "big", payload)
    assert r.returncode == 0, r.stderr

    # A cluster-wide default has the same effect on a topic without an
    # override, and none on one with its own.
    cli(["-b", b, "topic", "create", "own", "-p", "1", "-r", "3", "-c", "max.message.bytes=100000"])
    cli(["-b", b, "cluster", "alter-config", "-c", "max.message.bytes=1000"])
    r = produce(b, "big", payload)
    assert r.returncode != 0 and "MESSAGE_TOO_LARGE" in r.stderr, (r.returncode, r.stderr)
    r = produce(b, "own", payload)
    assert r.returncode == 0, r.stderr
    cli(["-b", b, "cluster", "alter-config", "--delete", "max.message.bytes"])
    assert produce(b, "big", payload).returncode == 0

    # min.insync.replicas=3 with one follower down: acks=all is refused.
    cli(["-b", b, "topic", "alter-config", "big", "-c", "min.insync.replicas=3"])
    leader = json.loads(cli(["-b", b, "topic", "describe", "big", "--format", "json"]).stdout)[
        "partitions"][0]["leader"]
    victim = next(n for n in c.nodes if n.node_id != leader)
    victim.stop()
    deadline = time.time() + 30
    while True:
        r = produce(c.node(leader).address, "big", "needs-three")
        if r.returncode != 0 and "NOT_ENOUGH_REPLICAS" in r.stderr:
            break
        assert time.time() < deadline, "acks=all kept succeeding: %s" % r.stderr
        time.sleep(0.5)
    # Lowering it lets the same produce through.
    alive = ",".join(n.address for n in c.alive())
    cli(["-b", alive, "topic", "alter-config", "big", "-c", "min.insync.replicas=2"])
    r = produce(c.node(leader).address, "big", "needs-two")
    assert r.returncode == 0, r.stderr
    c.stop()


def call(node, api_key, body):
    """One raw request to node; returns the decoded response body."""
    with socket.create_connection(("127.0.0.1", node.port), timeout=30) as s:
        s.sendall(request(api_key, 11, body))
        resp = read_frame(s, timeout=30)
    assert resp is not None, "no answer to api %d" % api_key
    assert first(resp, 2) == 0, "request refused: %r" % resp
    return pb_decode(first(resp, api_key + 100, b""))


def test_wire_apis_through_a_follower(workdir):
    c = Cluster(workdir, n=3, extra_args=FAST).start()
    cli(["-b", c.bootstrap, "topic", "create", "w", "-p", "1", "-r", "3"])
    leader = c.wait_leader()
    follower = next(n for n in c.nodes if n.node_id != leader)

    keys = [first(pb_decode(a), 1) for a in call(follower, API_API_VERSIONS, b"").get(1, [])]
    assert API_DESCRIBE_CONFIGS in keys and API_INCREMENTAL_ALTER_CONFIGS in keys, keys

    # IncrementalAlterConfigs sent to a node that is not the active
    # controller is forwarded to it and answered after the commit.
    def alter(value):
        cfg = pb_bytes(1, "retention.ms") + pb_int(2, OP_SET) + pb_bytes(3, value)
        res = pb_int(1, RESOURCE_TOPIC) + pb_bytes(2, "w") + pb_bytes(3, cfg)
        body = call(follower, API_INCREMENTAL_ALTER_CONFIGS, pb_bytes(1, res))
        return pb_decode(body[1][0])

    r = alter("1234567")
    assert first(r, 1) == 0, r
    bad = alter("soon")
    assert first(bad, 1) == 40 and b"retention.ms" in first(bad, 2, b""), bad  # INVALID_CONFIG

    # DescribeConfigs answers from the node's own image, which has it.
    deadline = time.time() + 10
    while True:
        res = pb_int(1, RESOURCE_TOPIC) + pb_bytes(2, "w") + pb_bytes(3, "retention.ms")
        got = pb_decode(call(follower, API_DESCRIBE_CONFIGS, pb_bytes(1, res))[1][0])
        entry = pb_decode(first(got, 5, b""))
        if (first(entry, 2, b""), first(entry, 3, b"")) == (b"1234567", b"topic"):
            break
        assert time.time() < deadline, "follower still reports %r" % entry
        time.sleep(0.1)
    c.stop()


def test_segment_size_changes_on_a_live_log(workdir):
    # segment.bytes altered on a topic that is being written takes effect
    # at the next roll, without a restart.
    node = rtest.Node(workdir).start()
    b = node.address
    cli(["-b", b, "topic", "create", "seg", "-p", "1"])
    lines = "".join("r%05d-%s\n" % (i, "x" * 90) for i in range(1000))
    cli(["-b", b, "produce", "seg", "--acks", "1"], input=lines)
    part_dir = os.path.join(node.data_dir, "topics", "seg-0")
    segments = lambda: len([f for f in os.listdir(part_dir) if f.endswith(".log")])
    assert segments() == 1
    cli(["-b", b, "topic", "alter-config", "seg", "-c", "segment.bytes=8192"])
    cli(["-b", b, "produce", "seg", "--acks", "1", "-X", "batch.size=4096"], input=lines)
    # About 100 KB more at 8 KiB per segment.
    assert segments() >= 10, segments()
    r = cli(["-b", b, "consume", "seg", "-o", "beginning", "-e"])
    assert len(r.stdout.splitlines()) == 2000
    node.stop()


if __name__ == "__main__":
    rtest.run([test_topic_config_lifecycle, test_partitions_follow_altered_configs,
               test_segment_size_changes_on_a_live_log,
               test_wire_apis_through_a_follower])
