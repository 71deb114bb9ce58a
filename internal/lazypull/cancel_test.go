package lazypull_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/stevedore-dev/stevedore/internal/lazypull"
	"github.com/stevedore-dev/stevedore/internal/tartest"
)

// cancelReader cancels ctx on its first Read.
type cancelReader struct {
	r      io.Reader
	cancel context.CancelFunc
}

func (c cancelReader) Read(p []byte) (int, error) { c.cancel(); return c.r.Read(p) }

// cancelWriter cancels ctx on its first Write.
type cancelWriter struct{ cancel context.CancelFunc }

func (c cancelWriter) Write(p []byte) (int, error) { c.cancel(); return len(p), nil }

// failWriter fails every Write.
type failWriter struct{}

var errDisk = errors.New("disk full")

func (failWriter) Write([]byte) (int, error) { return 0, errDisk }

// assertNothingLeft checks that the directories are empty and that no
// goroutine is left.
func assertNothingLeft(t *testing.T, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		ents, err := os.ReadDir(d)
		require.NoError(t, err)
		assert.Empty(t, ents, "files left in %s", d)
	}
	goleak.VerifyNone(t)
}

// TestWriteCancel cancels Write at each of its stages, and fails its
// output: the error says why, and no temporary file (the spool in
// WithTempDir, estargz's parts in TMPDIR) nor goroutine is left.
func TestWriteCancel(t *testing.T) {
	input := tartest.Bytes(t, fixture()...)
	for _, f := range formats {
		for _, tc := range []struct {
			name string
			run  func(ctx context.Context, cancel context.CancelFunc, opt lazypull.Option) error
			want error
		}{
			{"before", func(ctx context.Context, cancel context.CancelFunc, opt lazypull.Option) error {
				cancel()
				_, err := lazypull.Write(ctx, io.Discard, bytes.NewReader(input), f, opt)
				return err
			}, context.Canceled},
			{"while spooling", func(ctx context.Context, cancel context.CancelFunc, opt lazypull.Option) error {
				_, err := lazypull.Write(ctx, io.Discard, cancelReader{bytes.NewReader(input), cancel}, f, opt)
				return err
			}, context.Canceled},
			{"while writing", func(ctx context.Context, cancel context.CancelFunc, opt lazypull.Option) error {
				_, err := lazypull.Write(ctx, cancelWriter{cancel}, bytes.NewReader(input), f, opt)
				return err
			}, context.Canceled},
			{"output fails", func(ctx context.Context, cancel context.CancelFunc, opt lazypull.Option) error {
				_, err := lazypull.Write(ctx, failWriter{}, bytes.NewReader(input), f, opt)
				return err
			}, errDisk},
		} {
			t.Run(f.String()+"/"+tc.name, func(t *testing.T) {
				tmp, spool := t.TempDir(), t.TempDir()
				t.Setenv("TMPDIR", tmp)
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				err := tc.run(ctx, cancel, lazypull.WithTempDir(spool))
				assert.ErrorIs(t, err, tc.want, "Write() = %v", err)
				assertNothingLeft(t, tmp, spool)
			})
		}
	}
}

// TestWriteCancelAnyTime cancels Write after various delays, landing in
// any stage (the building stage included): Write either finishes or
// returns the context's error, and leaves nothing behind.
func TestWriteCancelAnyTime(t *testing.T) {
	input := tartest.Bytes(t, fixture()...)
	for _, f := range formats {
		for _, delay := range []time.Duration{0, 100 * time.Microsecond, time.Millisecond, 3 * time.Millisecond,
			10 * time.Millisecond, 30 * time.Millisecond, 100 * time.Millisecond} {
			t.Run(f.String()+"/"+delay.String(), func(t *testing.T) {
				tmp, spool := t.TempDir(), t.TempDir()
				t.Setenv("TMPDIR", tmp)
				ctx, cancel := context.WithCancel(context.Background())
				timer := time.AfterFunc(delay, cancel)
				defer timer.Stop()
				_, err := lazypull.Write(ctx, io.Discard, bytes.NewReader(input), f, lazypull.WithTempDir(spool))
				if err != nil {
					assert.ErrorIs(t, err, context.Canceled, "Write() after %v", delay)
				}
				cancel()
				assertNothingLeft(t, tmp, spool)
			})
		}
	}
}
