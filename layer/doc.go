// Package layer turns directories, tarballs (local or downloaded), io/fs
// trees, in-memory files and deletions into go-containerregistry v1.Layer
// values, in a single pass and reproducibly.
//
// Every constructor (FromDir, FromTarball, FromURL, FromFS, FromFiles,
// Delete, and New, which merges several Sources into one layer) only
// validates its arguments. The first call to Digest, DiffID, Size,
// Compressed or Uncompressed builds the layer, once: the tar stream is
// produced once, hashed (the diffID) while it is compressed (gzip by
// default, in parallel with fixed-size blocks so the bytes do not depend on
// the number of cores; or zstd, or none, or a lazily pullable format: see
// Compression), and the compressed bytes are hashed (the digest) and
// counted while they are written to a spool file or a cache entry
// (WithCache). Compressed serves that file; nothing is ever compressed
// twice or held in memory, so memory stays flat whatever the layer size.
// The result, or the error, is kept for every later call.
//
// # Compression
//
// WithCompression chooses the blob's format. Gzip (the default) and Zstd
// are compressed as the tar is written; Uncompressed is the tar itself.
//
// EStargz and ZstdChunked make layers that a lazy puller starts a
// container from before the whole layer has arrived: containerd's stargz
// snapshotter fetches files on demand, guided by a table of contents (TOC)
// at the end of the blob, and fetches the files named with
// WithPrioritizedFiles first. Both are written with containerd's estargz
// library, and are ordinary layers to every other client: an EStargz blob
// is a gzip stream of media type application/vnd.oci.image.layer.v1.tar+gzip,
// which docker, podman, skopeo and umoci pull and unpack like any gzip
// layer; a ZstdChunked blob is a zstd stream
// (application/vnd.oci.image.layer.v1.tar+zstd). podman and CRI-O pull
// these zstd:chunked layers in full: they read a later variant of the
// format.
//
// What the formats change:
//
//   - The tar. The blob decompresses to the layer's entries plus a
//     landmark file at the root (.no.prefetch.landmark, or, with
//     WithPrioritizedFiles, .prefetch.landmark after the prioritized files,
//     which are moved first) and, for EStargz, the TOC as a last entry
//     (stargz.index.json). A client that unpacks the layer in full creates
//     those files. Source entries at those names are dropped (so a lazy
//     layer's blob, given to Tarball, makes the same layer again). So DiffID is the sha256 of that tar, which is what
//     clients check, and not the sha256 of the tar the sources make.
//   - The descriptor. The layer has annotations (see Annotated): the TOC
//     digest and the uncompressed size, and zstd:chunked's own.
//     image.Build writes them into the manifest; a lazy puller needs them.
//   - The cost. The formats reorder entries and compress parts of the tar
//     concurrently, so the uncompressed tar is spooled to a temp file (in
//     WithTempDir, unlinked at once) before the blob is made, and the
//     library writes the compressed parts to os.TempDir() (removed when
//     the build ends, fails or is cancelled) before joining them: disk
//     space of about the tar plus twice the blob, never memory. The four
//     parts are compressed at once whatever WithConcurrency says.
//
// The bytes are reproducible as for the other formats: same inputs and
// options, same digest and same TOC digest. The cache key includes the
// format, the level and the prioritized files.
//
// # Options
//
// A SourceOption configures one Source (where its entries go, which it
// keeps, owners, times, checksums); a LayerOption configures the whole
// layer (compression, cache, temp dir). Dir, Tarball, URL, FS and Files
// take source options, New takes layer options, and the From* shorthands
// take both (Option). Giving one where it does not belong does not
// compile; the few source options that only some kinds take (WithSHA256,
// WithSizeLimit, WithPreserveOwner, WithHTTPClient) are an error wrapping
// ErrInvalidOption when given to another kind.
//
// # Paths
//
// Each source's entry names go through WithStripComponents, then the
// WithOnly, WithInclude and WithExclude/WithIgnoreFile filters
// (.dockerignore semantics), then WithRoot. Hardlink targets are rewritten
// with the names. Output names are relative and clean; directories end in
// "/". An entry whose name or hardlink target leaves the root through
// "..", or that would be written through a symlink (or under a
// non-directory) placed earlier in the same layer, fails the build with an
// error naming the entry (ErrEscapesRoot, ErrThroughSymlink, ErrNotDir,
// ErrLinkTarget). Absolute names are taken relative to the root, as tar
// does. A WithOnly name or WithInclude pattern that keeps nothing fails the
// build with an error wrapping ErrNoMatch that names it.
//
// # Parents, and the image below
//
// A layer used alone (appended to an image by other means, or read on its
// own) carries every parent directory it needs, as a 0755 root-owned
// directory with the source's default mtime: it is self-contained.
//
// A layer placed on the file tree of the image it lands on (see Placeable
// and Placement; image.Build places the layers of this package) respects
// that image the way `docker build`'s COPY does: parent directories the
// image has are left as it has them (a 1777 /tmp stays 1777, a 0700 /opt
// stays 0700), and so is the directory a source is copied into (WithRoot);
// a directory the source holds itself (a tmp/ in the directory given to
// Dir) is written with its own mode and owner, as COPY writes it. A path
// whose parent is a symlink in the image (/lib -> usr/lib on a
// merged-/usr distribution, /var/run -> /run) lands under the link's
// target and the link survives, where docker build's BuildKit refuses
// the copy ("cannot copy to non-directory") and the classic builder
// replaces the link. A link that leaves the image root, or a loop, fails
// the build with an error wrapping ErrBaseLink.
//
// # One entry per path, whiteouts first
//
// Every path appears once in a layer. When two sources, or two entries of
// one tarball, place the same path, the last wins, as tar extraction would
// have it: a directory keeps the place of its first entry with the last
// entry's header, anything else is written where its last entry is. The
// whiteouts of Deletions and Opaque (and those met in a source tarball)
// come first in their directory, as the image spec asks: before the
// directory's other entries, whatever the order of the sources. In the
// common case (no path placed twice, whiteouts in order) the sources are
// read once; otherwise the writer notices, reads them to the end without
// writing, and writes them again with what it learned (a downloaded
// tarball is then downloaded again).
//
// The only per-entry state kept while a layer is built is what each name
// is (for the checks above), so memory grows with the number of entries,
// never with their sizes.
//
// # Reproducibility
//
// The same inputs give the same bytes on any machine: walks are sorted;
// mtimes come from WithModTime, else $SOURCE_DATE_EPOCH, else the Unix
// epoch (tarball sources and Files with a ModTime keep theirs unless
// WithModTime is given); uid and gid are 0 unless WithOwner (or
// WithPreserveOwner for tarballs); user and group names, access and change
// times, and global PAX headers are dropped; extended attributes recorded
// in a source tarball (SCHILY.xattr.*) are kept, host ones are not read.
// The history text of a layer (CreatedBy) names the source kinds and
// destinations, never host paths or file names, so that the image digest
// does not depend on where the sources were checked out.
//
// # Special files
//
// Directory sources keep symlinks as symlinks (never followed; a walk is
// confined to its directory with os.Root), hardlinks (files with several
// links, by device and inode) as tar hardlinks to the first name placed,
// empty directories, setuid/setgid/sticky bits, FIFOs and device nodes.
// Sockets are skipped: tar cannot represent them. Tarball sources keep the
// same types; other tar types (volume labels, multi-volume parts, ...) are
// an error wrapping ErrUnsupportedEntry. GNU and PAX sparse files are
// written as regular files. Entries named like OCI whiteouts (".wh.*") in
// a source tarball are whiteouts, so a tarball that is already a layer
// keeps its deletions; like every entry they stay below the source's
// WithRoot.
//
// # Contexts
//
// A layer is built under the context it was made with (New's ctx;
// context.Background for the From* functions other than FromURL). The
// layers also have a Compute(ctx) method (Computable) that builds them
// now under a caller's ctx as well; a build stopped by that ctx is not
// kept, so the next call builds again. image.Build calls it, so cancelling
// a build stops the layers' work too.
//
// # Caches
//
// WithCache keeps built layers in a directory, keyed by content: the
// options that change the bytes and the content of the inputs (for a
// directory, each entry's path, type, mode, link target and content
// digest), never host paths, inodes or times. A stat walk leads to the
// content key through a record in the same directory, so an unchanged
// tree costs a stat walk, and a fresh clone one read of its files (hashed,
// not compressed). A source edited during the build never has its new
// bytes stored under the old content's key: each read of a source must
// find the entries, and the file stats (size, mtime, inode, ctime) or, for
// the files the first read hashed, the content, of its first read; when
// it does not, the build starts again, and after three attempts fails
// with ErrChanged. WithCacheLimit and PruneCache bound the directory.
//
// WithRemoteCache shares layers between machines through a RemoteCache,
// such as an OCI repository (registry.NewLayerCache): a machine that
// misses a layer locally looks its content key up there; on a hit it
// builds nothing and downloads nothing (registry.Push mounts the blob
// from the cache repository), on a miss it builds the layer and stores
// it there. A remote cache that fails is reported (WithCacheEvents),
// never an error of the build.
//
// # Spool files
//
// Without WithCache, a built layer's blob lives in a temp file (see
// WithTempDir) that is unlinked as soon as it is created: the blob lives
// as long as the descriptor, which the layer (and any reader of it) holds,
// so nothing is left on disk when the process ends, however it ends.
// Readers share that descriptor: the number of open descriptors does not
// grow with Compressed or Uncompressed calls.
package layer
