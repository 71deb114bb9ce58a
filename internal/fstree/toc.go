package fstree

import (
	"archive/tar"
	"fmt"
	"io"

	"github.com/stevedore-dev/stevedore/internal/lazypull"
	"github.com/stevedore-dev/stevedore/internal/tarx"
)

// IndexTOC indexes an eStargz or zstd:chunked layer from the table of
// contents at the end of its blob (size bytes, read through r), without
// decompressing it: the same entries, digests included, that Index gives
// for the decompressed tar. annotations are the layer descriptor's: the
// TOC's digest must be the one they name, or IndexTOC fails (a blob of
// neither format fails too).
//
// The entries are the TOC's word for the tar: a blob whose TOC lies about
// its tar is detected by the chunk digests when files are read, not here.
func IndexTOC(r io.ReaderAt, size int64, annotations map[string]string) ([]tarx.Node, error) {
	toc, err := lazypull.ReadTOC(r, size)
	if err != nil {
		return nil, fmt.Errorf("indexing layer from its table of contents: %w", err)
	}
	if err := toc.Verify(annotations); err != nil {
		return nil, fmt.Errorf("indexing layer from its table of contents: %w", err)
	}
	entries := toc.TarEntries()
	out := make([]tarx.Node, 0, len(entries))
	for _, e := range entries {
		if e.Name == "" {
			continue // the root, as Index skips it
		}
		n := tarx.Node{Name: e.Name, Type: e.Typeflag, Mode: e.Mode & 0o7777, UID: e.UID, GID: e.GID, Linkname: e.Linkname, Size: e.Size}
		if e.Typeflag == tar.TypeReg && e.Digest.Hex != "" {
			n.Digest = e.Digest.String()
		}
		out = append(out, n)
	}
	return out, nil
}
