"""The CLI's contract and the node's start-up behaviour."""

import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import rtest  # noqa: E402
from rtest import Node, cli, free_port  # noqa: E402


def test_topic_commands(workdir):
    node = Node(workdir).start()
    b = ["-b", node.address]
    cli(b + ["topic", "create", "orders", "-p", "3", "-c", "retention.ms=60000"])
    cli(b + ["topic", "create", "audit"])
    r = cli(b + ["topic", "list"])
    assert sorted(r.stdout.split()) == ["audit", "orders"], r.stdout
    r = cli(b + ["topic", "list", "--format", "json"])
    topics = json.loads(r.stdout)
    assert sorted(t["name"] for t in topics) == ["audit", "orders"], topics

    cli(b + ["produce", "orders", "-p", "1"], input="x\ny\nz\n")
    r = cli(b + ["topic", "describe", "orders", "--format", "json"])
    d = json.loads(r.stdout)
    assert d["name"] == "orders"
    parts = sorted(d["partitions"], key=lambda p: p["partition"])
    assert [p["partition"] for p in parts] == [0, 1, 2]
    for p in parts:
        for field in ("leader", "leader_epoch", "replicas", "isr", "log_start_offset", "high_watermark"):
            assert field in p, "describe lacks %s: %s" % (field, p)
        assert p["leader"] == 1 and p["replicas"] == [1] and p["isr"] == [1], p
        assert p["log_start_offset"] == 0
    assert [p["high_watermark"] for p in parts] == [0, 3, 0], parts
    assert "configs" in d
    configs = d["configs"]
    if isinstance(configs, dict):
        assert configs.get("retention.ms") == "60000", configs
    else:
        assert any(c["name"] == "retention.ms" and c["value"] == "60000" for c in configs), configs

    r = cli(b + ["topic", "describe", "orders"])
    lines = r.stdout.strip().splitlines()
    assert len(lines) >= 4, r.stdout

    cli(b + ["topic", "delete", "audit"])
    r = cli(b + ["topic", "list"])
    assert r.stdout.split() == ["orders"], r.stdout
    r = cli(b + ["topic", "describe", "audit"], check=False)
    assert r.returncode != 0 and "UNKNOWN_TOPIC_OR_PARTITION" in r.stderr, r.stderr
    # A deleted topic's name can be used again, starting empty.
    cli(b + ["topic", "create", "audit"])
    r = cli(b + ["consume", "audit", "-o", "beginning", "-e"])
    assert r.stdout == ""
    node.stop()


def test_help_and_usage_errors():
    for args in (["--help"], ["topic", "--help"], ["topic", "create", "--help"], ["produce", "--help"],
                 ["consume", "--help"], ["topic", "describe", "--help"]):
        r = cli(args, check=False)
        assert r.returncode == 0, "%s exited %d" % (args, r.returncode)
        assert "usage" in (r.stdout + r.stderr).lower(), args
    r = cli(["frobnicate"], check=False)
    assert r.returncode != 0
    r = cli(["-b", "127.0.0.1:%d" % free_port(), "topic", "list"], check=False, timeout=60)
    assert r.returncode != 0 and r.stderr.strip(), "no error for an unreachable node"


def test_produce_to_unknown_topic_fails(workdir):
    node = Node(workdir).start()
    r = cli(["-b", node.address, "produce", "missing"], input="a\n", check=False, timeout=60)
    assert r.returncode != 0 and "UNKNOWN_TOPIC_OR_PARTITION" in r.stderr, r.stderr
    r = cli(["-b", node.address, "consume", "missing", "-e"], check=False, timeout=60)
    assert r.returncode != 0
    node.stop()


