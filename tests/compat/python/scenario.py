"""The compatibility scenario shared by the Python client programs.

Every client program (in every language) runs the same steps and prints the same lines, so
scripts/compat.sh can read them all the same way (see tests/compat/README.md):

    CLIENT <name> <version> <engine>
    STEP <n> <name> PASS|FAIL|SKIP <detail>

This module holds the client-independent half: the messages to send, the order of the steps and
the checks on what came back. A client program only supplies a `Client` (its API calls) and calls
`run`.
"""

import argparse
import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import ClassVar

MESSAGES = 1000
KEYS = 50
FIRST_HALF = 500
PARTITIONS = 3
FEATURE_BATCH = 10
# Explicit CreateTime for the timestamp step: far from "now", so a broker that overwrites it
# with its own clock (LogAppendTime semantics) is caught.
BASE_TIMESTAMP_MS = 1_600_000_000_000
PHASE_TIMEOUT_S = 30.0

STEPS = [
    "create-topic",
    "produce-1000",
    "consume-500-commit",
    "resume-committed",
    "key-partition-order",
    "gzip",
    "snappy",
    "lz4",
    "zstd",
    "idempotent",
    "headers",
    "timestamps",
]
CODECS = ["gzip", "snappy", "lz4", "zstd"]
FEATURES = CODECS + ["idempotent", "headers", "timestamps"]


