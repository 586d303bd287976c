"""Unit tests of the harness's own logic: output parsers, the wire encoder, percentiles and the
report. Run: python3 -m unittest discover -s scripts/bench"""

import os
import time
import struct
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))

import kproto  # noqa: E402
import loadgen  # noqa: E402
import procs  # noqa: E402
import report  # noqa: E402

RD_PRODUCER = """% Sending 20000 messages of size 1024 bytes
% 20000 messages produced (20480000 bytes), 7736 delivered (offset 1933, 0 failed) in 1158ms: \
6675 msgs/s and 6.84 MB/s, 0 produce failures, 12264 in queue, no compression
% 20000 messages produced (20480000 bytes), 20000 delivered (offset 8587, 0 failed) in 1680ms: \
11903 msgs/s and 12.19 MB/s, 0 produce failures, 0 in queue, no compression
"""

RD_CONSUMER = """% Consumer reached end of produce-acksall-rdkafka [1] message queue at offset 1256
% 20000 messages (20480000 bytes) consumed in 143ms: 139466 msgs/s (142.81 MB/s)
% Average application fetch latency: 46us
"""

PRODUCER_PERF = """8532 records sent, 1702.7 records/sec (1.66 MB/sec), 1323.8 ms avg latency, \
2041.0 ms max latency.
20000 records sent, 2907.4 records/sec (2.84 MB/sec), 1933.63 ms avg latency, 2779.00 ms max \
latency, 2189 ms 50th, 2666 ms 95th, 2708 ms 99th, 2770 ms 99.9th.
"""

CONSUMER_PERF = """start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, \
nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
2026-11-25 16:01:52:547, 2026-11-25 16:01:57:966, 19.5313, 3.6042, 20000, 3690.7178, 4678, \
741, 26.3580, 26990.5533
"""


class ParserTests(unittest.TestCase):
    def test_rdkafka_producer_takes_the_final_summary(self):
        r = loadgen.parse_rdkafka_produce(RD_PRODUCER, 1024)
        self.assertEqual(r["msgs"], 20000)
        self.assertAlmostEqual(r["seconds"], 1.68)
        self.assertAlmostEqual(r["mb_s"], 20000 * 1024 / 1.68 / 1e6)
        self.assertEqual(r["failed"], 0)

    def test_rdkafka_consumer(self):
        r = loadgen.parse_rdkafka_consume(RD_CONSUMER, 1024)
        self.assertEqual(r["msgs"], 20000)
        self.assertAlmostEqual(r["msgs_s"], 20000 / 0.143)

    def test_producer_performance_final_line_and_latency(self):
        r = loadgen.parse_producer_performance(PRODUCER_PERF, 1024)
        self.assertEqual(r["msgs"], 20000)
        self.assertAlmostEqual(r["msgs_s"], 2907.4)
        self.assertEqual(r["ack_ms"]["p99"], 2708.0)
        self.assertEqual(r["ack_ms"]["p99.9"], 2770.0)

    def test_consumer_performance_uses_fetch_time(self):
        r = loadgen.parse_consumer_performance(CONSUMER_PERF, 1024)
        self.assertEqual(r["msgs"], 20000)
        self.assertAlmostEqual(r["seconds"], 0.741)
        self.assertEqual(r["group_join_ms"], 4678.0)

    def test_consumer_performance_row_after_log_lines(self):
        header, row = CONSUMER_PERF.splitlines()
        warn = "[2026-11-25 16:43:19,864] WARN [Consumer clientId=perf-consumer-client] x, y"
        r = loadgen.parse_consumer_performance(f"{header}\n{warn}\n{warn}\n{row}\n", 1024)
        self.assertEqual(r["msgs"], 20000)

    def test_missing_summary_is_an_error(self):
        for parse in (
            loadgen.parse_rdkafka_produce,
            loadgen.parse_rdkafka_consume,
            loadgen.parse_producer_performance,
            loadgen.parse_consumer_performance,
        ):
            with self.assertRaises(loadgen.ParseError):
                parse("% Sending 20000 messages of size 1024 bytes\n", 1024)

    def test_percentiles_nearest_rank(self):
        p = loadgen.percentiles([float(x) for x in range(1, 1001)])
        self.assertEqual((p["p50"], p["p99"], p["p99.9"], p["max"]), (500, 990, 999, 1000))
        self.assertIsNone(loadgen.percentiles([]))

    def test_latency_file_is_microseconds(self):
        with tempfile.NamedTemporaryFile("w", delete=False) as f:
            f.write("1500\n250\n\n")
        try:
            self.assertEqual(loadgen.latency_file_ms(f.name), [1.5, 0.25])
        finally:
            os.remove(f.name)


