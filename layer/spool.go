package layer

import (
	"fmt"
	"io"
	"os"
	"runtime"
)

// spool is a temp file holding a layer's blob while it is written. On
// Unix it is unlinked at once: the blob lives as long as the descriptor,
// which the layer keeps, so nothing is left on disk when the process
// ends, however it ends.
type spool struct {
	f    *os.File
	path string // the file's name while it exists ("" once unlinked)
}

func newSpool(dir string) (*spool, error) {
	sweepSpools(dir)
	f, err := os.CreateTemp(dir, spoolPattern)
	if err != nil {
		return nil, fmt.Errorf("creating spool file: %w", err)
	}
	s := &spool{f: f, path: f.Name()}
	if unlinkOpenFiles && os.Remove(f.Name()) == nil {
		s.path = ""
	}
	return s, nil
}

const spoolPattern = "stevedore-layer-*.blob"

func (s *spool) Write(p []byte) (int, error) {
	n, err := s.f.Write(p)
	if err != nil {
		err = fmt.Errorf("writing spool file: %w", err)
	}
	return n, err
}

func (s *spool) Reset() error {
	if err := s.f.Truncate(0); err != nil {
		return fmt.Errorf("resetting spool file: %w", err)
	}
	_, err := s.f.Seek(0, io.SeekStart)
	return err
}

// discard closes and removes the spool of a failed build.
func (s *spool) discard() {
	s.f.Close()
	if s.path != "" {
		os.Remove(s.path)
	}
}

// blob hands the written spool over to the built layer. The descriptor is
// closed (and the file removed, where it could not be unlinked) when the
// blob becomes unreachable: the layer and every reader of it hold it.
func (s *spool) blob(size int64) blob {
	b := &spoolBlob{f: s.f, size: size}
	runtime.AddCleanup(b, func(s spool) { s.discard() }, *s)
	return b
}

// blob is where a built layer's compressed bytes live.
type blob interface {
	open(l *layer) (io.ReadCloser, error)
}

// spoolBlob serves a spool file. Readers share its descriptor (ReadAt),
// so the number of descriptors does not grow with readers.
type spoolBlob struct {
	f    *os.File
	size int64
}

func (b *spoolBlob) open(*layer) (io.ReadCloser, error) {
	return &spoolReader{SectionReader: io.NewSectionReader(b.f, 0, b.size), b: b}, nil
}

// spoolReader reads a spoolBlob and keeps it reachable while in use.
type spoolReader struct {
	*io.SectionReader
	b *spoolBlob
}

func (r *spoolReader) Close() error { return nil }
