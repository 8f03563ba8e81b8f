// Command echo_env reports the configuration the function actually runs
// with. It is invoked after each deploy to confirm that environment
// variables, memory size and handler survived the deployment.
package main

import (
	"context"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
)

// reported lists the variables returned; the first three come from the
// template, the rest are set by the Lambda runtime.
var reported = []string{
	"TABLE_NAME",
	"QUEUE_URL",
	"STAGE",
	"AWS_LAMBDA_FUNCTION_NAME",
	"AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
	"AWS_REGION",
	"_HANDLER",
}

// Request optionally asks the function to stall, to check the configured
// timeout is enforced.
type Request struct {
	SleepMS int `json:"sleep_ms"`
}

func handler(_ context.Context, req Request) (map[string]*string, error) {
	if req.SleepMS > 0 {
		// Deliberately ignores ctx: returning early at the deadline would
		// race the platform's own timeout, which is what this exercises.
		time.Sleep(time.Duration(req.SleepMS) * time.Millisecond)
	}
	out := make(map[string]*string, len(reported))
	for _, name := range reported {
		// nil (JSON null) tells an unset variable apart from an empty one.
		if v, ok := os.LookupEnv(name); ok {
			out[name] = &v
		} else {
			out[name] = nil
		}
	}
	return out, nil
}

func main() {
	lambda.Start(handler)
}
