"""Consumer groups through the Python clients (confluent-kafka and kafka-python).

Run by tests/integration/groups/python.rs against a fresh broker:

    python group_clients.py SCENARIO BOOTSTRAP

Each scenario raises (non-zero exit) on the first thing that differs from Kafka's behaviour
and prints one line per check it passed.
"""

import sys
import time
import uuid

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
import kafka
import kafka.admin

WAIT = 60.0


def check(what, ok, detail=""):
    if not ok:
        raise AssertionError(f"{what} failed {detail}")
    print(f"ok: {what}")


def create_topic(bootstrap, topic, partitions):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    fs = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
    fs[topic].result(timeout=WAIT)


def produce(bootstrap, topic, partitions, n):
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for i in range(n):
        p.produce(topic, value=f"m{i}".encode(), partition=i % partitions)
    check(f"{n} messages produced", p.flush(WAIT) == 0)


def ck_consumer(bootstrap, group, protocol="classic", **extra):
    conf = {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "fetch.wait.max.ms": 100,
    }
    if protocol == "consumer":
        conf["group.protocol"] = "consumer"
    conf.update(extra)
    return Consumer(conf)


def ck_consume(c, want):
    """Polls until `want` messages arrived; returns (partition, offset) pairs."""
    got = []
    deadline = time.time() + WAIT
    while len(got) < want:
        if time.time() > deadline:
            raise AssertionError(f"consumed only {len(got)} of {want}")
        m = c.poll(0.2)
        if m is None:
            continue
        if m.error():
            raise KafkaException(m.error())
        got.append((m.partition(), m.offset()))
    return got


def next_offsets(got):
    nxt = {}
    for p, o in got:
        nxt[p] = max(nxt.get(p, 0), o + 1)
    return nxt


def first_offsets(got):
    first = {}
    for p, o in got:
        first.setdefault(p, o)
    return first


def exactly_once(got, partitions, per_partition):
    seen = sorted(got)
    expected = sorted((p, o) for p in range(partitions) for o in range(per_partition))
    return seen == expected


def confluent_resume(bootstrap, protocol):
    topic = f"py-ck-{protocol}-{uuid.uuid4().hex[:6]}"
    group = f"{topic}-group"
    create_topic(bootstrap, topic, 3)
    produce(bootstrap, topic, 3, 60)
    c = ck_consumer(bootstrap, group, protocol)
    c.subscribe([topic])
    first = ck_consume(c, 30)
    # Commits the positions of every assigned partition in one request.
    c.commit(asynchronous=False)
    committed = c.committed([TopicPartition(topic, p) for p in range(3)], timeout=WAIT)
    got = {tp.partition: tp.offset for tp in committed if tp.offset >= 0}
    check(f"{protocol}: committed offsets read back", got == next_offsets(first), f"{got}")
    c.close()
    c = ck_consumer(bootstrap, group, protocol)
    c.subscribe([topic])
    rest = ck_consume(c, 30)
    c.close()
    resumed = first_offsets(rest)
    expect = next_offsets(first)
    check(
        f"{protocol}: a new member resumes at the committed offsets",
        all(resumed[p] == expect.get(p, 0) for p in resumed),
        f"{resumed} vs {expect}",
    )
    check(f"{protocol}: every message exactly once", exactly_once(first + rest, 3, 20))


def kafka_python_resume(bootstrap):
    topic = f"py-kp-{uuid.uuid4().hex[:6]}"
    group = f"{topic}-group"
    create_topic(bootstrap, topic, 3)
    produce(bootstrap, topic, 3, 60)

    def consumer():
        c = kafka.KafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=100,
        )
        return c

    def consume(c, want):
        got = []
        deadline = time.time() + WAIT
        while len(got) < want:
            if time.time() > deadline:
                raise AssertionError(f"consumed only {len(got)} of {want}")
            for records in c.poll(timeout_ms=200, max_records=want - len(got)).values():
                got.extend((r.partition, r.offset) for r in records)
        return got

    c = consumer()
    first = consume(c, 30)
    c.commit()
    tps = [kafka.TopicPartition(topic, p) for p in range(3)]
    got = {tp.partition: c.committed(tp) for tp in tps}
    expect = {p: next_offsets(first).get(p, 0) for p in got}
    check("kafka-python: committed offsets read back", got == expect, f"{got} vs {expect}")
    c.close()
    c = consumer()
    rest = consume(c, 30)
    c.close()
    resumed = first_offsets(rest)
    expect = next_offsets(first)
    check(
        "kafka-python: a new member resumes at the committed offsets",
        all(resumed[p] == expect.get(p, 0) for p in resumed),
        f"{resumed} vs {expect}",
    )
    check("kafka-python: every message exactly once", exactly_once(first + rest, 3, 20))


def admin(bootstrap):
    topic = f"py-admin-{uuid.uuid4().hex[:6]}"
    group = f"{topic}-group"
    create_topic(bootstrap, topic, 2)
    produce(bootstrap, topic, 2, 10)
    c = ck_consumer(bootstrap, group)
    c.subscribe([topic])
    ck_consume(c, 10)
    c.commit(asynchronous=False)
    ck = AdminClient({"bootstrap.servers": bootstrap})

    listed = ck.list_consumer_groups().result(timeout=WAIT)
    states = {g.group_id: str(g.state) for g in listed.valid}
    check("ListGroups shows the stable group", "STABLE" in states.get(group, ""), f"{states}")
    desc = ck.describe_consumer_groups([group])[group].result(timeout=WAIT)
    parts = sorted(tp.partition for m in desc.members for tp in m.assignment.topic_partitions)
    check("DescribeGroups shows the member and its assignment", parts == [0, 1], f"{desc}")
    try:
        ck.delete_consumer_groups([group])[group].result(timeout=WAIT)
        deleted_active = True
    except KafkaException as e:
        deleted_active = False
        check("DeleteGroups of an active group is NON_EMPTY_GROUP", "NON_EMPTY_GROUP" in str(e), str(e))
    check("an active group is not deleted", not deleted_active)
    c.close()

    kp = kafka.admin.KafkaAdminClient(bootstrap_servers=bootstrap)
    offsets = kp.list_group_offsets(group)[group]
    by_partition = {tp.partition: o.offset for tp, o in offsets.items()}
    check("OffsetFetch through kafka-python", by_partition == {0: 5, 1: 5}, f"{offsets}")
    result = kp.delete_group_offsets(group, [kafka.TopicPartition(topic, 0)])
    check("OffsetDelete of an empty group's offset", all(e.errno == 0 for e in result.values()), f"{result}")
    remaining = {tp.partition for tp in kp.list_group_offsets(group)[group]}
    check("the deleted offset is gone", remaining == {1}, f"{remaining}")
    described = kp.describe_groups([group])[group]
    check("kafka-python DescribeGroups of the empty group", described["group_state"] == "Empty", f"{described}")
    check("the empty group keeps its protocol type", described["protocol_type"] == "consumer", f"{described}")
    ck.delete_consumer_groups([group])[group].result(timeout=WAIT)
    listed = ck.list_consumer_groups().result(timeout=WAIT)
    check("the deleted group is no longer listed", group not in {g.group_id for g in listed.valid})
    kp.close()


SCENARIOS = {
    "confluent-classic": lambda b: confluent_resume(b, "classic"),
    "confluent-consumer": lambda b: confluent_resume(b, "consumer"),
    "kafka-python": kafka_python_resume,
    "admin": admin,
}

if __name__ == "__main__":
    SCENARIOS[sys.argv[1]](sys.argv[2])
