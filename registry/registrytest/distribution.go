package registrytest

import (
	"context"
	"reflect"
	"sync"
	"unsafe"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	"github.com/distribution/distribution/v3/registry/storage/driver/factory"
	"github.com/sirupsen/logrus"
)

var registerOnce sync.Once

// newDistribution builds Docker Distribution's registry application on an
// in-memory storage driver, without authentication (the Server checks
// credentials in front of it), with deletes enabled and without the
// background upload purger.
func newDistribution(d *memDriver) *handlers.App {
	registerOnce.Do(func() {
		factory.Register(memDriverName, memDriverFactory{})
		quietDistribution()
	})
	config := &configuration.Configuration{
		Storage: configuration.Storage{
			memDriverName: configuration.Parameters{"driver": d},
			"delete":      configuration.Parameters{"enabled": true},
			"redirect":    configuration.Parameters{"disable": true},
			"maintenance": configuration.Parameters{
				"uploadpurging": map[any]any{"enabled": false},
			},
		},
	}
	// A fixed secret: it signs upload state, which never leaves the process.
	config.HTTP.Secret = "registrytest"
	return handlers.NewApp(context.Background(), config)
}

// closeDistribution stops the event broadcaster that handlers.NewApp
// starts and that nothing in Distribution ever stops (its goroutine would
// outlive the Server). It reaches the unexported field by reflection; if
// a later Distribution renames it, nothing is closed and registrytest's
// goroutine-leak test says so.
func closeDistribution(app *handlers.App) {
	ev := reflect.ValueOf(app).Elem().FieldByName("events")
	if !ev.IsValid() {
		return
	}
	sink := ev.FieldByName("sink")
	if !sink.IsValid() || !sink.CanAddr() {
		return
	}
	v := reflect.NewAt(sink.Type(), unsafe.Pointer(sink.UnsafeAddr())).Elem() //nolint:gosec // read-only access to a pinned dependency's field
	if c, ok := v.Interface().(interface{ Close() error }); ok && c != nil {
		_ = c.Close()
	}
}

// quietDistribution keeps Distribution from logging. It logs through
// logrus's standard logger, one line per request, and offers no other
// way to silence it; its entries all carry the "go.version" field, so a
// formatter that drops those and passes the rest on leaves the program's
// own logrus output alone.
func quietDistribution() {
	std := logrus.StandardLogger()
	std.SetFormatter(dropDistribution{inner: std.Formatter})
}

type dropDistribution struct{ inner logrus.Formatter }

func (f dropDistribution) Format(e *logrus.Entry) ([]byte, error) {
	if _, ok := e.Data["go.version"]; ok {
		return nil, nil
	}
	return f.inner.Format(e)
}
