package tartest

import (
	"archive/tar"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"time"
)

// WriteTree writes the directories, regular files and symlinks under the
// host directory root to tw, in lexical order, named prefix/RELATIVE
// (prefix "" for names relative to root), with the permission bits of the
// host, owner 0:0, the mtime mt and the format format. Other kinds of
// files (sockets, devices) are left out. It streams: it is for the large
// fixtures of benchmarks made from a real tree, such as GOROOT.
func WriteTree(tw *tar.Writer, root, prefix string, mt time.Time, format tar.Format) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		name := path.Join(prefix, filepath.ToSlash(rel))
		if name == "." {
			return nil // the root itself, without a prefix
		}
		return writeTreeEntry(tw, p, name, d, mt, format)
	})
}

// writeTreeEntry writes the file, directory or symlink p to tw as name.
func writeTreeEntry(tw *tar.Writer, p, name string, d fs.DirEntry, mt time.Time, format tar.Format) error {
	fi, err := d.Info()
	if err != nil {
		return err
	}
	h := &tar.Header{Name: name, Mode: int64(fi.Mode().Perm()), ModTime: mt, Format: format}
	switch {
	case d.IsDir():
		h.Typeflag, h.Name = tar.TypeDir, name+"/"
	case d.Type()&fs.ModeSymlink != 0:
		h.Typeflag = tar.TypeSymlink
		if h.Linkname, err = os.Readlink(p); err != nil {
			return err
		}
	case d.Type().IsRegular():
		h.Typeflag, h.Size = tar.TypeReg, fi.Size()
	default:
		return nil
	}
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	if h.Typeflag != tar.TypeReg {
		return nil
	}
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(tw, f)
	return err
}
