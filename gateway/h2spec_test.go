//go:build h2spec

package gateway

// This test runs h2spec (github.com/summerwind/h2spec) against the TLS
// listener. It needs the h2spec binary on PATH or in $(go env GOPATH)/bin;
// `make test` installs it and runs: go test -tags h2spec -run H2Spec ./gateway/

import (
	"encoding/xml"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// knownH2specFailures are the h2spec cases Go's HTTP/2 server (net/http)
// fails; they are not edgegate's code. Anything else failing fails the test.
// Go's server answers 400 to connection-specific request headers instead
// of a PROTOCOL_ERROR stream error (8.1.2.2), and closes the connection on
// a second SETTINGS_INITIAL_WINDOW_SIZE in one frame (6.5.3).
var knownH2specFailures = map[string]bool{
	"http2/6.5.3/1":   true,
	"http2/8.1.2.2/1": true,
	"http2/8.1.2.2/2": true,
}

type junitSuites struct {
	Suites []struct {
		Cases []struct {
			Package string    `xml:"package,attr"`
			Class   string    `xml:"classname,attr"`
			Name    string    `xml:"name,attr"`
			Failure *struct{} `xml:"failure"`
			Error   *struct{} `xml:"error"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

func h2specPath(t *testing.T) string {
	if p, err := exec.LookPath("h2spec"); err == nil {
		return p
	}
	out, err := exec.Command("go", "env", "GOPATH").Output()
	if err != nil {
		t.Fatalf("go env GOPATH: %v", err)
	}
	p := filepath.Join(strings.TrimSpace(string(out)), "bin", "h2spec")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("h2spec not installed: go install github.com/summerwind/h2spec/cmd/h2spec@latest")
	}
	return p
}

func TestH2Spec(t *testing.T) {
	be := newBackend(t, "a")
	g, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Apply(&Config{APIs: mustAPIs(t, apiJSON("root", "/", []string{be.URL}, nil))}); err != nil {
		t.Fatal(err)
	}
	s := startServe(t, g)
	if _, err := getWithRetry(s.h2, s.tlsURL+"/"); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(s.tlsURL)
	if err != nil {
		t.Fatal(err)
	}
	report := filepath.Join(t.TempDir(), "h2spec.xml")
	cmd := exec.Command(h2specPath(t), "-t", "-k", "-h", u.Hostname(), "-p", u.Port(), "-o", "2", "-j", report)
	out, _ := cmd.CombinedOutput() // h2spec exits non-zero on any failure; the report decides
	data, err := os.ReadFile(report)
	if err != nil {
		t.Fatalf("no h2spec report: %v\n%s", err, out)
	}
	var js junitSuites
	if err := xml.Unmarshal(data, &js); err != nil {
		t.Fatal(err)
	}
	var failed, unexpected []string
	total := 0
	ordinal := map[string]int{}
	for _, su := range js.Suites {
		for _, c := range su.Cases {
			total++
			ordinal[c.Package]++
			if c.Failure == nil && c.Error == nil {
				continue
			}
			id := c.Package + "/" + strconv.Itoa(ordinal[c.Package])
			failed = append(failed, id)
			if !knownH2specFailures[id] {
				unexpected = append(unexpected, id+" "+c.Class)
			}
		}
	}
	sort.Strings(failed)
	t.Logf("h2spec: %d cases, %d failed: %v", total, len(failed), failed)
	if total < 100 {
		t.Fatalf("h2spec ran only %d cases:\n%s", total, out)
	}
	if len(unexpected) > 0 {
		t.Fatalf("unexpected h2spec failures:\n%s\n\n%s", strings.Join(unexpected, "\n"), out)
	}
}
