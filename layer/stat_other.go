//go:build !linux

package layer

import "io/fs"

// Off Linux, hardlinks are not detected (each name is a regular file with
// the content), device numbers are 0, and the cache key of a directory
// relies on size, mtime and mode only.

func fileID(fs.FileInfo) (devIno, bool)     { return devIno{}, false }
func devNumbers(fs.FileInfo) (int64, int64) { return 0, 0 }
func changeID(fs.FileInfo) (uint64, int64)  { return 0, 0 }
