// Package console serves the Cloud Gate's web console: static assets,
// embedded in the binary, that talk to the management API.
//
// # Design
//
// The console is plain HTML, CSS and JavaScript modules under assets/, with
// no build step: what is in the repository is what the browser runs, so
// `make demo` and `go build` need nothing else. It uses only the management
// API (/management/v1 on the same origin, docs/architecture.md) with the
// admin credential as a Bearer token, kept in the tab's sessionStorage. Hash
// routing (#/overview, #/gateways/deploy, #/apis, #/analytics, #/tokens)
// keeps every page a static file. Charts are inline SVG drawn by
// assets/js/charts.js. Nothing is loaded from another origin (no fonts, no
// CDN): appliances and labs often have no internet.
//
// # Serving
//
// Mount Handler (or New) at /console/ on the gate's HTTPS listener:
//
//	mux.Handle("/console/", console.Handler())
//
// Every answer carries a strict Content-Security-Policy (same origin only, no
// inline scripts) and asks browsers to revalidate, so an upgraded gate never
// serves a stale mix of old and new modules.
package console

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

//go:embed assets
var assets embed.FS

// Prefix is the path the console is served under.
const Prefix = "/console/"

// contentSecurityPolicy allows only same-origin code and data. Styles set
// through the CSSOM (element.style) are not inline styles and stay allowed.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"

// Options configures the console. A nil *Options means the zero value.
type Options struct {
	// DownloadsDir is a directory whose regular files (appliance images,
	// update artifacts) the wizard offers for download, at
	// /console/downloads/NAME, listed in /console/downloads/index.json.
	// Empty (the zero value) offers none: the wizard then explains how to
	// build an image with `make image`.
	DownloadsDir string
}

// Handler serves the console with default options; mount it under /console/.
func Handler() http.Handler { return New(nil) }

// New serves the console as opts says; mount it under /console/.
func New(opts *Options) http.Handler {
	if opts == nil {
		opts = &Options{}
	}
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	mux := http.NewServeMux()
	mux.Handle("/", withETags(sub, http.FileServer(http.FS(sub))))
	d := downloads{dir: opts.DownloadsDir}
	mux.HandleFunc("GET /downloads/index.json", d.index)
	mux.HandleFunc("GET /downloads/{name}", d.file)
	return securityHeaders(http.StripPrefix(strings.TrimSuffix(Prefix, "/"), mux))
}

// withETags sets a content-hash ETag on every embedded file, so that a
// browser revalidating (Cache-Control: no-cache) gets 304 Not Modified
// instead of the file again. embed.FS files have no modification time, so
// FileServer alone could not answer conditionally.
func withETags(fsys fs.FS, next http.Handler) http.Handler {
	tags := map[string]string{}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		tags["/"+p] = `"` + hex.EncodeToString(sum[:8]) + `"`
		return nil
	})
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	tags["/"] = tags["/index.html"]
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tag, ok := tags[r.URL.Path]; ok {
			w.Header().Set("ETag", tag)
		}
		next.ServeHTTP(w, r)
	})
}

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		next.ServeHTTP(w, r)
	})
}

// downloads offers the regular files of one directory, and nothing else.
type downloads struct{ dir string }

// Download is one entry of /console/downloads/index.json.
type Download struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
}

// list reads the directory at each request, so images built after the gate
// started show up without a restart.
func (d downloads) list() ([]Download, error) {
	if d.dir == "" {
		return nil, nil
	}
	ents, err := os.ReadDir(d.dir)
	if err != nil {
		return nil, err
	}
	var out []Download
	for _, e := range ents {
		if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // removed while listing
		}
		out = append(out, Download{Name: e.Name(), Size: info.Size()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (d downloads) index(w http.ResponseWriter, r *http.Request) {
	files, err := d.list()
	if err != nil {
		http.Error(w, "downloads directory unreadable", http.StatusInternalServerError)
		return
	}
	if files == nil {
		files = []Download{}
	}
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(files); err != nil {
		return // the client went away; nothing to tell it
	}
}

func (d downloads) file(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	files, err := d.list()
	if err != nil {
		http.Error(w, "downloads directory unreadable", http.StatusInternalServerError)
		return
	}
	for _, f := range files {
		if f.Name == name { // only listed names: no path tricks can reach other files
			w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
			http.ServeFile(w, r, filepath.Join(d.dir, name))
			return
		}
	}
	http.NotFound(w, r)
}
