package main

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

	"github.com/edgegate/edgegate/appliance/update"
)

// updateCmd pushes a build to an appliance: edgegate update --host H
// --password-file P [build/amd64] (a directory with boot.img, root.img and
// build-id.txt; the default is build/amd64).
func updateCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("edgegate update", flag.ContinueOnError)
	fs.SetOutput(stderr)
	host := fs.String("host", "", "appliance address (host or host:port of its gokrazy web interface)")
	pwFile := fs.String("password-file", "build/gokr-pw.txt", "the image's update password file")
	wait := fs.Duration("wait", 10*time.Minute, "how long to wait for the new build to answer")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	dir := "build/amd64"
	if fs.NArg() > 0 {
		dir = fs.Arg(0)
	}
	if *host == "" {
		fmt.Fprintln(stderr, "edgegate update: --host is required")
		return 2
	}
	pw, err := os.ReadFile(*pwFile)
	if err != nil {
		fmt.Fprintln(stderr, "edgegate update:", err)
		return 1
	}
	id, err := os.ReadFile(filepath.Join(dir, "build-id.txt"))
	if err != nil {
		fmt.Fprintf(stderr, "edgegate update: %v (build the image first: make image)\n", err)
		return 1
	}
	res, err := update.Run(ctx, update.Options{
		Host: *host, Password: strings.TrimSpace(string(pw)), BuildID: strings.TrimSpace(string(id)),
		Boot: filepath.Join(dir, "boot.img"), Root: filepath.Join(dir, "root.img"),
		Wait: *wait, Progress: stdout,
	})
	if err != nil {
		fmt.Fprintln(stderr, "edgegate update:", err)
		if errors.Is(err, update.ErrFellBack) {
			return 3
		}
		return 1
	}
	fmt.Fprintf(stdout, "updated %s: %s -> %s\n", *host, res.Previous, res.Current)
	return 0
}
