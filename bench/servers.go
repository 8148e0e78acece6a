package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Body is what the backend answers to every request: 100 bytes.
const Body = "edgegate benchmark backend: a fixed body of one hundred bytes, the same for every target measured.\n"

// startTimeout bounds how long a server may take to answer its first request.
const startTimeout = 20 * time.Second

// site is where the harness keeps one server's files.
func site(root, name string) (string, error) {
	dir := filepath.Join(root, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	return dir, nil
}

func writeFile(path, text string) error {
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// nginxCommon is the part of every nginx configuration the harness writes:
// one worker (one core), no access log, temporary files under dir,
// keep-alive connections that are never recycled during a run.
func nginxCommon(dir string) string {
	return fmt.Sprintf(`worker_processes 1;
daemon off;
user root;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
`, dir)
}

// BackendConfig is the nginx configuration of the one backend every target
// proxies to.
func BackendConfig(dir, addr string) string {
	return nginxCommon(dir) + fmt.Sprintf(`  server {
    listen %s backlog=4096;
    location / {
      default_type text/plain;
      return 200 %q;
    }
  }
}
`, addr, Body)
}

// NginxProxyConfig is nginx as a reverse proxy with a keep-alive upstream
// pool, adding X-Forwarded-For as every other proxy measured does.
func NginxProxyConfig(dir, addr, backend string) string {
	return nginxCommon(dir) + fmt.Sprintf(`  upstream backend {
    server %s;
    keepalive 128;
    keepalive_requests 100000000;
  }
  server {
    listen %s backlog=4096;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
  }
}
`, backend, addr)
}

// HAProxyConfig is haproxy with one thread, keep-alive on both sides,
// connection reuse to the backend, X-Forwarded-For, and no logging.
func HAProxyConfig(addr, backend string) string {
	return fmt.Sprintf(`global
  nbthread 1
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 300s
  timeout server 300s
  timeout http-keep-alive 300s
  option http-keep-alive
  option forwardfor
  http-reuse always
frontend bench
  bind %s
  default_backend backend
backend backend
  server b1 %s
`, addr, backend)
}

// CaddyConfig is a Caddyfile: no admin endpoint, no automatic HTTPS, a
// reverse_proxy (keep-alive and X-Forwarded-For are its defaults) and no
// access log (its default).
func CaddyConfig(addr, backend string) string {
	return fmt.Sprintf(`{
  admin off
  auto_https off
}
http://%s {
  bind 127.0.0.1
  reverse_proxy %s
}
`, addr, backend)
}

// startNginx runs nginx with the configuration text in dir.
func startNginx(ctx context.Context, name, dir string, cpu int, conf, probe string) (*process, error) {
	for _, sub := range []string{"body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	path := filepath.Join(dir, "nginx.conf")
	if err := writeFile(path, conf); err != nil {
		return nil, err
	}
	p, err := startProcess(name, dir, cpu, nil, "nginx", "-e", filepath.Join(dir, "error.log"), "-p", dir, "-c", path)
	if err != nil {
		return nil, err
	}
	return p, waitOrStop(ctx, p, probe, "")
}

// waitOrStop waits for p to serve url, and stops it if it does not.
func waitOrStop(ctx context.Context, p *process, url, header string) error {
	if err := waitHTTP(ctx, p, url, header, startTimeout); err != nil {
		if serr := p.stop(2 * time.Second); serr != nil {
			return fmt.Errorf("%w (and %w)", err, serr)
		}
		return fmt.Errorf("%w; log: %s", err, tail(p.log.Name()))
	}
	return nil
}

// tail returns the end of a log file for an error message.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(unreadable: %v)", err)
	}
	return clip(string(b))
}

// clip keeps the end of a long program output for an error message.
func clip(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 800 {
		s = "…" + s[len(s)-800:]
	}
	return s
}
