package image

import (
	"context"
	"fmt"
	"io"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/stevedore-dev/stevedore/internal/compress"
	"github.com/stevedore-dev/stevedore/internal/ctxio"
	"github.com/stevedore-dev/stevedore/internal/fstree"
	"github.com/stevedore-dev/stevedore/internal/mediatype"
	"github.com/stevedore-dev/stevedore/internal/tarx"
)

// readTOC indexes an eStargz or zstd:chunked layer, one whose descriptor
// d names a table of contents (TOC) digest, from the TOC at the end of its
// blob, whose digest must be the one d names: neither decompressing the
// blob nor hashing its files, which is what indexing another layer costs.
// That needs random access to the blob: a blob that is a file (an OCI
// layout's, read with ReadOCILayout, ReadOCITarball or
// go-containerregistry's layout package) is read in place, a few hundred
// KB of it; any other (a registry's) is downloaded in full to an unlinked
// temp file first. When the TOC cannot be used (a blob of neither format, a
// digest that does not match), the blob is decompressed as for any layer,
// from that copy when there is one, and checked against diffID. key is
// what the index is kept under (see indexKey). ok is false for a layer
// without a TOC digest, left to the caller.
func readTOC(ctx context.Context, l v1.Layer, d v1.Descriptor, diffID v1.Hash) (nodes []tarx.Node, key indexKey, ok bool, err error) {
	toc, named := tocKey(d)
	if !named {
		return nil, indexKey{}, false, nil
	}
	k, _ := mediatype.LayerKind(d.MediaType)
	ra, size, done, err := randomAccess(ctx, l, d.Size)
	if err != nil {
		return nil, indexKey{}, true, err
	}
	defer done()
	if nodes, err := fstree.IndexTOC(ra, size, d.Annotations); err == nil {
		return nodes, toc, true, nil
	}
	zr, err := compress.NewReader(io.NewSectionReader(ra, 0, size), k.Compression)
	if err != nil {
		return nil, indexKey{}, true, err
	}
	defer zr.Close()
	nodes, err = indexChecked(ctx, zr, d, diffID)
	return nodes, indexKey{fstree.Full, diffID}, true, err
}

// randomAccess opens the blob of l (size bytes, 0 when unknown) for
// random access: in place when its compressed reader has ReadAt (a file)
// and the size is known, else as a copy in a temp file, unlinked at once
// where the system allows (by done elsewhere). done releases it.
func randomAccess(ctx context.Context, l v1.Layer, size int64) (ra io.ReaderAt, n int64, done func(), err error) {
	rc, err := l.Compressed()
	if err != nil {
		return nil, 0, nil, err
	}
	if ra, ok := rc.(io.ReaderAt); ok && size > 0 {
		return ra, size, func() { rc.Close() }, nil
	}
	defer rc.Close()
	f, err := os.CreateTemp("", "stevedore-blob-*")
	if err != nil {
		return nil, 0, nil, fmt.Errorf("copying layer blob: %w", err)
	}
	name := f.Name()
	unlinked := os.Remove(name) == nil
	done = func() {
		f.Close()
		if !unlinked {
			os.Remove(name)
		}
	}
	if n, err = io.Copy(f, ctxio.Reader(ctx, rc)); err != nil {
		done()
		return nil, 0, nil, fmt.Errorf("copying layer blob: %w", err)
	}
	return f, n, done, nil
}
