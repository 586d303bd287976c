// Package scenario is the client-independent half of the Go compatibility programs: the messages
// to send, the order of the steps, the checks on what came back and the output lines
// scripts/compat.sh reads (see tests/compat/README.md):
//
//	CLIENT <name> <version> <engine>
//	STEP <n> <name> PASS|FAIL|SKIP <detail>
//
// A program only implements Client with its library's API and calls Run. The package uses the
// standard library alone, so the GOPATH build of Debian's sarama 1.22 can share it too.
package scenario

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime/debug"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The scenario's sizes, the same in every language.
const (
	Messages     = 1000
	Keys         = 50
	FirstHalf    = 500
	Partitions   = 3
	FeatureBatch = 10
	// BaseTimestampMs is an explicit CreateTime far from "now", so a broker that stamps its own
	// clock instead is caught.
	BaseTimestampMs = int64(1_600_000_000_000)
	// PhaseTimeout bounds every produce or consume phase, so a silent broker fails a step
	// instead of hanging the matrix.
	PhaseTimeout = 30 * time.Second
)

// Steps are the step names in order; a step's number is its index + 1.
var Steps = []string{"create-topic", "produce-1000", "consume-500-commit", "resume-committed",
	"key-partition-order", "gzip", "snappy", "lz4", "zstd", "idempotent", "headers", "timestamps"}

// Codecs are the compression steps; Features all steps that run on the features topic.
var (
	Codecs   = []string{"gzip", "snappy", "lz4", "zstd"}
	Features = []string{"gzip", "snappy", "lz4", "zstd", "idempotent", "headers", "timestamps"}
)

// Header is one record header.
type Header struct {
	Key   string
	Value []byte
}

// Message is one record to send; Headers and Timestamp only where a step asks for them.
type Message struct {
	Key, Value string
	Headers    []Header
	Timestamp  time.Time // zero: let the client stamp it
}

// Record is what a client reports for a consumed record.
type Record struct {
	Partition int32
	Offset    int64
	Key       string
	Value     string
	Headers   []Header
	Timestamp time.Time
}

// Client is what each program implements. Every method returns the client's error unchanged;
// Run turns it into that step's FAIL line.
type Client interface {
	// CreateTopics creates topic with `partitions` and the one-partition features topic and
	// returns the partition count the broker then reports for topic.
	CreateTopics(topic string, partitions int, features string) (int, error)
	// Produce sends all messages with acks=all and waits for every acknowledgement. feature is
	// a codec name (compress with it), "idempotent" (enable idempotence) or "".
	Produce(topic string, msgs []Message, feature string) error
	// ConsumeGroup joins group, consumes `want` records (fewer if PhaseTimeout passes), commits
	// exactly those (last offset + 1 per partition), leaves, and returns them.
	ConsumeGroup(topic, group string, want int) ([]Record, error)
	// ConsumePartition reads partition 0 of topic from the start, without a group.
	ConsumePartition(topic string, want int) ([]Record, error)
}

// Info names the client in the CLIENT line; Unsupported maps a feature the client cannot do to
// the reason, reported as SKIP.
type Info struct {
	Name, Version, Engine string
	Unsupported           map[string]string
}

// ModuleVersion is the version of a module linked into this binary, for Info.Version.
func ModuleVersion(path string) string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range bi.Deps {
			if dep.Path == path {
				return dep.Version
			}
		}
	}
	return "unknown"
}

type report struct{ failed bool }

func (r *report) step(name string, ok bool, detail string) {
	status := "PASS"
	if !ok {
		status = "FAIL"
		r.failed = true
	}
	fmt.Printf("STEP %d %s %s %s\n", slices.Index(Steps, name)+1, name, status,
		strings.ReplaceAll(detail, "\n", " "))
}

func (r *report) check(name string, ok bool, detail string, err error) {
	if err != nil {
		r.step(name, false, err.Error())
		return
	}
	r.step(name, ok, detail)
}

// Message number i: keys k0..k49 round-robin, the value carries the per-key sequence.
func message(i int) Message {
	key := fmt.Sprintf("k%d", i%Keys)
	return Message{Key: key, Value: fmt.Sprintf("%s:%d", key, i/Keys)}
}

// FeatureValue is compressible, so a codec really shrinks the batch instead of being skipped.
func featureValue(tag string, i int) string {
	return fmt.Sprintf("%s:%d:%s", tag, i, strings.Repeat("x", 200))
}

