package main

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/stretchr/testify/require"
	"github.com/ulikunitz/xz"
)

// writeArchives writes pkg.tar, pkg.tar.gz and pkg.tar.xz (a directory,
// a file owned 33:33, an executable, a symlink) and hello.tar.bz2 (made
// by bzip2(1): the standard library has no bzip2 writer) to dir.
func writeArchives(t *testing.T, dir string) {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range []struct {
		h    tar.Header
		body string
	}{
		{tar.Header{Typeflag: tar.TypeDir, Name: "pkg/", Mode: 0o750}, ""},
		{tar.Header{Typeflag: tar.TypeReg, Name: "pkg/data.txt", Mode: 0o640, Uid: 33, Gid: 33, Size: 4}, "data"},
		{tar.Header{Typeflag: tar.TypeReg, Name: "pkg/run", Mode: 0o755, Size: 2}, "#!"},
		{tar.Header{Typeflag: tar.TypeSymlink, Name: "pkg/link", Linkname: "data.txt", Mode: 0o777}, ""},
	} {
		require.NoError(t, tw.WriteHeader(&e.h))
		tw.Write([]byte(e.body))
	}
	require.NoError(t, tw.Close())
	raw := b.Bytes()
	var gz, xzb bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw)
	require.NoError(t, zw.Close())
	xw, err := xz.NewWriter(&xzb)
	require.NoError(t, err)
	xw.Write(raw)
	require.NoError(t, xw.Close())
	bz, err := os.ReadFile("../../internal/compress/testdata/hello.tar.bz2")
	require.NoError(t, err)
	for name, data := range map[string][]byte{"pkg.tar": raw, "pkg.tar.gz": gz.Bytes(), "pkg.tar.xz": xzb.Bytes(), "hello.tar.bz2": bz} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), data, 0o644))
	}
}
