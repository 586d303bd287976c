"""Turns the client programs' output into the matrix's verdicts (used by scripts/compat.sh).

    report.py client RESULTS NAME RC OUT      judge one program's run, print its line, record it
    report.py skip RESULTS NAME REASON        record a client that could not be installed/built
    report.py finish RESULTS BROKER LABEL DOC [TRACE]
                                              print the summary, update DOC's section for BROKER
                                              (with TRACE from apitrace.py: add the API versions
                                              each client requested)

A program prints `CLIENT <name> <version> <engine>` and `STEP <n> <name> PASS|FAIL|SKIP <detail>`
lines (tests/compat/README.md). A client passes when it printed every step, none failed, and it
exited 0. RESULTS is a JSON-lines file the runner starts empty for every run. Standard library
only: it runs before any virtualenv exists.
"""

import json
import re
import sys
from pathlib import Path

STEPS = 12
STEP_LINE = re.compile(r"^STEP (\d+) (\S+) (PASS|FAIL|SKIP) ?(.*)$")

# What the table says about clients beyond their steps; kept short and factual.
NOTES = {
    "sarama-debian": "built in GOPATH mode; sets Consumer.Offsets.Retention so commits use "
    "OffsetCommit v2 (its default v1 was removed in Kafka 4, KIP-896)",
    "kafka-go": "Writer uses the Hash balancer (its default round-robin ignores keys)",
    "kcat": "no admin API: topics auto-created by a metadata request (num.partitions=3)",
}
# Clients whose coverage lives elsewhere, listed in the table so the matrix is complete.
ELSEWHERE = [
    {
        "client": "rdkafka (Rust crate)",
        "version": "0.39",
        "engine": "librdkafka-2.12.1",
        "steps": "—",
        "notes": "covered by the cargo integration tests in tests/ (`cargo test`)",
    }
]


def judge(name, rc, out_text):
    """One client's record from its exit code and stdout."""
    version, engine = "unknown", "unknown"
    steps = {}
    for line in out_text.splitlines():
        if line.startswith("CLIENT "):
            parts = line.split(" ", 3)
            version = parts[2] if len(parts) > 2 else version
            engine = parts[3] if len(parts) > 3 else engine
        found = STEP_LINE.match(line)
        if found:
            steps[int(found.group(1))] = (found.group(2), found.group(3), found.group(4))
    passed = sum(1 for _, status, _ in steps.values() if status == "PASS")
    applicable = STEPS - sum(1 for _, status, _ in steps.values() if status == "SKIP")
    # [step name, detail] pairs; the console prints one per step, the table groups them.
    failed = [
        [name_, detail] for _, (name_, status, detail) in sorted(steps.items()) if status == "FAIL"
    ]
    missing = [n for n in range(1, STEPS + 1) if n not in steps]
    if missing:
        failed.append(["steps " + ",".join(map(str, missing)), f"no result (exit code {rc})"])
    elif rc != 0 and not failed:
        failed.append(["program", f"exit code {rc}"])
    skipped = [
        f"{name_}: {detail}"
        for _, (name_, status, detail) in sorted(steps.items())
        if status == "SKIP"
    ]
    return {
        "client": name,
        "status": "FAIL" if failed else "PASS",
        "version": version,
        "engine": engine,
        "passed": passed,
        "steps": applicable,
        "failed": failed,
        "skipped": skipped,
    }


def record(results, entry):
    with open(results, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry) + "\n")


def line(entry):
    if entry["status"] == "SKIPPED":
        return f"SKIPPED {entry['client']} {entry['version']} 0/{STEPS} ({entry['reason']})"
    return (
        f"{entry['status']} {entry['client']} {entry['version']} {entry['passed']}/{entry['steps']}"
    )


def grouped_failures(failed, width=200):
    """'FAIL a, b: detail' per distinct detail, so one cause behind many steps reads once."""
    by_detail = {}
    for step, detail in failed:
        by_detail.setdefault(detail, []).append(step)
    notes = []
    for detail, steps in by_detail.items():
        short = detail if len(detail) <= width else detail[: width - 1] + "…"
        notes.append(f"FAIL {', '.join(steps)}: {short}")
    return notes


def cell(text):
    return text.replace("|", "\\|").replace("\n", " ")


def table(entries):
    rows = ["| client | version | engine | steps passed | notes |", "|---|---|---|---|---|"]
    for e in entries:
        if e["status"] == "SKIPPED":
            steps, notes = "SKIPPED", [f"not run: {e['reason']}"]
        else:
            steps = f"{e['status']} {e['passed']}/{e['steps']}"
            notes = grouped_failures(e["failed"]) + [f"SKIP {s}" for s in e["skipped"]]
        if e["client"] in NOTES:
            notes.append(NOTES[e["client"]])
        rows.append(
            f"| {e['client']} | {e['version']} | {cell(e.get('engine', ''))} | {steps} "
            f"| {cell('; '.join(notes))} |"
        )
    for e in ELSEWHERE:
        rows.append(
            f"| {e['client']} | {e['version']} | {e['engine']} | {e['steps']} | {e['notes']} |"
        )
    return "\n".join(rows)


