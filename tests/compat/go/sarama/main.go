// Command sarama runs the compatibility scenario with the current IBM/sarama.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"stromcompat/scenario"
)

type client struct{ brokers []string }

// config leaves Config.Version at sarama's DefaultVersion: sarama picks request versions from
// it (not from ApiVersions), and the default is what most deployments run.
func config() *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.ClientID = "strom-compat"
	cfg.Consumer.Return.Errors = true
	return cfg
}

func (c client) CreateTopics(topic string, partitions int, features string) (int, error) {
	admin, err := sarama.NewClusterAdmin(c.brokers, config())
	if err != nil {
		return 0, err
	}
	defer admin.Close()
	for name, n := range map[string]int32{topic: int32(partitions), features: 1} {
		detail := &sarama.TopicDetail{NumPartitions: n, ReplicationFactor: 1}
		if err := admin.CreateTopic(name, detail, false); err != nil {
			return 0, err
		}
	}
	meta, err := admin.DescribeTopics([]string{topic})
	if err != nil {
		return 0, err
	}
	if meta[0].Err != sarama.ErrNoError {
		return 0, meta[0].Err
	}
	return len(meta[0].Partitions), nil
}

func (c client) Produce(topic string, msgs []scenario.Message, feature string) error {
	cfg := config()
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	switch feature {
	case "gzip":
		cfg.Producer.Compression = sarama.CompressionGZIP
	case "snappy":
		cfg.Producer.Compression = sarama.CompressionSnappy
	case "lz4":
		cfg.Producer.Compression = sarama.CompressionLZ4
	case "zstd":
		cfg.Producer.Compression = sarama.CompressionZSTD
	case "idempotent":
		cfg.Producer.Idempotent = true
		cfg.Net.MaxOpenRequests = 1
	}
	producer, err := sarama.NewSyncProducer(c.brokers, cfg)
	if err != nil {
		return err
	}
	defer producer.Close()
	out := make([]*sarama.ProducerMessage, len(msgs))
	for i, m := range msgs {
		pm := &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(m.Key),
			Value: sarama.StringEncoder(m.Value), Timestamp: m.Timestamp}
		for _, h := range m.Headers {
			pm.Headers = append(pm.Headers, sarama.RecordHeader{Key: []byte(h.Key), Value: h.Value})
		}
		out[i] = pm
	}
	err = producer.SendMessages(out)
	if errs, ok := err.(sarama.ProducerErrors); ok && len(errs) > 0 {
		return fmt.Errorf("%w (first: %v)", err, errs[0].Err)
	}
	return err
}

func toRecord(m *sarama.ConsumerMessage) scenario.Record {
	out := scenario.Record{Partition: m.Partition, Offset: m.Offset, Key: string(m.Key),
		Value: string(m.Value), Timestamp: m.Timestamp}
	for _, h := range m.Headers {
		out.Headers = append(out.Headers, scenario.Header{Key: string(h.Key), Value: h.Value})
	}
	return out
}

// handler collects the first `want` records across all claims, marks exactly those and commits
// them once the count is reached.
type handler struct {
	mu   sync.Mutex
	want int
	out  []scenario.Record
	once sync.Once
	done chan struct{}
}

func (h *handler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *handler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h *handler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for {
		select {
		case <-sess.Context().Done():
			return nil
		case m, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			h.mu.Lock()
			if len(h.out) < h.want {
				h.out = append(h.out, toRecord(m))
				sess.MarkMessage(m, "")
			}
			full := len(h.out) >= h.want
			h.mu.Unlock()
			if full {
				h.once.Do(func() {
					sess.Commit() // synchronous: flushes every marked offset
					close(h.done)
				})
			}
		}
	}
}

func (c client) ConsumeGroup(topic, group string, want int) ([]scenario.Record, error) {
	cfg := config()
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.AutoCommit.Enable = false
	cg, err := sarama.NewConsumerGroup(c.brokers, group, cfg)
	if err != nil {
		return nil, err
	}
	go func() {
		for err := range cg.Errors() {
			log.Printf("consumer group %s: %v", group, err)
		}
	}()
	h := &handler{want: want, done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for ctx.Err() == nil {
			if err := cg.Consume(ctx, []string{topic}, h); err != nil {
				log.Printf("consume: %v", err)
				time.Sleep(100 * time.Millisecond)
			}
		}
	}()
	select {
	case <-h.done:
	case <-time.After(scenario.PhaseTimeout):
	}
	// Cancelling ends the session, whose release commits the marked offsets. Close too: a
	// session that never started (no coordinator) only gives up when the group is closed, and
	// Close waits for the running Consume, so the commit still comes before the leave.
	cancel()
	err = cg.Close()
	<-stopped
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.out, err
}

func (c client) ConsumePartition(topic string, want int) ([]scenario.Record, error) {
	consumer, err := sarama.NewConsumer(c.brokers, config())
	if err != nil {
		return nil, err
	}
	defer consumer.Close()
	pc, err := consumer.ConsumePartition(topic, 0, sarama.OffsetOldest)
	if err != nil {
		return nil, err
	}
	defer pc.Close()
	var out []scenario.Record
	deadline := time.After(scenario.PhaseTimeout)
	for len(out) < want {
		select {
		case m := <-pc.Messages():
			out = append(out, toRecord(m))
		case err := <-pc.Errors():
			return out, err
		case <-deadline:
			return out, fmt.Errorf("consumed %d of %d in %v", len(out), want, scenario.PhaseTimeout)
		}
	}
	return out, nil
}

func main() {
	log.SetOutput(os.Stderr)
	scenario.Run(scenario.Info{
		Name:    "sarama",
		Version: scenario.ModuleVersion("github.com/IBM/sarama"),
		Engine:  "pure-go",
	}, func(bootstrap string) scenario.Client { return client{brokers: []string{bootstrap}} })
}
