// Package stopsignal checks a container's stop signal the way docker
// does: moby's signal.ParseSignal with Linux's signal names, whatever the
// host the image is built on.
package stopsignal
