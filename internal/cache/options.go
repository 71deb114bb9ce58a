package cache

import (
	"fmt"
	"time"
)

// Option configures a Cache opened with Open.
type Option func(*options) error

type options struct {
	limit      int64
	tempMaxAge time.Duration
}

func defaultOptions() options {
	return options{
		limit:      0,
		tempMaxAge: 24 * time.Hour,
	}
}

// WithLimit bounds the total size of the blobs held in the cache to bytes.
// After every Commit the least recently used entries are evicted until the
// total is within the limit (see Prune). A limit of 0 means unbounded;
// a negative limit is an error. The default is 0 (unbounded).
func WithLimit(bytes int64) Option {
	return func(o *options) error {
		if bytes < 0 {
			return fmt.Errorf("cache: limit %d is negative", bytes)
		}
		o.limit = bytes
		return nil
	}
}

// WithTempMaxAge sets the age after which Open removes a temporary file even
// though a writer may still hold it. Temporary files that no live writer holds
// (left by a crashed process) are removed by Open whatever their age; the age
// matters for files whose writer is still alive but stuck, and on file systems
// where locks are not supported. d must not be negative. The default is
// 24 hours.
func WithTempMaxAge(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return fmt.Errorf("cache: temp max age %v is negative", d)
		}
		o.tempMaxAge = d
		return nil
	}
}
