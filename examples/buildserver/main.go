// Command buildserver is the REST use case of image/dockerfile: a small
// HTTP service that builds a RUN-less Dockerfile and pushes the image
// within the request, streaming docker's JSON progress.
//
//	POST /build   {"context": "DIR under -root"  or  "git": "URL", "ref": "REF",
//	               "dockerfile": "PATH", "target": "STAGE", "tag": "repo:tag",
//	               "build_args": {"K": "V"}, "platforms": ["linux/amd64", ...]}
//	GET  /healthz {"status": "ok", "running": N, "queued": M, ...}
//
// A build answers 200 with docker's JSON message stream (as the daemon's
// ImageBuild response: {"stream": "Step 1/4 : ..."}, push progress,
// {"aux": {"ID": ...}}), ending with {"aux": {"Ref": "REGISTRY/repo@sha256:...",
// "Digest": ...}}, or with {"errorDetail": ..., "error": ...}. Requests
// refused before their build starts get a JSON error and a 4xx status. At
// most -jobs builds run at once; up to -queue more wait (told so in their
// stream), more are refused with 429. Builds share the layer cache, so an
// unchanged context costs a stat walk. A client that disconnects cancels
// its build. A "git" repository on the server's disk (a path, relative to
// -root, or a file:// URL) must be under -root, as a "context" must.
//
// With no flags it works offline: it generates a demo monorepo, starts an
// in-process registry and the server on a loopback port, sends itself one
// build request, prints the progress on stderr and REF@sha256:... on
// stdout, and exits:
//
//	go run ./examples/buildserver
//
// As a service (pushing to a real registry, credentials from the docker
// config):
//
//	go run ./examples/buildserver -addr 127.0.0.1:8080 -root /srv/repos \
//		-registry registry.example.com/builds -jobs 4
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/stevedore-dev/stevedore/examples/internal/cli"
	"github.com/stevedore-dev/stevedore/internal/gitfs"
	"github.com/stevedore-dev/stevedore/registry/registrytest"
)

func init() {
	// Clone file:// (and local paths) in-process: no git installation needed.
	gitfs.ServeFileURLs()
}

func main() { cli.Main("buildserver", run) }

type config struct {
	cli.Common           // -cache and -v
	addr, root, registry string
	jobs, queue          int
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("buildserver", flag.ContinueOnError)
	c := &config{}
	c.Register(fs, cli.Flags{
		CacheHelp:   "layer cache `DIR` shared by the builds (empty: no cache)",
		VerboseHelp: "log builds on stderr",
	})
	fs.StringVar(&c.addr, "addr", "", "serve on `HOST:PORT` until interrupted (default: a one-request demo on a loopback port)")
	fs.StringVar(&c.root, "root", "", "`DIR` whose subdirectories requests name as \"context\" (default: a generated demo monorepo)")
	fs.StringVar(&c.registry, "registry", "", "push tags under `HOST[/PREFIX]` (default: an in-process registry)")
	fs.IntVar(&c.jobs, "jobs", 2, "builds running at once")
	fs.IntVar(&c.queue, "queue", 16, "builds waiting for a slot; more are refused with 429")
	cli.SetUsage(fs, "Serves POST /build (a RUN-less Dockerfile, built and pushed within the request) and GET /healthz.")
	if err := c.Parse(fs, args, stderr); err != nil {
		return nil, err
	}
	if c.jobs < 1 || c.queue < 0 {
		return nil, fmt.Errorf("-jobs %d -queue %d: want at least one job and no negative queue", c.jobs, c.queue)
	}
	return c, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	demo := c.addr == ""
	if c.root == "" {
		dir, remove, err := cli.DemoDir("buildserver-demo-", writeDemo)
		if err != nil {
			return fmt.Errorf("writing the demo monorepo: %w", err)
		}
		defer remove()
		c.root = dir
	}
	root, err := filepath.EvalSymlinks(c.root)
	if err != nil {
		return fmt.Errorf("-root: %w", err)
	}
	if c.registry == "" {
		reg, err := registrytest.Start()
		if err != nil {
			return fmt.Errorf("starting the in-process registry: %w", err)
		}
		defer reg.Close()
		c.registry = reg.Host
		c.Log.Printf("pushing to an in-process registry at %s", reg.Host)
	}
	s := &server{root: root, registry: c.registry, resolver: cli.Resolver(), cacheDir: c.CacheDir,
		slots: make(chan struct{}, c.jobs), maxQueue: c.queue, log: c.Log}

	addr := c.addr
	if demo {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: s.handler(), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	defer hs.Close()
	url := "http://" + ln.Addr().String()
	if !demo {
		fmt.Fprintf(stderr, "buildserver: listening on %s (root %s, pushing under %s)\n", url, root, c.registry)
		select {
		case <-ctx.Done():
			shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return hs.Shutdown(shut)
		case err := <-served:
			return err
		}
	}
	ref, err := request(ctx, url, demoRequest, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, ref)
	return nil
}

// request posts a build as a client would, copies the progress stream to
// progress, and returns the pushed REF@sha256:... from its last message.
func request(ctx context.Context, url string, req buildRequest, progress io.Writer) (string, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return "", err
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/build", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var ref string
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var m struct {
			Stream string `json:"stream"`
			Error  string `json:"error"`
			Aux    struct{ Ref string }
		}
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return "", fmt.Errorf("reading the build's stream: %w", err)
		}
		switch {
		case m.Error != "":
			return "", errors.New(m.Error)
		case m.Aux.Ref != "":
			ref = m.Aux.Ref
		default:
			io.WriteString(progress, m.Stream)
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	if ref == "" {
		return "", fmt.Errorf("the build's stream (%s) ended without a reference", resp.Status)
	}
	return strings.TrimSpace(ref), nil
}
