package dockerfile

import (
	"os"
	"testing"
)

// TestMain runs the tests with their own TMPDIR, removed at the end: the
// layers built without a cache spool to temp files.
func TestMain(m *testing.M) {
	tmp, err := os.MkdirTemp("", "dockerfile-test-")
	if err != nil {
		panic(err)
	}
	os.Setenv("TMPDIR", tmp)
	code := m.Run()
	os.RemoveAll(tmp)
	os.Exit(code)
}
