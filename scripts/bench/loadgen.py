"""The load generators, identical for both brokers: librdkafka's rdkafka_performance and Kafka's
own ProducerPerformance / ConsumerPerformance. Builds their command lines and parses their
output into msgs, seconds and latency figures.

Throughput is always derived as messages x message size / seconds with MB = 10^6 bytes, so the
two generators (one counts MiB, the other 10^6 bytes) report in the same unit."""

import math
import os
import re

# What producer-perf-test.sh / consumer-perf-test.sh give the JVM.
PERF_TOOL_HEAP = ["-Xmx512M"]


class ParseError(Exception):
    """A load generator ended without the summary line it prints on success."""


class Tools:
    """Where the generators live."""

    def __init__(self, rdkafka_performance, classpath, repo):
        self.rdkafka_performance = rdkafka_performance
        self.classpath = classpath
        self.log4j = os.path.join(repo, "tests", "oracle", "log4j2.properties")

    def java(self, main_class, args):
        return [
            "java",
            *PERF_TOOL_HEAP,
            "-Xshare:auto",
            f"-Dlog4j2.configurationFile={self.log4j}",
            "-cp",
            self.classpath,
            main_class,
            *args,
        ]


def throughput(msgs, size, seconds):
    """msgs, seconds, msgs/s and MB/s (10^6 bytes) of a run."""
    seconds = max(seconds, 1e-9)
    return {
        "msgs": msgs,
        "seconds": seconds,
        "msgs_s": msgs / seconds,
        "mb_s": msgs * size / seconds / 1e6,
    }


# ---------------------------------------------------------------- rdkafka_performance


# rdkafka_performance sets linger.ms=1000 unless told otherwise, which holds the last partial
# batches of a run for up to a second; throughput runs use the library's own default instead,
# which is also the Java client's (Kafka 4.x).
THROUGHPUT_LINGER = ["-X", "linger.ms=5"]


def rdkafka_produce(tools, bootstrap, topic, count, size, acks, extra=THROUGHPUT_LINGER):
    """Producer mode; the topic's partitioner spreads messages over all partitions."""
    return [
        tools.rdkafka_performance,
        "-P",
        "-t",
        topic,
        "-b",
        bootstrap,
        "-s",
        str(size),
        "-c",
        str(count),
        "-a",
        str(acks),
        *extra,
    ]


def rdkafka_consume(tools, bootstrap, topic, partitions, count, offset="beginning", extra=()):
    """Simple-consumer mode over every partition (no consumer group involved)."""
    parts = [a for p in range(partitions) for a in ("-p", str(p))]
    return [
        tools.rdkafka_performance,
        "-C",
        "-t",
        topic,
        "-b",
        bootstrap,
        *parts,
        "-o",
        offset,
        "-c",
        str(count),
        *extra,
    ]


_RD_PRODUCED = re.compile(
    r"% (\d+) messages produced \((\d+) bytes\), (\d+) delivered "
    r"\(offset -?\d+, (\d+) failed\) in (\d+)ms"
)
_RD_CONSUMED = re.compile(r"% (\d+) messages \((\d+) bytes\) consumed in (\d+)ms")


def parse_rdkafka_produce(text, size):
    """The last summary line: delivered count and elapsed ms (first send to last ack)."""
    found = _RD_PRODUCED.findall(text)
    if not found:
        raise ParseError("rdkafka_performance printed no producer summary")
    _sent, _bytes, delivered, failed, ms = (int(x) for x in found[-1])
    result = throughput(delivered, size, ms / 1000)
    result["failed"] = failed
    return result


def parse_rdkafka_consume(text, size):
    """The last summary line: consumed count and ms from the first message to the last."""
    found = _RD_CONSUMED.findall(text)
    if not found:
        raise ParseError("rdkafka_performance printed no consumer summary")
    msgs, _bytes, ms = (int(x) for x in found[-1])
    return throughput(msgs, size, ms / 1000)


# ---------------------------------------------------------------- Kafka's perf tools


