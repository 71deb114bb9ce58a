package gobin

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"unsafe"
)

// region keeps the bytes of the file range [start, end) as they pass.
type region struct {
	start, end int64
	buf        []byte
	broken     bool // some of its bytes passed before it was known
}

func (r *region) complete() bool { return !r.broken && r.start+int64(len(r.buf)) >= r.end }

// fill copies the part of p (the file's bytes at base) that r wants.
func (r *region) fill(p []byte, base int64) {
	if r.broken || r.complete() {
		return
	}
	pos := r.start + int64(len(r.buf))
	if pos < base {
		r.broken = true
		return
	}
	stop := min(base+int64(len(p)), r.end)
	if pos >= stop {
		return
	}
	r.buf = append(r.buf, p[pos-base:stop-base]...)
}

// newRegion starts keeping [start, end), taking the part that already
// passed from what was kept.
func (d *Detector) newRegion(start, end int64) *region {
	r := &region{start: start, end: end}
	if start < d.off {
		seen := min(end, d.off)
		if b := d.kept(start, seen); b != nil {
			r.buf = append(r.buf, b...)
		} else {
			r.broken = true
		}
	}
	return r
}

// kept returns the bytes [start, end) if the prefix or the tail holds them.
func (d *Detector) kept(start, end int64) []byte {
	if end <= int64(len(d.prefix)) {
		return d.prefix[start:end]
	}
	if t := d.tail; t != nil && start >= t.start && end <= t.start+int64(len(t.buf)) {
		return t.buf[start-t.start : end-t.start]
	}
	return nil
}

// section is what the detector needs of a section header.
type section struct {
	typ          elf.SectionType
	flags        elf.SectionFlag
	off, size    int64
	flagsAt      int // offset of the flags field in the table
	flagsIs64bit bool
}

func (d *Detector) section(i int64) section {
	h := &d.hdr
	e := d.sh.buf[i*h.shentsize:]
	var s section
	if h.class == elf.ELFCLASS64 {
		var x elf.Section64
		s.typ = elf.SectionType(h.bo.Uint32(e[unsafe.Offsetof(x.Type):]))
		s.flags = elf.SectionFlag(h.bo.Uint64(e[unsafe.Offsetof(x.Flags):]))
		s.off = int64(h.bo.Uint64(e[unsafe.Offsetof(x.Off):]))
		s.size = int64(h.bo.Uint64(e[unsafe.Offsetof(x.Size):]))
		s.flagsAt, s.flagsIs64bit = int(i*h.shentsize)+int(unsafe.Offsetof(x.Flags)), true
	} else {
		var x elf.Section32
		s.typ = elf.SectionType(h.bo.Uint32(e[unsafe.Offsetof(x.Type):]))
		s.flags = elf.SectionFlag(h.bo.Uint32(e[unsafe.Offsetof(x.Flags):]))
		s.off = int64(h.bo.Uint32(e[unsafe.Offsetof(x.Off):]))
		s.size = int64(h.bo.Uint32(e[unsafe.Offsetof(x.Size):]))
		s.flagsAt = int(i*h.shentsize) + int(unsafe.Offsetof(x.Flags))
	}
	return s
}

// locateStrtab starts keeping the section name table.
func (d *Detector) locateStrtab() {
	s := d.section(d.hdr.shstrndx)
	if s.off < 0 || s.size < 0 || s.size > maxStrtab || s.flags&elf.SHF_COMPRESSED != 0 {
		d.stop()
		return
	}
	d.strtab = d.newRegion(s.off, s.off+s.size)
}

// carry holds the last bytes scanned, for a magic cut across writes.
type carry struct {
	buf [len("\xff Go buildinf:") - 1]byte
	n   int
	end int64 // file offset just past buf[:n]
}

// scan looks for the magic at aligned addresses in the writable segments.
func (d *Detector) scan(p []byte, base int64) {
	for i := range d.scans {
		r := &d.scans[i]
		lo, hi := max(base, r.start), min(base+int64(len(p)), r.end)
		if lo < hi {
			d.scanRange(r, p[lo-base:hi-base], lo)
		}
	}
}

