// Package cli implements the cloudgate command: `cloudgate serve` runs a
// gate; the other commands are operator commands that call a running gate's
// management API (package client). cmd/cloudgate only calls Main.
//
// Every command prints its result alone on stdout (an id, a key, a number)
// so scripts can capture it, and errors on stderr with a non-zero exit
// status: 2 for a usage error, 1 for anything else.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/edgegate/edgegate/cloudgate/client"
)

// DefaultServer is the gate operator commands talk to by default.
const DefaultServer = "https://127.0.0.1:9443"

// DefaultAdminTokenFile is used when present and --admin-token-file is not given.
const DefaultAdminTokenFile = ".demo/cloudgate/admin-token"

// errUsage marks command-line mistakes (exit status 2).
var errUsage = errors.New("usage")

func usageErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errUsage}, args...)...)
}

// env is what a command runs with.
type env struct {
	ctx    context.Context
	stdout io.Writer
	stderr io.Writer
}

type command struct {
	path  string // "gateway create"
	usage string
	run   func(e *env, args []string) error
}

func commands() []command {
	return []command{
		{"serve", "serve --data-dir DIR [--listen 127.0.0.1:9443] [--geo local] [--public-url URL]", runServe},
		{"keys list", "keys list --data-dir DIR", runKeysList},
		{"keys rotate", "keys rotate --data-dir DIR --kind token|license   (with the gate stopped)", runKeysRotate},
		{"env create", "env create --org ORG --env ENV", runEnvCreate},
		{"gateway create", "gateway create --org ORG --env ENV [--name NAME] [--access-point HOST]... --out DIR", runGatewayCreate},
		{"gateway list", "gateway list --org ORG --env ENV", runGatewayList},
		{"token list", "token list --org ORG --env ENV", runTokenList},
		{"token revoke", "token revoke --org ORG --env ENV JTI", runTokenRevoke},
		{"api import", "api import --org ORG --env ENV FILE.json", runAPIImport},
		{"api deploy", "api deploy --org ORG --env ENV API_ID", runAPIDeploy},
		{"api undeploy", "api undeploy --org ORG --env ENV API_ID", runAPIUndeploy},
		{"api list", "api list --org ORG --env ENV", runAPIList},
		{"key create", "key create --org ORG --env ENV --api API_ID --plan PLAN_ID [--application NAME]", runKeyCreate},
		{"analytics count", "analytics count --org ORG [--api API_ID]", runAnalyticsCount},
	}
}

// Main runs the cloudgate command with args (without the program name) and
// returns the exit status.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	e := &env{ctx: ctx, stdout: stdout, stderr: stderr}
	err := dispatch(e, args)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "cloudgate: %v\n\n", strings.TrimPrefix(err.Error(), "usage: "))
		printUsage(stderr)
		return 2
	default:
		fmt.Fprintf(stderr, "cloudgate: %v\n", err)
		return 1
	}
}

func dispatch(e *env, args []string) error {
	for _, c := range commands() {
		words := strings.Fields(c.path)
		if len(args) >= len(words) && strings.Join(args[:len(words)], " ") == c.path {
			return c.run(e, args[len(words):])
		}
	}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		printUsage(e.stdout)
		return nil
	}
	return usageErr("unknown command %q", strings.Join(args[:min(len(args), 2)], " "))
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: cloudgate COMMAND [flags]")
	fmt.Fprintln(w, "\ncommands:")
	for _, c := range commands() {
		fmt.Fprintln(w, "  cloudgate "+c.usage)
	}
	fmt.Fprintf(w, "\noperator commands also take --server URL (default %s), --admin-token-file FILE\n", DefaultServer)
	fmt.Fprintf(w, "(default ./%s when present) and --ca-file FILE (default: ca.pem next to the admin token file).\n", DefaultAdminTokenFile)
}

// parse parses a command's flags; flags and positional arguments may mix.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageErr("%s: %v", fs.Name(), err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// conn holds the flags every operator command takes.
type conn struct {
	server, tokenFile, caFile string
}

func (c *conn) register(fs *flag.FlagSet) {
	fs.StringVar(&c.server, "server", DefaultServer, "the gate's URL")
	fs.StringVar(&c.tokenFile, "admin-token-file", "", "file holding the admin token (default ./"+DefaultAdminTokenFile+" when present)")
	fs.StringVar(&c.caFile, "ca-file", "", "the gate's CA certificate (default: ca.pem next to the admin token file)")
}

// client builds a management client from the flags.
func (c *conn) client() (*client.Client, error) {
	tokenFile := c.tokenFile
	if tokenFile == "" {
		if _, err := os.Stat(DefaultAdminTokenFile); err != nil {
			return nil, usageErr("--admin-token-file is required (no ./%s here)", DefaultAdminTokenFile)
		}
		tokenFile = DefaultAdminTokenFile
	}
	tok, err := os.ReadFile(tokenFile)
	if err != nil {
		return nil, fmt.Errorf("read admin token: %w", err)
	}
	if t := strings.TrimSpace(string(tok)); t == "" || strings.ContainsAny(t, " \t\r\n") {
		return nil, fmt.Errorf("%s does not hold an admin token (one line, no spaces); use DATA_DIR/admin-token of the gate", tokenFile)
	}
	caFile := c.caFile
	if caFile == "" {
		caFile = filepath.Join(filepath.Dir(tokenFile), "ca.pem")
	}
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read the gate's CA certificate (--ca-file): %w", err)
	}
	return client.New(c.server, string(tok), ca)
}

// callCtx bounds one operator call.
func (e *env) callCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(e.ctx, client.Timeout+5*time.Second)
}

// need reports the first empty required flag.
func need(fs *flag.FlagSet, names ...string) error {
	for _, n := range names {
		if f := fs.Lookup(n); f == nil || f.Value.String() == "" {
			return usageErr("%s: --%s is required", fs.Name(), n)
		}
	}
	return nil
}

// multiFlag collects a repeatable flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
