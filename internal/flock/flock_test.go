package flock

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAbandoned(t *testing.T) {
	if !Supported {
		t.Skip("no flock(2) here")
	}
	p := filepath.Join(t.TempDir(), "f")
	f, err := os.Create(p)
	require.NoError(t, err)
	require.NoError(t, Hold(f))
	gone, err := Abandoned(p)
	require.NoError(t, err)
	assert.False(t, gone, "Abandoned while held")
	require.NoError(t, f.Close())
	gone, err = Abandoned(p)
	require.NoError(t, err)
	assert.True(t, gone, "Abandoned once closed")
}
