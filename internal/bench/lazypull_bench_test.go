package bench

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"runtime"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/internal/compress"
	"github.com/stevedore-dev/stevedore/internal/lazypull"
	"github.com/stevedore-dev/stevedore/layer"
)

// BenchmarkLazyPull turns the ~250 MB Go release tar (uncompressed, page
// cached) into a layer blob, side by side:
//
//   - ggcr-gzip: tarball.LayerFromOpener on the tar, then Digest, DiffID
//     and all of Compressed, as a push reads them (ggcr gzips twice).
//   - stevedore-gzip: the layer pipeline's single pass: sha256 of the tar
//     (diffID), internal/compress's parallel gzip (level 1, GOMAXPROCS
//     goroutines), sha256 of the blob (digest), blob to a spool file.
//   - spool: only the spooling that the lazy formats add: the tar copied
//     to an unlinked temp file with its sha256.
//   - estargz, zstd-chunked: lazypull.Write (spool, estargz.Build with
//     4 parts, diffID by decompression), blob hashed into a spool file.
//
// x-ggcr and x-gzip are the time over ggcr-gzip's and stevedore-gzip's
// medians in this run.
func BenchmarkLazyPull(b *testing.B) {
	rel := goReleaseData(b)
	spool, clear := spoolDir(b)
	open := func() (io.ReadCloser, error) { return os.Open(rel.Tar) }
	b.Run("ggcr-gzip", func(b *testing.B) {
		d := sizedWay(b, rel.TarSize, clear, pushRead(b, func() (v1.Layer, error) { return tarball.LayerFromOpener(open) }))
		record("lazypull/ggcr-gzip", d)
	})
	b.Run("stevedore-gzip", func(b *testing.B) {
		d := sizedWay(b, rel.TarSize, clear, func() int64 { return gzipBlob(b, rel.Tar, spool) })
		record("lazypull/stevedore-gzip", d)
		reportRatio(b, d, "lazypull/ggcr-gzip", "x-ggcr")
	})
	b.Run("spool", func(b *testing.B) {
		b.SetBytes(rel.TarSize)
		d := way(b, clear, func() { spoolOnly(b, rel.Tar, spool) })
		reportRatio(b, d, "lazypull/stevedore-gzip", "x-gzip")
	})
	for _, f := range []lazypull.Format{lazypull.EStargz, lazypull.ZstdChunked} {
		b.Run(map[lazypull.Format]string{lazypull.EStargz: "estargz", lazypull.ZstdChunked: "zstd-chunked"}[f], func(b *testing.B) {
			d := sizedWay(b, rel.TarSize, clear, func() int64 { return lazyBlob(b, rel.Tar, spool, f) })
			reportRatio(b, d, "lazypull/ggcr-gzip", "x-ggcr")
			reportRatio(b, d, "lazypull/stevedore-gzip", "x-gzip")
		})
	}
}

// BenchmarkGoReleaseLazy makes the ~250 MB Go release tarball (gzip,
// go/... placed under /usr/local, as BenchmarkGoRelease) into a layer
// through the whole layer pipeline, and reads what a push reads (Digest,
// DiffID, all of Compressed), side by side in one run:
//
//   - gzip/ggcr: the plain go-containerregistry program's gzip layer
//     (gunzip, archive/tar re-rooting, tarball.LayerFromReader);
//   - gzip/stevedore: layer.FromTarball with WithOnly("go"),
//     WithRoot("/usr/local");
//   - estargz/stevedore, zstd-chunked/stevedore: the same with
//     WithCompression(EStargz or ZstdChunked) and /usr/local/go/bin/go
//     prioritized: the tar is spooled, then estargz.Build makes the blob.
//
// x-ggcr and x-gzip are the time over gzip/ggcr's and gzip/stevedore's
// medians in this run.
func BenchmarkGoReleaseLazy(b *testing.B) {
	rel := goReleaseData(b)
	spool, clear := spoolDir(b)
	b.Run("gzip/ggcr", func(b *testing.B) {
		d := sizedWay(b, rel.TarSize, clear, pushRead(b, func() (v1.Layer, error) {
			return plainTarballLayer(spool, rel.Gz, "usr/local", keepGo)
		}))
		record("release-lazy/ggcr", d)
	})
	for _, c := range []struct {
		name string
		opts []layer.Option
	}{
		{"gzip", nil},
		{"estargz", []layer.Option{layer.WithCompression(layer.EStargz), layer.WithPrioritizedFiles("/usr/local/go/bin/go")}},
		{"zstd-chunked", []layer.Option{layer.WithCompression(layer.ZstdChunked), layer.WithPrioritizedFiles("/usr/local/go/bin/go")}},
	} {
		b.Run(c.name+"/stevedore", func(b *testing.B) {
			d := sizedWay(b, rel.TarSize, clear, pushRead(b, func() (v1.Layer, error) {
				opts := append([]layer.Option{layer.WithOnly("go"), layer.WithRoot("/usr/local"), layer.WithTempDir(spool)}, c.opts...)
				return layer.FromTarball(rel.Gz, opts...)
			}))
			if c.name == "gzip" {
				record("release-lazy/gzip", d)
			} else {
				reportRatio(b, d, "release-lazy/gzip", "x-gzip")
			}
			reportRatio(b, d, "release-lazy/ggcr", "x-ggcr")
		})
	}
}

// blobFile creates a blob file in dir, hashing what is written to it.
func blobFile(b *testing.B, dir string) (*os.File, io.Writer) {
	f, err := os.CreateTemp(dir, "blob-")
	require.NoError(b, err)
	return f, io.MultiWriter(f, sha256.New())
}

// gzipBlob is the layer pipeline's gzip pass over the tar at path.
func gzipBlob(b *testing.B, path, dir string) int64 {
	in, err := os.Open(path)
	require.NoError(b, err)
	defer in.Close()
	f, w := blobFile(b, dir)
	zw, err := compress.NewWriter(w, compress.WriterConfig{Format: compress.Gzip, Level: 1, Concurrency: runtime.GOMAXPROCS(0)})
	require.NoError(b, err)
	_, err = io.Copy(io.MultiWriter(zw, sha256.New()), in)
	require.NoError(b, errors.Join(err, zw.Close()))
	fi, err := f.Stat()
	require.NoError(b, errors.Join(err, f.Close()))
	return fi.Size()
}

// spoolOnly copies the tar at path to an unlinked temp file in dir with
// its sha256, as lazypull.Write's first stage does.
func spoolOnly(b *testing.B, path, dir string) {
	in, err := os.Open(path)
	require.NoError(b, err)
	defer in.Close()
	f, err := os.CreateTemp(dir, "spool-")
	require.NoError(b, err)
	require.NoError(b, os.Remove(f.Name()))
	_, err = io.CopyBuffer(io.MultiWriter(f, sha256.New()), in, make([]byte, 1<<20))
	require.NoError(b, errors.Join(err, f.Close()))
}

// lazyBlob writes the tar at path as a blob of format f into dir.
func lazyBlob(b *testing.B, path, dir string, f lazypull.Format) int64 {
	in, err := os.Open(path)
	require.NoError(b, err)
	defer in.Close()
	out, w := blobFile(b, dir)
	res, err := lazypull.Write(context.Background(), w, in, f, lazypull.WithTempDir(dir))
	require.NoError(b, errors.Join(err, out.Close()))
	return res.Size
}
