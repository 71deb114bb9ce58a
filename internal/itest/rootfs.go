//go:build unix

package itest

import (
	"archive/tar"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// RootfsEntry is one entry of an unpacked root file system, as
// [WalkRootfs] finds it.
type RootfsEntry struct {
	// Path is the entry's path relative to the root, slash-separated.
	Path string
	// Info is what lstat says of the entry.
	Info fs.FileInfo
	// Type is the entry's tar type: tar.TypeReg, TypeDir, TypeSymlink,
	// TypeFifo, TypeChar or TypeBlock; 0 for a kind tar cannot carry (a
	// socket).
	Type byte
	// Perm is the permission bits with setuid, setgid and sticky, as a
	// tar header has them (st_mode & 07777).
	Perm uint32
	// Uid and Gid own the entry.
	Uid, Gid uint32
	// Link is a symlink's target ("" for other entries).
	Link string
}

// WalkRootfs calls fn for every entry under root (an unpacked root file
// system, as umoci or buildah leave it), root itself excepted, in lexical
// order. It stops at the first error, of the walk or of fn.
func WalkRootfs(root string, fn func(RootfsEntry) error) error {
	return filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil || rel == "." {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		e := RootfsEntry{Path: filepath.ToSlash(rel), Info: fi, Type: tarType(fi.Mode()), Perm: uint32(st.Mode) & 0o7777, Uid: st.Uid, Gid: st.Gid}
		if e.Type == tar.TypeSymlink {
			if e.Link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		return fn(e)
	})
}

// tarType is the tar type of a file of mode m, 0 when tar has none.
func tarType(m fs.FileMode) byte {
	switch {
	case m.IsRegular():
		return tar.TypeReg
	case m.IsDir():
		return tar.TypeDir
	case m&fs.ModeSymlink != 0:
		return tar.TypeSymlink
	case m&fs.ModeNamedPipe != 0:
		return tar.TypeFifo
	case m&fs.ModeCharDevice != 0:
		return tar.TypeChar
	case m&fs.ModeDevice != 0:
		return tar.TypeBlock
	}
	return 0
}
