package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/stevedore-dev/stevedore/examples/internal/cli"
	"github.com/stevedore-dev/stevedore/image/dockerfile"
	"github.com/stevedore-dev/stevedore/internal/gitfs"
	"github.com/stevedore-dev/stevedore/registry"
)

// buildRequest is the body of POST /build.
type buildRequest struct {
	// Context is a directory under the server's root; Git a repository
	// URL (Ref its branch, tag or commit), or a local repository under
	// the root (a path relative to it, an absolute path or a file://
	// URL). Exactly one is given.
	Context    string            `json:"context,omitempty"`
	Git        string            `json:"git,omitempty"`
	Ref        string            `json:"ref,omitempty"`
	Dockerfile string            `json:"dockerfile,omitempty"` // in the context; default "Dockerfile"
	Target     string            `json:"target,omitempty"`
	Tag        string            `json:"tag"` // repository:tag in the server's registry
	BuildArgs  map[string]string `json:"build_args,omitempty"`
	Platforms  []string          `json:"platforms,omitempty"`
}

// server builds Dockerfiles on request and pushes the results. Builds
// share one layer cache; at most cap(slots) run at once, maxQueue more
// wait.
type server struct {
	root     string // contexts live under it (symlinks resolved)
	registry string // host[/prefix] tags are pushed under
	pushOpts []registry.Option
	resolver dockerfile.Resolver
	cacheDir string
	slots    chan struct{}
	maxQueue int
	log      cli.Logger

	mu      sync.Mutex
	queued  int
	running int
}

func (s *server) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /build", s.build)
	mux.HandleFunc("GET /healthz", s.healthz)
	// Every other request is answered in JSON too, as the daemon's API is.
	for path, method := range map[string]string{"/build": http.MethodPost, "/healthz": http.MethodGet} {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", method)
			httpError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s %s: want %s", r.Method, path, method))
		})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		httpError(w, http.StatusNotFound, fmt.Sprintf("%s %s: no such endpoint (POST /build, GET /healthz)", r.Method, r.URL.Path))
	})
	return mux
}

// httpError answers a request that failed before its build started, as
// JSON in docker's error shape.
func httpError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"message": msg, "error": msg, "errorDetail": map[string]string{"message": msg}})
}

func (s *server) healthz(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	st := map[string]any{"status": "ok", "running": s.running, "queued": s.queued, "max_running": cap(s.slots), "max_queued": s.maxQueue}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(st)
}

// flushWriter flushes the response after every write, so a client sees
// each progress message as it happens.
type flushWriter struct {
	w  io.Writer
	rc *http.ResponseController
}

func (f flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err == nil {
		err = f.rc.Flush()
	}
	return n, err
}

func (s *server) build(w http.ResponseWriter, r *http.Request) {
	var req buildRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		httpError(w, http.StatusBadRequest, "reading the request: "+err.Error())
		return
	}
	target, src, err := s.check(&req)
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	ahead, ok := s.enqueue()
	if !ok {
		httpError(w, http.StatusTooManyRequests, fmt.Sprintf("build queue full (%d running, %d waiting): retry later", cap(s.slots), s.maxQueue))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	out := dockerfile.NewJSONWriter(flushWriter{w: w, rc: http.NewResponseController(w)})
	// The client going away cancels r.Context(), and with it the build.
	ctx := r.Context()
	if ahead > 0 {
		out.Aux(map[string]any{"Queued": ahead})
	}
	if err := s.acquire(ctx); err != nil {
		out.Error(fmt.Errorf("waiting for a build slot: %w", err))
		return
	}
	defer s.release()
	ref, err := s.run(ctx, &req, target, src, out)
	if err != nil {
		s.log.Printf("build of %s failed: %v", target, err)
		out.Error(err)
		return
	}
	s.log.Printf("built and pushed %s", ref)
	out.Tagged(target)
	out.Aux(map[string]string{"Ref": ref, "Digest": ref[strings.LastIndex(ref, "@")+1:]})
}

// check validates a request before its build is queued, and returns the
// reference to push to and what to build: the context's directory, or
// the repository to clone.
func (s *server) check(req *buildRequest) (target, src string, err error) {
	if (req.Context == "") == (req.Git == "") {
		return "", "", errors.New(`give one of "context" (a directory under the server's root) and "git" (a repository URL)`)
	}
	if req.Context != "" && !filepath.IsLocal(req.Context) {
		return "", "", fmt.Errorf("context %q: want a relative directory under the server's root", req.Context)
	}
	if req.Dockerfile != "" && !filepath.IsLocal(req.Dockerfile) {
		return "", "", fmt.Errorf("dockerfile %q: want a relative path in the context", req.Dockerfile)
	}
	if req.Tag == "" || strings.Contains(req.Tag, "@") {
		return "", "", errors.New(`"tag": want repository:tag, pushed to the server's registry`)
	}
	target = s.registry + "/" + req.Tag
	if _, err := name.NewTag(target); err != nil {
		return "", "", fmt.Errorf("tag %q: %w", req.Tag, err)
	}
	for _, p := range req.Platforms {
		if pl, err := v1.ParsePlatform(p); err != nil || pl.OS == "" || pl.Architecture == "" {
			return "", "", fmt.Errorf("platform %q: want os/arch[/variant]", p)
		}
	}
	if req.Git != "" {
		src, err = s.gitSource(req.Git)
		return target, src, err
	}
	if src, err = s.contextDir(req.Context); err != nil {
		return "", "", err
	}
	df := filepath.Join(src, cmp.Or(req.Dockerfile, "Dockerfile"))
	if fi, err := os.Stat(df); err != nil || !fi.Mode().IsRegular() {
		return "", "", fmt.Errorf("dockerfile %q: not a file in context %q", cmp.Or(req.Dockerfile, "Dockerfile"), req.Context)
	}
	return target, src, nil
}

