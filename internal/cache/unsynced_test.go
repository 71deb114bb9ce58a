package cache

import (
	"errors"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCommitUnsynced: an unsynced entry reads as any other; a blob cut
// short (as a crash before the data reached the disk could leave it)
// reads as a miss, never as the entry's bytes.
func TestCommitUnsynced(t *testing.T) {
	c := open(t, t.TempDir())
	data := content(7, 3000)
	w, err := c.NewWriter()
	require.NoError(t, err)
	_, err = w.Write(data)
	require.NoError(t, err)
	e, err := w.CommitUnsynced("derived", metaOf(t, data))
	require.NoError(t, err)
	mustHit(t, c, "derived", data)

	require.NoError(t, os.Truncate(e.Path, 0))
	_, err = c.Get("derived")
	assert.True(t, errors.Is(err, ErrMiss), "Get after the blob was cut = %v, want ErrMiss", err)
}
