package gobin

import (
	"debug/buildinfo"
	"debug/elf"
	"errors"
	"io"
	"runtime/debug"
)

// Result returns the build information of the file written since the last
// [Detector.Reset], once all of it was written; ok is false when it is not
// a Go executable that debug/buildinfo reads (or when its headers or blob
// lie where a single pass cannot keep them, which the Go linker never
// does). The result is computed on the first call and kept.
func (d *Detector) Result() (info *debug.BuildInfo, ok bool) {
	if !d.ended {
		d.ended = true
		d.result = d.finish()
		d.ph, d.sh, d.strtab, d.tail, d.cands, d.scans = nil, nil, nil, nil, nil, nil
	}
	return d.result, d.result != nil
}

func (d *Detector) finish() *debug.BuildInfo {
	if d.done || d.hdr.bo == nil || d.ph == nil || !d.ph.complete() {
		return nil
	}
	v := &view{size: d.off}
	v.add(d.prefix, 0)
	v.add(d.ph.buf, d.ph.start)
	live := false
	for _, c := range d.cands {
		if !c.dropped && c.stage == 2 && !c.broken {
			v.add(c.buf, c.start)
			live = true
		}
	}
	if !live {
		return nil
	}
	if d.sh != nil {
		if !d.sh.complete() || d.strtab == nil || !d.strtab.complete() {
			return nil
		}
		v.add(d.sh.buf, d.sh.start)
		v.add(d.strtab.buf, d.strtab.start)
		if !d.patchCompressed(v) {
			return nil
		}
	}
	info, err := buildinfo.Read(v)
	if err != nil {
		return nil
	}
	return info
}

// patchCompressed lets debug/elf skip the compression headers of
// compressed sections, which a single pass has not kept: it serves
// elf.NewFile a section table with SHF_COMPRESSED cleared. That changes
// only the sizes of those sections, which debug/buildinfo never uses
// unless the section is .go.buildinfo, checked below; and it reports
// false when debug/elf would fail to read one of those headers.
func (d *Detector) patchCompressed(v *view) bool {
	h := &d.hdr
	patched := append([]byte(nil), d.sh.buf...)
	var compressed []int64
	chdr := int64(24)
	if h.class == elf.ELFCLASS32 {
		chdr = 12
	}
	for i := range h.shnum {
		s := d.section(i)
		if s.flags&elf.SHF_COMPRESSED == 0 {
			continue
		}
		if s.off < 0 || s.size < chdr || s.off+chdr > d.off {
			return false // debug/elf fails to read its header
		}
		compressed = append(compressed, i)
		f := s.flags &^ elf.SHF_COMPRESSED
		if s.flagsIs64bit {
			h.bo.PutUint64(patched[s.flagsAt:], uint64(f))
		} else {
			h.bo.PutUint32(patched[s.flagsAt:], uint32(f))
		}
	}
	if len(compressed) == 0 {
		return true
	}
	v.table, v.tableAt = patched, h.shoff
	f, err := elf.NewFile(v)
	if err != nil {
		return false
	}
	for i, s := range f.Sections {
		if s.Name == ".go.buildinfo" {
			for _, c := range compressed {
				if int64(i) == c {
					return false
				}
			}
			break
		}
	}
	return true
}

// errNotKept is what a view returns for bytes the detector did not keep.
var errNotKept = errors.New("gobin: bytes not kept")

// view is an io.ReaderAt over the kept bytes of a file of size bytes: it
// returns exactly the file's bytes, the file's io.EOF past its end, and
// errNotKept for anything else. A read of exactly the section header table
// gets table instead, when set.
type view struct {
	size    int64
	spans   []span
	table   []byte
	tableAt int64
}

type span struct {
	start int64
	buf   []byte
}

func (v *view) add(b []byte, start int64) {
	if len(b) > 0 {
		v.spans = append(v.spans, span{start, b})
	}
}

func (v *view) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errNotKept
	}
	if off >= v.size {
		return 0, io.EOF
	}
	end := min(off+int64(len(p)), v.size)
	if v.table != nil && off == v.tableAt && int64(len(p)) == int64(len(v.table)) && end == off+int64(len(p)) {
		return copy(p, v.table), nil
	}
	for pos := off; pos < end; {
		s := v.find(pos)
		if s == nil {
			return 0, errNotKept
		}
		pos += int64(copy(p[pos-off:end-off], s.buf[pos-s.start:]))
	}
	n := int(end - off)
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// find returns the span holding the byte at pos.
func (v *view) find(pos int64) *span {
	for i := range v.spans {
		s := &v.spans[i]
		if pos >= s.start && pos < s.start+int64(len(s.buf)) {
			return s
		}
	}
	return nil
}
