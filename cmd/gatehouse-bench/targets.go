package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Target names, in the order they are set up and reported.
const (
	targetDirect       = "direct"
	targetReverseProxy = "reverseproxy"
	targetNginx        = "nginx"
	targetGHOpen       = "gatehouse-open"
	targetGHJWT        = "gatehouse-jwt"
	targetGHScoped     = "gatehouse-scoped"
)

var targetNames = []string{targetDirect, targetReverseProxy, targetNginx, targetGHOpen, targetGHJWT, targetGHScoped}

// What each target is, for the report.
var targetDesc = map[string]string{
	targetDirect:       "the upstream itself, no proxy",
	targetReverseProxy: "bare httputil.ReverseProxy, no checks: the ceiling for a net/http proxy",
	targetNginx:        "nginx proxy_pass, keepalive to the upstream (skipped when not installed)",
	targetGHOpen:       "Gatehouse, route with credential none",
	targetGHJWT:        "Gatehouse, bearer route (JWT verified)",
	targetGHScoped:     "Gatehouse, JWT + scope + per-client rate limit",
}

// openPath is the path requested from the targets that do not check
// credentials; the Gatehouse targets use their route's prefix.
const openPath = "/open/x"

// target is one thing to load: a URL, the header to send, and the processes
// whose CPU to read.
type target struct {
	name     string
	url      string
	path     string
	header   string // "Name: value", or ""
	proxy    *proc  // nil when the upstream is hit directly
	upstream *proc
	// unauthorized, when set, is a request the target must refuse with 401:
	// proof that its checks are on.
	unauthorized bool
}

func (t *target) proxyCPU() (time.Duration, error) {
	if t.proxy == nil {
		return 0, nil
	}
	return t.proxy.cpu()
}

// setup starts the servers the requested targets need and checks each
// target once. It returns the targets ready to measure; for each requested
// target that could not be set up, why; and the targets skipped because
// their software is not installed.
func setup(ctx context.Context, l *lab, o *options, logf func(string, ...any)) (ready []*target, failed, skipped []string) {
	want := func(name string) bool { return slices.Contains(o.only, name) }
	fail := func(err error, names ...string) {
		var wanted []string
		for _, n := range names {
			if want(n) {
				wanted = append(wanted, n)
				failed = append(failed, fmt.Sprintf("%s: %v", n, err))
			}
		}
		logf("%s: %v", strings.Join(wanted, ", "), err)
	}

	up, err := l.startUpstream(ctx)
	if err != nil {
		fail(fmt.Errorf("upstream: %w", err), o.only...)
		return nil, failed, nil
	}
	upURL := "http://" + up.addr
	var ts []*target
	var auth string // the Gatehouse targets' Authorization header
	if want(targetDirect) {
		ts = append(ts, &target{name: targetDirect, url: upURL + openPath, path: openPath, upstream: up})
	}
	if want(targetReverseProxy) {
		if p, err := l.startReverseProxy(ctx, upURL); err != nil {
			fail(err, targetReverseProxy)
		} else {
			ts = append(ts, &target{name: targetReverseProxy, url: "http://" + p.addr + openPath, path: openPath, proxy: p, upstream: up})
		}
	}
	if want(targetNginx) {
		switch p, err := l.startNginx(ctx, up.addr); {
		case errors.Is(err, errNotInstalled):
			msg := "nginx: not installed (apt-get install nginx)"
			logf("%s; skipped", msg)
			skipped = append(skipped, msg)
		case err != nil:
			fail(err, targetNginx)
		default:
			ts = append(ts, &target{name: targetNginx, url: "http://" + p.addr + openPath, path: openPath, proxy: p, upstream: up})
		}
	}
	if want(targetGHOpen) || want(targetGHJWT) || want(targetGHScoped) {
		gh, err := l.startGatehouse(ctx, upURL, o.callLog, o.gcPct, logf)
		if err != nil {
			fail(err, targetGHOpen, targetGHJWT, targetGHScoped)
		} else {
			auth = "Authorization: Bearer " + gh.token
			for _, t := range []*target{
				{name: targetGHOpen, path: "/open/x"},
				{name: targetGHJWT, path: "/jwt/x", header: auth, unauthorized: true},
				{name: targetGHScoped, path: "/scoped/x", header: auth, unauthorized: true},
			} {
				if want(t.name) {
					t.url, t.proxy, t.upstream = gh.url+t.path, gh.proc, up
					ts = append(ts, t)
				}
			}
		}
	}

	if o.sameRequest && auth != "" {
		// The same bytes reach every target; the ones that do not check
		// the token pass it on (Gatehouse's open route drops it).
		for _, t := range ts {
			t.header = auth
		}
	}
	for _, t := range ts {
		if err := preflight(ctx, t); err != nil {
			fail(err, t.name)
			continue
		}
		ready = append(ready, t)
	}
	return ready, failed, skipped
}

