package dockerfile

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	"github.com/stretchr/testify/require"
)

// FuzzBuild: any Dockerfile text gives an error or a valid image, never a
// panic, and never reaches the network (downloads and clones fail).
func FuzzBuild(f *testing.F) {
	for _, seed := range []string{
		"FROM scratch\nCOPY . /\n",
		"ARG B=scratch\nFROM $B AS x\nENV A=1 B=${A:-2}\nWORKDIR /a/b\nCOPY --chown=1:2 --chmod=0755 f* ./\nFROM x\nCOPY --from=x /a /c\n",
		"FROM base\nUSER node\nWORKDIR data\nCOPY --chown=node:staff --parents d/./e/f /out/\nADD a.tar.gz /x/\n",
		"# escape=`\nFROM scratch\nLABEL a=b `\n c=d\nEXPOSE 80-82/udp\nHEALTHCHECK --interval=1s CMD x\nSTOPSIGNAL 9\nVOLUME [\"/v\"]\nSHELL [\"sh\",\"-c\"]\nCMD x\nENTRYPOINT y\nONBUILD COPY . /\nMAINTAINER m\n",
		"FROM scratch\nCOPY <<EOF /h\n${X:?err}\nEOF\n",
		"FROM scratch\nADD https://example.invalid/x /x\nADD https://example.invalid/r.git#main:sub /r\n",
		"FROM scratch\nRUN x\n",
		"FROM scratch\nCOPY --exclude=!x --exclude=[ d /\nCOPY l* ../../.. /\n",
	} {
		f.Add(seed)
	}
	dir := newContext(f, map[string]string{"f": "f", "fa": "fa", "d/e/f": "def", "l": "-> d/e", "abs": "-> /etc", "a.tar.gz": "not a tar"})
	base := debianish(f, "linux/amd64")
	noNet := &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
		return nil, errors.New("no network in the fuzz test")
	})}
	f.Fuzz(func(t *testing.T, text string) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		img, err := Build(ctx, WithContextDir(dir), WithDockerfileContent([]byte(text)), WithPlatforms("linux/amd64"),
			WithResolver(func(context.Context, string, v1.Platform) (v1.Image, error) { return base, nil }),
			WithHTTPClient(noNet),
			WithGitCloner(func(context.Context, string, string) (fs.FS, string, error) {
				return nil, "", errors.New("no clones in the fuzz test")
			}))
		if err != nil {
			return
		}
		require.NoError(t, validate.Image(img, validate.Fast), "Build(%q) gave an invalid image", text)
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
