package dockerfile

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// JSONWriter renders Events as docker's JSON message stream: one JSON
// object per line, as the daemon writes the body of an ImageBuild (and an
// ImagePush) response, so that code written for it (jsonmessage's
// DisplayJSONMessagesStream, or a loop decoding {"stream": ...},
// {"aux": ...} and {"error": ...}) reads a stevedore build unchanged:
//
//	{"stream":"Step 1/4 : FROM node:12\n"}
//	{"stream":" ---> Using cache\n"}
//	{"stream":" ---> 3f1c9a6b2e4d\n"}
//	{"aux":{"ID":"sha256:..."}}
//	{"stream":"Successfully built 3f1c9a6b2e4d\n"}
//	{"status":"Pushing","progressDetail":{"current":1024,"total":4096},"id":"8c1e2f3a4b5d"}
//	{"errorDetail":{"message":"..."},"error":"..."}
//
// Its methods are safe for concurrent use; use Event as WithProgress's
// function.
type JSONWriter struct {
	mu  sync.Mutex
	enc *json.Encoder
	err error
}

// NewJSONWriter returns a JSONWriter writing to w.
func NewJSONWriter(w io.Writer) *JSONWriter {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return &JSONWriter{enc: enc}
}

// jsonMessage is docker's JSONMessage, the fields a build and a push use.
type jsonMessage struct {
	Stream      string          `json:"stream,omitempty"`
	Status      string          `json:"status,omitempty"`
	Progress    *jsonProgress   `json:"progressDetail,omitempty"`
	ID          string          `json:"id,omitempty"`
	ErrorDetail *jsonError      `json:"errorDetail,omitempty"`
	Error       string          `json:"error,omitempty"`
	Aux         json.RawMessage `json:"aux,omitempty"`
}

type jsonProgress struct {
	Current int64 `json:"current,omitempty"`
	Total   int64 `json:"total,omitempty"`
}

type jsonError struct {
	Code    int    `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
}

// shortID is docker's 12-hex short form of a digest.
func shortID(h v1.Hash) string {
	if len(h.Hex) < 12 {
		return h.Hex
	}
	return h.Hex[:12]
}

// Event writes the messages of e.
func (j *JSONWriter) Event(e Event) {
	prefix := ""
	if e.Platform != "" {
		prefix = "[" + e.Platform + "] "
	}
	switch e.Kind {
	case EventStep:
		j.write(jsonMessage{Stream: fmt.Sprintf("%sStep %d/%d : %s\n", prefix, e.Step, e.Steps, e.Instruction)})
	case EventCached:
		j.write(jsonMessage{Stream: " ---> Using cache\n"})
	case EventStepDone:
		if e.ImageID.Hex != "" {
			j.write(jsonMessage{Stream: " ---> " + shortID(e.ImageID) + "\n"})
		}
	case EventImage:
		aux, _ := json.Marshal(map[string]string{"ID": e.ImageID.String()})
		j.write(jsonMessage{Aux: aux})
		j.write(jsonMessage{Stream: prefix + "Successfully built " + shortID(e.ImageID) + "\n"})
	case EventPush:
		if e.Push != nil {
			j.push(e.Push)
		}
	}
}

// push writes a push progress report as docker push reports it.
func (j *JSONWriter) push(p *PushProgress) {
	switch p.Status {
	case "Manifest":
		tag := "latest"
		if r, err := name.ParseReference(p.Ref); err == nil {
			if t, ok := r.(name.Tag); ok {
				tag = t.TagStr()
			}
		}
		j.write(jsonMessage{Status: fmt.Sprintf("%s: digest: %s size: %d", tag, p.Digest, p.Total)})
		aux, _ := json.Marshal(map[string]any{"Tag": tag, "Digest": p.Digest.String(), "Size": p.Total})
		j.write(jsonMessage{Aux: aux})
	case "Pushing":
		j.write(jsonMessage{Status: "Pushing", ID: shortID(p.Digest), Progress: &jsonProgress{Current: p.Current, Total: p.Total}})
	default:
		j.write(jsonMessage{Status: p.Status, ID: shortID(p.Digest), Progress: &jsonProgress{}})
	}
}

// Aux writes an out-of-band message, {"aux": v}, as docker writes the
// image ID of a build or the digest of a push.
func (j *JSONWriter) Aux(v any) {
	aux, err := json.Marshal(v)
	if err != nil {
		j.mu.Lock()
		j.err = fmt.Errorf("encoding aux message: %w", err)
		j.mu.Unlock()
		return
	}
	j.write(jsonMessage{Aux: aux})
}

// Tagged writes docker's "Successfully tagged REF" line.
func (j *JSONWriter) Tagged(ref string) {
	j.write(jsonMessage{Stream: "Successfully tagged " + ref + "\n"})
}

// Error writes err as docker reports a failed build: errorDetail and the
// legacy error field, with the same text.
func (j *JSONWriter) Error(err error) {
	if err == nil {
		return
	}
	msg := err.Error()
	j.write(jsonMessage{ErrorDetail: &jsonError{Message: msg}, Error: msg})
}

// Err returns the first error writing to the underlying writer.
func (j *JSONWriter) Err() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.err
}

func (j *JSONWriter) write(m jsonMessage) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil {
		return
	}
	if err := j.enc.Encode(m); err != nil {
		j.err = fmt.Errorf("writing the JSON progress stream: %w", err)
	}
}
