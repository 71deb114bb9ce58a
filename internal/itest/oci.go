package itest

import (
	"os"
	"path/filepath"
	"testing"
)

// Unpack unpacks the image named refName (its
// org.opencontainers.image.ref.name in index.json) of the OCI layout in
// layoutDir into a new runtime bundle with `umoci unpack`, and returns the
// bundle directory (config.json plus rootfs/). The bundle lives in a
// temp dir of t. It calls [Require] for umoci and fails the test when umoci
// rejects the image; use [UnpackErr] to look at a rejection instead.
func Unpack(t testing.TB, layoutDir, refName string) string {
	t.Helper()
	bundle, err := UnpackErr(t, layoutDir, refName)
	if err != nil {
		t.Fatalf("umoci unpack %s:%s: %v", layoutDir, refName, err)
	}
	return bundle
}

// UnpackErr is [Unpack] that returns umoci's failure (a *[CommandError]
// with its output) instead of failing the test.
func UnpackErr(t testing.TB, layoutDir, refName string) (string, error) {
	t.Helper()
	Require(t, "umoci")
	bundle := filepath.Join(t.TempDir(), "bundle")
	args := []string{"unpack"}
	if os.Geteuid() != 0 {
		args = append(args, "--rootless")
	}
	args = append(args, "--image", layoutDir+":"+refName, bundle)
	if _, err := RunErr(t, "umoci", args...); err != nil {
		return "", err
	}
	return bundle, nil
}
