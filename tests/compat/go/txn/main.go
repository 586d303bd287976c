// Command txn checks franz-go's transactions against a broker: a GroupTransactSession
// consume-transform-produce loop (offsets committed in the transactions, every third one
// aborted), then a read_committed consumer that must see exactly the committed output.
//
//	txn -bootstrap 127.0.0.1:9092
//
// Prints "ok: <check>" lines; exits 1 on the first failure.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func fail(format string, args ...any) {
	fmt.Printf("FAIL: "+format+"\n", args...)
	os.Exit(1)
}

// logger logs the client's steps to stderr when TXN_DEBUG is set.
func logger() kgo.Logger {
	level := kgo.LogLevelNone
	if os.Getenv("TXN_DEBUG") != "" {
		level = kgo.LogLevelDebug
	}
	return kgo.BasicLogger(os.Stderr, level, nil)
}

func main() {
	bootstrap := flag.String("bootstrap", "127.0.0.1:9092", "broker")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run := fmt.Sprintf("%d", time.Now().UnixNano())
	in, out, group := "gotxn-in-"+run, "gotxn-out-"+run, "gotxn-group-"+run

	admin, err := kgo.NewClient(kgo.SeedBrokers(*bootstrap))
	if err != nil {
		fail("client: %v", err)
	}
	adm := kadm.NewClient(admin)
	if _, err := adm.CreateTopics(ctx, 2, 1, nil, in, out); err != nil {
		fail("create topics: %v", err)
	}
	const inputs = 300
	for i := 0; i < inputs; i++ {
		r := &kgo.Record{Topic: in, Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(fmt.Sprintf("v%d", i))}
		if err := admin.ProduceSync(ctx, r).FirstErr(); err != nil {
			fail("produce input: %v", err)
		}
	}
	admin.Close()

	sess, err := kgo.NewGroupTransactSession(
		kgo.SeedBrokers(*bootstrap),
		kgo.TransactionalID("gotxn-"+run),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(in),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.RequireStableFetchOffsets(),
		kgo.DefaultProduceTopic(out),
		kgo.FetchMaxPartitionBytes(400),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.WithLogger(logger()),
	)
	if err != nil {
		fail("session: %v", err)
	}
	committed := map[string]bool{}
	aborted, txns := 0, 0
	for len(committed) < inputs && ctx.Err() == nil {
		fetches := sess.PollFetches(ctx)
		if errs := fetches.Errors(); len(errs) > 0 {
			fail("poll: %v", errs[0].Err)
		}
		if fetches.NumRecords() == 0 {
			continue
		}
		if err := sess.Begin(); err != nil {
			fail("begin: %v", err)
		}
		var outputs []string
		fetches.EachRecord(func(r *kgo.Record) {
			v := strings.ToUpper(string(r.Value))
			outputs = append(outputs, v)
			sess.Produce(ctx, &kgo.Record{Key: r.Key, Value: []byte(v)}, func(_ *kgo.Record, err error) {
				if err != nil {
					fmt.Printf("produce error: %v\n", err)
				}
			})
		})
		txns++
		commit := txns%3 != 0
		committedNow, err := sess.End(ctx, kgo.TransactionEndTry(commit))
		if err != nil {
			fail("end: %v", err)
		}
		if commit && committedNow {
			for _, v := range outputs {
				committed[v] = true
			}
		} else {
			aborted++
		}
	}
	sess.Close()
	if len(committed) != inputs {
		fail("committed %d of %d", len(committed), inputs)
	}
	fmt.Printf("ok: GroupTransactSession committed %d records, %d transactions aborted\n", inputs, aborted)

	c, err := kgo.NewClient(kgo.SeedBrokers(*bootstrap), kgo.ConsumeTopics(out),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		fail("consumer: %v", err)
	}
	defer c.Close()
	var seen []string
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		fetches := c.PollFetches(pctx)
		pcancel()
		if errs := fetches.Errors(); len(errs) > 0 && !errors.Is(errs[0].Err, context.DeadlineExceeded) {
			fail("read_committed poll: %v", errs[0].Err)
		}
		fetches.EachRecord(func(r *kgo.Record) { seen = append(seen, string(r.Value)) })
		if len(seen) >= inputs && fetches.NumRecords() == 0 {
			break
		}
	}
	sort.Strings(seen)
	if len(seen) != inputs {
		fail("read_committed saw %d records, want exactly the %d committed", len(seen), inputs)
	}
	for _, v := range seen {
		if !committed[v] {
			fail("read_committed saw %q, not committed", v)
		}
	}
	fmt.Println("ok: read_committed sees exactly the committed records")
}
