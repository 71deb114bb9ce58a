// Package fstree knows file trees of images: it indexes a layer's tar
// stream (every entry, with the sha256 of each regular file's content),
// or reads the same from the table of contents of an eStargz or
// zstd:chunked blob (IndexTOC), stores and loads such indexes in the
// layer cache by diff ID, and merges the indexes of an image's layers into
// the tree a container sees (Tree), whiteouts and opaque directories
// applied.
package fstree
