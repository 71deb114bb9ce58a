package gobin

import (
	"bytes"
	"cmp"
	"debug/elf"
	"encoding/binary"
	"runtime/debug"
	"slices"
	"unsafe"
)

// Limits that bound a Detector's memory whatever the input.
const (
	prefixSize    = 4 << 10  // kept from every ELF file: headers usually live here
	maxTable      = 1 << 20  // largest program or section header table kept
	maxStrtab     = 64 << 10 // largest section name table kept
	maxBlob       = 1 << 20  // largest build information blob (header and strings)
	blobSlack     = 4 << 10  // kept past a blob: its section may be a little larger
	fallbackSize  = 1 << 20  // debug/buildinfo's first read of a segment without sections
	tailSize      = 64 << 10 // kept before a section header table at the end of the file
	maxCandidates = 4        // aligned magics followed up per file
)

var (
	elfMagic = []byte("\x7fELF")
	// magic starts the build information blob the Go linker writes, at an
	// address aligned to blobAlign (debug/buildinfo's buildInfoMagic).
	magic = []byte("\xff Go buildinf:")
)

const (
	blobAlign      = 16
	blobHeaderSize = 32
	flagInline     = 2 // header flag: strings follow the header (Go 1.18+)
)

// Detector finds the Go build information in a stream written to it. The
// zero value is ready for one file; [Detector.Reset] readies it for the
// next. It is not safe for concurrent use.
type Detector struct {
	off  int64 // bytes written so far
	done bool  // no more bytes are needed: not a Go executable, or given up

	prefix []byte // the first prefixSize bytes (ELF files only)
	hdr    header

	ph, sh, strtab, tail *region
	scans                []scanRange // writable segments, in file order
	carry                carry
	cands                []*candidate
	tried                int // candidates started, kept or dropped

	result *debug.BuildInfo
	ended  bool
}

// header is what the ELF header says about the tables.
type header struct {
	class     elf.Class
	bo        binary.ByteOrder
	phoff     int64
	phentsize int64
	phnum     int64
	shoff     int64
	shentsize int64
	shnum     int64
	shstrndx  int64
}

// scanRange is the file range of a writable PT_LOAD segment; delta turns a
// file offset into the virtual address that must be aligned.
type scanRange struct {
	start, end int64
	delta      int64 // vaddr - offset
	first      bool  // the first writable, non-executable PT_LOAD
}

// Reset readies d for a new file, keeping its buffers.
func (d *Detector) Reset() {
	prefix := d.prefix[:0]
	*d = Detector{prefix: prefix}
}

// Done reports whether d needs no more of the file: it is not an ELF
// executable, or holds no Go build information where Go puts it. Writing
// more is harmless but useless.
func (d *Detector) Done() bool { return d.done }

// Write records p, the next bytes of the file. It never fails.
func (d *Detector) Write(p []byte) (int, error) {
	n := len(p)
	if d.done || n == 0 || d.ended {
		d.off += int64(n)
		return n, nil
	}
	if d.off < 4 {
		// The first bytes decide: anything but ELF stops here.
		k := min(int64(n), 4-d.off)
		if !bytes.Equal(p[:k], elfMagic[d.off:d.off+k]) {
			d.done = true
			d.off += int64(n)
			return n, nil
		}
	}
	// Feed the bytes up to the end of the ELF header first, so that the
	// ranges the header names are known before the rest arrives.
	if d.hdr.bo == nil && d.off < 64 {
		k := min(int64(n), 64-d.off)
		d.feed(p[:k])
		if d.off == 64 {
			d.parseHeader()
		}
		p = p[k:]
	}
	d.feed(p)
	return n, nil
}

// feed records p at d.off and advances d.off. It cuts p where a table
// ends, so that what the table says is known before the bytes after it.
func (d *Detector) feed(p []byte) {
	for len(p) > 0 && !d.done {
		k := int64(len(p))
		for _, r := range []*region{d.ph, d.sh} {
			if r != nil && !r.complete() && r.end > d.off && r.end-d.off < k {
				k = r.end - d.off
			}
		}
		d.feedChunk(p[:k])
		p = p[k:]
	}
	d.off += int64(len(p))
}

func (d *Detector) feedChunk(p []byte) {
	base := d.off
	if base < prefixSize {
		k := min(int64(len(p)), prefixSize-base)
		d.prefix = append(d.prefix, p[:k]...)
	}
	for _, r := range []*region{d.ph, d.sh, d.strtab, d.tail} {
		if r != nil {
			r.fill(p, base)
		}
	}
	if d.scans != nil {
		d.scan(p, base)
	}
	for _, c := range d.cands {
		c.fill(p, base)
	}
	d.off += int64(len(p))
	d.step()
}

// step acts on what became known: the tables once complete, and whether
// anything more is needed.
func (d *Detector) step() {
	if d.done || d.hdr.bo == nil {
		return
	}
	if d.ph != nil && d.ph.complete() && d.scans == nil {
		d.parseProgs()
	}
	if d.sh != nil && d.sh.complete() && d.strtab == nil {
		d.locateStrtab()
	}
	if d.done || d.scans == nil {
		return
	}
	live := 0
	for _, c := range d.cands {
		if !c.dropped {
			live++
		}
	}
	last := d.scans[len(d.scans)-1].end
	if live == 0 && d.off >= last {
		d.stop()
	}
}

// stop gives up on this file and frees what it kept.
func (d *Detector) stop() {
	d.done = true
	d.ph, d.sh, d.strtab, d.tail, d.cands, d.scans = nil, nil, nil, nil, nil, nil
}

