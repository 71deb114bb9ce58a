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
// the number of cores; or zstd, or none), and the compressed bytes are
// hashed (the digest) and counted while they are written to a spool file or
// a cache entry (WithCache). Compressed serves that file; nothing is ever
// compressed twice or held in memory, so memory stays flat whatever the
// layer size. The result, or the error, is kept for every later call.
//
// # Paths
//
// Each source's entry names go through WithStripComponents, then the
// WithOnly, WithInclude and WithExclude/WithIgnoreFile filters
// (.dockerignore semantics), then WithRoot. Hardlink targets are rewritten
// with the names. Output names are relative and clean; directories end in
// "/". Every missing parent directory of a placed entry is emitted once as
// a 0755 root-owned directory with the source's default mtime. An entry
// whose name or hardlink target leaves the root through "..", or that
// would be written through a symlink (or under a non-directory) placed
// earlier in the same layer, fails the build with an error naming the entry
// (ErrEscapesRoot, ErrThroughSymlink, ErrNotDir, ErrLinkTarget). Absolute
// names are taken relative to the root, as tar does.
//
// The only per-entry state kept while a layer is built is the set of names
// placed so far (for the checks above), so memory grows with the number of
// entries, never with their sizes.
//
// Duplicates: a directory is written once (later entries for a directory
// already placed, including a synthesized parent, are dropped). Any other
// name placed twice is written twice and consumers apply the last one, as
// tar extraction does; note that go-containerregistry's validate.Layer
// rejects such layers.
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
// written as regular files. Entries named like OCI whiteouts (".wh.*") are
// copied as they are, so a tarball that is already a layer keeps its
// deletions; like every entry they stay below the source's WithRoot.
//
// # Contexts
//
// A layer is built under the context it was made with (New's ctx;
// context.Background for the From* functions other than FromURL). The
// concrete layer also has a Compute(ctx) method that builds it now under
// a caller's ctx as well; a build stopped by that ctx is not kept, so the
// next call builds again. image.Build calls it, so cancelling a build
// stops the layers' work too.
//
// # Caches
//
// WithCache keeps built layers in a directory, keyed by content: the
// options that change the bytes and the content of the inputs (for a
// directory, each entry's path, type, mode, link target and content
// digest), never host paths, inodes or times. A stat walk leads to the
// content key through a record in the same directory, so an unchanged
// tree costs a stat walk, and a fresh clone one read of its files (hashed,
// not compressed). WithCacheLimit and PruneCache bound the directory.
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
// WithTempDir) that is removed when the layer becomes unreachable
// (runtime.AddCleanup), or at once when the build fails or is cancelled.
// Readers already returned by Compressed keep working after that (the file
// is unlinked, not truncated).
package layer
