package main

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/examples/internal/exampletest"
	"github.com/stevedore-dev/stevedore/image"
	"github.com/stevedore-dev/stevedore/internal/itest"
)

// This file is the machinery of TestSameAsBuildah (buildah_cases_test.go):
// build a Dockerfile with this example and with `buildah bud`, unpack
// both with umoci, and compare file trees and configs.

// tree describes an unpacked rootfs: path -> "type mode uid:gid [-> link]
// [sha256 of the content]". mtimes are not compared (ours come from
// SOURCE_DATE_EPOCH or the epoch, docker's from the context).
func tree(t *testing.T, rootfs string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := itest.WalkRootfs(rootfs, func(e itest.RootfsEntry) error {
		typ, ok := typeNames[e.Type]
		if !ok {
			typ = e.Info.Mode().Type().String()
		}
		s := fmt.Sprintf("%s %04o %d:%d", typ, e.Perm, e.Uid, e.Gid)
		switch e.Type {
		case tar.TypeSymlink:
			s += " -> " + e.Link
		case tar.TypeReg:
			b, err := os.ReadFile(filepath.Join(rootfs, filepath.FromSlash(e.Path)))
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			s += " " + hex.EncodeToString(sum[:8])
		}
		out["/"+e.Path] = s
		return nil
	})
	require.NoError(t, err, "walking %s", rootfs)
	return out
}

// typeNames name the entry types of tree; any other is named by its
// fs.FileMode type bits.
var typeNames = map[byte]string{tar.TypeDir: "dir", tar.TypeSymlink: "symlink", tar.TypeReg: "file"}

// comparedConfig is the part of the config the comparison covers.
type comparedConfig struct {
	Env          []string
	Cmd          []string
	Entrypoint   []string
	WorkingDir   string
	User         string
	Labels       map[string]string
	ExposedPorts map[string]struct{}
	Volumes      map[string]struct{}
	StopSignal   string
	Healthcheck  *v1.HealthConfig
	Shell        []string
	OnBuild      []string
}

func compared(c v1.Config) comparedConfig {
	empty := func(s []string) []string {
		if len(s) == 0 {
			return nil
		}
		return s
	}
	set := func(m map[string]struct{}) map[string]struct{} {
		if len(m) == 0 {
			return nil
		}
		return m
	}
	labels := c.Labels
	if len(labels) == 0 {
		labels = nil
	}
	return comparedConfig{
		Env: empty(c.Env), Cmd: empty(c.Cmd), Entrypoint: empty(c.Entrypoint),
		WorkingDir: c.WorkingDir, User: c.User, Labels: labels, ExposedPorts: set(c.ExposedPorts),
		Volumes: set(c.Volumes), StopSignal: c.StopSignal, Healthcheck: c.Healthcheck,
		Shell: empty(c.Shell), OnBuild: empty(c.OnBuild),
	}
}

// result is one tool's build: its unpacked tree and config.
type result struct {
	tree    map[string]string
	config  comparedConfig
	history []v1.History
}

// buildah runs buildah with its own storage (vfs, as root).
type buildah struct {
	root, runroot string
}

func newBuildah(t *testing.T) *buildah {
	t.Helper()
	itest.Require(t, "buildah", "umoci")
	if os.Geteuid() != 0 {
		if itest.InCI() {
			t.Fatal("the buildah comparison runs as root (vfs storage); CI runs it as root")
		}
		t.Skip("skipping: buildah with vfs storage needs root here")
	}
	dir := t.TempDir()
	return &buildah{root: filepath.Join(dir, "root"), runroot: filepath.Join(dir, "runroot")}
}

func (b *buildah) cmd(t *testing.T, args ...string) string {
	t.Helper()
	return itest.Run(t, "buildah", append([]string{"--storage-driver", "vfs", "--root", b.root, "--runroot", b.runroot}, args...)...)
}

