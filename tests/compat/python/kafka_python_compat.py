"""The compatibility scenario with kafka-python (pure Python)."""

import kafka
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata

import scenario as sc

TIMEOUT_MS = int(sc.PHASE_TIMEOUT_S * 1000)


def to_record(r):
    return sc.Record(
        partition=r.partition,
        offset=r.offset,
        key=(r.key or b"").decode(),
        value=(r.value or b"").decode(),
        headers=list(r.headers or []),
        timestamp=r.timestamp,
    )


def poll_until(consumer, want):
    """Polls until `want` records arrived or the phase deadline passed."""
    records = []
    deadline = sc.Deadline()
    while len(records) < want and not deadline.passed():
        batches = consumer.poll(timeout_ms=1000, max_records=want - len(records))
        for batch in batches.values():
            records.extend(to_record(r) for r in batch)
    return records


class KafkaPython(sc.Client):
    name = "kafka-python"
    version = kafka.__version__
    engine = "pure-python"

    def __init__(self, bootstrap):
        self.bootstrap = bootstrap

    def create_topics(self, topic, partitions, features):
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap)
        try:
            admin.create_topics(
                {
                    topic: {"num_partitions": partitions, "replication_factor": 1},
                    features: {"num_partitions": 1, "replication_factor": 1},
                },
                timeout_ms=TIMEOUT_MS,
                wait_for_metadata=True,
            )
            (described,) = admin.describe_topics([topic])
            return len(described["partitions"])
        finally:
            admin.close()

    def produce(self, topic, messages, feature=None):
        conf = {"bootstrap_servers": self.bootstrap, "acks": "all", "linger_ms": 5}
        if feature == "idempotent":
            conf["enable_idempotence"] = True
        elif feature:
            conf["compression_type"] = feature
        producer = KafkaProducer(**conf)
        try:
            futures = [
                producer.send(
                    topic,
                    key=m.key.encode(),
                    value=m.value.encode(),
                    headers=m.headers,
                    timestamp_ms=m.timestamp,
                )
                for m in messages
            ]
            producer.flush(timeout=sc.PHASE_TIMEOUT_S)
            for f in futures:
                f.get(timeout=sc.PHASE_TIMEOUT_S)
        finally:
            producer.close(timeout=10)

    def consume_group(self, topic, group, want):
        consumer = KafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=group,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        try:
            consumer.subscribe([topic])
            records = poll_until(consumer, want)
            offsets = {
                TopicPartition(topic, p): OffsetAndMetadata(o, "", -1)
                for p, o in sc.committed_offsets(records).items()
            }
            if offsets:
                consumer.commit(offsets)
            return records
        finally:
            consumer.close(autocommit=False)

    def consume_partition(self, topic, want):
        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
        try:
            consumer.assign([TopicPartition(topic, 0)])
            consumer.seek_to_beginning()
            return poll_until(consumer, want)
        finally:
            consumer.close(autocommit=False)


if __name__ == "__main__":
    sc.run(KafkaPython)