def test_bootstrap_from_environment(workdir):
    node = Node(workdir).start()
    env = dict(os.environ, RUNNEL_BOOTSTRAP=node.address)
    p = subprocess.run([rtest.RUNNEL, "topic", "create", "envtopic"], env=env, capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr
    r = cli(["-b", node.address, "topic", "list"])
    assert "envtopic" in r.stdout.split()
    node.stop()


def test_config_file_env_and_flags(workdir):
    # The file sets one port, the environment overrides it, the flag overrides both.
    port_file, port_env, port_flag = free_port(), free_port(), free_port()
    conf = os.path.join(workdir, "node.conf")
    data = os.path.join(workdir, "data")
    with open(conf, "w") as f:
        f.write("# a comment\nnode.id=1\nlisten=127.0.0.1:%d\ndata.dir=%s\nnum.partitions=5\n" % (port_file, data))
    log = open(os.path.join(workdir, "n.log"), "wb")
    env = dict(os.environ, RUNNEL_LISTEN="127.0.0.1:%d" % port_env)
    p = subprocess.Popen([rtest.RUNNELD, "--config", conf, "--listen", "127.0.0.1:%d" % port_flag],
                         env=env, stdout=log, stderr=subprocess.STDOUT)
    rtest._children.append(p)
    addr = "127.0.0.1:%d" % port_flag
    deadline = time.time() + 20
    while cli(["-b", addr, "topic", "list"], check=False, timeout=max(5.0, deadline - time.time())).returncode != 0:
        assert time.time() < deadline and p.poll() is None, "node did not come up on the flag's port"
        time.sleep(0.1)
    cli(["-b", addr, "topic", "create", "defaults"])
    d = json.loads(cli(["-b", addr, "topic", "describe", "defaults", "--format", "json"]).stdout)
    assert len(d["partitions"]) == 5, "num.partitions from the file was not used"
    p.terminate()
    assert p.wait(15) == 0
    # The environment wins over the file when no flag is given.
    p = subprocess.Popen([rtest.RUNNELD, "--config", conf], env=env, stdout=log, stderr=subprocess.STDOUT)
    rtest._children.append(p)
    addr = "127.0.0.1:%d" % port_env
    deadline = time.time() + 20
    while cli(["-b", addr, "topic", "list"], check=False, timeout=max(5.0, deadline - time.time())).returncode != 0:
        assert time.time() < deadline and p.poll() is None, "node did not come up on the environment's port"
        time.sleep(0.1)
    assert "defaults" in cli(["-b", addr, "topic", "list"]).stdout.split()
    p.terminate()
    assert p.wait(15) == 0
    log.close()


def test_bad_settings_and_node_id_mismatch(workdir):
    r = subprocess.run([rtest.RUNNELD, "--no-such-setting", "1"], capture_output=True, timeout=30)
    assert r.returncode != 0 and b"no-such-setting" in r.stderr, r.stderr
    r = subprocess.run([rtest.RUNNELD, "--listen", "nonsense"], capture_output=True, timeout=30)
    assert r.returncode != 0 and b"listen" in r.stderr, r.stderr
    node = Node(workdir).start()
    node.stop()
    # The same data directory under another node id is refused.
    other = subprocess.run([rtest.RUNNELD, "--node-id", "7", "--listen", "127.0.0.1:%d" % free_port(),
                            "--data-dir", node.data_dir], capture_output=True, timeout=30)
    assert other.returncode != 0, "a node started on another node's data directory"
    assert b"node" in other.stderr.lower(), other.stderr


def test_default_start_in_working_directory(workdir):
    # No arguments at all: 127.0.0.1:9092 and ./runnel-data.  Skipped if the
    # port is taken by something else on this machine.
    import socket
    with socket.socket() as s:
        if s.connect_ex(("127.0.0.1", 9092)) == 0:
            print("     (port 9092 busy: default start not checked)")
            return
    log = open(os.path.join(workdir, "default.log"), "wb")
    p = subprocess.Popen([os.path.abspath(rtest.RUNNELD)], cwd=workdir, stdout=log, stderr=subprocess.STDOUT)
    rtest._children.append(p)
    deadline = time.time() + 20
    while cli(["topic", "list"], check=False, timeout=max(5.0, deadline - time.time())).returncode != 0:
        assert time.time() < deadline and p.poll() is None, "default node did not come up"
        time.sleep(0.1)
    cli(["topic", "create", "hello"])
    cli(["produce", "hello"], input="world\n")
    r = cli(["consume", "hello", "-o", "beginning", "-e"])
    assert r.stdout == "world\n", r.stdout
    assert os.path.isdir(os.path.join(workdir, "runnel-data")), os.listdir(workdir)
    p.terminate()
    assert p.wait(15) == 0
    log.close()


def no_workdir(fn):
    def wrapper(workdir):
        fn()
    wrapper.__name__ = fn.__name__
    return wrapper


if __name__ == "__main__":
    rtest.run([test_topic_commands, no_workdir(test_help_and_usage_errors), test_produce_to_unknown_topic_fails,
               test_bootstrap_from_environment, test_config_file_env_and_flags,
               test_bad_settings_and_node_id_mismatch, test_default_start_in_working_directory])
