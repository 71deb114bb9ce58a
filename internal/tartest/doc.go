// Package tartest builds tar streams for tests, in the spirit of
// containerd's pkg/archive/tartest: a test says which entries a stream
// holds and gets the bytes, compressed or not, in memory or in a
// temporary file. Times, owners and modes are the ones the test gives, or
// fixed defaults: the bytes are the same on every machine.
//
// An [Entry] is a value. [File], [Dir], [Symlink], [Hardlink], [Whiteout],
// [Opaque] and [Global] make the common kinds, the With methods return a
// changed copy, and an Entry literal makes any other (devices, fifos,
// unknown types). A [Stream] is an immutable list of entries plus the
// defaults for what an entry leaves unset (its mtime, [DefaultModTime],
// and its tar format):
//
//	b := tartest.New(
//		tartest.Dir("app/"),
//		tartest.File("app/run", "#!/bin/sh\n").WithMode(0o755),
//		tartest.Symlink("app/sh", "/bin/sh"),
//		tartest.Whiteout("app/old"),
//	).WithFormat(tar.FormatPAX).Bytes(t)
//
// [Bytes] is the short form for a stream with the defaults. [Gzip],
// [Zstd] and [Xz] compress any bytes and [TempFile] writes them under the
// test's temporary directory. [Read] and [ReadLayer] read a stream back
// as entries, for the checks of what the code under test wrote.
//
// [WriteTree] streams a real host tree (GOROOT, say) into a tar.Writer,
// with the host's permission bits but fixed times and owners, for the
// large inputs of benchmarks.
//
// For the streams archive/tar refuses to write (hand-made PAX records,
// odd type flags, old GNU sparse entries), [RawHeader], [RawFile],
// [GNUSparse], [PAXRecord] and [Raw] build the 512-byte blocks by hand.
package tartest