// featureHeaders: one unique key, one repeated key, one empty value.
func featureHeaders(i int) []Header {
	return []Header{{"trace", []byte(fmt.Sprintf("t%d", i))}, {"dup", []byte("a")},
		{"dup", []byte("b")}, {"empty", []byte{}}}
}

// Run parses --bootstrap and --topic, runs steps 1-12 with the client made by newClient, and
// exits 0 when none failed, 1 otherwise.
func Run(info Info, newClient func(bootstrap string) Client) {
	bootstrap := flag.String("bootstrap", "", "broker address HOST:PORT")
	topic := flag.String("topic", "", "base topic name, unique per run")
	flag.Parse()
	if *bootstrap == "" || *topic == "" {
		flag.Usage()
		os.Exit(2)
	}
	features, group := *topic+"-features", *topic+"-group"
	fmt.Printf("CLIENT %s %s %s\n", info.Name, info.Version, info.Engine)
	c := newClient(*bootstrap)
	r := &report{}

	n, err := c.CreateTopics(*topic, Partitions, features)
	r.check("create-topic", n == Partitions, fmt.Sprintf("%s has %d partitions", *topic, n), err)

	msgs := make([]Message, Messages)
	for i := range msgs {
		msgs[i] = message(i)
	}
	err = c.Produce(*topic, msgs, "")
	r.check("produce-1000", true, fmt.Sprintf("%d acknowledged (acks=all)", Messages), err)

	// Steps 6-12 run before the group steps, so a group problem cannot hide them. Produce every
	// feature batch first, then read them all back in one pass; the lines are printed in step
	// order.
	produceErr := map[string]error{}
	sent := 0
	for _, tag := range Features {
		if _, skip := info.Unsupported[tag]; skip {
			continue
		}
		feature := ""
		if slices.Contains(Codecs, tag) || tag == "idempotent" {
			feature = tag
		}
		produceErr[tag] = c.Produce(features, featureMessages(tag), feature)
		if produceErr[tag] == nil {
			sent++
		}
	}
	var records []Record
	var consumeErr error
	if sent > 0 {
		records, consumeErr = c.ConsumePartition(features, FeatureBatch*sent)
	}
	byTag := map[string][]Record{}
	for _, rec := range records {
		tag, _, _ := strings.Cut(rec.Value, ":")
		byTag[tag] = append(byTag[tag], rec)
	}
	for _, tag := range Features {
		if reason, skip := info.Unsupported[tag]; skip {
			fmt.Printf("STEP %d %s SKIP %s\n", slices.Index(Steps, tag)+1, tag, reason)
		} else if produceErr[tag] != nil {
			r.step(tag, false, "produce failed: "+produceErr[tag].Error())
		} else if consumeErr != nil {
			r.step(tag, false, "consuming the batches failed: "+consumeErr.Error())
		} else {
			ok, detail := checkFeature(tag, byTag[tag])
			r.step(tag, ok, detail)
		}
	}

	first, err := c.ConsumeGroup(*topic, group, FirstHalf)
	ok, detail := checkFirstHalf(first)
	r.check("consume-500-commit", ok, detail, err)
	second, err := c.ConsumeGroup(*topic, group, Messages-len(first))
	ok, detail = checkResume(first, second)
	r.check("resume-committed", ok, detail, err)
	ok, detail = checkKeyOrder(append(slices.Clone(first), second...))
	r.step("key-partition-order", ok, detail)
	if r.failed {
		os.Exit(1)
	}
}

func featureMessages(tag string) []Message {
	out := make([]Message, FeatureBatch)
	for i := range out {
		out[i] = Message{Key: "f", Value: featureValue(tag, i)}
		if tag == "headers" {
			out[i].Headers = featureHeaders(i)
		}
		if tag == "timestamps" {
			out[i].Timestamp = time.UnixMilli(BaseTimestampMs + int64(i))
		}
	}
	return out
}

// NextOffsets is what to commit after records: last consumed offset + 1 per partition.
func NextOffsets(records []Record) map[int32]int64 {
	out := map[int32]int64{}
	for _, r := range records {
		out[r.Partition] = max(out[r.Partition], r.Offset+1)
	}
	return out
}

