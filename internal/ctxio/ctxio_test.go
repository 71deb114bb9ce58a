package ctxio

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

func TestStopsWhenDone(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	r := Reader(ctx, strings.NewReader("abcdef"))
	var buf bytes.Buffer
	w := Writer(ctx, &buf)
	p := make([]byte, 3)
	if n, err := r.Read(p); n != 3 || err != nil {
		t.Fatalf("Read before cancel = %d, %v; want 3, nil", n, err)
	}
	if n, err := w.Write(p); n != 3 || err != nil {
		t.Fatalf("Write before cancel = %d, %v; want 3, nil", n, err)
	}
	cancel()
	if n, err := r.Read(p); n != 0 || !errors.Is(err, context.Canceled) {
		t.Errorf("Read after cancel = %d, %v; want 0, context.Canceled", n, err)
	}
	if n, err := w.Write(p); n != 0 || !errors.Is(err, context.Canceled) {
		t.Errorf("Write after cancel = %d, %v; want 0, context.Canceled", n, err)
	}
	if buf.String() != "abc" {
		t.Errorf("written = %q, want %q", buf.String(), "abc")
	}
}
