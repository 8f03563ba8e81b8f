// Command process_orders consumes order messages from the OrdersQueue SQS
// queue. It reports partial batch failures so that only the bad messages are
// retried and, after maxReceiveCount, moved to the dead-letter queue.
package main

import (
	"context"
	"log"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"example.com/orders/internal/orders"
)

// logger writes without timestamps: CloudWatch stamps every line already, and
// a fixed format lets the log assertions in tests stay exact.
var logger = log.New(os.Stdout, "", 0)

func handler(_ context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	// An empty (not nil) slice marshals as [], which the Lambda service reads
	// as "whole batch succeeded"; null is accepted too but is easy to misread.
	resp := events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}
	for _, rec := range ev.Records {
		req, err := orders.ParseRequest([]byte(rec.Body))
		if err != nil {
			logger.Printf("message=%s status=rejected reason=%q", rec.MessageId, err.Error())
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: rec.MessageId})
			continue
		}
		o := orders.New(req)
		logger.Printf("message=%s status=accepted order=%s customer=%s total=%s", rec.MessageId, o.ID, o.CustomerID, orders.FormatCents(o.TotalCents))
	}
	return resp, nil
}

func main() {
	lambda.Start(handler)
}
