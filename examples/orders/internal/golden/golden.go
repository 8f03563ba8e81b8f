// Package golden compares handler results with the sample events' expected
// outputs in events/. The same files are used to check the migrated container
// images, so the handler tests pin them to what the code really returns.
package golden

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"testing"
)

var update = flag.Bool("update", false, "rewrite events/*.expected.json from the handlers' output")

// Dir is the absolute path of the module's events/ directory.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "events")
}

// Event reads events/<name>.json and decodes it into v the way the Lambda
// runtime would decode the invocation payload.
func Event(t testing.TB, name string, v any) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(Dir(), name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("decode %s.json: %v", name, err)
	}
}

// AssertJSON marshals got with encoding/json, as aws-lambda-go does for the
// response payload, and compares it with events/<name>.expected.json. The
// comparison is on decoded values so the file may be indented for review.
func AssertJSON(t testing.TB, name string, got any) {
	t.Helper()
	gotRaw, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(Dir(), name+".expected.json")
	if *update {
		var buf bytes.Buffer
		if err := json.Indent(&buf, gotRaw, "", "  "); err != nil {
			t.Fatal(err)
		}
		buf.WriteByte('\n')
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	wantRaw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(decode(t, gotRaw), decode(t, wantRaw)) {
		t.Fatalf("%s: output does not match expected file\n got: %s\nwant: %s", name, gotRaw, bytes.TrimSpace(wantRaw))
	}
}

func decode(t testing.TB, raw []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return v
}
