package layer

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHostFile(t *testing.T) {
	d := t.TempDir()
	app := filepath.Join(d, "app")
	require.NoError(t, os.WriteFile(app, []byte("binary"), 0o755))
	require.NoError(t, os.Chmod(app, os.ModeSetuid|0o755))
	require.NoError(t, os.Symlink("app", filepath.Join(d, "link")))
	require.NoError(t, os.Mkdir(filepath.Join(d, "dir"), 0o755))

	for _, tc := range []struct {
		name string
		path string
		dst  string
		opts []SourceOption
		want string // summary of the entries
	}{
		{"renamed under a new parent", app, "/bin/server", nil,
			"bin/ 5 755\nbin/server 0 4755 \"binary\"\n"},
		{"relative destination", app, "srv", nil, "srv 0 4755 \"binary\"\n"},
		{"into a directory", app, "/usr/bin/", nil, "usr/ 5 755\nusr/bin/ 5 755\nusr/bin/app 0 4755 \"binary\"\n"},
		{"into the root", app, "/", nil, "app 0 4755 \"binary\"\n"},
		{"symlink followed", filepath.Join(d, "link"), "/x", nil, "x 0 4755 \"binary\"\n"},
		{"owner", app, "/x", []SourceOption{WithOwner(1000, 1000)}, "x 0 4755 \"binary\"\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := New(context.Background(), []Source{HostFile(tc.path, tc.dst, tc.opts...)})
			require.NoError(t, err)
			gs := entries(t, l)
			assert.Equal(t, tc.want, summary(gs), "HostFile(%q, %q) entries", tc.path, tc.dst)
			check(t, l)
		})
	}

	l, err := New(context.Background(), []Source{HostFile(app, "/x", WithOwner(7, 8))})
	require.NoError(t, err)
	gs := entries(t, l)
	require.Len(t, gs, 1)
	assert.Equal(t, [2]int{7, 8}, [2]int{gs[0].UID, gs[0].GID}, "owner of HostFile with WithOwner(7, 8)")
	assert.Equal(t, "stevedore: file -> /x", l.(*layer).CreatedBy(), "CreatedBy names no host path")
}

func TestHostFileErrors(t *testing.T) {
	d := t.TempDir()
	f := filepath.Join(d, "f")
	require.NoError(t, os.WriteFile(f, nil, 0o644))
	for _, tc := range []struct {
		name, path, dst string
		opts            []SourceOption
		want            error
	}{
		{"empty path", "", "/x", nil, ErrOption},
		{"root destination", f, ".", nil, ErrOption},
		{"escaping destination", f, "../..", nil, ErrOption},
		{"an archive option refused", f, "/x", []SourceOption{WithSHA256(strings.Repeat("0", 64))}, ErrInvalidOption},
		{"directory", d, "/x", nil, ErrUnsupportedEntry},
		{"missing", filepath.Join(d, "nope"), "/x", nil, os.ErrNotExist},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := New(context.Background(), []Source{HostFile(tc.path, tc.dst, tc.opts...)})
			if err == nil {
				_, err = l.Digest()
			}
			assert.ErrorIs(t, err, tc.want, "HostFile(%q, %q)", tc.path, tc.dst)
			if tc.name == "directory" {
				assert.ErrorContains(t, err, "a directory (use layer.Dir", "HostFile(dir, %q) names what the path is", tc.dst)
			}
		})
	}
}

func TestHostFileCache(t *testing.T) {
	cacheDir, d := t.TempDir(), t.TempDir()
	f := filepath.Join(d, "f")
	require.NoError(t, os.WriteFile(f, []byte("one"), 0o644))
	builds := countBuilds(t)
	digest := func(dst string) string {
		t.Helper()
		l, err := New(context.Background(), []Source{HostFile(f, dst)}, WithCache(cacheDir))
		require.NoError(t, err)
		h, err := l.Digest()
		require.NoError(t, err)
		return h.String()
	}
	first := digest("/a")
	assert.Equal(t, first, digest("/a"), "unchanged file: same digest")
	assert.Equal(t, 1, *builds, "unchanged file: served from the cache")
	assert.NotEqual(t, first, digest("/b"), "the destination is part of the key")
	require.NoError(t, os.WriteFile(f, []byte("two"), 0o644))
	assert.NotEqual(t, first, digest("/a"), "a changed file is rebuilt")
	assert.Equal(t, 3, *builds, "builds after a new destination and a change")
}

// TestHostFileCacheContentKey: as for Dir and Tarball, a HostFile's key
// is its content, not its host path or stat (WithCache: "Host paths,
// inode numbers and file times never enter a key"), so a copy of the
// same file elsewhere (a fresh clone) hits; its mode, which the layer
// holds, is still part of the key.
func TestHostFileCacheContentKey(t *testing.T) {
	cacheDir := t.TempDir()
	a := filepath.Join(t.TempDir(), "app")
	b := filepath.Join(t.TempDir(), "sub", "app")
	require.NoError(t, os.WriteFile(a, []byte("program"), 0o755))
	require.NoError(t, os.MkdirAll(filepath.Dir(b), 0o755))
	require.NoError(t, os.WriteFile(b, []byte("program"), 0o755))
	require.NoError(t, os.Chtimes(b, time.Unix(1e9, 0), time.Unix(1e9, 0)))
	builds := countBuilds(t)
	digest := func(path string) string {
		t.Helper()
		l, err := New(context.Background(), []Source{HostFile(path, "/bin/app")}, WithCache(cacheDir))
		require.NoError(t, err)
		return digestString(t, l)
	}
	first := digest(a)
	require.Equal(t, 1, *builds, "builds of HostFile(%q)", a)
	assert.Equal(t, first, digest(b), "HostFile(%q) digest, same content as %q", b, a)
	assert.Equal(t, 1, *builds, "builds after HostFile(%q), same content and mode as %q: want a hit", b, a)
	require.NoError(t, os.Chmod(b, 0o700))
	assert.NotEqual(t, first, digest(b), "HostFile(%q) digest after chmod 0700", b)
	assert.Equal(t, 2, *builds, "builds after a mode change: want a miss")
}
