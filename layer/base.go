package layer

import (
	"context"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Node is what a file tree holds at one path, as a tar header tells it.
type Node struct {
	// Name is the clean relative slash path ("usr/bin/env").
	Name string
	// Type is the tar type flag (tar.TypeReg, tar.TypeDir,
	// tar.TypeSymlink, tar.TypeLink, tar.TypeChar, tar.TypeBlock,
	// tar.TypeFifo).
	Type byte
	// Mode holds the permission and special bits (07777), as in a tar
	// header.
	Mode int64
	UID  int
	GID  int
	// Linkname is a symlink's target as written, or a hardlink's target.
	Linkname string
	// Size is a regular file's size.
	Size int64
	// Digest is the sha256 of a regular file's content; the zero Hash when
	// unknown.
	Digest v1.Hash
}

// Base is the file tree a layer lands on: what the layers below it leave
// at each path, their whiteouts applied. Package image implements it for
// the images it builds on.
type Base interface {
	// ID names the tree's content: two bases with the same ID hold the
	// same files. It is part of the cache key of a layer placed on it
	// (package image uses the chain ID of the layers' diff IDs).
	ID() string
	// Load makes the tree ready for Lookup. A placed layer calls it once
	// before its first Lookup, only when it is built (not when it comes
	// from the cache), under the build's context.
	Load(ctx context.Context) error
	// Lookup returns what the tree holds at name (a clean relative slash
	// path), without following symlinks.
	Lookup(name string) (Node, bool)
}

// Placement says where a layer lands.
type Placement struct {
	// Base is the tree below the layer; nil for none.
	Base Base
	// SkipUnchanged leaves out of the layer the entries the base already
	// has exactly so: regular files with the same content digest, mode and
	// owner; symlinks with the same target and owner; directories with the
	// same mode and owner. Times do not count.
	SkipUnchanged bool
}

// Placeable is implemented by the layers of this package: Place returns
// the layer as built on p.Base, respecting it the way `docker build`'s
// COPY does:
//
//   - parent directories that the base has are left as the base has them
//     (not emitted), so a base's 1777 /tmp or 0700 /root stays so; the
//     placement root itself (WithRoot) too, when the base has it;
//   - a path whose parent is a symlink in the base (/lib -> usr/lib on a
//     merged-/usr distribution, /var/run -> /run) lands under the link's
//     target, and the symlink survives; a directory entry at such a path
//     goes to the target too. A link that leaves the image root, or a loop,
//     fails the build with an error wrapping ErrBaseLink;
//   - deletions under such a parent delete the file where it is.
//
// The receiver is unchanged: a layer used without Place (appended to an
// image by other means, or built alone) emits every parent it needs as a
// 0755 root-owned directory, as a self-contained layer must. The placed
// layer's cache key includes p.Base.ID(). The two are built separately:
// reading the digest of a layer that image.Build then places builds it
// twice (once alone, once on the base), so ask the image for its layers'
// digests rather than the layers given to it.
type Placeable interface {
	v1.Layer
	Place(p Placement) v1.Layer
}

// Computable is implemented by the layers of this package: Compute builds
// the layer now, under ctx as well as the context the layer was made with
// (see the package documentation).
type Computable interface {
	v1.Layer
	Compute(ctx context.Context) error
}

// Describer is implemented by layers that say what made them, for an
// image's history: the layers of this package give, for example,
// "stevedore: dir -> /app".
type Describer interface {
	CreatedBy() string
}

// Lister is implemented by the layers of this package: Files returns the
// entries of the built layer in order (whiteouts under their .wh. names),
// without reading the blob back (EStargz and ZstdChunked layers read the
// table of contents at its end, not the rest). Package image uses it to
// know the tree a later layer lands on.
type Lister interface {
	Files(ctx context.Context) ([]Node, error)
}

// Annotated is implemented by the layers of this package: Annotations
// returns the annotations the layer's descriptor must carry in a
// manifest. EStargz and ZstdChunked layers have them: the digest of their
// table of contents (containerd.io/snapshot/stargz/toc.digest), their
// uncompressed size (io.containers.estargz.uncompressed-size) and, for
// zstd:chunked, where its table of contents lies
// (io.containers.zstd-chunked.manifest-checksum and -position). They are
// known once the layer is built, so Annotations builds it, as Digest
// would. Gzip, Zstd and Uncompressed layers have none: Annotations returns
// nil without building them. image.Build puts them on the layer's
// descriptor. The layers of this package also have a Descriptor method,
// through which go-containerregistry's partial.Descriptor (and so its
// mutate.Append) finds them.
type Annotated interface {
	Annotations() (map[string]string, error)
}

// Cached is implemented by the layers of this package: CacheHit reports,
// once the layer is built, whether it came from the cache of WithCache as
// it was (nothing tarred or compressed), as `docker build` reports "Using
// cache".
type Cached interface {
	CacheHit() bool
}
