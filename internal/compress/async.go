package compress

import (
	"errors"
	"io"
	"sync"
)

// Sizes of the buffer queue between a zstd writer's caller and the
// encoder: asyncChunks chunks of asyncChunkSize bytes in flight.
const (
	asyncChunkSize = 256 << 10
	asyncChunks    = 4
)

// errClosed reports a Write after Close.
var errClosed = errors.New("write after close")

// asyncWriter hands what is written to it to w in a goroutine, through a
// small queue of chunks, so that the caller produces the next bytes (tar
// rewriting, decompression of the input, hashing) while w compresses the
// previous ones. klauspost/compress's zstd stream encoder matches blocks
// one after the other and makes Write wait while it is behind; the queue
// lets the two sides run on two cores. The bytes reach w in order and
// unchanged, so the output does not depend on it.
//
// A write error of w is returned by a later Write and by Close. Close
// must be called: it stops the goroutine.
type asyncWriter struct {
	w      io.WriteCloser
	chunks chan []byte // filled chunks, in order
	free   chan []byte // empty chunks to fill
	done   chan struct{}
	cur    []byte
	closed bool

	mu  sync.Mutex
	err error
}

// NewAsyncWriter returns a writer that hands what is written to it to w
// on a goroutine of its own, in chunks, in order (see asyncWriter): a
// hash of a stream the caller also decodes, for one, runs on another
// core. Close must be called: it writes what is left and stops the
// goroutine; it does not close w.
func NewAsyncWriter(w io.Writer) io.WriteCloser { return newAsyncWriter(nopWriteCloser{w}) }

func newAsyncWriter(w io.WriteCloser) *asyncWriter {
	a := &asyncWriter{
		w:      w,
		chunks: make(chan []byte, asyncChunks),
		free:   make(chan []byte, asyncChunks+1),
		done:   make(chan struct{}),
	}
	for range asyncChunks + 1 {
		a.free <- make([]byte, 0, asyncChunkSize)
	}
	a.cur = <-a.free
	go a.loop()
	return a
}

func (a *asyncWriter) loadErr() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}

// loop writes the chunks to w; after a failure it only recycles them.
func (a *asyncWriter) loop() {
	defer close(a.done)
	for c := range a.chunks {
		if a.loadErr() == nil {
			if _, err := a.w.Write(c); err != nil {
				a.mu.Lock()
				a.err = err
				a.mu.Unlock()
			}
		}
		a.free <- c[:0]
	}
}

func (a *asyncWriter) Write(p []byte) (int, error) {
	if a.closed {
		return 0, errClosed
	}
	if err := a.loadErr(); err != nil {
		return 0, err
	}
	n := len(p)
	for len(p) > 0 {
		k := min(len(p), cap(a.cur)-len(a.cur))
		a.cur = append(a.cur, p[:k]...)
		p = p[k:]
		if len(a.cur) == cap(a.cur) {
			a.chunks <- a.cur
			a.cur = <-a.free
		}
	}
	return n, nil
}

// Close writes what is left, waits for the goroutine, closes w (which
// flushes it) and returns the first error.
func (a *asyncWriter) Close() error {
	if a.closed {
		return a.loadErr()
	}
	a.closed = true
	if len(a.cur) > 0 {
		a.chunks <- a.cur
		a.cur = nil
	}
	close(a.chunks)
	<-a.done
	err := a.loadErr()
	if cerr := a.w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		a.mu.Lock()
		a.err = err
		a.mu.Unlock()
	}
	return err
}
