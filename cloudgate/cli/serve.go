package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/edgegate/edgegate/cloudgate/pki"
	"github.com/edgegate/edgegate/cloudgate/server"
)

func runServe(e *env, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var o server.Options
	var listen, features string
	fs.StringVar(&o.DataDir, "data-dir", "", "directory for keys, certificates, admin token and database (required)")
	fs.StringVar(&listen, "listen", "127.0.0.1:9443", "HTTPS listen address")
	fs.StringVar(&o.Geo, "geo", "local", "geography (cpg claim) of issued Cloud Tokens")
	fs.StringVar(&o.PublicURL, "public-url", "", "URL that tokens name for this gate (default https:// + the listen address)")
	fs.DurationVar(&o.TokenTTL, "token-ttl", 365*24*time.Hour, "validity of issued Cloud Tokens")
	fs.DurationVar(&o.LicenseTTL, "license-ttl", 365*24*time.Hour, "validity of issued licenses")
	fs.StringVar(&o.LicenseTier, "license-tier", "universe", "tier of issued licenses")
	fs.StringVar(&o.DownloadsDir, "downloads-dir", "", "directory of appliance images the console offers for download (e.g. build/)")
	fs.StringVar(&features, "license-features", "", "comma-separated features of issued licenses")
	fs.DurationVar(&o.AnalyticsRetention, "analytics-retention", 90*24*time.Hour, "how long request records are kept (0 keeps them forever)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageErr("serve takes no arguments, got %v", pos)
	}
	if err := need(fs, "data-dir"); err != nil {
		return err
	}
	if o.AnalyticsRetention == 0 {
		o.AnalyticsRetention = -1 // forever
	}
	for _, f := range strings.Split(features, ",") {
		if f = strings.TrimSpace(f); f != "" {
			o.LicenseFeatures = append(o.LicenseFeatures, f)
		}
	}
	ctx, stop := signal.NotifyContext(e.ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return serve(ctx, e.stdout, e.stderr, listen, o)
}

// serve listens, opens the gate and serves until ctx ends.
func serve(ctx context.Context, stdout, stderr io.Writer, listen string, o server.Options) error {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", listen, err)
	}
	defer ln.Close()
	host, _, err := net.SplitHostPort(ln.Addr().String())
	if err != nil {
		return err
	}
	o.ListenHost = host
	if o.PublicURL == "" {
		o.PublicURL = defaultPublicURL(ln.Addr().(*net.TCPAddr))
	}
	o.Log = stdout
	o.Logger = slog.New(slog.NewTextHandler(stderr, nil))
	srv, err := server.Open(o)
	if err != nil {
		return err
	}
	defer srv.Close()
	fmt.Fprintf(stdout, "cloudgate: serving https://%s (tokens name %s; geo %s); management API at %s, console at %s/console/\n",
		ln.Addr(), o.PublicURL, o.Geo, server.ManagementPrefix, o.PublicURL)
	if err := srv.Serve(ctx, ln); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "cloudgate: stopped")
	return nil
}

// defaultPublicURL is https:// + the listen address; an unspecified address
// (":9443") becomes localhost, which only local gateways can reach.
func defaultPublicURL(a *net.TCPAddr) string {
	if a.IP == nil || a.IP.IsUnspecified() {
		return fmt.Sprintf("https://localhost:%d", a.Port)
	}
	return "https://" + a.String()
}

func keyringFlags(name string, args []string, wantKind bool) (dir, kind string, err error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.StringVar(&dir, "data-dir", "", "the gate's data directory")
	if wantKind {
		fs.StringVar(&kind, "kind", "", "token or license")
	}
	pos, err := parse(fs, args)
	if err != nil {
		return "", "", err
	}
	if len(pos) != 0 {
		return "", "", usageErr("%s takes no arguments", name)
	}
	if err := need(fs, "data-dir"); err != nil {
		return "", "", err
	}
	if wantKind && kind != "token" && kind != "license" {
		return "", "", usageErr("%s: --kind must be token or license", name)
	}
	return dir, kind, nil
}

func keyringDir(dataDir, kind string) string {
	if kind == "license" {
		return filepath.Join(dataDir, pki.LicenseKeysDir)
	}
	return filepath.Join(dataDir, pki.TokenKeysDir)
}

func runKeysList(e *env, args []string) error {
	dir, _, err := keyringFlags("keys list", args, false)
	if err != nil {
		return err
	}
	for _, kind := range []string{"token", "license"} {
		k, err := pki.OpenKeyring(keyringDir(dir, kind), kind, io.Discard)
		if err != nil {
			return err
		}
		active, _ := k.Active()
		for _, kid := range k.KIDs() {
			mark := ""
			if kid == active {
				mark = " (active)"
			}
			fmt.Fprintf(e.stdout, "%s\t%s%s\n", kind, kid, mark)
		}
	}
	return nil
}

func runKeysRotate(e *env, args []string) error {
	dir, kind, err := keyringFlags("keys rotate", args, true)
	if err != nil {
		return err
	}
	k, err := pki.OpenKeyring(keyringDir(dir, kind), kind, io.Discard)
	if err != nil {
		return err
	}
	kid, err := k.Rotate()
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s signing key %s is now active (older keys still verify); restart the gate to use it\n", kind, kid)
	return nil
}
