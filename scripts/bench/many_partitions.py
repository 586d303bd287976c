"""Start-up and idle memory of a broker that has accumulated partitions: N partitions on disk
(one record each), a clean stop, then the median of several starts (spawn -> connect()
accepted) and the idle RSS 5 s after the last start.

    python3 scripts/bench/many_partitions.py --strom-bin target/release/strom [--partitions 1000]
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import brokers  # noqa: E402
import procs  # noqa: E402


def measure(strom_bin, partitions, starts, repo):
    with tempfile.TemporaryDirectory(prefix="strom-many-") as workdir:
        broker = brokers.Broker("strom", workdir, repo, strom_bin=strom_bin)
        try:
            broker.prepare()
            broker.start()
            created_s = broker.create_topic("many", partitions)
            broker.stop()
            runs = []
            for _ in range(starts):
                runs.append(broker.start()["connect_ms"])
                time.sleep(0.2)
                broker.stop()
            broker.start()
            time.sleep(5)
            idle_kb = procs.rss_kb(broker.pid)
            return {
                "partitions": partitions,
                "create_s": created_s,
                "start_connect_ms": statistics.median(runs),
                "start_runs_ms": runs,
                "idle_rss_kb": idle_kb,
            }
        finally:
            procs.stop_all()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--strom-bin", required=True)
    parser.add_argument("--partitions", type=int, default=1000)
    parser.add_argument("--starts", type=int, default=5)
    args = parser.parse_args()
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    print(json.dumps(measure(args.strom_bin, args.partitions, args.starts, repo), indent=1))


if __name__ == "__main__":
    main()
