package compress

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
	assert.ErrorIs(t, a.Close(), errSink, "asyncWriter.Close()")
	if werr != nil {
		assert.ErrorIs(t, werr, errSink, "asyncWriter.Write(): want nil or the sink's error")
	}
	assert.True(t, sink.closed, "asyncWriter.Close() closed the wrapped writer")
	assert.ErrorIs(t, a.Close(), errSink, "second asyncWriter.Close()")
	_, err := a.Write([]byte("x"))
	assert.ErrorIs(t, err, errClosed, "asyncWriter.Write after Close")
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
			k, err := a.Write(p[:n])
			require.NoError(t, err, "asyncWriter.Write(%d bytes)", n)
			require.Equal(t, n, k, "asyncWriter.Write(%d bytes)", n)
			p = p[n:]
		}
		require.NoError(t, a.Close())
		assert.True(t, bytes.Equal(out.Bytes(), in), "asyncWriter with writes of %d: got %d bytes, want the %d written", chunk, out.Len(), len(in))
	}
}
