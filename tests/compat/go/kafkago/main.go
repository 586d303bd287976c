// Command kafkago runs the compatibility scenario with segmentio/kafka-go.
package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"

	"stromcompat/scenario"
)

type client struct{ addr string }

// maxWait shortens the Fetch long-poll from kafka-go's 10 s: Reader.Close waits for the fetch in
// flight, so the default adds ~10 s to every consume phase.
const maxWait = 500 * time.Millisecond

func (c client) CreateTopics(topic string, partitions int, features string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), scenario.PhaseTimeout)
	defer cancel()
	cl := &kafka.Client{Addr: kafka.TCP(c.addr)}
	resp, err := cl.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{
		{Topic: topic, NumPartitions: partitions, ReplicationFactor: 1},
		{Topic: features, NumPartitions: 1, ReplicationFactor: 1},
	}})
	if err != nil {
		return 0, err
	}
	for name, err := range resp.Errors {
		if err != nil {
			return 0, fmt.Errorf("%s: %w", name, err)
		}
	}
	meta, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return 0, err
	}
	if len(meta.Topics) != 1 {
		return 0, fmt.Errorf("metadata lists %d topics for %s", len(meta.Topics), topic)
	}
	return len(meta.Topics[0].Partitions), meta.Topics[0].Error
}

func (c client) Produce(topic string, msgs []scenario.Message, feature string) error {
	codecs := map[string]compress.Compression{"gzip": compress.Gzip, "snappy": compress.Snappy,
		"lz4": compress.Lz4, "zstd": compress.Zstd}
	w := &kafka.Writer{
		Addr:         kafka.TCP(c.addr),
		Topic:        topic,
		Balancer:     &kafka.Hash{}, // the default round-robin would spread a key's records
		RequiredAcks: kafka.RequireAll,
		Compression:  codecs[feature],
		BatchSize:    len(msgs),
		BatchTimeout: 10 * time.Millisecond,
	}
	defer w.Close()
	out := make([]kafka.Message, len(msgs))
	for i, m := range msgs {
		out[i] = kafka.Message{Key: []byte(m.Key), Value: []byte(m.Value), Time: m.Timestamp}
		for _, h := range m.Headers {
			out[i].Headers = append(out[i].Headers, kafka.Header{Key: h.Key, Value: h.Value})
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), scenario.PhaseTimeout)
	defer cancel()
	return w.WriteMessages(ctx, out...)
}

func toRecord(m kafka.Message) scenario.Record {
	out := scenario.Record{Partition: int32(m.Partition), Offset: m.Offset, Key: string(m.Key),
		Value: string(m.Value), Timestamp: m.Time}
	for _, h := range m.Headers {
		out.Headers = append(out.Headers, scenario.Header{Key: h.Key, Value: h.Value})
	}
	return out
}

// fetch reads until want records arrived or the phase deadline passed; a deadline is not an
// error here (the step's checks report the shortfall).
func fetch(r *kafka.Reader, want int) ([]scenario.Record, []kafka.Message, error) {
	ctx, cancel := context.WithTimeout(context.Background(), scenario.PhaseTimeout)
	defer cancel()
	var out []scenario.Record
	var raw []kafka.Message
	for len(out) < want {
		m, err := r.FetchMessage(ctx)
		if errors.Is(err, context.DeadlineExceeded) {
			break
		}
		if err != nil {
			return out, raw, err
		}
		out = append(out, toRecord(m))
		raw = append(raw, m)
	}
	return out, raw, nil
}

func (c client) ConsumeGroup(topic, group string, want int) ([]scenario.Record, error) {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:     []string{c.addr},
		GroupID:     group,
		Topic:       topic,
		StartOffset: kafka.FirstOffset,
		MaxWait:     maxWait,
	})
	out, raw, err := fetch(r, want)
	if err == nil && len(raw) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), scenario.PhaseTimeout)
		defer cancel()
		// CommitMessages commits each partition's highest offset + 1: exactly those consumed.
		err = r.CommitMessages(ctx, raw...)
	}
	return out, errors.Join(err, r.Close())
}

func (c client) ConsumePartition(topic string, want int) ([]scenario.Record, error) {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:   []string{c.addr},
		Topic:     topic,
		Partition: 0,
		MaxWait:   maxWait,
	})
	if err := r.SetOffset(kafka.FirstOffset); err != nil {
		return nil, err
	}
	out, _, err := fetch(r, want)
	return out, errors.Join(err, r.Close())
}

func main() {
	scenario.Run(scenario.Info{
		Name:        "kafka-go",
		Version:     scenario.ModuleVersion("github.com/segmentio/kafka-go"),
		Engine:      "pure-go",
		Unsupported: map[string]string{"idempotent": "kafka-go has no idempotent producer"},
	}, func(bootstrap string) scenario.Client { return client{addr: bootstrap} })
}
