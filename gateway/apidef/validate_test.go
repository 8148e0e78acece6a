package apidef

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func demo(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("../../examples/apis/demo.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseDemo(t *testing.T) {
	a, err := Parse(demo(t))
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != "demo-api" || a.Listeners[0].Paths[0].Path != "/demo" || a.Plans[0].Security.Type != SecurityKeyless {
		t.Fatalf("parsed %+v", a)
	}
}

func TestParseErrors(t *testing.T) {
	base := string(demo(t))
	tests := []struct {
		name, from, to, field, msg string
	}{
		{"unknown field", `"apiVersion"`, `"apiVersoin"`, "apiVersoin", "unknown field"},
		{"wrong type", `"weight": 1`, `"weight": "1"`, "endpointGroups.endpoints.weight", "must be int"},
		{"v2 definition", `"V4"`, `"2.0.0"`, "definitionVersion", "V4"},
		{"message API", `"type": "proxy"`, `"type": "message"`, "type", "proxy"},
		{"relative path", `"path": "/demo"`, `"path": "demo"`, "listeners[0].paths[0].path", "must start with /"},
		{"bad target", `"http://127.0.0.1:18080/"`, `"ftp://x"`, "endpointGroups[0].endpoints[0].configuration.target", "http://"},
		{"bad lb", `"round-robin"`, `"least-conn"`, "endpointGroups[0].loadBalancer.type", "least-conn"},
		{"bad security", `"key-less"`, `"basic"`, "plans[0].security.type", "basic"},
		{"bad status", `"PUBLISHED"`, `"LIVE"`, "plans[0].status", "LIVE"},
		{"no id", `"id": "demo-api",`, ``, "id", "required"},
		{"not json", `{`, `[`, "", "not valid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := strings.Replace(base, tt.from, tt.to, 1)
			_, err := Parse([]byte(in))
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v, want a ValidationError", err)
			}
			if ve.Field != tt.field || !strings.Contains(ve.Error(), tt.msg) {
				t.Fatalf("err = %q (field %q), want field %q mentioning %q", err, ve.Field, tt.field, tt.msg)
			}
		})
	}
}

func TestNormalizePath(t *testing.T) {
	for in, want := range map[string]string{"/": "/", "": "/", "/a": "/a/", "/a/": "/a/", "a/b": "/a/b/"} {
		if got := NormalizePath(in); got != want {
			t.Errorf("NormalizePath(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(demo(f))
	f.Add([]byte(`{"id":"x","name":"x","definitionVersion":"V4","type":"proxy","listeners":[],"endpointGroups":[]}`))
	f.Add([]byte(`{"plans":[{"security":null}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := Parse(data)
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error is not a ValidationError: %v", err)
			}
			return
		}
		if err := a.Validate(); err != nil {
			t.Fatalf("Parse accepted what Validate refuses: %v", err)
		}
	})
}
