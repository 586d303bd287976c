"""A minimal Kafka wire-protocol client for the benchmark harness.

The load generators (rdkafka_performance, Kafka's perf tools) cover throughput and latency, but
none of them can open hundreds of connections from one process or create a 1,000-partition topic
without a JVM start per call. This module speaks just enough of the protocol for that: ApiVersions
v0, Metadata v5, CreateTopics v4 and Produce v7 (all non-flexible versions that Kafka 4.1 still
supports), and the v2 record batch format with its CRC-32C.
"""

import asyncio
import collections
import socket
import struct
import time

CLIENT_ID = b"strom-bench"

API_PRODUCE, API_METADATA, API_API_VERSIONS, API_CREATE_TOPICS = 0, 3, 18, 19
ERR_NONE, ERR_TOPIC_ALREADY_EXISTS = 0, 36


class ProtocolError(Exception):
    """The broker answered something this client cannot use (or an error code)."""


# ---------------------------------------------------------------- encoding


def _crc32c_table():
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C = _crc32c_table()


def crc32c(data):
    """CRC-32C (Castagnoli), the checksum of v2 record batches."""
    crc = 0xFFFFFFFF
    for b in data:
        crc = _CRC32C[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def varint(n):
    """Zig-zag varint, as records encode their lengths and deltas."""
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while True:
        if z < 0x80:
            out.append(z)
            return bytes(out)
        out.append((z & 0x7F) | 0x80)
        z >>= 7


def string(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack(">h", len(b)) + b


def array(items):
    return struct.pack(">i", len(items)) + b"".join(items)


def record_batch(count, value, timestamp_ms):
    """An uncompressed v2 batch of `count` records with no key and the same value."""
    records = bytearray()
    for i in range(count):
        body = b"\x00" + varint(0) + varint(i) + varint(-1) + varint(len(value)) + value
        body += varint(0)
        records += varint(len(body)) + body
    after_crc = (
        struct.pack(">hiqqqhii", 0, count - 1, timestamp_ms, timestamp_ms, -1, -1, -1, count)
        + records
    )
    crc = crc32c(after_crc)
    batch_len = 4 + 1 + 4 + len(after_crc)
    return struct.pack(">qiibI", 0, batch_len, -1, 2, crc) + after_crc


def frame(api_key, version, correlation_id, body):
    """A size-prefixed request with a v1 request header."""
    msg = struct.pack(">hhi", api_key, version, correlation_id) + string(CLIENT_ID) + body
    return struct.pack(">i", len(msg)) + msg


def produce_body(topic, partition, batch, acks, timeout_ms=30000):
    """A Produce v7 request body carrying one batch for one partition."""
    part = struct.pack(">ii", partition, len(batch)) + batch
    return struct.pack(">hhi", -1, acks, timeout_ms) + array([string(topic) + array([part])])


def produce_request(topic, partition, batch, acks, correlation_id):
    """The same, framed: ready to write to a socket as is."""
    return frame(API_PRODUCE, 7, correlation_id, produce_body(topic, partition, batch, acks))


# ---------------------------------------------------------------- decoding


class Reader:
    """Reads big-endian primitives off a response body."""

    def __init__(self, data):
        self.data, self.pos = data, 0

    def _take(self, fmt):
        v = struct.unpack_from(fmt, self.data, self.pos)[0]
        self.pos += struct.calcsize(fmt)
        return v

    def i8(self):
        return self._take(">b")

    def i16(self):
        return self._take(">h")

    def i32(self):
        return self._take(">i")

    def i64(self):
        return self._take(">q")

    def string(self):
        n = self.i16()
        if n < 0:
            return None
        s = self.data[self.pos : self.pos + n].decode()
        self.pos += n
        return s

    def array(self, item):
        n = self.i32()
        return [item(self) for _ in range(max(n, 0))]


def produce_errors(body):
    """Error codes of every partition in a Produce v7 response body (after the header)."""
    r = Reader(body)
    errors = []
    for _ in range(r.i32()):
        r.string()
        for _ in range(r.i32()):
            r.i32()
            errors.append(r.i16())
            r.i64(), r.i64(), r.i64()
    return errors


# ---------------------------------------------------------------- blocking client


class Client:
    """One blocking connection; enough for set-up calls (not for load)."""

    def __init__(self, host, port, timeout=30.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.correlation_id = 0

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _recv_exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ProtocolError("connection closed by the broker")
            buf += chunk
        return bytes(buf)

    def call(self, api_key, version, body):
        """Sends one request and returns the response body (after the correlation id)."""
        self.correlation_id += 1
        self.sock.sendall(frame(api_key, version, self.correlation_id, body))
        (size,) = struct.unpack(">i", self._recv_exact(4))
        data = self._recv_exact(size)
        (corr,) = struct.unpack_from(">i", data)
        if corr != self.correlation_id:
            raise ProtocolError(f"correlation id {corr}, expected {self.correlation_id}")
        return data[4:]

    def api_versions(self):
        """{api_key: (min, max)} as the broker advertises them."""
        r = Reader(self.call(API_API_VERSIONS, 0, b""))
        err = r.i16()
        if err != ERR_NONE:
            raise ProtocolError(f"ApiVersions error {err}")
        return {k: (lo, hi) for k, lo, hi in r.array(lambda r: (r.i16(), r.i16(), r.i16()))}

    def create_topics(self, topics, timeout_ms=60000):
        """Creates [(name, partitions)] with replication factor 1; an existing topic is fine."""
        items = [
            string(name) + struct.pack(">ih", parts, 1) + array([]) + array([])
            for name, parts in topics
        ]
        body = array(items) + struct.pack(">ib", timeout_ms, 0)
        r = Reader(self.call(API_CREATE_TOPICS, 4, body))
        r.i32()
        for name, err, msg in r.array(lambda r: (r.string(), r.i16(), r.string())):
            if err not in (ERR_NONE, ERR_TOPIC_ALREADY_EXISTS):
                raise ProtocolError(f"CreateTopics {name}: error {err} {msg or ''}".strip())

    def leaders_ready(self, topic, partitions):
        """True once Metadata shows every partition of `topic` with a leader."""
        body = array([string(topic)]) + b"\x00"
        r = Reader(self.call(API_METADATA, 5, body))
        r.i32()
        r.array(lambda r: (r.i32(), r.string(), r.i32(), r.string()))
        r.string(), r.i32()

        def partition(r):
            err, _idx, leader = r.i16(), r.i32(), r.i32()
            for _ in range(3):
                r.array(lambda r: r.i32())
            return err == ERR_NONE and leader >= 0

        def topic_entry(r):
            err, name, _internal = r.i16(), r.string(), r.i8()
            return name, err, r.array(partition)

        for name, err, parts in r.array(topic_entry):
            if name == topic and err == ERR_NONE:
                return len(parts) == partitions and all(parts)
        return False


def wait_writable(port, topic, partitions, timeout_s=60.0):
    """Produces one record to every partition until each is accepted. Kafka can report a leader
    in Metadata a moment before that leader takes writes (NOT_LEADER_OR_FOLLOWER), and a client
    then backs off (rdkafka_performance: 500 ms per retry), which would be charged to the
    scenario instead of to topic creation."""
    deadline = time.monotonic() + timeout_s
    batch = record_batch(1, b"ready", int(time.time() * 1000))
    with Client("127.0.0.1", port) as c:
        for p in range(partitions):
            while True:
                body = produce_body(topic, p, batch, acks=1)
                errors = produce_errors(c.call(API_PRODUCE, 7, body))
                if not any(errors):
                    break
                if time.monotonic() > deadline:
                    raise ProtocolError(f"{topic}-{p} still refuses writes: error {errors}")
                time.sleep(0.05)


def create_topic(port, name, partitions, timeout_s=120.0):
    """Creates a topic and waits until all its partitions have a leader; returns seconds taken."""
    start = time.monotonic()
    with Client("127.0.0.1", port) as c:
        c.create_topics([(name, partitions)])
        while not c.leaders_ready(name, partitions):
            if time.monotonic() - start > timeout_s:
                raise ProtocolError(f"{name}: partitions without a leader after {timeout_s:.0f}s")
            time.sleep(0.05)
    return time.monotonic() - start


# ---------------------------------------------------------------- many connections


async def _read_response(reader):
    (size,) = struct.unpack(">i", await reader.readexactly(4))
    return (await reader.readexactly(size))[4:]


async def _open(port):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    writer.write(frame(API_API_VERSIONS, 0, 0, b""))
    await _read_response(reader)
    return reader, writer


async def _produce_loop(reader, writer, requests, per_request, budget, deadline, stats):
    i = 0
    while stats["msgs"] + stats["in_flight"] < budget and time.monotonic() < deadline:
        stats["in_flight"] += per_request
        writer.write(requests[i % len(requests)])
        i += 1
        errors = produce_errors(await _read_response(reader))
        stats["in_flight"] -= per_request
        if any(errors):
            stats["errors"] += 1
            stats["codes"].update(e for e in errors if e)
        else:
            stats["msgs"] += per_request


async def connection_load(port, conns, topic, partitions, spec, on_idle):
    """Opens `conns` connections, calls `on_idle()` while they sit idle, then has every one
    produce (one request in flight each) until `spec["budget"]` messages are acked or
    `spec["max_seconds"]` pass. `spec` also gives "records" per request, "size" and "acks".
    Returns msgs, seconds, failed requests, their error codes and what on_idle returned."""
    per_request = spec["records"]
    batch = record_batch(per_request, b"x" * spec["size"], int(time.time() * 1000))
    opened = await asyncio.gather(*(_open(port) for _ in range(conns)))
    idle = on_idle()
    stats = {"msgs": 0, "errors": 0, "in_flight": 0, "codes": collections.Counter()}
    start = time.monotonic()
    deadline = start + spec["max_seconds"]
    loops = []
    for n, (reader, writer) in enumerate(opened):
        reqs = [
            produce_request(topic, (n + p) % partitions, batch, spec["acks"], p + 1)
            for p in range(partitions)
        ]
        loops.append(
            _produce_loop(reader, writer, reqs, per_request, spec["budget"], deadline, stats)
        )
    await asyncio.gather(*loops)
    seconds = time.monotonic() - start
    for _, writer in opened:
        writer.close()
    return {
        "msgs": stats["msgs"],
        "seconds": seconds,
        "errors": stats["errors"],
        "error_codes": dict(stats["codes"]),
        "idle": idle,
    }
