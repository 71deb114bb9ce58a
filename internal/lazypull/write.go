package lazypull

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/containerd/stargz-snapshotter/estargz"
	"github.com/containerd/stargz-snapshotter/estargz/zstdchunked"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	digest "github.com/opencontainers/go-digest"

	"github.com/stevedore-dev/stevedore/internal/ctxio"
)

// Descriptor annotation keys the formats define.
const (
	// AnnotationTOCDigest is the digest of the uncompressed TOC JSON
	// (both formats; containerd's stargz snapshotter reads it).
	AnnotationTOCDigest = estargz.TOCJSONDigestAnnotation
	// AnnotationUncompressedSize is the size of the layer's uncompressed
	// tar, in decimal (both formats; containers/storage reads it).
	AnnotationUncompressedSize = estargz.StoreUncompressedSizeAnnotation
	// AnnotationZstdChunkedManifestChecksum is the digest of the
	// compressed TOC (zstd:chunked only).
	AnnotationZstdChunkedManifestChecksum = zstdchunked.ManifestChecksumAnnotation
	// AnnotationZstdChunkedManifestPosition is
	// "offset:compressed size:uncompressed size:type" of the TOC in the
	// blob (zstd:chunked only).
	AnnotationZstdChunkedManifestPosition = zstdchunked.ManifestPositionAnnotation
)

// buildParts is the number of parts the tar is cut into and compressed
// concurrently. It fixes where gzip members and zstd frames end, so it is
// a constant, never the number of cores: the output is the same on every
// machine. Four keeps up to four cores busy.
const buildParts = 4

// copyBufferSize is the buffer of the spool and output copies.
const copyBufferSize = 1 << 20

// Result describes a blob written by Write.
type Result struct {
	// DiffID is the sha256 of the layer's uncompressed tar, which is the
	// blob as any gzip or zstd reader decompresses it: the value for the
	// image config's rootfs.diff_ids. It is not InputDigest: the format
	// rewrites the tar (see the package documentation).
	DiffID v1.Hash
	// UncompressedSize is the size of that uncompressed tar.
	UncompressedSize int64
	// Size is the number of blob bytes written.
	Size int64
	// TOCDigest is the digest of the uncompressed TOC JSON.
	TOCDigest v1.Hash
	// InputDigest and InputSize are the sha256 and size of the tar read
	// from the source, as given.
	InputDigest v1.Hash
	InputSize   int64
	// Annotations are the layer descriptor annotations the format
	// defines: AnnotationTOCDigest and AnnotationUncompressedSize, and for
	// zstd:chunked also its manifest checksum and position.
	Annotations map[string]string
	// MissingPrioritized lists the WithPrioritizedFiles names the tar does
	// not hold.
	MissingPrioritized []string
}

// Write reads an uncompressed tar from src and writes it to dst as a blob
// in format f. The tar is spooled to a temporary file first (see
// WithTempDir), because the formats reorder entries and compress parts of
// the tar concurrently; memory use does not grow with the tar. The output
// depends only on the tar, f and the options: not on the number of cores
// or on how src cuts its reads. Cancelling ctx stops the work at its next
// read or write and leaves no temporary file.
func Write(ctx context.Context, dst io.Writer, src io.Reader, f Format, opts ...Option) (_ Result, err error) {
	o, err := newOptions(f, opts)
	if err != nil {
		return Result{}, err
	}
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	spool, closeSpool, err := createSpool(o.tempDir)
	if err != nil {
		return Result{}, fmt.Errorf("creating spool file: %w", err)
	}
	defer func() {
		if cerr := closeSpool(); cerr != nil && err == nil {
			err = fmt.Errorf("closing spool file: %w", cerr)
		}
	}()
	buf := make([]byte, copyBufferSize)
	h := sha256.New()
	n, err := io.CopyBuffer(io.MultiWriter(spool, h), ctxio.Reader(ctx, src), buf)
	if err != nil {
		return Result{}, fmt.Errorf("spooling tar: %w", err)
	}
	res := Result{InputDigest: sha256Hash(h.Sum(nil)), InputSize: n}
	if err := checkUncompressed(spool); err != nil {
		return Result{}, err
	}
	tar := io.NewSectionReader(ctxReaderAt{ctx, spool}, 0, n)
	if err := build(ctx, dst, tar, f, o, buf, &res); err != nil {
		return Result{}, err
	}
	return res, nil
}

