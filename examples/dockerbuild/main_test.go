package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/examples/internal/cli"
	"github.com/stevedore-dev/stevedore/examples/internal/exampletest"
	"github.com/stevedore-dev/stevedore/image"
	"github.com/stevedore-dev/stevedore/layer"
	"github.com/stevedore-dev/stevedore/registry"
	"github.com/stevedore-dev/stevedore/registry/registrytest"
)

// names lists the paths of files under prefix, sorted.
func names(files map[string]exampletest.File, prefix string) []string {
	var out []string
	for n := range files {
		if strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

func TestDemo(t *testing.T) {
	dir, cache := t.TempDir(), t.TempDir()
	out := filepath.Join(dir, "x.oci.tar")
	r1 := exampletest.Run(t, run, "-o", out, "-cache", cache)
	r2 := exampletest.Run(t, run, "-o", out, "-cache", cache)
	assert.Equal(t, r1.Digest, r2.Digest, "the demo twice: same digest")
	assert.Equal(t, out, r1.Name, "printed FILE@sha256:...")
	img := exampletest.OpenTarball(t, out, "latest", r1.Digest)
	files := exampletest.Files(t, img)
	assert.Equal(t, []string{"/src", "/src/app.js", "/src/package.json"}, names(files, "/src"), "COPY . . minus .dockerignore")
	assert.Contains(t, files, "/usr/local/bin/node", "the base's files")
	cfg := exampletest.Config(t, img)
	assert.Equal(t, []string{"node", "app.js"}, cfg.Cmd, "Cmd")
	assert.Equal(t, "/src", cfg.WorkingDir, "WorkingDir")
}

// pushBase pushes a base image for linux/amd64 and linux/arm64 to ref.
func pushBase(t *testing.T, ref string) {
	t.Helper()
	l, err := layer.FromFiles([]layer.File{
		{Path: "/etc/passwd", Data: []byte("root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/app:/bin/sh\n")},
		{Path: "/etc/group", Data: []byte("root:x:0:\napp:x:1000:\n")},
		{Path: "/tmp", Mode: fs.ModeDir | fs.ModeSticky | 0o777},
	})
	require.NoError(t, err)
	idx, err := image.BuildIndex(context.Background(), nil, image.WithPlatforms("linux/amd64", "linux/arm64"),
		image.WithLayers(l), image.WithEnv("PATH", image.DefaultPath))
	require.NoError(t, err)
	_, err = registry.PushIndex(context.Background(), ref, idx)
	require.NoError(t, err)
}

func writeContext(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, cli.WriteFiles(dir, files))
	return dir
}

func TestPushWithJSONProgress(t *testing.T) {
	srv := registrytest.New(t)
	pushBase(t, srv.Ref("base:1"))
	ctxDir := writeContext(t, map[string]string{
		"Dockerfile": "ARG BASE\nFROM $BASE AS build\nCOPY --chown=app:app app /app\nFROM build AS release\nUSER app\nENTRYPOINT [\"/app/run\"]\nFROM release AS debug\nENV DEBUG=1\n",
		"app/run":    "#!/bin/sh\n",
	})
	r := exampletest.Run(t, run, "-t", srv.Ref("team/app:v1"), "-build-arg", "BASE="+srv.Ref("base:1"),
		"-target", "release", "-progress", "json", "-cache", t.TempDir(), ctxDir)
	assert.Equal(t, srv.Ref("team/app"), r.Name, "printed REF@sha256:...")
	img := exampletest.Pull(t, r.Ref)
	cfg := exampletest.Config(t, img)
	assert.Equal(t, "app", cfg.User, "User")
	assert.Equal(t, []string{"/app/run"}, cfg.Entrypoint, "Entrypoint")
	assert.NotContains(t, cfg.Env, "DEBUG=1", "-target release leaves the debug stage out")
	files := exampletest.Files(t, img)
	assert.Equal(t, 1000, files["/app/run"].Header.Uid, "--chown=app:app from the base's /etc/passwd")

	// stderr is docker's JSON message stream.
	var stream strings.Builder
	var auxIDs, pushed int
	sc := bufio.NewScanner(strings.NewReader(r.Stderr))
	for sc.Scan() {
		var m struct {
			Stream string          `json:"stream"`
			Status string          `json:"status"`
			Aux    json.RawMessage `json:"aux"`
			Error  string          `json:"error"`
		}
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m), "stderr line %q is not JSON", sc.Text())
		stream.WriteString(m.Stream)
		if strings.Contains(string(m.Aux), `"ID"`) {
			auxIDs++
		}
		if m.Status == "Pushed" || m.Status == "Layer already exists" || m.Status == "Mounted" {
			pushed++
		}
		assert.Empty(t, m.Error, "no error message")
	}
	for _, want := range []string{"Step 1/5 : FROM " + srv.Ref("base:1") + " AS build\n", "Step 2/5 : COPY --chown=app:app app /app\n", "Successfully tagged " + srv.Ref("team/app:v1")} {
		assert.Contains(t, stream.String(), want, "stream text")
	}
	assert.Equal(t, 1, auxIDs, "one aux ID")
	assert.Positive(t, pushed, "push progress in the stream")
}

