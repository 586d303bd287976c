package scenario

import (
	"strings"
	"testing"
	"time"
)

// all returns the 1000 scenario records as a broker with `partitions` would deliver them,
// keyed like the producer (key i%Keys on partition (i%Keys)%partitions), offsets per partition.
func all(partitions int32) []Record {
	next := map[int32]int64{}
	out := make([]Record, 0, Messages)
	for i := range Messages {
		m := message(i)
		p := int32(i%Keys) % partitions
		out = append(out, Record{Partition: p, Offset: next[p], Key: m.Key, Value: m.Value})
		next[p]++
	}
	return out
}

func TestResumeAcceptsAnExactContinuation(t *testing.T) {
	records := all(3)
	ok, detail := checkResume(records[:FirstHalf], records[FirstHalf:])
	if !ok {
		t.Fatalf("exact continuation rejected: %s", detail)
	}
}

func TestResumeRejectsARestartFromTheBeginning(t *testing.T) {
	records := all(3)
	ok, detail := checkResume(records[:FirstHalf], records[:Messages-FirstHalf])
	if ok || !strings.Contains(detail, "resumed at 0") {
		t.Fatalf("re-delivery from offset 0 accepted or misreported: %v %s", ok, detail)
	}
}

func TestResumeRejectsALostRecord(t *testing.T) {
	records := all(1)
	second := append([]Record{}, records[FirstHalf:Messages-1]...)
	ok, detail := checkResume(records[:FirstHalf], second)
	if ok || !strings.Contains(detail, "1 of 1000 never consumed") {
		t.Fatalf("lost record accepted or misreported: %v %s", ok, detail)
	}
}

func TestKeyOrderNeedsEveryRecord(t *testing.T) {
	if ok, _ := checkKeyOrder(all(3)); !ok {
		t.Fatal("complete, ordered records rejected")
	}
	if ok, detail := checkKeyOrder(all(3)[:10]); ok || !strings.Contains(detail, "only 10") {
		t.Fatalf("a partial set passed: %v %s", ok, detail)
	}
}

func TestKeyOrderRejectsAKeyOnTwoPartitions(t *testing.T) {
	records := all(3)
	records[len(records)-1].Partition = (records[len(records)-1].Partition + 1) % 3
	if ok, detail := checkKeyOrder(records); ok || !strings.Contains(detail, "partitions") {
		t.Fatalf("split key accepted: %v %s", ok, detail)
	}
}

func TestKeyOrderRejectsReorderedSequences(t *testing.T) {
	records := all(1)
	records[0], records[Keys] = records[Keys], records[0] // k0:1 before k0:0
	if ok, detail := checkKeyOrder(records); ok || !strings.Contains(detail, "out of order") {
		t.Fatalf("reordered key accepted: %v %s", ok, detail)
	}
}

func TestFeatureChecksHeadersAndTimestamps(t *testing.T) {
	batch := func(tag string) []Record {
		var out []Record
		for i, m := range featureMessages(tag) {
			out = append(out, Record{Offset: int64(i), Key: m.Key, Value: m.Value,
				Headers: m.Headers, Timestamp: m.Timestamp})
		}
		return out
	}
	for _, tag := range []string{"gzip", "headers", "timestamps"} {
		if ok, detail := checkFeature(tag, batch(tag)); !ok {
			t.Fatalf("%s: intact batch rejected: %s", tag, detail)
		}
	}
	headers := batch("headers")
	headers[3].Headers = headers[3].Headers[:2] // a repeated key collapsed
	if ok, _ := checkFeature("headers", headers); ok {
		t.Fatal("lost header accepted")
	}
	stamps := batch("timestamps")
	stamps[5].Timestamp = stamps[5].Timestamp.Add(time.Millisecond)
	if ok, _ := checkFeature("timestamps", stamps); ok {
		t.Fatal("rewritten timestamp accepted")
	}
}
