package tartest

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// DefaultModTime is the mtime of the entries that set none, in a Stream
// that sets no other: 2023-11-14T22:13:20Z.
var DefaultModTime = time.Unix(1700000000, 0).UTC()

// Stream is a tar stream in the making: entries in order, and the
// defaults for the fields they leave unset. It is a value; its methods
// return a changed copy.
type Stream struct {
	entries []Entry
	modTime time.Time
	format  tar.Format
}

// New is a stream of entries with the default mtime [DefaultModTime] and
// no default format (archive/tar picks the first that fits each header).
func New(entries ...Entry) Stream {
	return Stream{entries: slices.Clone(entries), modTime: DefaultModTime}
}

// Bytes is New(entries...).Bytes(tb).
func Bytes(tb testing.TB, entries ...Entry) []byte {
	tb.Helper()
	return New(entries...).Bytes(tb)
}

// Append returns s with entries added at its end.
func (s Stream) Append(entries ...Entry) Stream {
	s.entries = append(slices.Clip(s.entries), entries...)
	return s
}

// WithModTime returns s where an entry with no mtime has mt.
func (s Stream) WithModTime(mt time.Time) Stream {
	s.modTime = mt
	return s
}

// WithFormat returns s where an entry with no format is written in f.
func (s Stream) WithFormat(f tar.Format) Stream {
	s.format = f
	return s
}

// Headers returns the headers s writes, defaults applied, in order.
func (s Stream) Headers() []tar.Header {
	hs := make([]tar.Header, len(s.entries))
	for i, e := range s.entries {
		hs[i] = s.header(e)
	}
	return hs
}

func (s Stream) header(e Entry) tar.Header {
	h := e.Header
	if h.Typeflag == tar.TypeXGlobalHeader {
		return h // archive/tar allows no other field
	}
	if h.ModTime.IsZero() {
		h.ModTime = s.modTime
	}
	if h.Format == tar.FormatUnknown {
		h.Format = s.format
	}
	if h.Size == 0 {
		h.Size = int64(len(e.Body))
	}
	return h
}

// WriteTo writes s as a tar stream, footer included, to w. The stream is
// made in memory first: w gets nothing when an entry is refused.
func (s Stream) WriteTo(w io.Writer) (int64, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range s.entries {
		h := s.header(e)
		if err := tw.WriteHeader(&h); err != nil {
			return 0, fmt.Errorf("tartest: header of %q: %w", h.Name, err)
		}
		if _, err := io.WriteString(tw, e.Body); err != nil {
			return 0, fmt.Errorf("tartest: content of %q: %w", h.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return 0, fmt.Errorf("tartest: closing the stream: %w", err)
	}
	return buf.WriteTo(w)
}

// Bytes returns s as a tar stream. It fails the test if archive/tar
// refuses an entry.
func (s Stream) Bytes(tb testing.TB) []byte {
	tb.Helper()
	var buf bytes.Buffer
	_, err := s.WriteTo(&buf)
	require.NoError(tb, err)
	return buf.Bytes()
}