func TestPlatforms(t *testing.T) {
	srv := registrytest.New(t)
	pushBase(t, srv.Ref("base:1"))
	ctxDir := writeContext(t, map[string]string{
		"build/Dockerfile": "FROM " + srv.Ref("base:1") + "\nARG TARGETARCH\nCOPY bin/app-${TARGETARCH} /app\n",
		"bin/app-amd64":    "amd64", "bin/app-arm64": "arm64",
	})
	out := filepath.Join(t.TempDir(), "multi.tar")
	r := exampletest.Run(t, run, "-platform", "linux/amd64,linux/arm64", "-o", out, "-f", filepath.Join(ctxDir, "build/Dockerfile"), "-cache", "", ctxDir)
	idx := exampletest.OpenIndexTarball(t, out, "latest", r.Digest)
	im, err := idx.IndexManifest()
	require.NoError(t, err)
	require.Len(t, im.Manifests, 2, "an index of two platforms")
	for _, d := range im.Manifests {
		img, err := idx.Image(d.Digest)
		require.NoError(t, err)
		assert.Equal(t, d.Platform.Architecture, string(exampletest.Files(t, img)["/app"].Data), "the platform's binary")
	}
}

func TestErrors(t *testing.T) {
	ctxDir := writeContext(t, map[string]string{"Dockerfile": "FROM scratch\nRUN make\n", "other.Dockerfile": "FROM scratch\nCOPY missing /\n"})
	out := filepath.Join(t.TempDir(), "x.tar")
	exampletest.RunFailures(t, run, []exampletest.Failure{
		{Name: "RUN", Args: []string{"-o", out, ctxDir}, Substr: filepath.Join(ctxDir, "Dockerfile") + ":2: RUN make: dockerfile: instruction needs a container runtime"},
		{Name: "missing source", Args: []string{"-o", out, "-f", filepath.Join(ctxDir, "other.Dockerfile"), ctxDir}, Substr: `other.Dockerfile:2: COPY missing /: dockerfile: not found: "/missing"`},
		{Name: "two contexts", Args: []string{ctxDir, ctxDir}, Substr: `unexpected argument "` + ctxDir + `": dockerbuild takes one CONTEXT`},
		{Name: "-t and -o", Args: []string{"-t", "example.com/a:b", "-o", out, ctxDir}, Substr: "-t and -o: give one"},
		{Name: "bad -build-arg", Args: []string{"-build-arg", "NOVALUE", ctxDir}, Substr: `-build-arg "NOVALUE": want KEY=VALUE`},
		{Name: "bad -progress", Args: []string{"-progress", "tty", ctxDir}, Substr: `-progress "tty": want auto, plain or json`},
		{Name: "bad -platform", Args: []string{"-platform", "linux", "-o", out, ctxDir}, Substr: `WithPlatforms: platform "linux"`},
	}, nil)
}

// TestMonorepoConfined builds one service of a monorepo whose Dockerfile
// copies only that service, with the repository root as context, and
// proves with inotify that the other services were never opened.
func TestMonorepoConfined(t *testing.T) {
	repo := writeContext(t, map[string]string{
		".dockerignore":               "**/*.log\n",
		"services/api/Dockerfile":     "FROM scratch\nCOPY services/api/dist /app\nCOPY libs/shared /app/lib\nENTRYPOINT [\"/app/api\"]\n",
		"services/api/dist/api":       "api",
		"services/api/dist/debug.log": "x",
		"services/web/dist/web":       "web",
		"services/web/src/index.ts":   "ts",
		"libs/shared/money.go":        "package shared",
		"libs/other/big.bin":          "big",
	})
	var dirs []string
	for _, d := range []string{"services/web", "services/web/dist", "services/web/src", "libs/other"} {
		dirs = append(dirs, filepath.Join(repo, d))
	}
	w := exampletest.Watch(t, dirs...)
	cache := t.TempDir()
	out := filepath.Join(t.TempDir(), "api.tar")
	args := []string{"-f", filepath.Join(repo, "services/api/Dockerfile"), "-o", out, "-cache", cache, repo}
	r1 := exampletest.Run(t, run, args...)
	r2 := exampletest.Run(t, run, args...)
	assert.Empty(t, w.Events(t), "files opened outside what the Dockerfile copies")
	assert.Equal(t, r1.Digest, r2.Digest, "rebuilt from the cache: same digest")
	img := exampletest.OpenTarball(t, out, "latest", r1.Digest)
	assert.Equal(t, []string{"/app", "/app/api", "/app/lib", "/app/lib/money.go"}, names(exampletest.Files(t, img), "/"), "image files")
}
