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
	store := t.TempDir()
	global := []string{"--root", filepath.Join(store, "root"), "--runroot", filepath.Join(store, "run"), "--storage-driver", "vfs"}
	ctr, err := RunErr(t, "buildah", append(global, "from", "--pull-never", "oci:"+layoutDir+":"+refName)...)
	if err != nil {
		return "", err
	}
	ctr = strings.TrimSpace(ctr)
	mnt, err := RunErr(t, "buildah", append(global, "mount", ctr)...)
	if err != nil {
		return "", err
	}
	t.Cleanup(func() {
		_, _ = RunErr(t, "buildah", append(global, "umount", ctr)...)
		_, _ = RunErr(t, "buildah", append(global, "rm", ctr)...)
	})
	return strings.TrimSpace(mnt), nil
}