def producer_performance(tools, bootstrap, topic, count, size, acks, rate=-1, props=()):
    """ProducerPerformance; `rate` caps msgs/s (-1: unthrottled)."""
    return tools.java(
        "org.apache.kafka.tools.ProducerPerformance",
        [
            "--topic",
            topic,
            "--num-records",
            str(count),
            "--record-size",
            str(size),
            "--throughput",
            str(rate),
            "--producer-props",
            f"bootstrap.servers={bootstrap}",
            f"acks={acks}",
            *props,
        ],
    )


_PP_FINAL = re.compile(
    r"(\d+) records sent, ([\d.]+) records/sec \([\d.]+ MB/sec\), ([\d.]+) ms avg latency, "
    r"([\d.]+) ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th, (\d+) ms 99.9th"
)


def parse_producer_performance(text, size):
    """The final line: records, records/s and its produce->ack latency percentiles (whole ms)."""
    found = _PP_FINAL.findall(text)
    if not found:
        raise ParseError("ProducerPerformance printed no final summary")
    records, rate, _avg, max_ms, p50, _p95, p99, p999 = found[-1]
    records, rate = int(records), float(rate)
    result = throughput(records, size, records / rate if rate else 0.0)
    result["ack_ms"] = {
        "p50": float(p50),
        "p99": float(p99),
        "p99.9": float(p999),
        "max": float(max_ms),
        "n": records,
    }
    return result


def txn_bench(tools, bootstrap, topic, count, size, per_txn):
    """scripts/bench/TxnBench.java: transactions of `per_txn` records, one producer."""
    source = os.path.join(os.path.dirname(os.path.abspath(__file__)), "TxnBench.java")
    return tools.java(source, [bootstrap, topic, str(count), str(size), str(per_txn)])


_TXN = re.compile(
    r"TXN-BENCH records=(\d+) seconds=([\d.]+) txns=(\d+) "
    r"commit_p50_ms=([\d.]+) commit_p99_ms=([\d.]+)"
)


def parse_txn_bench(text, size):
    """Records, throughput and commitTransaction() latency of a TxnBench run."""
    found = _TXN.findall(text)
    if not found:
        raise ParseError("TxnBench printed no summary")
    records, seconds, txns, p50, p99 = found[-1]
    result = throughput(int(records), size, float(seconds))
    result["txns"] = int(txns)
    result["commit_ms"] = {"p50": float(p50), "p99": float(p99)}
    return result


def consumer_performance(tools, bootstrap, topic, count, group):
    return tools.java(
        "org.apache.kafka.tools.ConsumerPerformance",
        [
            "--bootstrap-server",
            bootstrap,
            "--topic",
            topic,
            "--messages",
            str(count),
            "--group",
            group,
            "--timeout",
            "30000",
        ],
    )


def parse_consumer_performance(text, size):
    """The data row of its CSV output; uses fetch time (excludes the group join, as
    rdkafka_performance's consumer timing starts at the first message). The client's log
    lines share the output and may come between the header and the row."""
    header = None
    for line in text.splitlines():
        fields = [f.strip() for f in line.split(",")]
        if fields[0] == "start.time":
            header = fields
        elif header and len(fields) == len(header) and fields[4].isdigit():
            row = dict(zip(header, fields))
            msgs = int(row["data.consumed.in.nMsg"])
            fetch_ms = float(row["fetch.time.ms"])
            result = throughput(msgs, size, fetch_ms / 1000)
            result["group_join_ms"] = float(row["rebalance.time.ms"])
            return result
    raise ParseError("ConsumerPerformance printed no result row")


# ---------------------------------------------------------------- latency samples


def percentiles(samples):
    """p50/p99/p99.9/max of a list of numbers (nearest-rank), plus the count."""
    if not samples:
        return None
    s = sorted(samples)

    def rank(q):
        return s[min(len(s), max(1, math.ceil(q * len(s)))) - 1]

    return {"p50": rank(0.50), "p99": rank(0.99), "p99.9": rank(0.999), "max": s[-1], "n": len(s)}


def latency_file_ms(path):
    """Per-message latencies rdkafka_performance -l -A wrote (one integer in us per line), in ms."""
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [int(line) / 1000.0 for line in f if line.strip().isdigit()]
