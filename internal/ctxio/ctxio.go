// Package ctxio holds the io wrappers of a layer's byte path: readers and
// writers that stop once a context is done, so a long copy (a layer build,
// an output write) ends at its next read or write after cancellation, with
// the context's error; and a writer that counts what it passes on.
package ctxio

import (
	"context"
	"io"
)

// Reader returns r whose reads fail with ctx.Err() once ctx is done.
func Reader(ctx context.Context, r io.Reader) io.Reader { return readFunc(guard(ctx, r.Read)) }

// Writer returns w whose writes fail with ctx.Err() once ctx is done.
func Writer(ctx context.Context, w io.Writer) io.Writer { return writeFunc(guard(ctx, w.Write)) }

// guard returns op that fails with ctx.Err(), without calling op, once
// ctx is done.
func guard(ctx context.Context, op func([]byte) (int, error)) func([]byte) (int, error) {
	return func(p []byte) (int, error) {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		return op(p)
	}
}

// readFunc is a function as an io.Reader.
type readFunc func([]byte) (int, error)

func (f readFunc) Read(p []byte) (int, error) { return f(p) }

// writeFunc is a function as an io.Writer.
type writeFunc func([]byte) (int, error)

func (f writeFunc) Write(p []byte) (int, error) { return f(p) }

// CountWriter passes writes on to W and counts the bytes W took.
type CountWriter struct {
	W io.Writer
	N int64
}

func (c *CountWriter) Write(p []byte) (int, error) {
	n, err := c.W.Write(p)
	c.N += int64(n)
	return n, err
}
