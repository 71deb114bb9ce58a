package tarx

import (
	"archive/tar"
	"path"
	"strings"
)

// Whiteout names, from the OCI image spec:
// https://github.com/opencontainers/image-spec/blob/main/layer.md#whiteouts
const (
	WhiteoutPrefix = ".wh."
	WhiteoutOpaque = ".wh..wh..opq"
	// whiteoutMeta prefixes the names aufs keeps for itself
	// (".wh..wh.plnk", ...); they are not whiteouts of a path.
	whiteoutMeta = ".wh..wh."
)

// Node is what a file tree holds at one path, as a tar header tells it.
type Node struct {
	// Name is the clean relative slash path ("usr/bin/env").
	Name string
	// Type is the tar type flag: tar.TypeReg, TypeDir, TypeSymlink,
	// TypeLink, TypeChar, TypeBlock or TypeFifo.
	Type byte
	// Mode holds the permission and special bits (07777).
	Mode int64
	UID  int
	GID  int
	// Linkname is a symlink's target as written, or a hardlink's target
	// path.
	Linkname string
	// Size is a regular file's size.
	Size int64
	// Digest is "sha256:<hex>" of a regular file's content, or "" when
	// unknown.
	Digest string
}

// IsDir reports whether n is a directory.
func (n Node) IsDir() bool { return n.Type == tar.TypeDir }

// NodeOf returns the node a header describes, named name.
func NodeOf(name string, h *tar.Header) Node {
	return Node{Name: name, Type: h.Typeflag, Mode: h.Mode & 0o7777, UID: h.Uid, GID: h.Gid, Linkname: h.Linkname, Size: h.Size}
}

// Lookup returns what the tree below a layer holds at a clean relative
// name, without following symlinks. A nil Lookup is an empty tree.
type Lookup func(name string) (Node, bool)

// WhiteoutTarget tells whether base (the last element of a name) is an
// OCI whiteout, and of what: the name of the deleted sibling, or opaque
// for an opaque-directory marker.
func WhiteoutTarget(base string) (target string, opaque, ok bool) {
	switch {
	case base == WhiteoutOpaque:
		return "", true, true
	case strings.HasPrefix(base, whiteoutMeta):
		return "", false, false
	case strings.HasPrefix(base, WhiteoutPrefix) && len(base) > len(WhiteoutPrefix):
		return base[len(WhiteoutPrefix):], false, true
	}
	return "", false, false
}

// AufsMeta tells whether the clean relative name is aufs's own metadata
// (".wh..wh.plnk", ".wh..wh.aufs" and what is under them, at the top of
// a layer made by docker's aufs driver), which extraction skips, as
// containerd's archive.Apply does.
func AufsMeta(name string) bool {
	return strings.HasPrefix(name, whiteoutMeta) && name != WhiteoutOpaque
}

// Parent returns the directory of a clean relative name ("" for the
// root).
func Parent(name string) string {
	d := path.Dir(name)
	if d == "." {
		return ""
	}
	return d
}

// Join joins a clean relative directory ("" for the root) and a name.
func Join(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// ancestors calls f for each proper ancestor of name, top down.
func ancestors(name string, f func(a string) error) error {
	for i := 0; i < len(name); i++ {
		if name[i] == '/' {
			if err := f(name[:i]); err != nil {
				return err
			}
		}
	}
	return nil
}
