package controlplane

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/edgegate/edgegate/cloudgate/wire"
	"github.com/edgegate/edgegate/gateway/apidef"
)

// SubscriptionsFile is the file in --apis-dir that holds the subscriptions
// (API keys) of local API-key plans: a JSON array of wire.Subscription, e.g.
// [{"id":"s1","api":"orders","plan":"gold","application":"shop","key":"k-123","status":"ACCEPTED"}].
// It is not an API definition.
const SubscriptionsFile = "subscriptions.json"

// localPoll is how often --apis-dir is checked for changes.
const localPoll = time.Second

// localFile is what the watcher knows of one definition file (or of the
// subscriptions file).
type localFile struct {
	mtime time.Time
	size  int64
	good  json.RawMessage // last version that parsed; nil if none did
	id    string
	subs  []wire.Subscription // SubscriptionsFile only
	err   string              // why the current version is refused; "" when it is used
}

// LocalSource serves API definitions from *.json files in a directory
// (--apis-dir). It polls modification times every second: a new, changed or
// removed file produces a new configuration. A file that does not parse is
// reported by name and its last good version (if any) is kept; the other
// files are served regardless.
type LocalSource struct {
	dir     string
	applier *applier
	status  *status
	log     *slog.Logger

	files    map[string]*localFile // by base name; loop goroutine only
	revision int64

	cancel context.CancelFunc
	done   chan struct{}
}

func newLocalSource(dir string, a *applier, st *status, log *slog.Logger, startRev int64) *LocalSource {
	return &LocalSource{dir: dir, applier: a, status: st, log: log, files: map[string]*localFile{}, revision: startRev}
}

// Load reads the directory once and applies it (Start's first step); the
// error names the files that were refused (the others are served), or says
// why the directory cannot be read (then nothing is applied).
func (l *LocalSource) Load() error {
	if _, err := l.scan(); err != nil {
		return err
	}
	return l.applyFiles()
}

// Start watches the directory until Shutdown.
func (l *LocalSource) Start(ctx context.Context) {
	ctx, l.cancel = context.WithCancel(ctx)
	l.done = make(chan struct{})
	go l.run(ctx)
}

// Shutdown stops the watcher and waits for it.
func (l *LocalSource) Shutdown() {
	if l.cancel == nil {
		return
	}
	l.cancel()
	<-l.done
}

func (l *LocalSource) run(ctx context.Context) {
	defer close(l.done)
	for sleep(ctx, localPoll) {
		changed, err := l.scan()
		if err == nil && changed {
			err = l.applyFiles()
		}
		if err != nil {
			l.status.failed(err, time.Now(), time.Time{})
		}
	}
}

// scan stats the directory and re-reads changed files; it reports whether
// anything changed.
func (l *LocalSource) scan() (bool, error) {
	names, err := filepath.Glob(filepath.Join(l.dir, "*.json"))
	if err != nil {
		return false, fmt.Errorf("list %s: %w", l.dir, err)
	}
	if _, err := os.Stat(l.dir); err != nil {
		return false, fmt.Errorf("--apis-dir: %w", err)
	}
	changed := false
	seen := map[string]bool{}
	for _, p := range names {
		base := filepath.Base(p)
		seen[base] = true
		if l.refresh(base, p) {
			changed = true
		}
	}
	for base := range l.files {
		if !seen[base] {
			delete(l.files, base)
			changed = true
			l.log.Info("api definition file removed", "file", base)
		}
	}
	return changed, nil
}

// refresh re-reads p when its size or mtime changed.
func (l *LocalSource) refresh(base, p string) bool {
	fi, err := os.Stat(p)
	if err != nil {
		return false // removed between Glob and Stat: the next scan sees it
	}
	f := l.files[base]
	if f != nil && f.mtime.Equal(fi.ModTime()) && f.size == fi.Size() {
		return false
	}
	if f == nil {
		f = &localFile{}
		l.files[base] = f
	}
	f.mtime, f.size = fi.ModTime(), fi.Size()
	data, err := os.ReadFile(p)
	if err == nil && base == SubscriptionsFile {
		var subs []wire.Subscription
		if subs, err = parseLocalSubscriptions(data); err == nil {
			f.good, f.subs, f.err = json.RawMessage(data), subs, ""
			return true
		}
	} else if err == nil {
		var a *apidef.API
		if a, err = apidef.Parse(data); err == nil {
			f.good, f.id, f.err = json.RawMessage(data), a.ID, ""
			return true
		}
	}
	f.err = fmt.Sprintf("%s: %v", p, err)
	if f.good != nil {
		f.err += " (serving its last good version)"
	}
	l.log.Error("api definition file refused", "file", p, "err", err, "keptLastGood", f.good != nil)
	return true
}

// applyFiles builds a configuration from every file's last good version.
func (l *LocalSource) applyFiles() error {
	st := &configState{Revision: l.revision + 1, APIs: map[string]json.RawMessage{}, Subs: map[string]wire.Subscription{}}
	var problems []string
	for _, base := range slices.Sorted(maps.Keys(l.files)) {
		f := l.files[base]
		if f.err != "" {
			problems = append(problems, f.err)
		}
		if f.good == nil {
			continue
		}
		if base == SubscriptionsFile {
			for _, sub := range f.subs {
				st.Subs[sub.ID] = sub
			}
			continue
		}
		if _, dup := st.APIs[f.id]; dup {
			problems = append(problems, fmt.Sprintf("%s: api id %q is already defined by another file; this file is ignored", filepath.Join(l.dir, base), f.id))
			continue
		}
		st.APIs[f.id] = f.good
	}
	if err := l.applier.apply(st, SourceLocal); err != nil {
		return err
	}
	l.revision = st.Revision
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// parseLocalSubscriptions reads SubscriptionsFile strictly: every entry
// needs an id, api, plan and status, and ids are unique.
func parseLocalSubscriptions(data []byte) ([]wire.Subscription, error) {
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	var subs []wire.Subscription
	if err := dec.Decode(&subs); err != nil {
		return nil, fmt.Errorf("not a JSON array of subscriptions: %w", err)
	}
	seen := map[string]bool{}
	for i, s := range subs {
		switch {
		case s.ID == "" || s.API == "" || s.Plan == "":
			return nil, fmt.Errorf("subscription %d needs an id, api and plan", i)
		case seen[s.ID]:
			return nil, fmt.Errorf("subscription id %q is listed twice", s.ID)
		case s.Status == "":
			return nil, fmt.Errorf("subscription %q needs a status (ACCEPTED to admit traffic)", s.ID)
		}
		seen[s.ID] = true
	}
	return subs, nil
}
