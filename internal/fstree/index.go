package fstree

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/stevedore-dev/stevedore/internal/cache"
	"github.com/stevedore-dev/stevedore/internal/ctxio"
	"github.com/stevedore-dev/stevedore/internal/tarx"
)

// Index reads a layer's uncompressed tar stream and returns its entries
// in order, whiteouts included under their .wh. names, with the sha256 of
// each regular file's content.
func Index(ctx context.Context, r io.Reader) ([]tarx.Node, error) {
	tr := tar.NewReader(ctxio.Reader(ctx, r))
	var out []tarx.Node
	buf := make([]byte, 256<<10)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("indexing layer: %w", err)
		}
		name, err := tarx.SourceName(h.Name)
		if err != nil || name == "" {
			continue // the root, or a name that cannot land anywhere
		}
		n := tarx.NodeOf(name, h)
		switch h.Typeflag {
		case tar.TypeReg, tar.TypeRegA, tar.TypeGNUSparse:
			n.Type = tar.TypeReg
			d := sha256.New()
			if _, err := io.CopyBuffer(d, tr, buf); err != nil {
				return nil, fmt.Errorf("indexing layer: entry %q: %w", h.Name, err)
			}
			n.Digest = "sha256:" + hex.EncodeToString(d.Sum(nil))
		case tar.TypeLink:
			if t, err := tarx.SourceName(h.Linkname); err == nil {
				n.Linkname = t
			}
		}
		out = append(out, n)
	}
}

// node is the stored form of a tarx.Node.
type node struct {
	N string `json:"n"`
	T byte   `json:"t"`
	M int64  `json:"m,omitempty"`
	U int    `json:"u,omitempty"`
	G int    `json:"g,omitempty"`
	L string `json:"l,omitempty"`
	S int64  `json:"s,omitempty"`
	D string `json:"d,omitempty"`
}

// Encode writes nodes in the stored form: gzip-compressed JSON.
func Encode(w io.Writer, nodes []tarx.Node) error {
	zw := gzip.NewWriter(w)
	enc := json.NewEncoder(zw)
	for _, n := range nodes {
		if err := enc.Encode(node{n.Name, n.Type, n.Mode, n.UID, n.GID, n.Linkname, n.Size, n.Digest}); err != nil {
			return err
		}
	}
	return zw.Close()
}

// Decode reads what Encode wrote.
func Decode(r io.Reader) ([]tarx.Node, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	dec := json.NewDecoder(zr)
	var out []tarx.Node
	for {
		var n node
		if err := dec.Decode(&n); errors.Is(err, io.EOF) {
			return out, nil
		} else if err != nil {
			return nil, err
		}
		out = append(out, tarx.Node{Name: n.N, Type: n.T, Mode: n.M, UID: n.U, GID: n.G, Linkname: n.L, Size: n.S, Digest: n.D})
	}
}

// Kind tells indexes apart in the cache.
type Kind string

// Kinds of index.
const (
	// Full indexes have the content digest of every regular file, and
	// are kept under a diff ID their read checked (the indexes kept as
	// "tree" were kept under the diff ID an image's config claimed, and
	// are left unread).
	Full Kind = "tree-checked"
	// TOC indexes are read from a lazy layer's table of contents, and
	// are kept under the TOC's digest, which is all such a read checks.
	TOC Kind = "toc"
	// Written indexes are what a layer build recorded: no digests.
	Written Kind = "files"
)

// cacheKey is the cache key of the index of kind k of the layer with
// diff ID (or TOC digest) d.
func cacheKey(k Kind, d v1.Hash) string { return string(k) + "-" + d.Algorithm + "-" + d.Hex }

// Load returns the index of kind k of the layer with diff ID (or TOC
// digest) d from c, if c has it.
func Load(c *cache.Cache, k Kind, d v1.Hash) ([]tarx.Node, bool) {
	var nodes []tarx.Node
	ok := c.LoadDerived(cacheKey(k, d), func(r io.Reader) (err error) {
		nodes, err = Decode(r)
		return err
	})
	if !ok {
		return nil, false
	}
	return nodes, true
}

// Store keeps the index of kind k of the layer with diff ID (or TOC
// digest) d in c. The
// entry is not synced: an index is derived from its layer, and one a
// crash lost or cut short is a miss for Load (it reads to the end, where
// the cache checks the digest), which costs a read of the layer.
func Store(c *cache.Cache, k Kind, d v1.Hash, nodes []tarx.Node) error {
	return c.StoreDerived(cacheKey(k, d), cache.Meta{
		MediaType: "application/vnd.stevedore.tree.v1+json+gzip",
		CreatedBy: "file index of layer " + d.String(),
	}, func(w io.Writer) error { return Encode(w, nodes) })
}
