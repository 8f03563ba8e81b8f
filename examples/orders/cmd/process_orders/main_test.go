package main

import (
	"bytes"
	"context"
	"log"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"example.com/orders/internal/golden"
)

func TestSampleEvent(t *testing.T) {
	var buf bytes.Buffer
	saved := logger
	logger = log.New(&buf, "", 0)
	t.Cleanup(func() { logger = saved })

	var ev events.SQSEvent
	golden.Event(t, "process_orders", &ev)
	resp, err := handler(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	golden.AssertJSON(t, "process_orders", resp)

	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != len(ev.Records) {
		t.Fatalf("got %d log lines for %d records:\n%s", len(lines), len(ev.Records), buf.String())
	}
	for i, rec := range ev.Records {
		if !strings.HasPrefix(lines[i], "message="+rec.MessageId+" ") {
			t.Errorf("line %d = %q, want it to start with message=%s", i, lines[i], rec.MessageId)
		}
	}
}

func TestEmptyBatchReportsNoFailures(t *testing.T) {
	resp, err := handler(context.Background(), events.SQSEvent{})
	if err != nil {
		t.Fatal(err)
	}
	if resp.BatchItemFailures == nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("want empty non-nil failures, got %#v", resp.BatchItemFailures)
	}
}