// enqueue counts a request in, unless the queue is full; ahead is how many
// builds it waits behind.
func (s *server) enqueue() (ahead int, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running >= cap(s.slots) && s.queued >= s.maxQueue {
		return 0, false
	}
	s.queued++
	if s.running >= cap(s.slots) {
		ahead = s.queued
	}
	return ahead, true
}

func (s *server) acquire(ctx context.Context) error {
	defer func() {
		s.mu.Lock()
		s.queued--
		s.mu.Unlock()
	}()
	select {
	case s.slots <- struct{}{}:
		s.mu.Lock()
		s.running++
		s.mu.Unlock()
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *server) release() {
	s.mu.Lock()
	s.running--
	s.mu.Unlock()
	<-s.slots
}

// run builds the request from src (see check) and pushes the result to
// target.
func (s *server) run(ctx context.Context, req *buildRequest, target, src string, out *dockerfile.JSONWriter) (string, error) {
	opts := []dockerfile.Option{dockerfile.WithResolver(s.resolver), dockerfile.WithProgress(out.Event)}
	if req.Git != "" {
		co, err := gitfs.Clone(ctx, src, req.Ref)
		if err != nil {
			return "", err
		}
		out.Aux(map[string]string{"Commit": co.Commit})
		opts = append(opts, dockerfile.WithContextFS(co.FS))
		if req.Dockerfile != "" {
			opts = append(opts, dockerfile.WithDockerfile(req.Dockerfile))
		}
	} else {
		opts = append(opts, dockerfile.WithContextDir(src))
		if req.Dockerfile != "" {
			opts = append(opts, dockerfile.WithDockerfile(filepath.Join(src, req.Dockerfile)))
		}
	}
	if req.Target != "" {
		opts = append(opts, dockerfile.WithTarget(req.Target))
	}
	if len(req.BuildArgs) > 0 {
		opts = append(opts, dockerfile.WithBuildArgs(req.BuildArgs))
	}
	if len(req.Platforms) > 0 {
		opts = append(opts, dockerfile.WithPlatforms(req.Platforms...))
	}
	if s.cacheDir != "" {
		opts = append(opts, dockerfile.WithCache(s.cacheDir))
	}
	popts := append([]registry.Option{cli.PushEvents(out.Event)}, s.pushOpts...)
	var d name.Digest
	if len(req.Platforms) > 1 {
		idx, err := dockerfile.BuildIndex(ctx, opts...)
		if err != nil {
			return "", err
		}
		d, err = registry.PushIndex(ctx, target, idx, popts...)
		if err != nil {
			return "", err
		}
	} else {
		img, err := dockerfile.Build(ctx, opts...)
		if err != nil {
			return "", err
		}
		if d, err = registry.Push(ctx, target, img, popts...); err != nil {
			return "", err
		}
	}
	return d.String(), nil
}

// contextDir is the directory rel under the root, refused if a symlink
// takes it out.
func (s *server) contextDir(rel string) (string, error) { return s.underRoot("context", rel) }

// gitSource is what to clone for a request's git URL: a remote URL as it
// is; for a local repository (a path or a file:// URL, which the process
// clones itself), its directory, which must be under the root as a
// context must: a path relative to the root, or an absolute one under it.
func (s *server) gitSource(raw string) (string, error) {
	ep, err := transport.NewEndpoint(raw)
	if err != nil {
		return "", fmt.Errorf("git %q: %w", gitfs.Redact(raw), err)
	}
	if ep.Protocol != "file" {
		return raw, nil
	}
	rel := ep.Path // go-git made a relative path absolute from the working directory
	if !strings.HasPrefix(raw, "file:") && !filepath.IsAbs(raw) {
		rel = filepath.Clean(raw) // relative to the root instead
	}
	if filepath.IsAbs(rel) {
		abs, err := filepath.EvalSymlinks(rel)
		if err != nil {
			return "", fmt.Errorf("git %q: %w", raw, errors.Unwrap(err))
		}
		if rel, err = filepath.Rel(s.root, abs); err != nil {
			return "", fmt.Errorf("git %q leaves the server's root", raw)
		}
	}
	return s.underRoot("git", rel)
}

// underRoot is the directory rel under the root, refused if it or a
// symlink takes it out; what names rel in errors.
func (s *server) underRoot(what, rel string) (string, error) {
	if !filepath.IsLocal(rel) && rel != "." {
		return "", fmt.Errorf("%s %q leaves the server's root", what, rel)
	}
	dir, err := filepath.EvalSymlinks(filepath.Join(s.root, rel))
	if err != nil {
		return "", fmt.Errorf("%s %q: %w", what, rel, errors.Unwrap(err))
	}
	if r, err := filepath.Rel(s.root, dir); err != nil || !filepath.IsLocal(r) && r != "." {
		return "", fmt.Errorf("%s %q leaves the server's root", what, rel)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return "", fmt.Errorf("%s %q is not a directory", what, rel)
	}
	return dir, nil
}