// preflight checks that a target answers 200 with the upstream's body and
// that the upstream saw the full path; and, for targets that check tokens,
// that a request without one is refused.
func preflight(ctx context.Context, t *target) error {
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	get := func(header string) (*http.Response, []byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.url, nil)
		if err != nil {
			return nil, nil, err
		}
		if name, value, ok := strings.Cut(header, ":"); ok {
			req.Header.Set(name, strings.TrimSpace(value))
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, nil, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return resp, body, err
	}
	resp, body, err := get(t.header)
	switch {
	case err != nil:
		return fmt.Errorf("pre-flight GET %s: %w", t.url, err)
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("pre-flight GET %s: %s: %.200s", t.url, resp.Status, bytes.TrimSpace(body))
	case string(body) != string(upstreamBody) || resp.Header.Get(headerUpstreamPath) != t.path:
		return fmt.Errorf("pre-flight GET %s: the answer is not the upstream's for %s (upstream saw %q)", t.url, t.path, resp.Header.Get(headerUpstreamPath))
	}
	if t.unauthorized {
		resp, _, err := get("")
		switch {
		case err != nil:
			return fmt.Errorf("pre-flight GET %s without a token: %w", t.url, err)
		case resp.StatusCode != http.StatusUnauthorized:
			return fmt.Errorf("pre-flight GET %s without a token: %s, want 401 Unauthorized: the route does not check tokens", t.url, resp.Status)
		}
	}
	return nil
}

// httpOK is a readiness check: GET url answers 200.
func httpOK(url string) func(context.Context) error {
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return nil
	}
}

func (l *lab) startUpstream(ctx context.Context) (*proc, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	p, err := l.start("upstream", addr, exec.Command(l.self, "upstream", "--addr", addr))
	if err != nil {
		return nil, err
	}
	return p, p.waitReady(ctx, 10*time.Second, httpOK("http://"+addr+"/"))
}

func (l *lab) startReverseProxy(ctx context.Context, upstreamURL string) (*proc, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	p, err := l.start("reverseproxy", addr, exec.Command(l.self, "reverseproxy", "--addr", addr, "--upstream", upstreamURL))
	if err != nil {
		return nil, err
	}
	return p, p.waitReady(ctx, 10*time.Second, httpOK("http://"+addr+"/"))
}

var errNotInstalled = errors.New("not installed")

// nginxConfig is a minimal nginx in front of the upstream: one worker per
// core, no access log, HTTP/1.1 keep-alive connections to the upstream (by
// default nginx opens one per request).
func nginxConfig(prefix, addr, upstreamAddr string, workers int) string {
	return fmt.Sprintf(`# generated by gatehouse-bench
worker_processes %[4]d;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events {
    worker_connections 4096;
}
http {
    access_log off;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    upstream bench_upstream {
        server %[3]s;
        keepalive 256;
    }
    server {
        listen %[2]s;
        location / {
            proxy_pass http://bench_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
`, prefix, addr, upstreamAddr, workers)
}

func findNginx() (string, error) {
	if p, err := exec.LookPath("nginx"); err == nil {
		return p, nil
	}
	// /usr/sbin is not on every user's PATH.
	for _, p := range []string{"/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errNotInstalled
}

// startNginx runs nginx in the foreground with a generated config in its own
// prefix directory, so that it touches nothing of a system installation.
func (l *lab) startNginx(ctx context.Context, upstreamAddr string) (*proc, error) {
	bin, err := findNginx()
	if err != nil {
		return nil, err
	}
	prefix := filepath.Join(l.dir, "nginx")
	if err := os.Mkdir(prefix, 0o700); err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(conf, []byte(nginxConfig(prefix, addr, upstreamAddr, runtime.NumCPU())), 0o600); err != nil {
		return nil, err
	}
	// -e: the error log before the config is read; nginx's compiled-in
	// default is a system path.
	cmd := exec.Command(bin, "-c", conf, "-p", prefix+"/", "-e", filepath.Join(prefix, "error.log"), "-g", "daemon off;")
	p, err := l.start("nginx", addr, cmd)
	if err != nil {
		return nil, err
	}
	p.children = true
	return p, p.waitReady(ctx, 10*time.Second, httpOK("http://"+addr+openPath))
}
