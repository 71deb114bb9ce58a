package compress

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// failAfter accepts n bytes, then fails every write.
type failAfter struct {
	n      int
	closed bool
}

var errSink = errors.New("sink full")

func (f *failAfter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		k := f.n
		f.n = 0
		return k, errSink
	}
	f.n -= len(p)
	return len(p), nil
}

func (f *failAfter) Close() error { f.closed = true; return nil }

// TestAsyncWriterErrors: a write error of the wrapped writer comes back
// from a later Write or from Close, the goroutine ends, and the wrapped
// writer is closed.
func TestAsyncWriterErrors(t *testing.T) {
	sink := &failAfter{n: 3 * asyncChunkSize / 2}
	a := newAsyncWriter(sink)
	data := make([]byte, 64<<10)
	var werr error
	for range 200 { // 12.5 MiB: far more than the sink and the queue hold
		if _, werr = a.Write(data); werr != nil {
			break
		}
	}
	cerr := a.Close()
	if !errors.Is(cerr, errSink) {
		t.Errorf("asyncWriter.Close() = %v, want %v", cerr, errSink)
	}
	if werr != nil && !errors.Is(werr, errSink) {
		t.Errorf("asyncWriter.Write() = %v, want nil or %v", werr, errSink)
	}
	if !sink.closed {
		t.Error("asyncWriter.Close() did not close the wrapped writer")
	}
	if err := a.Close(); !errors.Is(err, errSink) {
		t.Errorf("second asyncWriter.Close() = %v, want %v", err, errSink)
	}
	if _, err := a.Write([]byte("x")); !errors.Is(err, errClosed) {
		t.Errorf("asyncWriter.Write after Close = %v, want %v", err, errClosed)
	}
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// TestAsyncWriterPassesBytes: the bytes arrive in order and unchanged,
// whatever the write sizes, including none at all.
func TestAsyncWriterPassesBytes(t *testing.T) {
	data := sample(3*asyncChunkSize + 777)
	for _, chunk := range []int{0, 1, 1000, asyncChunkSize, 5 * asyncChunkSize} {
		var out bytes.Buffer
		a := newAsyncWriter(nopCloser{&out})
		in := data
		if chunk == 0 {
			in = nil
		}
		for p := in; len(p) > 0; {
			n := min(chunk, len(p))
			if k, err := a.Write(p[:n]); k != n || err != nil {
				t.Fatalf("asyncWriter.Write(%d bytes) = %d, %v", n, k, err)
			}
			p = p[n:]
		}
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out.Bytes(), in) {
			t.Errorf("asyncWriter with writes of %d: got %d bytes, want the %d written", chunk, out.Len(), len(in))
		}
	}
}