func formatOffsets(m map[int32]int64) string {
	keys := make([]int, 0, len(m))
	for p := range m {
		keys = append(keys, int(p))
	}
	sort.Ints(keys)
	parts := make([]string, len(keys))
	for i, p := range keys {
		parts[i] = fmt.Sprintf("%d: %d", p, m[int32(p)])
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func checkFirstHalf(records []Record) (bool, string) {
	if len(records) != FirstHalf {
		return false, fmt.Sprintf("consumed %d of %d before the deadline", len(records), FirstHalf)
	}
	seen := map[string]bool{}
	for _, r := range records {
		if seen[r.Value] {
			return false, "duplicate record in the first half: " + r.Value
		}
		seen[r.Value] = true
	}
	return true, fmt.Sprintf("consumed %d, committed %s", FirstHalf, formatOffsets(NextOffsets(records)))
}

func checkResume(first, second []Record) (bool, string) {
	committed := NextOffsets(first)
	starts := map[int32]int64{}
	for _, r := range second {
		if _, ok := starts[r.Partition]; !ok {
			starts[r.Partition] = r.Offset
		}
	}
	for p, start := range starts {
		if start != committed[p] {
			return false, fmt.Sprintf("partition %d resumed at %d, committed %d", p, start, committed[p])
		}
	}
	seen := map[string]bool{}
	for _, r := range first {
		seen[r.Value] = true
	}
	for _, r := range second {
		if seen[r.Value] {
			return false, "first-half record delivered again: " + r.Value
		}
		seen[r.Value] = true
	}
	if len(seen) != Messages {
		return false, fmt.Sprintf("%d of %d never consumed", Messages-len(seen), Messages)
	}
	return true, fmt.Sprintf("resumed at %s; all %d seen once", formatOffsets(starts), Messages)
}

// checkKeyOrder is step 5; it needs all messages, since a check over fewer would pass on what
// it never saw.
func checkKeyOrder(records []Record) (bool, string) {
	if len(records) < Messages {
		return false, fmt.Sprintf("only %d of %d records consumed; nothing to check", len(records), Messages)
	}
	partitions := map[string]map[int32]bool{}
	seqs := map[string][]int{}
	used := map[int32]int64{}
	for _, r := range records {
		key, seqText, _ := strings.Cut(r.Value, ":")
		seq, err := strconv.Atoi(seqText)
		if key != r.Key || err != nil {
			return false, fmt.Sprintf("key %q carries value %q", r.Key, r.Value)
		}
		if partitions[key] == nil {
			partitions[key] = map[int32]bool{}
		}
		partitions[key][r.Partition] = true
		seqs[key] = append(seqs[key], seq)
		used[r.Partition]++
	}
	for key, ps := range partitions {
		if len(ps) > 1 {
			return false, fmt.Sprintf("key %s on %d partitions", key, len(ps))
		}
	}
	for key, got := range seqs {
		if !slices.IsSorted(got) {
			return false, fmt.Sprintf("key %s out of order: %v", key, got)
		}
	}
	return true, fmt.Sprintf("%d keys, each on one partition (records per partition: %s)",
		len(partitions), formatOffsets(used))
}

func checkFeature(tag string, got []Record) (bool, string) {
	if len(got) != FeatureBatch {
		return false, fmt.Sprintf("consumed %d of %d", len(got), FeatureBatch)
	}
	for i, r := range got {
		if r.Value != featureValue(tag, i) {
			return false, fmt.Sprintf("record %d out of order or altered", i)
		}
		if tag == "headers" {
			if err := sameHeaders(r.Headers, featureHeaders(i)); err != nil {
				return false, err.Error()
			}
		}
		if tag == "timestamps" && r.Timestamp.UnixMilli() != BaseTimestampMs+int64(i) {
			return false, fmt.Sprintf("timestamp %d, sent %d", r.Timestamp.UnixMilli(),
				BaseTimestampMs+int64(i))
		}
	}
	return true, fmt.Sprintf("%d records round-tripped", FeatureBatch)
}

func sameHeaders(got, want []Header) error {
	text := func(hs []Header) string {
		parts := make([]string, len(hs))
		for i, h := range hs {
			parts[i] = h.Key + "=" + string(h.Value)
		}
		return strings.Join(parts, ",")
	}
	if text(got) != text(want) {
		return errors.New("headers differ: got [" + text(got) + "], sent [" + text(want) + "]")
	}
	return nil
}
