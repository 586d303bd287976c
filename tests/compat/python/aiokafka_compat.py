"""The compatibility scenario with aiokafka (pure Python, asyncio)."""

import asyncio

import aiokafka
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

import scenario as sc

TIMEOUT_MS = int(sc.PHASE_TIMEOUT_S * 1000)


class AdminError(Exception):
    """A topic the broker refused to create (aiokafka returns the codes, it does not raise)."""


def to_record(r):
    return sc.Record(
        partition=r.partition,
        offset=r.offset,
        key=(r.key or b"").decode(),
        value=(r.value or b"").decode(),
        headers=list(r.headers or []),
        timestamp=r.timestamp,
    )


async def poll_until(consumer, want):
    """Fetches until `want` records arrived or the phase deadline passed."""
    records = []
    deadline = sc.Deadline()
    while len(records) < want and not deadline.passed():
        batches = await consumer.getmany(timeout_ms=1000, max_records=want - len(records))
        for batch in batches.values():
            records.extend(to_record(r) for r in batch)
    return records


async def create_topics(bootstrap, topic, partitions, features):
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        resp = await admin.create_topics(
            [NewTopic(topic, partitions, 1), NewTopic(features, 1, 1)], timeout_ms=TIMEOUT_MS
        )
        for name, code, *rest in resp.topic_errors:
            if code != 0:
                raise AdminError(f"CreateTopics {name}: error code {code} {rest}")
        (described,) = await admin.describe_topics([topic])
        return len(described["partitions"])
    finally:
        await admin.close()


async def produce(bootstrap, topic, messages, feature):
    conf = {"bootstrap_servers": bootstrap, "acks": "all", "linger_ms": 5}
    if feature == "idempotent":
        conf["enable_idempotence"] = True
    elif feature:
        conf["compression_type"] = feature
    producer = AIOKafkaProducer(**conf)
    await producer.start()
    try:
        futures = [
            await producer.send(
                topic,
                key=m.key.encode(),
                value=m.value.encode(),
                headers=m.headers,
                timestamp_ms=m.timestamp,
            )
            for m in messages
        ]
        await asyncio.wait_for(asyncio.gather(*futures), sc.PHASE_TIMEOUT_S)
    finally:
        await producer.stop()


async def consume_group(bootstrap, topic, group, want):
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        records = await poll_until(consumer, want)
        offsets = {TopicPartition(topic, p): o for p, o in sc.committed_offsets(records).items()}
        if offsets:
            await consumer.commit(offsets)
        return records
    finally:
        await consumer.stop()


async def consume_partition(bootstrap, topic, want):
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        return await poll_until(consumer, want)
    finally:
        await consumer.stop()


def run(coro):
    """Runs one step's coroutine in its own loop, bounded: aiokafka retries some errors (e.g.
    NOT_COORDINATOR on a commit) without a deadline of its own."""
    return asyncio.run(asyncio.wait_for(coro, 2 * sc.PHASE_TIMEOUT_S))


class AioKafka(sc.Client):
    """Each step runs its own event loop: aiokafka objects live inside one step."""

    name = "aiokafka"
    version = aiokafka.__version__
    engine = "pure-python-asyncio"

    def __init__(self, bootstrap):
        self.bootstrap = bootstrap

    def create_topics(self, topic, partitions, features):
        return run(create_topics(self.bootstrap, topic, partitions, features))

    def produce(self, topic, messages, feature=None):
        return run(produce(self.bootstrap, topic, messages, feature))

    def consume_group(self, topic, group, want):
        return run(consume_group(self.bootstrap, topic, group, want))

    def consume_partition(self, topic, want):
        return run(consume_partition(self.bootstrap, topic, want))


if __name__ == "__main__":
    sc.run(AioKafka)
