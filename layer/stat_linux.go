//go:build linux

package layer

import (
	"io/fs"
	"syscall"
)

// fileID returns a file's device and inode and whether it has several
// links (a hardlink candidate).
func fileID(fi fs.FileInfo) (id devIno, multi bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return devIno{}, false
	}
	return devIno{uint64(st.Dev), uint64(st.Ino)}, st.Nlink > 1
}

// devNumbers returns a device node's major and minor numbers (glibc's
// encoding of dev_t).
func devNumbers(fi fs.FileInfo) (major, minor int64) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0
	}
	rdev := uint64(st.Rdev)
	return int64((rdev>>8)&0xfff | (rdev>>32)&^0xfff), int64(rdev&0xff | (rdev>>12)&^0xff)
}

// changeID returns what, besides size and mtime, tells that a file's
// content may have changed: its inode and ctime.
func changeID(fi fs.FileInfo) (ino uint64, ctime int64) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0
	}
	return uint64(st.Ino), st.Ctim.Nano()
}
