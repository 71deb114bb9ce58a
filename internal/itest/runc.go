package itest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// PrepareBundle rewrites the config.json of an OCI runtime bundle (as made
// by [Unpack]) so that runc can run it on this kind of machine: it removes
// process.rlimits, linux.resources and linux.cgroupsPath (runc in the test
// environment refuses bundles with them), sets process.terminal to false
// (tests have no tty) and, when args is not empty, sets process.args to
// args. Everything else umoci generated from the image config (env, cwd,
// user, mounts, namespaces) is kept.
func PrepareBundle(t testing.TB, bundle string, args ...string) {
	t.Helper()
	p := filepath.Join(bundle, "config.json")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("reading bundle config: %v", err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatalf("parsing %s: %v", p, err)
	}
	proc, _ := cfg["process"].(map[string]any)
	if proc == nil {
		proc = map[string]any{}
		cfg["process"] = proc
	}
	delete(proc, "rlimits")
	proc["terminal"] = false
	if len(args) > 0 {
		proc["args"] = args
	}
	if linux, ok := cfg["linux"].(map[string]any); ok {
		delete(linux, "resources")
		delete(linux, "cgroupsPath")
	}
	out, err := json.MarshalIndent(cfg, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, out, 0o644); err != nil {
		t.Fatalf("writing %s: %v", p, err)
	}
}

var unsafeID = regexp.MustCompile(`[^a-zA-Z0-9_.-]+`)

// RunBundle runs the bundle with `runc run` after [PrepareBundle] (args, if
// given, replace the image's entrypoint and command) and returns what the
// container printed on standard output. It calls [Require] for runc, gives
// the container a unique id, and fails the test, with both output streams,
// when the container exits non-zero. runc removes the container when it
// exits.
func RunBundle(t testing.TB, bundle string, args ...string) string {
	t.Helper()
	Require(t, "runc")
	PrepareBundle(t, bundle, args...)
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	id := strings.Trim(unsafeID.ReplaceAllString(t.Name(), "-"), "-")
	if len(id) > 40 {
		id = id[:40]
	}
	id = "stevedore-" + id + "-" + hex.EncodeToString(rnd[:])
	return Run(t, "runc", "run", "--bundle", bundle, id)
}