class WireTests(unittest.TestCase):
    def test_crc32c_check_value(self):
        self.assertEqual(kproto.crc32c(b"123456789"), 0xE3069283)

    def test_zigzag_varints(self):
        self.assertEqual(kproto.varint(0), b"\x00")
        self.assertEqual(kproto.varint(-1), b"\x01")
        self.assertEqual(kproto.varint(1024), b"\x80\x10")

    def test_record_batch_header_and_crc(self):
        batch = kproto.record_batch(3, b"v" * 10, 1_700_000_000_000)
        base, length, _epoch, magic, crc = struct.unpack_from(">qiibI", batch)
        self.assertEqual((base, magic), (0, 2))
        self.assertEqual(length, len(batch) - 12)
        self.assertEqual(crc, kproto.crc32c(batch[21:]))
        last_delta, count = (
            struct.unpack_from(">i", batch, 23)[0],
            struct.unpack_from(">i", batch, 57)[0],
        )
        self.assertEqual((last_delta, count), (2, 3))

    def test_produce_response_errors(self):
        part = struct.pack(">ihqqq", 0, 6, -1, -1, -1)
        body = struct.pack(">i", 1) + kproto.string("t") + struct.pack(">i", 1) + part
        body += struct.pack(">i", 0)
        self.assertEqual(kproto.produce_errors(body), [6])


class ProcTests(unittest.TestCase):
    def test_own_process_figures(self):
        pid = os.getpid()
        self.assertGreater(procs.rss_kb(pid), 0)
        self.assertGreaterEqual(procs.peak_rss_kb(pid), procs.rss_kb(pid))
        self.assertGreaterEqual(procs.cpu_seconds(pid), 0.0)

    def test_ps_time_formats(self):
        self.assertAlmostEqual(procs.parse_ps_time("0:01.23"), 1.23)
        self.assertAlmostEqual(procs.parse_ps_time("01:02:03"), 3723.0)
        self.assertAlmostEqual(procs.parse_ps_time("1-00:00:01"), 86401.0)

    def test_sampled_peak_where_there_is_no_proc(self):
        saved = procs.HAVE_PROC
        procs.HAVE_PROC = False
        try:
            pid = os.getpid()
            self.assertGreater(procs.rss_kb(pid), 0)
            with procs.Meter(pid) as m:
                _ballast = bytearray(32 << 20)
                time.sleep(0.1)
            self.assertGreater(m.peak_kb, 0)
            self.assertGreaterEqual(m.cpu_s, 0.0)
        finally:
            procs.HAVE_PROC = saved


class ReportTests(unittest.TestCase):
    def results(self):
        run = {
            "msgs": 1000,
            "seconds": 1.0,
            "msgs_s": 1000.0,
            "mb_s": 1.024,
            "broker_peak_rss_kb": 20480,
            "broker_cpu_s": 0.5,
        }
        broker = {
            "startup": {
                "runs": [{"connect_ms": 5.0, "ready_ms": 6.0}],
                "connect_ms": 5.0,
                "ready_ms": 6.0,
            },
            "idle": {"rss_kb": 8192, "cpu_pct": 0.0},
            "produce_acksall": {
                "rdkafka_performance": dict(run, mb_s=1200.0),
                "kafka-perf-tools": {"error": "timed out after 60s"},
            },
            "consume": {"rdkafka_performance": run},
            "latency": {
                "rdkafka_performance": {"e2e_ms": {"p50": 1, "p99": 3.5, "p99.9": 4, "n": 10}}
            },
            "errors": [],
            "commands": [("strom server", "target/release/strom server --config $RUN/x")],
        }
        kafka = dict(broker, idle={"rss_kb": 400 * 1024, "cpu_pct": 3.0})
        return {
            "mode": "full",
            "settings": {"msgs": 1000, "size": 1024, "partitions": 6},
            "brokers": {"strom": broker, "kafka": kafka},
            "limits": {},
        }

    def test_targets_marked_met_and_missed(self):
        text = report.render(self.results())
        line = next(x for x in text.splitlines() if x.startswith("| acks=all produce"))
        self.assertIn("1,200.0 MB/s", line)
        self.assertIn("**met**", line)
        line = next(x for x in text.splitlines() if x.startswith("| end-to-end p99"))
        self.assertIn("**missed**", line)
        line = next(x for x in text.splitlines() if x.startswith("| idle RSS"))
        self.assertIn("**met**", line)

    def test_peaks_that_could_not_be_reset_are_called_lifetime_peaks(self):
        self.assertNotIn("refused to reset", report.render(self.results()))
        r = self.results()
        r["brokers"]["strom"]["consume"]["rdkafka_performance"]["peak_rss_since_start"] = True
        self.assertIn("refused to reset VmHWM", report.render(r))

    def test_ratios_and_problems(self):
        text = report.render(self.results())
        idle = next(x for x in text.splitlines() if x.startswith("| idle RSS,"))
        self.assertIn("0.02×", idle)
        self.assertIn("strom: produce_acksall / kafka-perf-tools: timed out after 60s", text)


if __name__ == "__main__":
    unittest.main()
