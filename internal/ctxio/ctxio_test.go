package ctxio

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStopsWhenDone(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	r := Reader(ctx, strings.NewReader("abcdef"))
	var buf bytes.Buffer
	w := Writer(ctx, &buf)
	p := make([]byte, 3)
	n, err := r.Read(p)
	require.NoError(t, err, "Read before cancel")
	require.Equal(t, 3, n, "Read before cancel")
	n, err = w.Write(p)
	require.NoError(t, err, "Write before cancel")
	require.Equal(t, 3, n, "Write before cancel")
	cancel()
	n, err = r.Read(p)
	assert.ErrorIs(t, err, context.Canceled, "Read after cancel")
	assert.Zero(t, n, "Read after cancel")
	n, err = w.Write(p)
	assert.ErrorIs(t, err, context.Canceled, "Write after cancel")
	assert.Zero(t, n, "Write after cancel")
	assert.Equal(t, "abc", buf.String(), "written")
}
