package itest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// BuildahRootfs makes a buildah working container from the image named
// refName of the OCI layout layoutDir, mounts it, and returns its root file
// system. buildah applies the layers with containers/storage, as podman and
// CRI-O do; its storage (vfs driver) lives in temp dirs of t. buildah needs
// root: without it the test is skipped, or fails in CI. Use [BuildahErr] to
// look at a refusal.
func BuildahRootfs(t testing.TB, layoutDir, refName string) string {
	t.Helper()
	rootfs, err := BuildahErr(t, layoutDir, refName)
	if err != nil {
		t.Fatalf("buildah from oci:%s:%s: %v", layoutDir, refName, err)
	}
	return rootfs
}

// BuildahErr is [BuildahRootfs] that returns buildah's failure (a
// *[CommandError] with its output) instead of failing the test.
func BuildahErr(t testing.TB, layoutDir, refName string) (string, error) {
	t.Helper()
	Require(t, "buildah")
	if os.Geteuid() != 0 {
		msg := "buildah with vfs storage needs root"
		if InCI() {
			t.Fatalf("integration test: %s, and CI=true forbids skipping", msg)
		}
		t.Skip("skipping integration test: " + msg)
	}
	// No credentials are needed, and an auth file that DOCKER_CONFIG or
	// REGISTRY_AUTH_FILE name but that does not exist is an error to
	// buildah.
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DOCKER_CONFIG=") && !strings.HasPrefix(kv, "REGISTRY_AUTH_FILE=") {
			env = append(env, kv)
		}
	}
	run := func(args ...string) (string, error) { return RunEnvErr(t, env, "buildah", args...) }
	// buildah names the image after the layout's path, and an image name
	// must be lower case: go through a link with such a name.
	linkDir, err := os.MkdirTemp("", "buildah-layout-")
	if err != nil {
		return "", err
	}
	t.Cleanup(func() { os.RemoveAll(linkDir) })
	abs, err := filepath.Abs(layoutDir)
	if err != nil {
		return "", err
	}
	layoutDir = filepath.Join(linkDir, "layout")
	if err := os.Symlink(abs, layoutDir); err != nil {
		return "", err
	}
	store := t.TempDir()
	global := []string{"--root", filepath.Join(store, "root"), "--runroot", filepath.Join(store, "run"), "--storage-driver", "vfs"}
	ctr, err := run(append(global, "from", "--pull-never", "oci:"+layoutDir+":"+refName)...)
	if err != nil {
		return "", err
	}
	ctr = strings.TrimSpace(ctr)
	mnt, err := run(append(global, "mount", ctr)...)
	if err != nil {
		return "", err
	}
	t.Cleanup(func() {
		_, _ = run(append(global, "umount", ctr)...)
		_, _ = run(append(global, "rm", ctr)...)
	})
	return strings.TrimSpace(mnt), nil
}
