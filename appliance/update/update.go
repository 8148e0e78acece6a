// Package update pushes a new build to an edgegate appliance over gokrazy's
// device update API and waits until the new build answers.
//
// # Protocol
//
// Every request carries HTTP basic auth (user "gokrazy", the image's
// gokr-pw.txt). The order is:
//
//  1. GET / (Accept: application/json): the running build (BuildTimestamp);
//     GET /update/features checks the device speaks the protocol.
//  2. PUT /update/root: root.img onto the inactive root partition; the
//     device answers the SHA-256 of what it wrote, checked here.
//  3. PUT /update/bootonly: boot.img onto the boot partition, keeping the
//     active root in its command line (plain /update/boot would reset it
//     to partition 2); the SHA-256 is checked likewise.
//  4. POST /update/testboot: a try-once boot of the inactive root.
//  5. POST /edgegate/sync: gokrazy edits the boot configuration in place
//     without syncing, and its reboot would read it back stale.
//  6. POST /reboot.
//  7. Poll GET / until the device answers with the new build id (it boots
//     the new root on trial, commits it when the gateway is healthy, and
//     reboots into it; see package appliance). If the device comes back on
//     the build it ran before, the new build failed its trial: ErrFellBack.
package update

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// ErrFellBack is returned when the device came back on its previous build.
var ErrFellBack = errors.New("the device fell back to its previous build")

// ErrHashMismatch is returned when the device wrote something else than sent.
var ErrHashMismatch = errors.New("the device wrote different bytes than were sent")

// Options describe one update. Zero values mean the documented defaults.
type Options struct {
	Host     string // host or host:port of the device's gokrazy HTTP (port 80)
	Password string // gokr-pw.txt
	Boot     string // boot.img
	Root     string // root.img
	// BuildID is the build the device must report when done (build-id.txt).
	BuildID string
	// Wait bounds waiting for the new build after the reboot; default 10 min.
	Wait time.Duration
	// Poll is the status polling interval; default 1 s.
	Poll     time.Duration
	Progress io.Writer // default io.Discard
}

// Result is what happened.
type Result struct {
	Previous, Current string        // build ids before and after
	Took              time.Duration // from reboot to the new build answering
}

// client talks to one device.
type client struct {
	base     string
	password string
	upload   *http.Client // long: a root image over a slow link
	short    *http.Client
	progress io.Writer
}

func newClient(o Options) *client {
	host := o.Host
	if _, _, err := net.SplitHostPort(host); err != nil {
		host = net.JoinHostPort(host, "80")
	}
	tr := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		ResponseHeaderTimeout: 5 * time.Minute, // the device syncs before answering
		DisableKeepAlives:     true,            // the device reboots under us
	}
	return &client{
		base: "http://" + host, password: o.Password, progress: o.Progress,
		upload: &http.Client{Transport: tr, Timeout: 30 * time.Minute},
		short:  &http.Client{Transport: tr, Timeout: 5 * time.Second},
	}
}

// Run performs the update described by o.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Wait == 0 {
		o.Wait = 10 * time.Minute
	}
	if o.Poll == 0 {
		o.Poll = time.Second
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Host == "" || o.Password == "" || o.Boot == "" || o.Root == "" || o.BuildID == "" {
		return nil, errors.New("update: host, password, boot image, root image and build id are all required")
	}
	c := newClient(o)
	prev, err := c.buildID(ctx)
	if err != nil {
		return nil, fmt.Errorf("update: reach %s: %w", o.Host, err)
	}
	fmt.Fprintf(o.Progress, "device %s runs build %s\n", o.Host, prev)
	if err := c.features(ctx); err != nil {
		return nil, err
	}
	if err := c.put(ctx, "/update/root", o.Root); err != nil {
		return nil, err
	}
	if err := c.put(ctx, "/update/bootonly", o.Boot); err != nil {
		return nil, err
	}
	if err := c.post(ctx, "/update/testboot"); err != nil {
		return nil, err
	}
	if err := c.syncDevice(ctx); err != nil {
		return nil, err
	}
	fmt.Fprintln(o.Progress, "try-once boot of the new root armed; rebooting")
	start := time.Now()
	// Services get 45 s after SIGTERM (the appliance's launcher needs at
	// most 20 s and then syncs the boot configuration) instead of gokrazy's
	// default 100 s.
	if err := c.post(ctx, "/reboot?wait_per_signal=45s"); err != nil {
		return nil, err
	}
	cur, err := c.waitBuild(ctx, prev, o.BuildID, o.Wait, o.Poll)
	res := &Result{Previous: prev, Current: cur, Took: time.Since(start)}
	if err != nil {
		return res, err
	}
	fmt.Fprintf(o.Progress, "device runs build %s (%.0fs after the reboot)\n", cur, res.Took.Seconds())
	return res, nil
}

func (c *client) request(ctx context.Context, method, path string, body io.Reader, size int64) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth("gokrazy", c.password)
	if body != nil {
		req.ContentLength = size
	}
	return req, nil
}

func readReply(resp *http.Response, what string) (string, error) {
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return "", fmt.Errorf("%s: wrong password (HTTP 401): use the build's gokr-pw.txt", what)
	case resp.StatusCode != http.StatusOK:
		return "", fmt.Errorf("%s: %s: %s", what, resp.Status, strings.TrimSpace(string(b)))
	}
	return string(b), nil
}