def parse_args():
    """Command line shared by all programs: where the broker is and which names to use."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True, help="base name; unique per run")
    args = parser.parse_args()
    return args


def message(i):
    """The i-th keyed message: keys k0..k49 round-robin, the value carries the per-key sequence."""
    key = f"k{i % KEYS}"
    return key, f"{key}:{i // KEYS}"


def feature_value(tag, i):
    """A compressible value, so a codec really shrinks the batch instead of being skipped."""
    return f"{tag}:{i}:" + "x" * 200


def feature_headers(i):
    """Headers for the headers step: one unique, one repeated key, one empty value."""
    return [("trace", f"t{i}".encode()), ("dup", b"a"), ("dup", b"b"), ("empty", b"")]


@dataclass
class Outgoing:
    """One message to send; headers and timestamp only where a step asks for them."""

    key: str
    value: str
    headers: list | None = None
    timestamp: int | None = None


@dataclass
class Record:
    """What every client reports for a consumed record."""

    partition: int
    offset: int
    key: str
    value: str
    headers: list = field(default_factory=list)
    timestamp: int = -1


class Report:
    """Prints step lines in the agreed format and remembers whether any step failed."""

    def __init__(self, client, version, engine):
        self.failed = False
        print(f"CLIENT {client} {version} {engine}", flush=True)

    def step(self, name, ok, detail=""):
        status = "PASS" if ok else "FAIL"
        self.failed |= not ok
        print(f"STEP {STEPS.index(name) + 1} {name} {status} {detail}".rstrip(), flush=True)

    def skip(self, name, reason):
        print(f"STEP {STEPS.index(name) + 1} {name} SKIP {reason}", flush=True)

    def exit(self):
        sys.exit(1 if self.failed else 0)


def check_first_half(records):
    """Step 3: exactly FIRST_HALF records, no (key, seq) twice. Returns (ok, detail)."""
    values = [r.value for r in records]
    if len(records) != FIRST_HALF:
        return False, f"consumed {len(records)} of {FIRST_HALF} before the deadline"
    if len(set(values)) != len(values):
        return False, "duplicate records in the first half"
    return True, f"consumed {FIRST_HALF}, committed {committed_offsets(records)}"


def committed_offsets(records):
    """The offsets to commit after `records`: last consumed offset + 1 per partition."""
    out = {}
    for r in records:
        out[r.partition] = max(out.get(r.partition, 0), r.offset + 1)
    return dict(sorted(out.items()))


def check_resume(first, second):
    """Step 4: the new member starts exactly at the committed offsets and nothing is lost."""
    committed = committed_offsets(first)
    starts = {}
    for r in second:
        starts.setdefault(r.partition, r.offset)
    for p, start in starts.items():
        if start != committed.get(p, 0):
            return False, f"partition {p} resumed at {start}, committed {committed.get(p, 0)}"
    seen_first = {r.value for r in first}
    again = [r.value for r in second if r.value in seen_first]
    if again:
        return False, f"{len(again)} records of the first half delivered again, e.g. {again[0]}"
    expected = {message(i)[1] for i in range(MESSAGES)}
    union = seen_first | {r.value for r in second}
    if union != expected:
        missing = sorted(expected - union)
        return False, f"{len(missing)} of {MESSAGES} never consumed, e.g. {missing[:3]}"
    return True, f"resumed at {dict(sorted(starts.items()))}; all {MESSAGES} seen once"


def check_key_order(records):
    """Step 5: each key lives on one partition and its sequence arrives in order. Needs all
    messages: a check over fewer would pass on what it never saw."""
    if len(records) < MESSAGES:
        return False, f"only {len(records)} of {MESSAGES} records consumed; nothing to check"
    partitions = {}
    seqs = {}
    for r in records:
        partitions.setdefault(r.key, set()).add(r.partition)
        key, _, seq = r.value.partition(":")
        if key != r.key:
            return False, f"key {r.key!r} carries value {r.value!r}"
        seqs.setdefault(r.key, []).append(int(seq))
    split = {k: sorted(p) for k, p in partitions.items() if len(p) > 1}
    if split:
        return False, f"keys on several partitions: {split}"
    for key, got in seqs.items():
        if got != sorted(got):
            return False, f"key {key} out of order: {got}"
    used = sorted({p for ps in partitions.values() for p in ps})
    return True, f"{len(partitions)} keys, each on one partition (partitions used: {used})"


class Deadline:
    """A phase deadline, so no program waits forever on a broker that never answers."""

    def __init__(self, seconds=PHASE_TIMEOUT_S):
        self.end = time.monotonic() + seconds

    def left(self):
        return max(0.0, self.end - time.monotonic())

    def passed(self):
        return time.monotonic() >= self.end


class Client:
    """What a client program implements; `run` drives it through the steps.

    Every method raises on a client error; `run` turns the exception into a FAIL line.
    """

    name = ""
    version = ""
    engine = ""
    # feature -> reason, for features the client cannot do (reported as SKIP).
    unsupported: ClassVar[dict] = {}

    def create_topics(self, topic, partitions, features):
        """Creates `topic` with `partitions` and the 1-partition `features` topic; returns the
        partition count the broker then reports for `topic`."""
        raise NotImplementedError

    def produce(self, topic, messages, feature=None):
        """Sends all messages with acks=all and waits for every acknowledgement. `feature` is a
        codec name (compress with it), "idempotent" (enable idempotence) or None."""
        raise NotImplementedError

    def consume_group(self, topic, group, want):
        """Joins `group`, consumes `want` records (fewer if the deadline passes), commits exactly
        those (last offset + 1 per partition), closes, and returns them."""
        raise NotImplementedError

    def consume_partition(self, topic, want):
        """Reads partition 0 of `topic` from the beginning, without a group, until `want`."""
        raise NotImplementedError


def _attempt(report, step, action):
    """Runs one step's client calls. Returns (True, result), or (False, None) after printing
    the FAIL line for an exception: a client error fails the step, not the whole program."""
    try:
        return True, action()
    except Exception as e:  # noqa: BLE001 - each client raises its own exception types
        traceback.print_exc(file=sys.stderr)
        report.step(step, False, f"{type(e).__name__}: {e}")
        return False, None


def _feature_messages(tag):
    out = []
    for i in range(FEATURE_BATCH):
        msg = Outgoing("f", feature_value(tag, i))
        if tag == "headers":
            msg.headers = feature_headers(i)
        if tag == "timestamps":
            msg.timestamp = BASE_TIMESTAMP_MS + i
        out.append(msg)
    return out


def _check_feature(tag, got):
    """Steps 6-12 on the consumed records of one feature batch: (ok, detail)."""
    want = [feature_value(tag, i) for i in range(FEATURE_BATCH)]
    if [r.value for r in got] != want:
        return False, f"consumed {len(got)} of {FEATURE_BATCH} or out of order"
    if tag == "headers":
        for i, r in enumerate(got):
            if [(k, bytes(v or b"")) for k, v in r.headers] != feature_headers(i):
                return False, f"headers differ: got {r.headers}"
    if tag == "timestamps":
        for i, r in enumerate(got):
            if r.timestamp != BASE_TIMESTAMP_MS + i:
                return False, f"timestamp {r.timestamp}, sent {BASE_TIMESTAMP_MS + i}"
    return True, f"{FEATURE_BATCH} records round-tripped"


def run(make_client):
    """Runs steps 1-12 against the broker named on the command line, then exits 0 or 1.

    `make_client(bootstrap)` builds the program's `Client`.
    """
    args = parse_args()
    client = make_client(args.bootstrap)
    report = Report(client.name, client.version, client.engine)
    topic, features, group = args.topic, f"{args.topic}-features", f"{args.topic}-group"

    # 1. create the topics (admin API).
    ok, count = _attempt(
        report, "create-topic", lambda: client.create_topics(topic, PARTITIONS, features)
    )
    if ok:
        report.step("create-topic", count == PARTITIONS, f"{topic} has {count} partitions")

    # 2. produce 1,000 keyed messages with acks=all.
    outgoing = [Outgoing(*message(i)) for i in range(MESSAGES)]
    if _attempt(report, "produce-1000", lambda: client.produce(topic, outgoing))[0]:
        report.step("produce-1000", True, f"{MESSAGES} acknowledged (acks=all)")

    # 6-12. codecs, idempotence, headers, timestamps, before the group steps so a group
    # problem cannot hide them: every batch goes to the features topic, all are read back in
    # one pass, and the lines are printed in step order.
    produce_error = {}
    for tag in FEATURES:
        if tag in client.unsupported:
            continue
        feature = tag if tag in CODECS or tag == "idempotent" else None
        try:
            client.produce(features, _feature_messages(tag), feature)
            produce_error[tag] = None
        except Exception as e:  # noqa: BLE001 - each client raises its own exception types
            traceback.print_exc(file=sys.stderr)
            produce_error[tag] = f"produce failed: {type(e).__name__}: {e}"
    sent = [tag for tag, err in produce_error.items() if err is None]
    records, consume_error = [], None
    try:
        if sent:
            records = client.consume_partition(features, FEATURE_BATCH * len(sent))
    except Exception as e:  # noqa: BLE001 - each client raises its own exception types
        traceback.print_exc(file=sys.stderr)
        consume_error = f"consuming the batches failed: {type(e).__name__}: {e}"
    by_tag = {}
    for r in records:
        by_tag.setdefault(r.value.split(":", 1)[0], []).append(r)
    for tag in FEATURES:
        if tag in client.unsupported:
            report.skip(tag, client.unsupported[tag])
        elif produce_error[tag] or consume_error:
            report.step(tag, False, produce_error[tag] or consume_error)
        else:
            report.step(tag, *_check_feature(tag, by_tag.get(tag, [])))

    # 3. consume 500 in a group and commit exactly those; 4. a new member resumes.
    ok, first = _attempt(
        report, "consume-500-commit", lambda: client.consume_group(topic, group, FIRST_HALF)
    )
    first = first or []
    if ok:
        report.step("consume-500-commit", *check_first_half(first))
    ok, second = _attempt(
        report,
        "resume-committed",
        lambda: client.consume_group(topic, group, MESSAGES - len(first)),
    )
    second = second or []
    if ok:
        report.step("resume-committed", *check_resume(first, second))

    # 5. key -> partition stable, per-key order kept.
    report.step("key-partition-order", *check_key_order(first + second))
    report.exit()
