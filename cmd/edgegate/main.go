// Command edgegate is the edgegate gateway: `edgegate run` serves APIs
// configured by a Cloud Gate (or a local directory), `edgegate version`
// prints its version. Each subcommand lives in its own file and adds one
// line to commands.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// command is one subcommand: run gets the arguments after its name and
// returns the process exit code.
type command struct {
	name, summary string
	run           func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

// commands lists the subcommands; add yours with one line.
func commands() []command {
	return []command{
		{"run", "serve APIs (the appliance's main process)", runCmd},
		{"version", "print the version", versionCmd},
		{"provision", "write a provisioning stick image (cloud-token, license.key)", provisionCmd},
		{"update", "push a new build to an appliance (gokrazy update protocol)", updateCmd},
	}
}

func main() {
	os.Exit(dispatch(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// dispatch runs the subcommand named by args[0].
func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		return 2
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "edgegate: unknown command %q\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: edgegate COMMAND [flags]\n\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nrun `edgegate COMMAND -h` for the flags of a command")
}

func versionCmd(_ context.Context, _ []string, stdout, _ io.Writer) int {
	fmt.Fprintln(stdout, "edgegate", version)
	return 0
}
