// Command franz runs the compatibility scenario with franz-go (kgo + kadm).
package main

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"stromcompat/scenario"
)

type client struct{ seeds []string }

func (c client) newClient(opts ...kgo.Opt) (*kgo.Client, error) {
	return kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.seeds...)}, opts...)...)
}

func (c client) CreateTopics(topic string, partitions int, features string) (int, error) {
	cl, err := c.newClient()
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), scenario.PhaseTimeout)
	defer cancel()
	for name, n := range map[string]int32{topic: int32(partitions), features: 1} {
		resp, err := adm.CreateTopic(ctx, n, 1, nil, name)
		if err = errors.Join(err, resp.Err); err != nil {
			return 0, err
		}
	}
	details, err := adm.ListTopics(ctx, topic)
	if err != nil {
		return 0, err
	}
	return len(details[topic].Partitions), details[topic].Err
}

func (c client) Produce(topic string, msgs []scenario.Message, feature string) error {
	// Idempotence is franz-go's default (every batch here uses it); compression is set per step.
	opts := []kgo.Opt{kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(kgo.NoCompression())}
	switch feature {
	case "gzip":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.GzipCompression()))
	case "snappy":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.SnappyCompression()))
	case "lz4":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.Lz4Compression()))
	case "zstd":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.ZstdCompression()))
	}
	cl, err := c.newClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	records := make([]*kgo.Record, len(msgs))
	for i, m := range msgs {
		r := &kgo.Record{Key: []byte(m.Key), Value: []byte(m.Value), Timestamp: m.Timestamp}
		for _, h := range m.Headers {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
		}
		records[i] = r
	}
	ctx, cancel := context.WithTimeout(context.Background(), scenario.PhaseTimeout)
	defer cancel()
	return cl.ProduceSync(ctx, records...).FirstErr()
}

func toRecord(r *kgo.Record) scenario.Record {
	out := scenario.Record{Partition: r.Partition, Offset: r.Offset, Key: string(r.Key),
		Value: string(r.Value), Timestamp: r.Timestamp}
	for _, h := range r.Headers {
		out.Headers = append(out.Headers, scenario.Header{Key: h.Key, Value: h.Value})
	}
	return out
}

// poll fetches until want records arrived or the phase deadline passed; it returns the kgo
// records too, for committing.
func poll(cl *kgo.Client, want int) ([]scenario.Record, []*kgo.Record, error) {
	ctx, cancel := context.WithTimeout(context.Background(), scenario.PhaseTimeout)
	defer cancel()
	var out []scenario.Record
	var raw []*kgo.Record
	for len(out) < want && ctx.Err() == nil {
		fetches := cl.PollRecords(ctx, want-len(out))
		for _, fe := range fetches.Errors() {
			if !errors.Is(fe.Err, context.DeadlineExceeded) {
				return out, raw, fe.Err
			}
		}
		fetches.EachRecord(func(r *kgo.Record) {
			out = append(out, toRecord(r))
			raw = append(raw, r)
		})
	}
	return out, raw, nil
}

func (c client) ConsumeGroup(topic, group string, want int) ([]scenario.Record, error) {
	cl, err := c.newClient(kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	out, raw, err := poll(cl, want)
	if err != nil {
		return out, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), scenario.PhaseTimeout)
	defer cancel()
	// CommitRecords commits each partition's highest record offset + 1: exactly those consumed.
	return out, cl.CommitRecords(ctx, raw...)
}

func (c client) ConsumePartition(topic string, want int) ([]scenario.Record, error) {
	cl, err := c.newClient(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
		topic: {0: kgo.NewOffset().AtStart()},
	}))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	out, _, err := poll(cl, want)
	return out, err
}

func main() {
	scenario.Run(scenario.Info{
		Name:    "franz-go",
		Version: scenario.ModuleVersion("github.com/twmb/franz-go"),
		Engine:  "pure-go",
	}, func(bootstrap string) scenario.Client { return client{seeds: []string{bootstrap}} })
}
