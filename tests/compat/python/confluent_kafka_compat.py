"""The compatibility scenario with confluent-kafka (Python over its bundled librdkafka)."""

import confluent_kafka
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

import scenario as sc


def to_record(msg):
    _, ts = msg.timestamp()
    return sc.Record(
        partition=msg.partition(),
        offset=msg.offset(),
        key=(msg.key() or b"").decode(),
        value=(msg.value() or b"").decode(),
        headers=msg.headers() or [],
        timestamp=ts,
    )


def poll_until(consumer, want):
    """Polls until `want` records arrived or the phase deadline passed."""
    records = []
    deadline = sc.Deadline()
    while len(records) < want and not deadline.passed():
        msg = consumer.poll(min(1.0, deadline.left()))
        if msg is None:
            continue
        if msg.error():
            if msg.error().fatal():
                raise KafkaException(msg.error())
            continue
        records.append(to_record(msg))
    return records


class ConfluentKafka(sc.Client):
    name = "confluent-kafka"
    version = confluent_kafka.__version__
    engine = f"librdkafka-{confluent_kafka.libversion()[0]}"

    def __init__(self, bootstrap):
        self.base = {"bootstrap.servers": bootstrap}

    def create_topics(self, topic, partitions, features):
        admin = AdminClient(self.base)
        futures = admin.create_topics(
            [NewTopic(topic, partitions, 1), NewTopic(features, 1, 1)],
            operation_timeout=sc.PHASE_TIMEOUT_S,
        )
        for future in futures.values():
            future.result(timeout=sc.PHASE_TIMEOUT_S)
        meta = admin.list_topics(topic, timeout=sc.PHASE_TIMEOUT_S)
        return len(meta.topics[topic].partitions)

    def produce(self, topic, messages, feature=None):
        conf = dict(self.base, acks="all", **{"linger.ms": 5})
        if feature == "idempotent":
            conf["enable.idempotence"] = True
        elif feature:
            conf["compression.type"] = feature
        errors = []

        def on_delivery(err, _msg):
            if err is not None:
                errors.append(err)

        producer = Producer(conf)
        for m in messages:
            extra = {}
            if m.headers is not None:
                extra["headers"] = m.headers
            if m.timestamp is not None:
                extra["timestamp"] = m.timestamp
            producer.produce(topic, key=m.key, value=m.value, on_delivery=on_delivery, **extra)
            producer.poll(0)
        left = producer.flush(sc.PHASE_TIMEOUT_S)
        if errors:
            raise KafkaException(errors[0])
        if left:
            raise TimeoutError(f"{left} messages unacknowledged after {sc.PHASE_TIMEOUT_S}s")

    def consume_group(self, topic, group, want):
        consumer = Consumer(
            dict(
                self.base,
                **{
                    "group.id": group,
                    "auto.offset.reset": "earliest",
                    "enable.auto.commit": False,
                },
            )
        )
        try:
            consumer.subscribe([topic])
            records = poll_until(consumer, want)
            offsets = [
                TopicPartition(topic, p, o) for p, o in sc.committed_offsets(records).items()
            ]
            if offsets:
                consumer.commit(offsets=offsets, asynchronous=False)
            return records
        finally:
            consumer.close()

    def consume_partition(self, topic, want):
        # librdkafka wants a group.id even for assign(); nothing is committed to it.
        conf = {"group.id": f"{topic}-reader", "enable.auto.commit": False}
        consumer = Consumer(dict(self.base, **conf))
        try:
            consumer.assign([TopicPartition(topic, 0, confluent_kafka.OFFSET_BEGINNING)])
            return poll_until(consumer, want)
        finally:
            consumer.close()


if __name__ == "__main__":
    sc.run(ConfluentKafka)
