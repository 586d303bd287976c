"""Unit tests of report.py, the matrix's judge: `python3 -m unittest discover -s tests/compat`."""

import tempfile
import unittest
from pathlib import Path

import report

NAMES = [
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


def output(overrides=None, drop=()):
    """A program's stdout with every step PASS except `overrides` {n: (status, detail)}."""
    lines = ["CLIENT demo 1.2.3 pure-test engine"]
    for n, name in enumerate(NAMES, start=1):
        if n in drop:
            continue
        status, detail = (overrides or {}).get(n, ("PASS", "fine"))
        lines.append(f"STEP {n} {name} {status} {detail}")
    return "\n".join(lines) + "\n"


class JudgeTest(unittest.TestCase):
    def test_all_steps_passing_and_exit_zero_is_a_pass(self):
        e = report.judge("demo", 0, output())
        self.assertEqual((e["status"], e["passed"], e["steps"]), ("PASS", 12, 12))
        self.assertEqual((e["version"], e["engine"]), ("1.2.3", "pure-test engine"))

    def test_skipped_steps_leave_the_denominator(self):
        e = report.judge("demo", 0, output({12: ("SKIP", "cannot")}))
        self.assertEqual((e["status"], e["passed"], e["steps"]), ("PASS", 11, 11))
        self.assertEqual(e["skipped"], ["timestamps: cannot"])

    def test_a_failed_step_fails_the_client(self):
        e = report.judge("demo", 1, output({3: ("FAIL", "no commit")}))
        self.assertEqual((e["status"], e["passed"]), ("FAIL", 11))
        self.assertEqual(e["failed"], [["consume-500-commit", "no commit"]])

    def test_missing_steps_fail_even_with_exit_zero(self):
        e = report.judge("demo", 124, output(drop=(11, 12)))
        self.assertEqual(e["status"], "FAIL")
        self.assertEqual(e["failed"], [["steps 11,12", "no result (exit code 124)"]])

    def test_non_zero_exit_fails_a_client_whose_steps_all_passed(self):
        e = report.judge("demo", 3, output())
        self.assertEqual(e["status"], "FAIL")
        self.assertEqual(e["failed"], [["program", "exit code 3"]])

    def test_no_output_at_all_is_a_failure(self):
        e = report.judge("demo", 2, "")
        self.assertEqual((e["status"], e["version"]), ("FAIL", "unknown"))


class TableTest(unittest.TestCase):
    def test_one_cause_behind_several_steps_reads_once(self):
        notes = report.grouped_failures([["gzip", "boom"], ["lz4", "boom"], ["zstd", "other"]])
        self.assertEqual(notes, ["FAIL gzip, lz4: boom", "FAIL zstd: other"])

    def test_update_doc_rewrites_only_its_broker_section(self):
        with tempfile.TemporaryDirectory() as d:
            doc = Path(d) / "COMPATIBILITY.md"
            report.update_doc(doc, "kafka", "kafka v1")
            report.update_doc(doc, "strom", "strom v1")
            report.update_doc(doc, "kafka", "kafka v2")
            text = doc.read_text()
        self.assertIn("kafka v2", text)
        self.assertNotIn("kafka v1", text)
        self.assertIn("strom v1", text)
        self.assertTrue(text.startswith("# Client compatibility matrix"))

    def test_requests_table_lists_versions_per_client(self):
        with tempfile.TemporaryDirectory() as d:
            trace = Path(d) / "trace.tsv"
            trace.write_text("a\t0\t9\na\t0\t7\nb\t18\t3\n")
            table = report.requests_table(trace, ["a", "b"])
        self.assertIn("| Produce (0) | 7,9 |  |", table)
        self.assertIn("| ApiVersions (18) |  | 3 |", table)


if __name__ == "__main__":
    unittest.main()