# Kafka API keys by number, for the requests table (names as in Kafka's ApiKeys).
API_NAMES = {
    0: "Produce",
    1: "Fetch",
    2: "ListOffsets",
    3: "Metadata",
    8: "OffsetCommit",
    9: "OffsetFetch",
    10: "FindCoordinator",
    11: "JoinGroup",
    12: "Heartbeat",
    13: "LeaveGroup",
    14: "SyncGroup",
    15: "DescribeGroups",
    16: "ListGroups",
    17: "SaslHandshake",
    18: "ApiVersions",
    19: "CreateTopics",
    20: "DeleteTopics",
    21: "DeleteRecords",
    22: "InitProducerId",
    23: "OffsetForLeaderEpoch",
    24: "AddPartitionsToTxn",
    25: "AddOffsetsToTxn",
    26: "EndTxn",
    28: "TxnOffsetCommit",
    32: "DescribeConfigs",
    33: "AlterConfigs",
    35: "DescribeLogDirs",
    36: "SaslAuthenticate",
    37: "CreatePartitions",
    42: "DeleteGroups",
    44: "IncrementalAlterConfigs",
    47: "OffsetDelete",
    60: "DescribeCluster",
    61: "DescribeProducers",
    68: "ConsumerGroupHeartbeat",
    69: "ConsumerGroupDescribe",
    71: "GetTelemetrySubscriptions",
    72: "PushTelemetry",
    75: "DescribeTopicPartitions",
}


def requests_table(trace, clients):
    """API x client table of the request versions seen on the wire (from apitrace.py)."""
    versions = {}
    for row in trace.read_text(encoding="utf-8").splitlines():
        client, key, version = row.split("\t")
        versions.setdefault(int(key), {}).setdefault(client, set()).add(int(version))
    rows = [
        "### API versions the clients requested",
        "",
        "| API (key) | " + " | ".join(clients) + " |",
        "|---|" + "---|" * len(clients),
    ]
    for key in sorted(versions):
        cells = [",".join(map(str, sorted(versions[key].get(c, [])))) for c in clients]
        rows.append(f"| {API_NAMES.get(key, 'api')} ({key}) | " + " | ".join(cells) + " |")
    return "\n".join(rows)


HEADER = """# Client compatibility matrix

Generated by `scripts/compat.sh --broker strom|kafka`; each section is rewritten by a run against
that broker. Every client runs the same scenario (tests/compat/README.md): create a 3-partition
topic, produce 1,000 keyed messages with acks=all, consume 500 in a group and commit, resume in a
new member exactly at the committed offsets, check key→partition stability and per-key order,
then gzip, snappy, lz4, zstd, the idempotent producer, headers and timestamps. "steps passed"
counts the steps the client can do; a SKIP note says why a step does not apply.

Protocol-level differences from Apache Kafka 4.1.1, found by sending both brokers the same
requests (`tests/integration/interop/differential/`), are listed with their reasons in `DIFFERENCES.md`.
"""


def update_doc(doc, broker, section):
    """Replaces (or appends) the section between this broker's markers, keeping the others."""
    begin, end = f"<!-- broker:{broker} -->", f"<!-- /broker:{broker} -->"
    text = doc.read_text(encoding="utf-8") if doc.exists() else HEADER
    block = f"{begin}\n{section}\n{end}"
    if begin in text and end in text:
        text = text[: text.index(begin)] + block + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    doc.write_text(text, encoding="utf-8")


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "client" and len(argv) == 6:
        results, name, rc, out = argv[2], argv[3], int(argv[4]), Path(argv[5])
        text = out.read_text(encoding="utf-8", errors="replace") if out.exists() else ""
        entry = judge(name, rc, text)
        record(results, entry)
        print(line(entry), flush=True)
        for step, detail in entry["failed"]:
            print(f"    {step}: {detail}", flush=True)
        return 0
    if cmd == "skip" and len(argv) == 5:
        entry = {"client": argv[3], "status": "SKIPPED", "version": "-", "reason": argv[4]}
        record(argv[2], entry)
        print(line(entry), flush=True)
        return 0
    if cmd == "finish" and len(argv) in (6, 7):
        results, broker, label, doc = argv[2], argv[3], argv[4], Path(argv[5])
        entries = [json.loads(x) for x in Path(results).read_text().splitlines() if x.strip()]
        section = f"## {label}\n\n{table(entries)}"
        if len(argv) == 7 and Path(argv[6]).exists():
            clients = [e["client"] for e in entries if e["status"] != "SKIPPED"]
            section += "\n\n" + requests_table(Path(argv[6]), clients)
        counts = {
            s: sum(1 for e in entries if e["status"] == s) for s in ("PASS", "FAIL", "SKIPPED")
        }
        update_doc(doc, broker, section)
        print(f"{counts['PASS']} passed, {counts['FAIL']} failed, {counts['SKIPPED']} skipped")
        return 1 if counts["FAIL"] else 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
