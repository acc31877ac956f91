"""rtest: helpers for Runnel's integration tests (real runneld processes on loopback).

Every process a test starts is tracked and stopped by its PID when the test
ends; nothing is ever killed by name.
"""

import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import traceback

RUNNELD = os.environ.get("RUNNELD_BIN", "build/broker/runneld")
RUNNEL = os.environ.get("RUNNEL_BIN", "build/clients/runnel")

_children = []


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago, chosen below the
    kernel's ephemeral range (32768 and up by default) so that outgoing
    connections made while a node is down cannot take its port before it
    restarts on it."""
    import random
    for _ in range(500):
        port = random.randint(20000, 32000)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port between 20000 and 32000")


class Node:
    """One runneld process with its own data directory and port."""

    def __init__(self, workdir, node_id=1, port=None, extra_args=(), env=None):
        self.node_id = node_id
        self.port = port or free_port()
        self.data_dir = os.path.join(workdir, "node%d" % node_id)
        self.log_path = os.path.join(workdir, "node%d.log" % node_id)
        self.extra_args = list(extra_args)
        self.env = env
        self.proc = None

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def start(self, wait=True):
        args = [RUNNELD, "--node-id", str(self.node_id), "--listen", self.address,
                "--data-dir", self.data_dir] + self.extra_args
        env = dict(os.environ)
        if self.env:
            env.update(self.env)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)
        log.close()
        _children.append(self.proc)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=20.0):
        """Waits until the node answers a metadata request with itself registered."""
        deadline = time.time() + timeout
        last = ""
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("runneld exited with %s; log:\n%s" % (self.proc.returncode, self.log()))
            r = cli(["-b", self.address, "topic", "list"], check=False, timeout=max(5.0, deadline - time.time()))
            if r.returncode == 0:
                return
            last = r.stderr
            time.sleep(0.1)
        raise AssertionError("node not ready after %.0fs: %s\nlog:\n%s" % (timeout, last, self.log()))

    def stop(self, timeout=15.0):
        """Graceful stop with SIGTERM; the node must exit 0."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("runneld did not stop within %.0fs of SIGTERM" % timeout)
        if rc != 0:
            raise AssertionError("runneld exited %d on SIGTERM; log:\n%s" % (rc, self.log()))

    def kill9(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def log(self, tail=8000):
        """The node's log (its last `tail` bytes; None for all of it)."""
        try:
            with open(self.log_path, "rb") as f:
                data = f.read()
        except OSError:
            return ""
        return (data if tail is None else data[-tail:]).decode("utf-8", "replace")


class Result:
    def __init__(self, returncode, stdout, stderr):
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr


def cli(args, input=None, check=True, timeout=120, binary=False):
    """Runs the runnel CLI; returns a Result.  check=True asserts exit 0."""
    data = input
    if data is not None and not binary and isinstance(data, str):
        data = data.encode()
    p = subprocess.Popen([RUNNEL] + list(args), stdin=subprocess.PIPE if data is not None else subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _children.append(p)
    try:
        out, err = p.communicate(data, timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        raise AssertionError("runnel %s timed out after %ss; stderr: %s" % (" ".join(args), timeout, err[-2000:]))
    res = Result(p.returncode, out if binary else out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))
    if check and p.returncode != 0:
        raise AssertionError("runnel %s exited %d: %s" % (" ".join(args), p.returncode, res.stderr.strip()))
    return res


def wait_until(what, fn, timeout=60.0, interval=0.2):
    """Calls fn until it returns something true (returned) or timeout seconds
    pass (AssertionError naming what and fn's last result)."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))


def stop_all():
    for p in _children:
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                pass


def run(tests):
    """Runs test functions, each with a fresh work directory; exits 0 if all pass."""
    only = sys.argv[1:] 
    passed = failed = 0
    for t in tests:
        if only and t.__name__ not in only:
            continue
        workdir = tempfile.mkdtemp(prefix="runnel-it-")
        start = time.time()
        try:
            t(workdir)
            passed += 1
            print("ok   %s (%.1fs)" % (t.__name__, time.time() - start), flush=True)
            shutil.rmtree(workdir, ignore_errors=True)
        except Exception:
            failed += 1
            print("FAIL %s (%.1fs)\n%s" % (t.__name__, time.time() - start, traceback.format_exc()), flush=True)
            print("     work directory kept: %s" % workdir, flush=True)
        finally:
            stop_all()
            _children.clear()
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed or not passed else 0)


# ----------------------------------------------------------------- murmur2

def murmur2(data):
    """Kafka's murmur2 (signed 32-bit result)."""
    length = len(data)
    seed = 0x9747B28C
    m = 0x5BD1E995
    r = 24
    h = (seed ^ length) & 0xFFFFFFFF
    n4 = length // 4
    for i in range(n4):
        k = struct.unpack_from("<I", data, i * 4)[0]
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF
        h ^= k
    rest = length % 4
    tail = n4 * 4
    if rest == 3:
        h ^= data[tail + 2] << 16
    if rest >= 2:
        h ^= data[tail + 1] << 8
    if rest >= 1:
        h ^= data[tail]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def partition_for_key(key, partitions):
    return (murmur2(key) & 0x7FFFFFFF) % partitions


# ----------------------------------------------------------------- crc32c

def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _CRC_TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


# --------------------------------------------------- minimal protobuf codec

def _varint(v):
    if v < 0:
        v += 1 << 64
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def pb_int(field, v):
    return _varint(field << 3) + _varint(v)


def pb_bytes(field, data):
    if isinstance(data, str):
        data = data.encode()
    return _varint((field << 3) | 2) + _varint(len(data)) + data


def pb_decode(buf):
    """Decodes one message level into {field: [values]} (ints or bytes)."""
    fields = {}
    i = 0
    while i < len(buf):
        key, i = _read_varint(buf, i)
        field, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _read_varint(buf, i)
            if v >= 1 << 63:
                v -= 1 << 64
        elif wt == 2:
            n, i = _read_varint(buf, i)
            v = bytes(buf[i:i + n])
            i += n
        elif wt == 1:
            v = buf[i:i + 8]
            i += 8
        elif wt == 5:
            v = buf[i:i + 4]
            i += 4
        else:
            raise ValueError("bad wire type %d" % wt)
        fields.setdefault(field, []).append(v)
    return fields


def _read_varint(buf, i):
    shift = 0
    v = 0
    while True:
        b = buf[i]
        i += 1
        v |= (b & 0x7F) << shift
        if not b & 0x80:
            return v, i
        shift += 7


def request(api_key, correlation_id, body=b"", api_version=0, client_id="rtest", body_field=None):
    """Encodes a framed Request; the body goes in field api_key + 100."""
    header = pb_int(1, api_key) + pb_int(2, api_version) + pb_int(3, correlation_id) + pb_bytes(4, client_id)
    msg = pb_bytes(1, header) + pb_bytes(body_field if body_field is not None else api_key + 100, body)
    return struct.pack(">I", len(msg)) + msg


def read_frame(sock, timeout=10.0):
    """Reads one framed Response; returns its decoded top level, or None at EOF."""
    sock.settimeout(timeout)
    hdr = _recv_exact(sock, 4)
    if hdr is None:
        return None
    n = struct.unpack(">I", hdr)[0]
    body = _recv_exact(sock, n)
    if body is None:
        return None
    return pb_decode(body)


def _recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        try:
            chunk = sock.recv(n - len(buf))
        except ConnectionResetError:
            return None
        if not chunk:
            return None
        buf += chunk
    return buf


def first(fields, num, default=0):
    v = fields.get(num)
    return v[0] if v else default


# -------------------------------------------------------------- record batch

def _zz(v):
    return _varint((v << 1) ^ (v >> 63) if v >= 0 else ((v << 1) ^ -1) & ((1 << 64) - 1))


def record_batch(records, timestamp_ms=None, producer_id=-1, producer_epoch=-1, base_sequence=-1):
    """Builds one record batch (docs/record-batch.md) from (key, value) pairs;
    an idempotent producer's batch carries its producer id, epoch and the
    sequence of its first record."""
    ts = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    body = b""
    for i, (k, v) in enumerate(records):
        rec = b"\x00" + _zz(0) + _zz(i)
        rec += _zz(-1) if k is None else _zz(len(k)) + k
        rec += _zz(-1) if v is None else _zz(len(v)) + v
        rec += _zz(0)
        body += _zz(len(rec)) + rec
    after_crc = struct.pack(">hiqqqhii", 0, len(records) - 1, ts, ts, producer_id, producer_epoch,
                            base_sequence, len(records)) + body
    crc = crc32c(after_crc)
    head = struct.pack(">ib", -1, 2) + struct.pack(">I", crc)
    batch_wo_prefix = head + after_crc
    return struct.pack(">qi", 0, len(batch_wo_prefix)) + batch_wo_prefix


# ------------------------------------------------------------------ clusters

class Cluster:
    """n nodes on loopback, each a controller (voter) and a broker."""

    def __init__(self, workdir, n=3, extra_args=()):
        ports = [free_port() for _ in range(n)]
        self.voters = ",".join("%d@127.0.0.1:%d" % (i + 1, p) for i, p in enumerate(ports))
        self.nodes = [Node(workdir, node_id=i + 1, port=p,
                           extra_args=["--voters", self.voters] + list(extra_args))
                      for i, p in enumerate(ports)]

    @property
    def bootstrap(self):
        return ",".join(n.address for n in self.nodes)

    def alive(self):
        return [n for n in self.nodes if n.proc is not None and n.proc.poll() is None]

    def node(self, node_id):
        return self.nodes[node_id - 1]

    def start(self, timeout=60.0):
        for n in self.nodes:
            n.start(wait=False)
        self.wait_healthy(timeout)
        return self

    def status(self, via=None, check=False):
        """runnel cluster status --format json through one node; (exit code, dict or None)."""
        target = via.address if via else ",".join(n.address for n in self.alive())
        r = cli(["-b", target, "cluster", "status", "--format", "json"], check=False, timeout=30)
        try:
            doc = json.loads(r.stdout) if r.stdout.strip() else None
        except ValueError:
            doc = None
        if check and r.returncode != 0:
            raise AssertionError("cluster status exited %d: %s %s" % (r.returncode, r.stdout, r.stderr))
        return r.returncode, doc

    def wait_healthy(self, timeout=60.0):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            for n in self.nodes:
                if n.proc is not None and n.proc.poll() is not None:
                    raise AssertionError("node %d exited with %s; log:\n%s" % (n.node_id, n.proc.returncode, n.log()))
            rc, doc = self.status()
            last = (rc, doc)
            # Every running node registered and unfenced: right after a
            # restart the brokers are listed but fenced until they heartbeat,
            # and a topic with replication factor 3 cannot be placed yet.
            brokers = doc.get("brokers", []) if rc == 0 and doc else []
            if len(brokers) == len(self.alive()) and all(b.get("state") == "alive" for b in brokers):
                return doc
            time.sleep(0.2)
        raise AssertionError("cluster not healthy after %.0fs: %s\n%s" % (
            timeout, last, "\n".join("--- node %d\n%s" % (n.node_id, n.log()[-3000:]) for n in self.nodes)))

    def leader_id(self, via=None):
        rc, doc = self.status(via)
        if not doc:
            return None
        lid = doc.get("quorum", {}).get("leader_id", -1)
        return lid if lid and lid > 0 else None

    def wait_leader(self, exclude=(), timeout=30.0):
        """Waits until every live node names the same leader, not in exclude; returns its id."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            seen = set()
            for n in self.alive():
                seen.add(self.leader_id(via=n))
            if len(seen) == 1:
                lid = seen.pop()
                if lid is not None and lid not in exclude:
                    return lid
            time.sleep(0.05)
        raise AssertionError("no agreed leader within %.0fs" % timeout)

    def stop(self):
        for n in self.nodes:
            n.stop()