// build builds dockerfile in ctxDir with buildah bud (docker format, so
// that HEALTHCHECK, SHELL and ONBUILD are kept) and unpacks the result.
func (b *buildah) build(t *testing.T, name, ctxDir, dockerfile string, args []string) result {
	t.Helper()
	tag := "localhost/stevedore-compare/" + name + ":1"
	bud := []string{"bud", "--format", "docker", "--tls-verify=false", "--layers=false", "-f", dockerfile, "-t", tag}
	for _, a := range args {
		bud = append(bud, "--build-arg", a)
	}
	b.cmd(t, append(bud, ctxDir)...)
	layout := filepath.Join(t.TempDir(), "layout")
	b.cmd(t, "push", tag, "oci:"+layout+":latest")
	var inspect struct {
		Docker struct {
			Config  v1.Config    `json:"config"`
			History []v1.History `json:"history"`
		}
	}
	require.NoError(t, json.Unmarshal([]byte(b.cmd(t, "inspect", "--type", "image", tag)), &inspect))
	return result{tree: tree(t, filepath.Join(itest.Unpack(t, layout, "latest"), "rootfs")),
		config: compared(inspect.Docker.Config), history: inspect.Docker.History}
}

// ours builds dockerfile with this example and unpacks the result.
func ours(t *testing.T, ctxDir, dockerfile string, args []string) result {
	t.Helper()
	out := filepath.Join(t.TempDir(), "image.oci.tar")
	cmd := []string{"-f", dockerfile, "-o", out, "-cache", ""}
	for _, a := range args {
		cmd = append(cmd, "-build-arg", a)
	}
	r := exampletest.Run(t, run, append(cmd, ctxDir)...)
	layout := filepath.Join(t.TempDir(), "layout")
	untar(t, out, layout)
	l, err := image.ReadOCILayout(layout)
	require.NoError(t, err)
	defer l.Close()
	img, err := l.Image("latest")
	require.NoError(t, err)
	if d, _ := img.Digest(); d.String() != r.Digest {
		t.Fatalf("layout image %s, printed %s", d, r.Digest)
	}
	cf, err := img.ConfigFile()
	require.NoError(t, err)
	return result{tree: tree(t, filepath.Join(itest.Unpack(t, layout, "latest"), "rootfs")),
		config: compared(cf.Config), history: cf.History}
}

// untar extracts an OCI tarball into dir.
func untar(t *testing.T, file, dir string) {
	t.Helper()
	f, err := os.Open(file)
	require.NoError(t, err)
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		require.NoError(t, err)
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		if h.Typeflag == tar.TypeDir {
			require.NoError(t, os.MkdirAll(p, 0o755))
			continue
		}
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		w, err := os.Create(p)
		require.NoError(t, err)
		_, err = io.Copy(w, tr)
		require.NoError(t, errors.Join(err, w.Close()))
	}
}

// treeDiffs lists the paths whose entries differ, with both sides.
func treeDiffs(ours, theirs map[string]string) []string {
	var diffs []string
	for _, p := range keys(ours, theirs) {
		if o, b := ours[p], theirs[p]; o != b {
			diffs = append(diffs, fmt.Sprintf("%s: ours %q, buildah %q", p, o, b))
		}
	}
	return diffs
}

func keys[V any](ms ...map[string]V) []string {
	var out []string
	for _, m := range ms {
		for k := range m {
			if !slices.Contains(out, k) {
				out = append(out, k)
			}
		}
	}
	sort.Strings(out)
	return out
}

// configDiffs lists the config fields that differ.
func configDiffs(ours, theirs comparedConfig) []string {
	a, _ := json.Marshal(ours)
	b, _ := json.Marshal(theirs)
	var ma, mb map[string]json.RawMessage
	json.Unmarshal(a, &ma)
	json.Unmarshal(b, &mb)
	var diffs []string
	for _, k := range keys(ma, mb) {
		if string(ma[k]) != string(mb[k]) {
			diffs = append(diffs, fmt.Sprintf("config %s: ours %s, buildah %s", k, ma[k], mb[k]))
		}
	}
	return diffs
}
