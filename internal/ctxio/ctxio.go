// Package ctxio makes readers and writers stop once a context is done, so a
// long copy (a layer build, an output write) ends at its next read or write
// after cancellation, with the context's error.
package ctxio

import (
	"context"
	"io"
)

// Reader returns r whose reads fail with ctx.Err() once ctx is done.
func Reader(ctx context.Context, r io.Reader) io.Reader { return &reader{ctx, r} }

// Writer returns w whose writes fail with ctx.Err() once ctx is done.
func Writer(ctx context.Context, w io.Writer) io.Writer { return &writer{ctx, w} }

type reader struct {
	ctx context.Context
	r   io.Reader
}

func (r *reader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

type writer struct {
	ctx context.Context
	w   io.Writer
}

func (w *writer) Write(p []byte) (int, error) {
	if err := w.ctx.Err(); err != nil {
		return 0, err
	}
	return w.w.Write(p)
}
