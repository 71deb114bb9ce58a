package dockerfile

import (
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// EventKind says what an Event reports.
type EventKind int

// The kinds of Event.
const (
	// EventStep: an instruction starts. Step and Steps number it among the
	// instructions of the stages built (FROM included), Instruction is its
	// text with variables expanded.
	EventStep EventKind = iota + 1
	// EventCached: the layer of the current step came from the layer cache
	// (nothing was read but a stat walk, nothing compressed).
	EventCached
	// EventLayer: the current step's layer is built: Digest and Size.
	EventLayer
	// EventStepDone: the current step is done; ImageID is the image it
	// made (as docker's " ---> 0123456789ab" lines), when it made one.
	EventStepDone
	// EventImage: the image of Platform is built: Digest is its manifest
	// digest, ImageID its config digest (docker's image ID).
	EventImage
	// EventPush: progress of a push of the result, reported by the caller
	// (this package does not push; the examples turn registry.Progress
	// into these): Push says what.
	EventPush
)

func (k EventKind) String() string {
	switch k {
	case EventStep:
		return "step"
	case EventCached:
		return "cached"
	case EventLayer:
		return "layer"
	case EventStepDone:
		return "step done"
	case EventImage:
		return "image"
	case EventPush:
		return "push"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is one report of the progress of a build (see WithProgress).
type Event struct {
	Kind EventKind
	// Platform is the platform being built, as os/arch[/variant].
	Platform string
	// Stage is the stage's name, or its index when it has none.
	Stage string
	// Step and Steps: the step's number, from 1, and how many there are.
	Step, Steps int
	// Instruction is the instruction, variables expanded ("COPY . /src").
	Instruction string
	// Digest and Size: a layer's (EventLayer) or an image's manifest
	// (EventImage) digest and size in bytes.
	Digest v1.Hash
	Size   int64
	// ImageID is an image's config digest (docker's image ID).
	ImageID v1.Hash
	// Push describes push progress (EventPush).
	Push *PushProgress
}

// PushProgress is a push's progress, for EventPush.
type PushProgress struct {
	// Ref is the reference pushed to, Digest the blob's or manifest's.
	Ref    string
	Digest v1.Hash
	// Status is docker's word for it: "Pushing", "Pushed", "Layer already
	// exists", "Mounted", or "Manifest" once the manifest is stored.
	Status string
	// Current and Total are bytes of the blob sent so far and its size.
	Current, Total int64
}

// reporter sends events to the user's function, with the build's
// platform filled in.
type reporter struct {
	f        func(Event)
	platform string
}

func (r *reporter) emit(e Event) {
	if r == nil || r.f == nil {
		return
	}
	if e.Platform == "" {
		e.Platform = r.platform
	}
	r.f(e)
}