// buildID reads the running build from gokrazy's status JSON.
func (c *client) buildID(ctx context.Context) (string, error) {
	req, err := c.request(ctx, http.MethodGet, "/", nil, 0)
	if err != nil {
		return "", err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.short.Do(req)
	if err != nil {
		return "", err
	}
	body, err := readReply(resp, "status")
	if err != nil {
		return "", err
	}
	var st struct{ BuildTimestamp string }
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		return "", fmt.Errorf("status: %w", err)
	}
	return st.BuildTimestamp, nil
}

func (c *client) features(ctx context.Context) error {
	req, err := c.request(ctx, http.MethodGet, "/update/features", nil, 0)
	if err != nil {
		return err
	}
	resp, err := c.short.Do(req)
	if err != nil {
		return fmt.Errorf("update features: %w", err)
	}
	f, err := readReply(resp, "update features")
	if err != nil {
		return err
	}
	for _, need := range []string{"partuuid", "updatehash"} {
		if !strings.Contains(f, need) {
			return fmt.Errorf("the device's update API lacks %q (it offers %q)", need, f)
		}
	}
	return nil
}

// put uploads a file and checks the SHA-256 the device reports.
func (c *client) put(ctx context.Context, path, file string) error {
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("update: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	h := sha256.New()
	body := &progressReader{r: io.TeeReader(f, h), total: st.Size(), w: c.progress, what: path}
	req, err := c.request(ctx, http.MethodPut, path, body, st.Size())
	if err != nil {
		return err
	}
	req.Header.Set("X-Gokrazy-Update-Hash", "sha256")
	resp, err := c.upload.Do(req)
	if err != nil {
		return fmt.Errorf("update: PUT %s: %w", path, err)
	}
	got, err := readReply(resp, "PUT "+path)
	if err != nil {
		return err
	}
	want := hex.EncodeToString(h.Sum(nil))
	if got = strings.TrimSpace(got); got != want {
		return fmt.Errorf("update: PUT %s: device reports sha256 %q, sent %s: %w", path, got, want, ErrHashMismatch)
	}
	fmt.Fprintf(c.progress, "%s: %d bytes written, sha256 %s verified\n", path, st.Size(), want[:16])
	return nil
}

func (c *client) post(ctx context.Context, path string) error {
	req, err := c.request(ctx, http.MethodPost, path, nil, 0)
	if err != nil {
		return err
	}
	resp, err := c.upload.Do(req)
	if err != nil {
		return fmt.Errorf("update: POST %s: %w", path, err)
	}
	_, err = readReply(resp, "POST "+path)
	return err
}

// writebackWait is how long the kernel takes at most to write dirty pages
// back by itself (dirty_expire_centisecs 30 s plus one 5 s writeback
// period): the wait when a device has no sync endpoint.
const writebackWait = 36 * time.Second

// syncDevice makes the device write its edited boot configuration to disk
// before the reboot reads it back (see appliance.SyncHandler). A device
// without the endpoint (an older build) gets the kernel's writeback delay.
func (c *client) syncDevice(ctx context.Context) error {
	req, err := c.request(ctx, http.MethodPost, "/edgegate/sync", nil, 0)
	if err != nil {
		return err
	}
	resp, err := c.upload.Do(req)
	if err != nil {
		return fmt.Errorf("update: sync: %w", err)
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNoContent, http.StatusOK:
		return nil
	case http.StatusNotFound:
		fmt.Fprintf(c.progress, "device has no %s; waiting %s for its kernel to write the boot configuration\n", "/edgegate/sync", writebackWait)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(writebackWait):
			return nil
		}
	default:
		return fmt.Errorf("update: sync: %s", resp.Status)
	}
}

// waitBuild polls until the device answers with want (success) or, after
// having been down, with prev (fallback).
func (c *client) waitBuild(ctx context.Context, prev, want string, wait, poll time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	t := time.NewTicker(poll)
	defer t.Stop()
	wentDown, last := false, prev
	for {
		id, err := c.buildID(ctx)
		switch {
		case err != nil:
			if !wentDown {
				fmt.Fprintln(c.progress, "device rebooting ...")
			}
			wentDown = true
		case id != last:
			fmt.Fprintf(c.progress, "device answers: build %s\n", id)
			last = id
		}
		if err == nil && wentDown {
			switch id {
			case want:
				return id, nil
			case prev:
				return id, fmt.Errorf("update: %w (%s): see the device's console or log for why", ErrFellBack, prev)
			}
		}
		select {
		case <-ctx.Done():
			return last, fmt.Errorf("update: the device did not answer with build %s within %s (last seen: %q)", want, wait, last)
		case <-t.C:
		}
	}
}

// progressReader reports upload progress every 10%.
type progressReader struct {
	r        io.Reader
	w        io.Writer
	what     string
	total, n int64
	shown    int64
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	if p.total > 0 {
		if pct := p.n * 100 / p.total; pct >= p.shown+10 || (err == io.EOF && pct > p.shown) {
			p.shown = pct
			fmt.Fprintf(p.w, "%s: %d%%\n", p.what, pct)
		}
	}
	return n, err
}
