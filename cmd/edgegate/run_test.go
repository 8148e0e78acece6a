package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDispatch(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		output string
	}{
		{"no command", nil, 2, "usage: edgegate COMMAND"},
		{"unknown", []string{"fly"}, 2, `unknown command "fly"`},
		{"version", []string{"version"}, 0, "edgegate " + version},
		{"run help", []string{"run", "-h"}, 0, "-cloud-token-file"},
		{"tls without cert", []string{"run", "--tls-listen", ":8443"}, 2, "--tls-listen needs --tls-cert and --tls-key"},
		{"stray argument", []string{"run", "now"}, 2, "unexpected arguments: now"},
		{"unknown engine", []string{"run", "--http1-engine", "fasthttp"}, 2, `--http1-engine "fasthttp": use lean or net/http`},
		{"missing token file", []string{"run", "--cloud-token-file", "/nonexistent/cloud-token"}, 1, "--cloud-token-file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if code := dispatch(context.Background(), tc.args, &out, &out); code != tc.code {
				t.Fatalf("exit %d, want %d; output:\n%s", code, tc.code, out.String())
			}
			if !strings.Contains(out.String(), tc.output) {
				t.Fatalf("output lacks %q:\n%s", tc.output, out.String())
			}
		})
	}
}

func TestRunNotConfiguredIs125(t *testing.T) {
	t.Setenv(envToken, "")
	t.Setenv(envLicense, "")
	var out bytes.Buffer
	code := dispatch(context.Background(), []string{"run", "--data-dir", t.TempDir(), "--admin-listen", "127.0.0.1:0", "--listen", "127.0.0.1:0"}, &out, &out)
	if code != exitNotConfigured || !strings.Contains(out.String(), "--apis-dir") {
		t.Fatalf("exit %d, want 125 with advice; output:\n%s", code, out.String())
	}
}

func TestProvisioningTextsFromFilesOrEnvironment(t *testing.T) {
	dir := t.TempDir()
	tokFile := filepath.Join(dir, "cloud-token")
	if err := os.WriteFile(tokFile, []byte("  from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(envToken, "from-env")
	t.Setenv(envLicense, "license-from-env\n")
	f, err := parseRunFlags([]string{"--cloud-token-file", tokFile}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.resolve(&bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if f.opts.TokenText != "from-file" || f.opts.LicenseText != "license-from-env" {
		t.Fatalf("token %q, license %q", f.opts.TokenText, f.opts.LicenseText)
	}
	if f.opts.DataDir != "./data" || f.opts.Listen != ":8082" || f.opts.AdminListen != "127.0.0.1:18082" {
		t.Fatalf("defaults: %+v", f.opts)
	}
}
