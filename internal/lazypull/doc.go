// Package lazypull writes and reads the two lazily pullable layer
// formats, eStargz and zstd:chunked, with containerd's estargz library
// (github.com/containerd/stargz-snapshotter/estargz and its zstdchunked
// package).
//
// Write turns an uncompressed tar into a blob of either format and
// reports what the layer's descriptor and config need: the diffID, the
// TOC digest, the uncompressed size and the format's annotations. The tar
// is spooled to a temporary file (the formats reorder entries and
// compress parts concurrently), so memory does not grow with the layer.
// The output is reproducible: the same tar and options give the same
// bytes on any machine.
//
// ReadTOC reads a blob's table of contents from its end, without
// decompressing the layer, and returns its entries.
//
// # What the formats change in the tar
//
// The blob decompresses (with any gzip or zstd reader) to a tar with the
// same entries as the input, rewritten by archive/tar, plus:
//
//   - a landmark file at the root: NoPrefetchLandmark first, or, with
//     WithPrioritizedFiles, the tar's whiteouts and the prioritized files
//     (and their parent directories) first, then PrefetchLandmark, then
//     the other entries in their order;
//   - for eStargz, the TOC file TOCTarName as the last entry;
//   - for zstd:chunked, no end-of-archive blocks (the TOC follows in a
//     skippable frame).
//
// So the diffID (Result.DiffID) is the digest of that tar, not of the
// input (Result.InputDigest).
//
// # zstd:chunked flavour
//
// The estargz library writes zstd:chunked as containerd's stargz
// snapshotter reads it: a 40-byte footer, the io.containers.zstd-chunked.*
// annotations and the stargz TOC digest annotation. Current podman and
// CRI-O (containers/storage) write a later variant (a 64-byte footer,
// tar-split data, io.github.containers.zstd-chunked.* annotations); they
// pull these layers as ordinary zstd layers, in full.
package lazypull
