"""confluent-kafka (librdkafka) transactions against a broker: a transactional producer with
send_offsets_to_transaction and aborts, and read_committed / read_uncommitted consumers.

    txn_clients.py BOOTSTRAP

Prints "ok: <check>" lines; exits non-zero on the first failure.
"""

import sys
import time
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def drain(bootstrap, topic, isolation, want):
    c = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": f"drain-{uuid.uuid4()}",
        "isolation.level": isolation,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    })
    c.subscribe([topic])
    out, idle = [], 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is None:
            idle += 1
            if len(out) >= want and idle > 4:
                break
            continue
        if m.error():
            continue
        out.append(m.value().decode())
    c.close()
    return out


def main():
    bootstrap = sys.argv[1]
    run = uuid.uuid4().hex[:8]
    topic, group = f"pytxn-{run}", f"pytxn-group-{run}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics([NewTopic(topic, 3, 1)]).values():
        f.result()
    p = Producer({"bootstrap.servers": bootstrap, "transactional.id": f"py-{run}"})
    p.init_transactions(30)
    committed, aborted = [], []
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    for t in range(10):
        p.begin_transaction()
        values = [f"t{t}-{i}" for i in range(20)]
        for v in values:
            p.produce(topic, value=v.encode(), key=v.encode())
        offsets = [TopicPartition(topic, 0, (t + 1) * 20)]
        p.send_offsets_to_transaction(offsets, consumer.consumer_group_metadata(), 30)
        if t % 3 == 2:
            # abort_transaction purges what is still queued: deliver first, so the aborted
            # records are in the log (read_uncommitted must see them).
            p.flush(30)
            p.abort_transaction(30)
            aborted += values
        else:
            p.commit_transaction(30)
            committed += values
    consumer.close()
    print(f"ok: {len(committed)} committed and {len(aborted)} aborted in 10 transactions")
    seen = drain(bootstrap, topic, "read_committed", len(committed))
    missing = sorted(set(committed) - set(seen))
    assert sorted(seen) == sorted(committed), f"read_committed saw {len(seen)}, wanted {len(committed)}; missing {missing[:5]}..{len(missing)} extra {sorted(set(seen)-set(committed))[:5]}"
    print("ok: read_committed sees exactly the committed records")
    seen = drain(bootstrap, topic, "read_uncommitted", len(committed) + len(aborted))
    assert sorted(seen) == sorted(committed + aborted), f"read_uncommitted saw {len(seen)}"
    print("ok: read_uncommitted sees committed and aborted records")
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    got = c.committed([TopicPartition(topic, 0)], timeout=10)[0].offset
    c.close()
    # The last transaction (t=9) committed offset 200.
    assert got == 200, f"committed offset {got}"
    print("ok: offsets committed in transactions, aborted ones dropped")


if __name__ == "__main__":
    main()
