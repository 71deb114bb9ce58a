// Package gobin recognises Go executables in a byte stream as it passes,
// and reads their build information (Go version, main module,
// dependencies with their go.sum hashes, build settings), without a second
// read of the file and without an io.ReaderAt.
//
// A [Detector] is an io.Writer: the layer pipeline tees each regular
// file's content through it and asks [Detector.Result] at the end of the
// file. It looks at the first four bytes and stops at once unless they are
// the ELF magic, so other files cost one comparison. For an ELF file it
// keeps only what go's debug/buildinfo would read — the ELF header, the
// program and section header tables, the section name table, and a small
// window at each aligned "\xff Go buildinf:" blob found in a writable
// segment, however the blob is cut across writes — and at the end runs
// debug/buildinfo on those bytes alone. Whatever it reports,
// debug/buildinfo.Read reports on the whole file too; memory stays under a
// few megabytes whatever the file size.
//
// Only ELF executables of Go 1.18 or newer (the inline build information
// format) are recognised: container images hold Linux executables, and
// Mach-O and PE would need their symbol tables kept, which are large.
package gobin
