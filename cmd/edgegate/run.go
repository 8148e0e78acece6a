package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/edgegate/edgegate/gateway"
	"github.com/edgegate/edgegate/gateway/controlplane"
	"github.com/edgegate/edgegate/provisioning"
)

// Exit codes of edgegate run.
const (
	exitOK            = 0
	exitFatal         = 1
	exitUsage         = 2
	exitNotConfigured = 125 // "not configured, don't restart" (gokrazy)
)

// Environment variables that carry the provisioning texts.
const (
	envToken   = "gravitee_cloud_token"
	envLicense = "gravitee_license_key"
)

// runFlags are edgegate run's flags.
type runFlags struct {
	tokenFile, licenseFile, pubkeyFile string
	opts                               controlplane.Options
	logLevel                           string
}

func parseRunFlags(args []string, stderr io.Writer) (*runFlags, error) {
	f := &runFlags{}
	fs := flag.NewFlagSet("edgegate run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.tokenFile, "cloud-token-file", "", "file holding the Cloud Token (else env "+envToken+", else the copy kept in --data-dir)")
	fs.StringVar(&f.licenseFile, "license-file", "", "file holding the license.key (else env "+envLicense+", else the kept copy)")
	fs.StringVar(&f.pubkeyFile, "license-pubkey-file", "", "file holding an extra trusted license signing key (base64 Ed25519)")
	fs.StringVar(&f.opts.DataDir, "data-dir", "./data", "state directory (snapshot, report spool, credential copies)")
	fs.StringVar(&f.opts.Listen, "listen", ":8082", "HTTP/1.1 and h2c listen address (\"\" disables)")
	fs.StringVar(&f.opts.TLSListen, "tls-listen", "", "TLS listen address (HTTP/1.1, HTTP/2 and HTTP/3 on the same UDP port), e.g. :8443")
	fs.StringVar(&f.opts.TLSCert, "tls-cert", "", "TLS certificate file (PEM) for --tls-listen")
	fs.StringVar(&f.opts.TLSKey, "tls-key", "", "TLS key file (PEM) for --tls-listen")
	fs.StringVar(&f.opts.HTTP1Engine, "http1-engine", gateway.DefaultHTTP1Engine, "HTTP/1.1 server on --listen: "+gateway.HTTP1EngineLean+" (fast) or "+gateway.HTTP1EngineNetHTTP+" (Go's net/http)")
	fs.Int64Var(&f.opts.SpoolMaxBytes, "spool-max-bytes", 0, "bound of the on-disk report spool; beyond it the oldest records are dropped and counted (0: 256 MiB, or 16 MiB with --apis-dir)")
	fs.StringVar(&f.opts.AdminListen, "admin-listen", "127.0.0.1:18082", "node API listen address (/_node/*)")
	fs.StringVar(&f.opts.APIsDir, "apis-dir", "", "serve the API definitions (*.json) in this directory, watched for changes; no gate needed")
	fs.StringVar(&f.opts.Environment, "environment", "", "environment to serve when the token names several")
	fs.StringVar(&f.opts.GateDomain, "gate-domain", "", "domain of regional gates for tokens without a gate URL (default "+provisioning.DefaultGateDomain+")")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if f.opts.TLSListen != "" && (f.opts.TLSCert == "" || f.opts.TLSKey == "") {
		return nil, errors.New("--tls-listen needs --tls-cert and --tls-key")
	}
	if e := f.opts.HTTP1Engine; e != gateway.HTTP1EngineLean && e != gateway.HTTP1EngineNetHTTP {
		return nil, fmt.Errorf("--http1-engine %q: use %s or %s", e, gateway.HTTP1EngineLean, gateway.HTTP1EngineNetHTTP)
	}
	return f, nil
}

// readText returns the file's content, else the environment variable's.
func readText(file, env, what string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("%s: %w", what, err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	return strings.TrimSpace(os.Getenv(env)), nil
}

// resolve reads the provisioning texts and keys into the options.
func (f *runFlags) resolve(stderr io.Writer) error {
	var err error
	if f.opts.TokenText, err = readText(f.tokenFile, envToken, "--cloud-token-file"); err != nil {
		return err
	}
	if f.opts.LicenseText, err = readText(f.licenseFile, envLicense, "--license-file"); err != nil {
		return err
	}
	if f.pubkeyFile != "" {
		b, err := os.ReadFile(f.pubkeyFile)
		if err != nil {
			return fmt.Errorf("--license-pubkey-file: %w", err)
		}
		k, err := provisioning.DecodePublicKey(string(b))
		if err != nil {
			return fmt.Errorf("--license-pubkey-file %s: %w", f.pubkeyFile, err)
		}
		f.opts.LicenseKeys = []ed25519.PublicKey{k}
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(f.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	f.opts.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))
	f.opts.Version = version
	return nil
}

func runCmd(ctx context.Context, args []string, _, stderr io.Writer) int {
	f, err := parseRunFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintln(stderr, "edgegate run:", err)
		return exitUsage
	}
	if err := f.resolve(stderr); err != nil {
		fmt.Fprintln(stderr, "edgegate run:", err)
		return exitFatal
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	err = controlplane.Run(ctx, f.opts)
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, controlplane.ErrNotConfigured):
		fmt.Fprintln(stderr, "edgegate run:", err)
		return exitNotConfigured
	default:
		fmt.Fprintln(stderr, "edgegate run:", err)
		return exitFatal
	}
}
