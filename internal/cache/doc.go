// Package cache is stevedore's on-disk store of layer blobs, keyed by a hash
// of the inputs that produced them (see NewKey). layer.WithCache uses it so
// that an unchanged source costs a stat walk instead of a tar and a
// compression.
//
// A cache directory holds
//
//	blobs/sha256/<hex>   blob files, content-addressed (entries with equal
//	                     blobs share one file)
//	entries/<key>.json   metadata of an entry: digest, diffID, size, media
//	                     type, created-by; its mtime is the entry's last use
//	tmp/                 files being written
//	lock                 flock(2)ed around every change
//
// Writing: Cache.NewWriter gives a Writer over a temporary file in tmp/ that
// hashes what it is given; Writer.Commit checks the size and sha256 against
// the Meta, syncs, and under the lock renames the blob into place, then
// writes the metadata atomically (temporary file, sync, rename) and syncs the
// directories. Readers therefore never see a partial file, and a process
// killed at any point leaves no entry that refers to a partial blob: at worst
// a temporary file, which the next Open removes (a writer holds a lock on its
// temporary file, so a file nobody holds is known to be abandoned), or a
// blob without an entry, which Prune removes. Several goroutines and several
// processes may share a directory.
//
// Reading: Cache.Get is cheap (a small read and a stat) and checks the
// blob's size; Entry.Open hashes while reading and reports ErrCorrupt at the
// end if the digest differs; Entry.Verify re-hashes the whole blob. An entry
// found invalid is removed, so it is rebuilt rather than served.
//
// Entries cheaper to compute again than to wait for the disk:
// Writer.CommitUnsynced commits one without the syncs, so that a crash of
// the machine (not of the process) may lose it or leave it torn: Get
// reports a miss when the blob's size is wrong (it checks only that), Open
// and Verify report ErrCorrupt when its sha256 is, never other bytes.
// Package layer commits its blobs so, and verifies an entry before it
// serves the bytes of a hit. Derived records (a layer's file index, a
// source's content hash): Cache.StoreDerived commits one unsynced,
// Cache.LoadDerived reads one to the end, a miss for anything amiss.
//
// Bounding: WithLimit makes every Commit evict least recently used entries
// beyond the limit; Cache.Prune does the same on demand.
//
// On platforms without flock(2) (Windows, Plan 9, ...) the cache is safe for
// the goroutines of one process only.
package cache