func (r *scanRange) aligned(pos int64) bool { return (uint64(pos)+uint64(r.delta))%blobAlign == 0 }

func (d *Detector) scanRange(r *scanRange, q []byte, lo int64) {
	c := &d.carry
	if c.end != lo {
		c.n = 0
	}
	if c.n > 0 {
		// A magic that starts in the carry and ends in q.
		var w [2 * len(c.buf)]byte
		m := copy(w[:], c.buf[:c.n])
		m += copy(w[m:], q)
		for j := range c.n {
			pos := lo - int64(c.n) + int64(j)
			if r.aligned(pos) && m-j >= len(magic) && bytes.Equal(w[j:j+len(magic)], magic) {
				d.candidate(r, pos, w[j:c.n])
			}
		}
	}
	for j := 0; ; {
		k := bytes.Index(q[j:], magic)
		if k < 0 {
			break
		}
		if pos := lo + int64(j+k); r.aligned(pos) {
			d.candidate(r, pos, nil)
		}
		j += k + 1
	}
	// Keep the last bytes for the next write.
	var w [2 * len(c.buf)]byte
	m := copy(w[:], c.buf[:c.n])
	tail := q[max(0, len(q)-len(c.buf)):]
	m += copy(w[m:], tail)
	keep := min(m, len(c.buf))
	c.n = copy(c.buf[:], w[m-keep:m])
	c.end = lo + int64(len(q))
}

// candidate is a window kept at an aligned magic: the blob header, its two
// strings, and some slack, parsed as the bytes arrive.
type candidate struct {
	region
	limit    int64 // end of the segment: debug/buildinfo reads no further
	stage    int   // 0: header and first length, 1: second length, 2: whole blob
	next     int64 // relative offset of the second length
	fallback bool  // the blob starts a segment that debug/buildinfo reads 1 MB of
	dropped  bool
}

// candidate starts a window at pos; seen holds the bytes from pos that
// passed already.
func (d *Detector) candidate(r *scanRange, pos int64, seen []byte) {
	if d.tried >= maxCandidates {
		return
	}
	d.tried++
	c := &candidate{
		region:   region{start: pos, end: min(pos+blobHeaderSize+binary.MaxVarintLen64, r.end)},
		limit:    r.end,
		fallback: r.first && pos == r.start && d.hdr.shnum == 0,
	}
	c.buf = append(c.buf, seen...)
	d.cands = append(d.cands, c)
}

func (c *candidate) fill(p []byte, base int64) {
	for !c.dropped && c.stage < 2 {
		c.region.fill(p, base)
		if c.broken {
			c.dropped = true
		}
		if !c.complete() {
			return
		}
		c.advance()
	}
	if !c.dropped {
		c.region.fill(p, base)
	}
}

// advance parses what the window holds and sets how much more it needs.
func (c *candidate) advance() {
	b := c.buf
	switch c.stage {
	case 0:
		if len(b) < blobHeaderSize+1 || b[15]&flagInline == 0 {
			c.dropped = true // too short, or the pre-1.18 pointer format
			return
		}
		n, k := binary.Uvarint(b[blobHeaderSize:])
		if k <= 0 || n > maxBlob {
			c.dropped = true
			return
		}
		c.next = blobHeaderSize + int64(k) + int64(n)
		c.stage = 1
		c.end = min(c.start+c.next+binary.MaxVarintLen64, c.limit)
	case 1:
		if int64(len(b)) <= c.next {
			c.dropped = true
			return
		}
		n, k := binary.Uvarint(b[c.next:])
		size := c.next + int64(k) + int64(n)
		if k <= 0 || n > maxBlob || size > maxBlob || c.start+size > c.limit {
			c.dropped = true
			return
		}
		want := size + blobSlack
		if c.fallback {
			want = max(want, fallbackSize)
		}
		c.stage = 2
		c.end = min(c.start+want, c.limit)
	}
}
