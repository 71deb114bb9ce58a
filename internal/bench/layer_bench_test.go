package bench

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"runtime"
	"testing"

	"github.com/google/go-containerregistry/pkg/compression"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/internal/compress"
	"github.com/stevedore-dev/stevedore/layer"
)

// BenchmarkGoRelease (suite items a and b) makes a layer of a ~250 MB
// (uncompressed) Go release tarball, go/... placed under /usr/local, and
// reads what a push reads: Digest, DiffID and all of Compressed.
//
//   - ggcr: gzip.NewReader + archive/tar re-rooting into
//     tarball.LayerFromReader (spools the tar, gzips it once for the
//     digest and again for Compressed).
//   - stevedore: layer.FromTarball(WithOnly("go"), WithRoot("/usr/local")),
//     one pass, parallel compression, spooled blob.
//
// The zstd pair uses each library's zstd output at its own default level
// (ggcr: 1, stevedore: 3); zstd-level1/stevedore matches ggcr's level.
func BenchmarkGoRelease(b *testing.B) {
	rel := goReleaseData(b)
	spool, clear := spoolDir(b)
	for _, c := range []struct {
		name string
		ggcr []tarball.LayerOption
		ours []layer.Option
	}{
		{"gzip", nil, nil},
		{"zstd", []tarball.LayerOption{tarball.WithCompression(compression.ZStd), tarball.WithMediaType(types.OCILayerZStd)},
			[]layer.Option{layer.WithCompression(layer.Zstd)}},
	} {
		b.Run(c.name+"/ggcr", func(b *testing.B) {
			d := sizedWay(b, rel.TarSize, clear, pushRead(b, func() (v1.Layer, error) {
				return plainTarballLayer(spool, rel.Gz, "usr/local", keepGo, c.ggcr...)
			}))
			record("release-"+c.name+"/ggcr", d)
		})
		b.Run(c.name+"/stevedore", func(b *testing.B) {
			d := sizedWay(b, rel.TarSize, clear, pushRead(b, func() (v1.Layer, error) {
				opts := append([]layer.Option{layer.WithOnly("go"), layer.WithRoot("/usr/local"), layer.WithTempDir(spool)}, c.ours...)
				return layer.FromTarball(rel.Gz, opts...)
			}))
			reportRatio(b, d, "release-"+c.name+"/ggcr", "x-ggcr")
		})
	}
	b.Run("zstd-level1/stevedore", func(b *testing.B) {
		d := sizedWay(b, rel.TarSize, clear, pushRead(b, func() (v1.Layer, error) {
			return layer.FromTarball(rel.Gz, layer.WithOnly("go"), layer.WithRoot("/usr/local"), layer.WithTempDir(spool),
				layer.WithCompression(layer.Zstd), layer.WithLevel(1))
		}))
		reportRatio(b, d, "release-zstd/ggcr", "x-ggcr")
	})
}

// BenchmarkMonorepoService (suite item c) layers one ~15 MB service
// (services/payments, 600 files) out of a small monorepo (the service and
// 20 other files) and out of a big one (12,000 files, ~300 MB), selected by
// the pattern "services/payments". The same service in both trees should
// cost the same: x-small is the time over the same way's time on the small
// tree.
//
//   - ggcr: filepath.WalkDir of the whole tree, patternmatcher filter,
//     archive/tar, tarball.LayerFromReader.
//   - stevedore: layer.FromDir(WithInclude("services/payments")), which
//     does not descend into directories that cannot match.
func BenchmarkMonorepoService(b *testing.B) {
	trees := map[string]string{"small": monorepoData(b, false), "big": monorepoData(b, true)}
	size := dirSize(b, trees["small"]+"/"+paymentsDir)
	spool, clear := spoolDir(b)
	include := []string{paymentsDir}
	for _, tree := range []string{"small", "big"} {
		root := trees[tree]
		b.Run(tree+"/ggcr", func(b *testing.B) {
			b.SetBytes(size)
			run := pushRead(b, func() (v1.Layer, error) { return plainDirLayer(spool, root, include) })
			d := way(b, clear, func() { run() })
			record("monorepo-"+tree+"/ggcr", d)
			if tree == "big" {
				reportRatio(b, d, "monorepo-small/ggcr", "x-small")
			}
		})
		b.Run(tree+"/stevedore", func(b *testing.B) {
			b.SetBytes(size)
			run := pushRead(b, func() (v1.Layer, error) {
				return layer.FromDir(root, layer.WithInclude(include...), layer.WithTempDir(spool))
			})
			d := way(b, clear, func() { run() })
			record("monorepo-"+tree+"/stevedore", d)
			reportRatio(b, d, "monorepo-"+tree+"/ggcr", "x-ggcr")
			if tree == "big" {
				reportRatio(b, d, "monorepo-small/stevedore", "x-small")
			}
		})
	}
}

// BenchmarkCompressGoTar measures raw gzip -1 compression of the ~250 MB
// Go release tar, from a page-cached file to nowhere: pigz -1 -p2 and
// gzip -1 (skipped when not installed), compress/gzip at BestSpeed (what
// go-containerregistry uses) and stevedore's parallel writer
// (internal/compress: klauspost/pgzip, 1 MiB blocks, GOMAXPROCS
// goroutines).
func BenchmarkCompressGoTar(b *testing.B) {
	rel := goReleaseData(b)
	open := func() *os.File {
		f, err := os.Open(rel.Tar)
		require.NoError(b, err)
		return f
	}
	tool := func(name string, args ...string) {
		b.Run(name, func(b *testing.B) {
			if _, err := exec.LookPath(args[0]); err != nil {
				b.Skipf("%s is not installed", args[0])
			}
			b.SetBytes(rel.TarSize)
			d := way(b, nil, func() {
				in := open()
				defer in.Close()
				out, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
				require.NoError(b, err)
				defer out.Close()
				var stderr bytes.Buffer
				cmd := exec.Command(args[0], args[1:]...)
				cmd.Stdin, cmd.Stdout, cmd.Stderr = in, out, &stderr
				require.NoError(b, cmd.Run(), "%v: %s", args, stderr.Bytes())
			})
			record("compress/"+name, d)
		})
	}
	tool("pigz-p2", "pigz", "-1", "-p", "2", "-c")
	tool("gzip", "gzip", "-1", "-c")
	b.Run("stdlib", func(b *testing.B) {
		b.SetBytes(rel.TarSize)
		d := way(b, nil, func() {
			in := open()
			defer in.Close()
			zw, err := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
			require.NoError(b, err)
			_, err = io.Copy(zw, in)
			require.NoError(b, err)
			require.NoError(b, zw.Close())
		})
		record("compress/stdlib", d)
	})
	b.Run("stevedore", func(b *testing.B) {
		b.SetBytes(rel.TarSize)
		d := way(b, nil, func() {
			in := open()
			defer in.Close()
			zw, err := compress.NewWriter(io.Discard, compress.WriterConfig{Format: compress.Gzip, Level: 1, Concurrency: runtime.GOMAXPROCS(0)})
			require.NoError(b, err)
			_, err = io.Copy(zw, in)
			require.NoError(b, err)
			require.NoError(b, zw.Close())
		})
		reportRatio(b, d, "compress/pigz-p2", "x-pigz")
		reportRatio(b, d, "compress/gzip", "x-gzip")
		reportRatio(b, d, "compress/stdlib", "x-stdlib")
	})
}

// dirSize is the total size of the regular files under dir.
func dirSize(b testing.TB, dir string) int64 {
	var n int64
	err := walkFiles(dir, func(fi os.FileInfo) { n += fi.Size() })
	require.NoError(b, err)
	return n
}