// build runs estargz.Build on the spooled tar and copies the blob to dst,
// filling res.
//
// Build is not given ctx (estargz.WithContext): on cancellation it
// removes the temporary files it has made so far, once, and leaks those
// its workers make afterwards. Instead tar fails its reads once ctx is
// done, which makes Build fail and remove all its files.
func build(ctx context.Context, dst io.Writer, tar *io.SectionReader, f Format, o options, buf []byte, res *Result) error {
	comp, meta := compression(f, o.level)
	prioritized, err := withWhiteoutsFirst(tar, o.prioritized)
	if err != nil {
		return err
	}
	var missing []string
	blob, err := estargz.Build(tar,
		estargz.WithCompression(comp),
		estargz.WithParallelism(buildParts),
		estargz.WithPrioritizedFiles(prioritized),
		estargz.WithAllowPrioritizeNotFound(&missing))
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return fmt.Errorf("building %v blob: %w", f, cerr)
		}
		return fmt.Errorf("building %v blob: %w", f, err)
	}
	cw := &ctxio.CountWriter{W: dst}
	_, copyErr := io.CopyBuffer(ctxio.Writer(ctx, cw), blob, buf)
	closeErr := blob.Close() // removes estargz's temporary files
	if copyErr != nil {
		// The blob's goroutine is blocked writing to its pipe: drain it so
		// that it sees its closed files and ends.
		_, _ = io.Copy(io.Discard, blob)
		return fmt.Errorf("writing %v blob: %w", f, copyErr)
	}
	if closeErr != nil {
		return fmt.Errorf("removing temporary files: %w", closeErr)
	}
	usize, err := blob.UncompressedSize()
	if err != nil {
		return fmt.Errorf("writing %v blob: %w", f, err)
	}
	if res.DiffID, err = hashOf(blob.DiffID()); err != nil {
		return err
	}
	if res.TOCDigest, err = hashOf(blob.TOCDigest()); err != nil {
		return err
	}
	res.UncompressedSize, res.Size, res.MissingPrioritized = usize, cw.N, missing
	res.Annotations = map[string]string{
		AnnotationTOCDigest:        res.TOCDigest.String(),
		AnnotationUncompressedSize: strconv.FormatInt(usize, 10),
	}
	maps.Copy(res.Annotations, meta)
	return nil
}

// withWhiteoutsFirst returns the prioritized names preceded by the
// names of the tar's whiteouts (".wh.*" entries, opaque markers
// included), in tar order, when there are prioritized names. The library
// moves prioritized entries before all others: a file under a directory
// that a whiteout of the same layer deletes (a layer that deletes /app and
// re-creates /app/server, with /app/server prioritized) would otherwise
// come before its whiteout, and extractors that apply entries in order
// (containerd) would delete it again. Without prioritized names the order
// is kept, so nothing is moved.
func withWhiteoutsFirst(tarball *io.SectionReader, prioritized []string) ([]string, error) {
	if len(prioritized) == 0 {
		return nil, nil
	}
	var names []string
	tr := tar.NewReader(io.NewSectionReader(tarball, 0, tarball.Size()))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading spooled tar: %w", err)
		}
		if strings.HasPrefix(path.Base(h.Name), whiteoutPrefix) {
			names = append(names, h.Name)
		}
	}
	return append(names, prioritized...), nil
}

// whiteoutPrefix starts the base name of OCI whiteouts and of the opaque
// marker (https://github.com/opencontainers/image-spec/blob/main/layer.md#whiteouts).
const whiteoutPrefix = ".wh."

// createSpool creates the spool file in dir and unlinks it at once where
// the system allows (it stays readable through f): nothing is left behind
// even if the process is killed. The returned function closes it (and
// removes it where it could not be unlinked while open).
func createSpool(dir string) (*os.File, func() error, error) {
	f, err := os.CreateTemp(dir, ".lazypull-spool-*.tar")
	if err != nil {
		return nil, nil, err
	}
	name := f.Name()
	if os.Remove(name) == nil {
		return f, f.Close, nil
	}
	return f, func() error { return errors.Join(f.Close(), os.Remove(name)) }, nil
}

// checkUncompressed fails if the spooled input starts like a gzip or zstd
// stream: estargz.Build would silently decompress it, into os.TempDir().
func checkUncompressed(r io.ReaderAt) error {
	head := make([]byte, 4)
	n, err := r.ReadAt(head, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("reading spooled tar: %w", err)
	}
	head = head[:n]
	if bytes.HasPrefix(head, []byte{0x1f, 0x8b, 0x08}) || bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd}) {
		return ErrCompressedInput
	}
	return nil
}

// ctxReaderAt fails its reads once ctx is done.
type ctxReaderAt struct {
	ctx context.Context
	r   io.ReaderAt
}

func (c ctxReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.ReadAt(p, off)
}

func sha256Hash(sum []byte) v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum)}
}

func hashOf(d digest.Digest) (v1.Hash, error) {
	h, err := v1.NewHash(d.String())
	if err != nil {
		return v1.Hash{}, fmt.Errorf("parsing digest %q: %w", d, err)
	}
	return h, nil
}
