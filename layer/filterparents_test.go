package layer

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFilteredParentKeepsItsMode: a directory the filters leave out but
// under which an entry is kept ("secret" excluded, "!secret/keep"
// re-included; "src/*.go" included) is still a directory of the source,
// and is written as the source has it, as docker build sends it in its
// context (BuildKit's fsutil walker calls its function for such a
// parent with the parent's own stat): not as a synthesized 0755 one.
func TestFilteredParentKeepsItsMode(t *testing.T) {
	d := t.TempDir()
	tree(t, d, "secret/keep", "secret/drop", "src/a.go", "src/b.txt", "deep/x/y/z.go")
	chmod(t, filepath.Join(d, "secret"), 0o700)
	chmod(t, filepath.Join(d, "src"), 0o750)
	chmod(t, filepath.Join(d, "deep", "x"), 0o711)
	mode := func(rel string) int64 {
		fi, err := os.Stat(filepath.Join(d, rel))
		require.NoError(t, err)
		return int64(fi.Mode().Perm())
	}
	mapFS := fstest.MapFS{
		"secret":      {Mode: fs.ModeDir | 0o700},
		"secret/keep": {Data: []byte("k"), Mode: 0o644},
		"secret/drop": {Data: []byte("d"), Mode: 0o644},
	}
	for _, tc := range []struct {
		name string
		src  Source
		dir  string // the filtered parent
		want int64
	}{
		{"dir, excluded, child re-included", Dir(d, WithExclude("secret", "!secret/keep")), "secret/", mode("secret")},
		{"dir, not included, children included", Dir(d, WithInclude("src/*.go")), "src/", mode("src")},
		{"dir, nested, not included", Dir(d, WithInclude("deep/*/y/*.go")), "deep/x/", mode("deep/x")},
		{"dir, owner applies", Dir(d, WithExclude("secret", "!secret/keep"), WithOwner(7, 7)), "secret/", mode("secret")},
		{"fs, excluded, child re-included", FS(mapFS, WithExclude("secret", "!secret/keep")), "secret/", 0o700},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.NotEqual(t, int64(0o755), tc.want, "the fixture's mode must differ from a synthesized parent's")
			l, err := New(context.Background(), []Source{tc.src})
			require.NoError(t, err)
			gs := entries(t, l)
			var dirs []string
			for _, g := range gs {
				if g.Name == tc.dir {
					wantOwner := 0
					if tc.name == "dir, owner applies" {
						wantOwner = 7
					}
					assert.Equal(t, fmt.Sprintf("%o %d:%d", tc.want, wantOwner, wantOwner), fmt.Sprintf("%o %d:%d", g.Mode, g.UID, g.GID),
						"%s: mode and owner of %s", tc.name, tc.dir)
				}
				dirs = append(dirs, g.Name)
			}
			assert.Contains(t, dirs, tc.dir, "%s: entries", tc.name)
			check(t, l)
		})
	}
}
