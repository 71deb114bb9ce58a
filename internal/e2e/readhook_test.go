package e2e

import (
	"io"
	"io/fs"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// readHook is what the cancel and crash tests do to the reads of a
// source file or a layer blob: each read is cut to at most chunk bytes (so
// that there are many of them), before runs before it and after gets the
// bytes it read. A nil before or after does nothing.
type readHook struct {
	chunk  int
	before func()
	after  func(n int)
}

// read is one read of r with the hook applied.
func (h readHook) read(r io.Reader, p []byte) (int, error) {
	if len(p) > h.chunk {
		p = p[:h.chunk]
	}
	if h.before != nil {
		h.before()
	}
	n, err := r.Read(p)
	if h.after != nil {
		h.after(n)
	}
	return n, err
}

// hookedFS applies hook to the reads of the regular files of fsys.
type hookedFS struct {
	fsys fs.FS
	hook readHook
}

func (h hookedFS) Open(name string) (fs.File, error) {
	f, err := h.fsys.Open(name)
	if err != nil {
		return nil, err
	}
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
		return &hookedFile{File: f, hook: h.hook}, nil
	}
	return f, nil
}

type hookedFile struct {
	fs.File
	hook readHook
}

func (f *hookedFile) Read(p []byte) (int, error) { return f.hook.read(f.File, p) }

// hookedLayer applies hook to the reads of its compressed blob.
type hookedLayer struct {
	v1.Layer
	hook readHook
}

// CreatedBy keeps the wrapped layer's history text, so the image is the
// one built without the wrapper.
func (l hookedLayer) CreatedBy() string {
	if c, ok := l.Layer.(interface{ CreatedBy() string }); ok {
		return c.CreatedBy()
	}
	return ""
}

func (l hookedLayer) Compressed() (io.ReadCloser, error) {
	rc, err := l.Layer.Compressed()
	if err != nil {
		return nil, err
	}
	return &hookedReadCloser{ReadCloser: rc, hook: l.hook}, nil
}

type hookedReadCloser struct {
	io.ReadCloser
	hook readHook
}

func (r *hookedReadCloser) Read(p []byte) (int, error) { return r.hook.read(r.ReadCloser, p) }
