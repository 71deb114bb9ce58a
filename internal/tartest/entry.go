package tartest

import (
	"archive/tar"
	"maps"
	"path"
	"strings"
	"time"

	"github.com/stevedore-dev/stevedore/internal/tarx"
)

// Entry is one entry of a test tar stream: its header and, for a regular
// file, its content. A zero Header.Size is len(Body) when the entry is
// written; a zero Header.ModTime or Header.Format is the [Stream]'s
// default.
type Entry struct {
	Header tar.Header
	Body   string
}

// File is a regular file, mode 0644, holding body.
func File(name, body string) Entry {
	return Entry{Header: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(body))}, Body: body}
}

// Dir is a directory, mode 0755.
func Dir(name string) Entry {
	return Entry{Header: tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755}}
}

// Symlink is a symbolic link at name to target, mode 0777.
func Symlink(name, target string) Entry {
	return Entry{Header: tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777}}
}

// Hardlink is a hard link at name to the earlier entry target, mode 0644.
func Hardlink(name, target string) Entry {
	return Entry{Header: tar.Header{Typeflag: tar.TypeLink, Name: name, Linkname: target, Mode: 0o644}}
}

// Whiteout is the OCI whiteout that deletes name from the layers below:
// an empty file ".wh.BASE" in name's directory ("a/b" gives "a/.wh.b").
func Whiteout(name string) Entry {
	dir, base := path.Split(strings.TrimSuffix(name, "/"))
	return File(dir+tarx.WhiteoutPrefix+base, "")
}

// Opaque is the OCI opaque whiteout of dir, which hides what the layers
// below hold in it: an empty file "DIR/.wh..wh..opq" ("" or "." for the
// root).
func Opaque(dir string) Entry {
	dir = strings.TrimSuffix(dir, "/")
	if dir == "" || dir == "." {
		return File(tarx.WhiteoutOpaque, "")
	}
	return File(dir+"/"+tarx.WhiteoutOpaque, "")
}

// Global is a PAX global header holding records. archive/tar names it
// "GlobalHead.0.0"; the Stream's defaults do not apply to it.
func Global(records map[string]string) Entry {
	return Entry{Header: tar.Header{Typeflag: tar.TypeXGlobalHeader, PAXRecords: maps.Clone(records)}}
}

// WithMode returns e with the permission and special bits m (0o4755...).
func (e Entry) WithMode(m int64) Entry {
	e.Header.Mode = m
	return e
}

// WithOwner returns e owned by uid and gid.
func (e Entry) WithOwner(uid, gid int) Entry {
	e.Header.Uid, e.Header.Gid = uid, gid
	return e
}

// WithOwnerNames returns e with the user and group names uname and gname.
func (e Entry) WithOwnerNames(uname, gname string) Entry {
	e.Header.Uname, e.Header.Gname = uname, gname
	return e
}

// WithModTime returns e with the modification time mt.
func (e Entry) WithModTime(mt time.Time) Entry {
	e.Header.ModTime = mt
	return e
}

// WithPAX returns e with the PAX records of records added to its own (a
// copy: e's map is not changed).
func (e Entry) WithPAX(records map[string]string) Entry {
	m := maps.Clone(e.Header.PAXRecords)
	if m == nil {
		m = map[string]string{}
	}
	maps.Copy(m, records)
	e.Header.PAXRecords = m
	return e
}

// WithFormat returns e written in format f (tar.FormatGNU for a long name
// in GNU's way, ...), whatever the Stream's default.
func (e Entry) WithFormat(f tar.Format) Entry {
	e.Header.Format = f
	return e
}
