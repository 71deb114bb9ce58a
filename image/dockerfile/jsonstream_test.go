package dockerfile

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// legacyMessage is the part of docker's jsonmessage.JSONMessage that the
// API's jsonstream.Message leaves out: the legacy "error" string.
type legacyMessage struct {
	Error string `json:"error"`
}

// decodeStream decodes the stream with the Docker API's own message type,
// as a client of the daemon's ImageBuild does.
func decodeStream(t *testing.T, b []byte) ([]jsonstream.Message, []legacyMessage) {
	t.Helper()
	var msgs []jsonstream.Message
	var legacy []legacyMessage
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var m jsonstream.Message
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m), "line %q", sc.Text())
		var l legacyMessage
		require.NoError(t, json.Unmarshal(sc.Bytes(), &l))
		msgs, legacy = append(msgs, m), append(legacy, l)
	}
	return msgs, legacy
}

func TestJSONStreamBuild(t *testing.T) {
	dir := newContext(t, map[string]string{"app/a": "a"})
	cache := t.TempDir()
	df := "FROM scratch\nWORKDIR /src\nCOPY app .\nCMD [\"/src/a\"]\n"
	var out bytes.Buffer
	run := func() v1.Image {
		out.Reset()
		w := NewJSONWriter(&out)
		img := mustBuild(t, dir, df, WithCache(cache), WithProgress(w.Event))
		require.NoError(t, w.Err())
		return img
	}
	run()
	img := run() // the second time, from the cache
	msgs, _ := decodeStream(t, out.Bytes())
	var stream []string
	var aux []json.RawMessage
	for _, m := range msgs {
		if m.Stream != "" {
			stream = append(stream, m.Stream)
		}
		if m.Aux != nil {
			aux = append(aux, *m.Aux)
		}
	}
	id, err := img.ConfigName()
	require.NoError(t, err)
	steps := strings.Join(stream, "")
	for _, want := range []string{
		"Step 1/4 : FROM scratch\n",
		"Step 2/4 : WORKDIR /src\n ---> Using cache\n ---> ",
		"Step 3/4 : COPY app .\n ---> Using cache\n ---> ",
		"Step 4/4 : CMD [\"/src/a\"]\n",
		"Successfully built " + id.Hex[:12] + "\n",
	} {
		assert.Contains(t, steps, want, "stream text")
	}
	require.Len(t, aux, 1, "one aux message")
	var auxID struct{ ID string }
	require.NoError(t, json.Unmarshal(aux[0], &auxID))
	assert.Equal(t, id.String(), auxID.ID, "aux ID is the image ID (config digest), as docker's")
}

func TestJSONStreamErrorAndPush(t *testing.T) {
	var out bytes.Buffer
	w := NewJSONWriter(&out)
	_, err := buildIn(t, t.TempDir(), "FROM scratch\nRUN true\n", WithProgress(w.Event))
	require.Error(t, err)
	w.Error(err)
	d := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("ab", 32)}
	w.Event(Event{Kind: EventPush, Push: &PushProgress{Ref: "r.example.com/a:v1", Digest: d, Status: "Pushing", Current: 10, Total: 100}})
	w.Event(Event{Kind: EventPush, Push: &PushProgress{Ref: "r.example.com/a:v1", Digest: d, Status: "Layer already exists"}})
	w.Event(Event{Kind: EventPush, Push: &PushProgress{Ref: "r.example.com/a:v1", Digest: d, Status: "Manifest", Total: 528}})
	w.Tagged("r.example.com/a:v1")
	w.Aux(map[string]string{"Ref": "r.example.com/a@" + d.String()})
	msgs, legacy := decodeStream(t, out.Bytes())
	require.Len(t, msgs, 7)
	require.NotNil(t, msgs[0].Error, "errorDetail")
	assert.Equal(t, err.Error(), msgs[0].Error.Message, "errorDetail.message")
	assert.Equal(t, err.Error(), legacy[0].Error, "legacy error field")
	assert.Equal(t, "Pushing", msgs[1].Status)
	assert.Equal(t, "abababababab", msgs[1].ID, "short blob ID")
	require.NotNil(t, msgs[1].Progress)
	assert.Equal(t, [2]int64{10, 100}, [2]int64{msgs[1].Progress.Current, msgs[1].Progress.Total}, "progressDetail")
	assert.Equal(t, "Layer already exists", msgs[2].Status)
	assert.Equal(t, "v1: digest: "+d.String()+" size: 528", msgs[3].Status, "docker push's digest line")
	require.NotNil(t, msgs[4].Aux)
	assert.JSONEq(t, `{"Tag":"v1","Digest":"`+d.String()+`","Size":528}`, string(*msgs[4].Aux), "push aux")
	assert.Equal(t, "Successfully tagged r.example.com/a:v1\n", msgs[5].Stream)
	require.NotNil(t, msgs[6].Aux)
	assert.JSONEq(t, `{"Ref":"r.example.com/a@`+d.String()+`"}`, string(*msgs[6].Aux), "Aux")
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestJSONWriterErr(t *testing.T) {
	w := NewJSONWriter(failWriter{})
	w.Event(Event{Kind: EventStep, Step: 1, Steps: 1, Instruction: "FROM scratch"})
	assert.ErrorContains(t, w.Err(), "disk full", "JSONWriter.Err after a failed write")
}
