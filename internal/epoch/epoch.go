// Package epoch reads SOURCE_DATE_EPOCH
// (https://reproducible-builds.org/specs/source-date-epoch/), the one
// place the project does.
package epoch

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

// Default is the time used when SOURCE_DATE_EPOCH is not set: the Unix
// epoch.
var Default = time.Unix(0, 0).UTC()

// SourceDate returns the time in $SOURCE_DATE_EPOCH (whole seconds since
// the Unix epoch, UTC); ok is false when it is unset or empty. A value
// that is not a non-negative integer is an error.
func SourceDate() (t time.Time, ok bool, err error) {
	v := os.Getenv("SOURCE_DATE_EPOCH")
	if v == "" {
		return time.Time{}, false, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, false, fmt.Errorf("SOURCE_DATE_EPOCH=%q: want a non-negative number of seconds", v)
	}
	return time.Unix(n, 0).UTC(), true, nil
}

// Or returns the time in $SOURCE_DATE_EPOCH, else def.
func Or(def time.Time) (time.Time, error) {
	t, ok, err := SourceDate()
	if err != nil || !ok {
		return def, err
	}
	return t, nil
}
