package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"example.com/orders/internal/golden"
)

// setTemplateEnv reproduces the environment a local invoke of EchoEnvFunction
// gets: literals from template.yaml, the runtime's own variables, and
// env.json standing in for the intrinsics (!Ref) that only resolve on deploy.
func setTemplateEnv(t *testing.T) {
	t.Helper()
	for k, v := range map[string]string{
		"TABLE_NAME":                      "orders-table",
		"AWS_LAMBDA_FUNCTION_NAME":        "EchoEnvFunction",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
		"AWS_REGION":                      "us-east-1",
		"_HANDLER":                        "bin/echo_env",
	} {
		t.Setenv(k, v)
	}
	raw, err := os.ReadFile(filepath.Join(golden.Dir(), "..", "env.json"))
	if err != nil {
		t.Fatal(err)
	}
	var overrides map[string]map[string]string
	if err := json.Unmarshal(raw, &overrides); err != nil {
		t.Fatal(err)
	}
	for k, v := range overrides["EchoEnvFunction"] {
		t.Setenv(k, v)
	}
}

func TestSampleEvent(t *testing.T) {
	setTemplateEnv(t)
	var req Request
	golden.Event(t, "echo_env", &req)
	start := time.Now()
	out, err := handler(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if elapsed, want := time.Since(start), time.Duration(req.SleepMS)*time.Millisecond; elapsed < want {
		t.Errorf("returned after %v, want at least %v", elapsed, want)
	}
	golden.AssertJSON(t, "echo_env", out)
}

func TestUnsetVariableIsNull(t *testing.T) {
	setTemplateEnv(t)
	t.Setenv("QUEUE_URL", "")
	os.Unsetenv("QUEUE_URL")
	out, _ := handler(context.Background(), Request{})
	if v, ok := out["QUEUE_URL"]; !ok || v != nil {
		t.Fatalf("QUEUE_URL = %v (present %v), want null", v, ok)
	}
	if v := out["TABLE_NAME"]; v == nil || *v != "orders-table" {
		t.Fatalf("TABLE_NAME = %v, want orders-table", v)
	}
}