func (d *Detector) parseHeader() {
	b := d.prefix
	h := &d.hdr
	h.class = elf.Class(b[elf.EI_CLASS])
	switch elf.Data(b[elf.EI_DATA]) {
	case elf.ELFDATA2LSB:
		h.bo = binary.LittleEndian
	case elf.ELFDATA2MSB:
		h.bo = binary.BigEndian
	default:
		d.stop()
		return
	}
	bo := h.bo
	switch h.class {
	case elf.ELFCLASS64:
		var x elf.Header64
		h.phoff = int64(bo.Uint64(b[unsafe.Offsetof(x.Phoff):]))
		h.shoff = int64(bo.Uint64(b[unsafe.Offsetof(x.Shoff):]))
		h.phentsize = int64(bo.Uint16(b[unsafe.Offsetof(x.Phentsize):]))
		h.phnum = int64(bo.Uint16(b[unsafe.Offsetof(x.Phnum):]))
		h.shentsize = int64(bo.Uint16(b[unsafe.Offsetof(x.Shentsize):]))
		h.shnum = int64(bo.Uint16(b[unsafe.Offsetof(x.Shnum):]))
		h.shstrndx = int64(bo.Uint16(b[unsafe.Offsetof(x.Shstrndx):]))
		if h.phentsize < int64(unsafe.Sizeof(elf.Prog64{})) || h.shnum > 0 && h.shentsize < int64(unsafe.Sizeof(elf.Section64{})) {
			d.stop()
			return
		}
	case elf.ELFCLASS32:
		var x elf.Header32
		h.phoff = int64(bo.Uint32(b[unsafe.Offsetof(x.Phoff):]))
		h.shoff = int64(bo.Uint32(b[unsafe.Offsetof(x.Shoff):]))
		h.phentsize = int64(bo.Uint16(b[unsafe.Offsetof(x.Phentsize):]))
		h.phnum = int64(bo.Uint16(b[unsafe.Offsetof(x.Phnum):]))
		h.shentsize = int64(bo.Uint16(b[unsafe.Offsetof(x.Shentsize):]))
		h.shnum = int64(bo.Uint16(b[unsafe.Offsetof(x.Shnum):]))
		h.shstrndx = int64(bo.Uint16(b[unsafe.Offsetof(x.Shstrndx):]))
		if h.phentsize < int64(unsafe.Sizeof(elf.Prog32{})) || h.shnum > 0 && h.shentsize < int64(unsafe.Sizeof(elf.Section32{})) {
			d.stop()
			return
		}
	default:
		d.stop()
		return
	}
	phSize, shSize := h.phnum*h.phentsize, h.shnum*h.shentsize
	switch {
	case h.phoff < 0 || h.shoff < 0 || h.phnum == 0,
		phSize > maxTable || shSize > maxTable,
		h.shoff > 0 && h.shnum == 0, // extended section numbering: never Go's
		h.shnum > 0 && h.shstrndx >= h.shnum:
		d.stop()
		return
	}
	d.ph = d.newRegion(h.phoff, h.phoff+phSize)
	if h.shnum > 0 {
		d.sh = d.newRegion(h.shoff, h.shoff+shSize)
		if t := max(h.shoff-tailSize, prefixSize); t < h.shoff {
			d.tail = d.newRegion(t, h.shoff)
		}
	}
}

// parseProgs lists the writable PT_LOAD segments to scan for the magic.
func (d *Detector) parseProgs() {
	h := &d.hdr
	b := d.ph.buf
	firstSeen := false
	for i := range h.phnum {
		e := b[i*h.phentsize:]
		var typ, flags uint32
		var off, vaddr, filesz uint64
		if h.class == elf.ELFCLASS64 {
			var x elf.Prog64
			typ = h.bo.Uint32(e[unsafe.Offsetof(x.Type):])
			flags = h.bo.Uint32(e[unsafe.Offsetof(x.Flags):])
			off = h.bo.Uint64(e[unsafe.Offsetof(x.Off):])
			vaddr = h.bo.Uint64(e[unsafe.Offsetof(x.Vaddr):])
			filesz = h.bo.Uint64(e[unsafe.Offsetof(x.Filesz):])
		} else {
			var x elf.Prog32
			typ = h.bo.Uint32(e[unsafe.Offsetof(x.Type):])
			flags = h.bo.Uint32(e[unsafe.Offsetof(x.Flags):])
			off = uint64(h.bo.Uint32(e[unsafe.Offsetof(x.Off):]))
			vaddr = uint64(h.bo.Uint32(e[unsafe.Offsetof(x.Vaddr):]))
			filesz = uint64(h.bo.Uint32(e[unsafe.Offsetof(x.Filesz):]))
		}
		if elf.ProgType(typ) != elf.PT_LOAD || elf.ProgFlag(flags)&elf.PF_W == 0 {
			continue
		}
		first := !firstSeen && elf.ProgFlag(flags)&elf.PF_X == 0
		firstSeen = firstSeen || first
		end := off + filesz
		if filesz == 0 || int64(off) < d.off || int64(off) < 0 || end < off || int64(end) < 0 {
			continue // empty, already passed, or nonsense
		}
		d.scans = append(d.scans, scanRange{start: int64(off), end: int64(end), delta: int64(vaddr - off), first: first})
	}
	// Keep file order and drop overlaps, so each byte is scanned once.
	d.scans = normalize(d.scans)
	if len(d.scans) == 0 {
		d.stop()
	}
}

// normalize sorts rs by start and trims overlaps.
func normalize(rs []scanRange) []scanRange {
	slices.SortStableFunc(rs, func(a, b scanRange) int { return cmp.Compare(a.start, b.start) })
	out := rs[:0]
	for _, r := range rs {
		if n := len(out); n > 0 && r.start < out[n-1].end {
			r.start = out[n-1].end
			if r.start >= r.end {
				continue
			}
		}
		out = append(out, r)
	}
	return out
}
