package epoch

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSourceDate(t *testing.T) {
	for _, tc := range []struct {
		env     string
		want    time.Time
		ok      bool
		wantErr bool
	}{
		{env: "", ok: false},
		{env: "0", want: time.Unix(0, 0).UTC(), ok: true},
		{env: "1700000000", want: time.Unix(1700000000, 0).UTC(), ok: true},
		{env: "-1", wantErr: true},
		{env: "soon", wantErr: true},
		{env: "1.5", wantErr: true},
	} {
		t.Setenv("SOURCE_DATE_EPOCH", tc.env)
		got, ok, err := SourceDate()
		if tc.wantErr {
			require.Error(t, err, "SourceDate() with %q", tc.env)
			assert.Contains(t, err.Error(), tc.env)
			continue
		}
		require.NoError(t, err, "SourceDate() with %q", tc.env)
		assert.Equal(t, tc.ok, ok, "SourceDate() with %q: ok", tc.env)
		assert.True(t, tc.want.Equal(got), "SourceDate() with %q = %v, want %v", tc.env, got, tc.want)
	}
}

func TestOr(t *testing.T) {
	def := time.Unix(42, 0).UTC()
	t.Setenv("SOURCE_DATE_EPOCH", "")
	got, err := Or(def)
	require.NoError(t, err)
	assert.Equal(t, def, got)
	t.Setenv("SOURCE_DATE_EPOCH", "7")
	got, err = Or(def)
	require.NoError(t, err)
	assert.Equal(t, time.Unix(7, 0).UTC(), got)
}
