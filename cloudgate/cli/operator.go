package cli

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/edgegate/edgegate/cloudgate/client"
)

// opFlags is a flag set with the connection flags and --org/--env.
type opFlags struct {
	fs       *flag.FlagSet
	conn     conn
	org, env string
}

func newOpFlags(name string, withEnv bool) *opFlags {
	o := &opFlags{fs: flag.NewFlagSet(name, flag.ContinueOnError)}
	o.conn.register(o.fs)
	o.fs.StringVar(&o.org, "org", "", "organization id")
	if withEnv {
		o.fs.StringVar(&o.env, "env", "", "environment id")
	}
	return o
}

// parse parses args, checks required flags and the number of positional
// arguments, and returns a client.
func (o *opFlags) parse(args []string, npos int, required ...string) ([]string, *client.Client, error) {
	pos, err := parse(o.fs, args)
	if err != nil {
		return nil, nil, err
	}
	if err := need(o.fs, required...); err != nil {
		return nil, nil, err
	}
	if len(pos) != npos {
		return nil, nil, usageErr("%s: want %d argument(s), got %d (%v)", o.fs.Name(), npos, len(pos), pos)
	}
	c, err := o.conn.client()
	return pos, c, err
}

func runEnvCreate(e *env, args []string) error {
	o := newOpFlags("env create", true)
	_, c, err := o.parse(args, 0, "org", "env")
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := e.callCtx()
	defer cancel()
	created, err := c.EnsureEnv(ctx, o.org, o.env)
	if err != nil {
		return err
	}
	what := "exists"
	if created {
		what = "created"
	}
	fmt.Fprintf(e.stdout, "%s/%s %s\n", o.org, o.env, what)
	return nil
}

func runGatewayCreate(e *env, args []string) error {
	o := newOpFlags("gateway create", true)
	var aps multiFlag
	var name, out string
	o.fs.Var(&aps, "access-point", "host or URL clients reach the gateway at (repeatable)")
	o.fs.StringVar(&name, "name", "", "gateway name (default gateway-<id>)")
	o.fs.StringVar(&out, "out", "", "directory to write cloud-token and license.key to")
	_, c, err := o.parse(args, 0, "org", "env", "out")
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := e.callCtx()
	defer cancel()
	inst, err := c.CreateGateway(ctx, o.org, o.env, name, aps)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o700); err != nil {
		return fmt.Errorf("create --out directory: %w", err)
	}
	tokPath, licPath := filepath.Join(out, "cloud-token"), filepath.Join(out, "license.key")
	if err := writeSecret(tokPath, inst.CloudToken+"\n"); err != nil {
		return fmt.Errorf("write cloud token: %w", err)
	}
	if err := writeSecret(licPath, inst.LicenseKey+"\n"); err != nil {
		return fmt.Errorf("write license: %w", err)
	}
	fmt.Fprintf(e.stdout, "gateway %s (%s) created in %s/%s\n", inst.Gateway.ID, inst.Gateway.Name, o.org, o.env)
	fmt.Fprintf(e.stdout, "cloud token: %s\nlicense:     %s\n", tokPath, licPath)
	return nil
}

func runGatewayList(e *env, args []string) error {
	o := newOpFlags("gateway list", true)
	_, c, err := o.parse(args, 0, "org", "env")
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := e.callCtx()
	defer cancel()
	gws, err := c.Gateways(ctx, o.org, o.env)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tONLINE\tREVOKED\tLAST SEEN\tVERSION\tHOSTNAME\tREVISION\tLATEST\tSPOOLED\tDROPPED")
	for _, g := range gws {
		fmt.Fprintf(tw, "%s\t%s\t%t\t%t\t%s\t%s\t%s\t%d\t%d\t%d\t%d\n", g.ID, g.Name, g.Online, g.Revoked, when(g.LastSeen),
			dash(g.Version), dash(g.Hostname), g.RevisionApplied, g.LatestRevision, g.Spooled, g.Dropped)
	}
	return tw.Flush()
}

func when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func runTokenList(e *env, args []string) error {
	o := newOpFlags("token list", true)
	_, c, err := o.parse(args, 0, "org", "env")
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := e.callCtx()
	defer cancel()
	toks, err := c.Tokens(ctx, o.org, o.env)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "JTI\tGATEWAY\tKID\tISSUED\tEXPIRES\tREVOKED")
	for _, t := range toks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%t\n", t.ID, t.GatewayID, t.KeyID, when(t.IssuedAt), when(t.ExpiresAt), t.Revoked)
	}
	return tw.Flush()
}

func runTokenRevoke(e *env, args []string) error {
	o := newOpFlags("token revoke", true)
	pos, c, err := o.parse(args, 1, "org", "env")
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := e.callCtx()
	defer cancel()
	if err := c.RevokeToken(ctx, o.org, o.env, pos[0]); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "token %s revoked\n", pos[0])
	return nil
}

func runAPIImport(e *env, args []string) error {
	o := newOpFlags("api import", true)
	pos, c, err := o.parse(args, 1, "org", "env")
	if err != nil {
		return err
	}
	defer c.Close()
	def, err := os.ReadFile(pos[0])
	if err != nil {
		return fmt.Errorf("read API definition: %w", err)
	}
	ctx, cancel := e.callCtx()
	defer cancel()
	id, err := c.ImportAPI(ctx, o.org, o.env, def)
	if err != nil {
		return fmt.Errorf("import %s: %w", pos[0], err)
	}
	fmt.Fprintln(e.stdout, id)
	return nil
}

func runAPIDeploy(e *env, args []string) error   { return deployment(e, args, "deploy") }
func runAPIUndeploy(e *env, args []string) error { return deployment(e, args, "undeploy") }

func deployment(e *env, args []string, action string) error {
	o := newOpFlags("api "+action, true)
	pos, c, err := o.parse(args, 1, "org", "env")
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := e.callCtx()
	defer cancel()
	call := c.Deploy
	if action == "undeploy" {
		call = c.Undeploy
	}
	rev, err := call(ctx, o.org, o.env, pos[0])
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "api %s %sed; revision %d\n", pos[0], action, rev)
	return nil
}

func runAPIList(e *env, args []string) error {
	o := newOpFlags("api list", true)
	_, c, err := o.parse(args, 0, "org", "env")
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := e.callCtx()
	defer cancel()
	apis, err := c.APIs(ctx, o.org, o.env)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(apis)
}

func runKeyCreate(e *env, args []string) error {
	o := newOpFlags("key create", true)
	var api, plan, app string
	o.fs.StringVar(&api, "api", "", "API id")
	o.fs.StringVar(&plan, "plan", "", "API-key plan id")
	o.fs.StringVar(&app, "application", "", "application name (created when missing; default \"default\")")
	_, c, err := o.parse(args, 0, "org", "env", "api", "plan")
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := e.callCtx()
	defer cancel()
	sub, err := c.CreateKey(ctx, o.org, o.env, api, plan, app)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, sub.Key)
	return nil
}

func runAnalyticsCount(e *env, args []string) error {
	o := newOpFlags("analytics count", false)
	var api string
	o.fs.StringVar(&api, "api", "", "count only this API's requests")
	_, c, err := o.parse(args, 0, "org")
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := e.callCtx()
	defer cancel()
	n, err := c.Count(ctx, o.org, api)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, n)
	return nil
}

// writeSecret replaces path with text, mode 0600 even when the file existed
// with another mode, atomically (a gateway watching the file never reads
// half of it).
func writeSecret(path, text string) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
