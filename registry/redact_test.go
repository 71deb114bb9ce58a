package registry

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRedact(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		why     string
		in      string
		secrets []string
		want    string
	}{
		// The bug this function replaces: substrings of other words.
		{"digits inside an address", `GET http://127.0.0.1:5000/v2/: 401`, []string{"127"}, `GET http://127.0.0.1:5000/v2/: 401`},
		{"a word inside a scheme", `Get "https://r.example/v2/": EOF`, []string{"http"}, `Get "https://r.example/v2/": EOF`},
		{"a common word in prose", `the token was refused; check the token`, []string{"token"}, `the token was refused; check the token`},
		{"a secret echoed in prose is not a value", `bad password s3cret`, []string{"s3cret"}, `bad password s3cret`},
		{"no secrets", `Authorization: Bearer abc`, nil, `Authorization: Bearer abc`},
		{"empty secret", `Authorization: Bearer abc`, []string{""}, `Authorization: Bearer abc`},

		// Authorization header values.
		{"bearer header", "Authorization: Bearer tok-123\r\n", []string{"tok-123"}, "Authorization: Bearer [redacted]\r\n"},
		{"bearer, lower case", `authorization: bearer tok-123`, []string{"tok-123"}, `authorization: bearer [redacted]`},
		{"bearer, two blanks", `Bearer  tok-123`, []string{"tok-123"}, `Bearer  [redacted]`},
		{"basic header", `Authorization: Basic ` + b64("alice:127"), []string{"127", b64("alice:127")}, `Authorization: Basic [redacted]`},
		{"header map as Go prints it", fmt.Sprint(http.Header{"Authorization": {"Bearer tok"}}), []string{"tok"}, `map[Authorization:[Bearer [redacted]]]`},
		{"a longer value is another value", `Bearer tok-1234`, []string{"tok-123"}, `Bearer tok-1234`},
		{"a value ending in a dot", `sent Bearer tok.`, []string{"tok"}, `sent Bearer [redacted].`},
		{"a challenge is not a value", `Bearer realm="https://auth/token"`, []string{"token"}, `Bearer realm="https://auth/token"`},
		{"basic as part of a word", `nonbasic tok`, []string{"tok"}, `nonbasic tok`},
		{"every occurrence", `Bearer x, Bearer x`, []string{"x"}, `Bearer [redacted], Bearer [redacted]`},

		// URL user information.
		{"password in a URL", `Get "https://alice:127@127.0.0.1/v2/"`, []string{"127"}, `Get "https://alice:[redacted]@127.0.0.1/v2/"`},
		{"escaped password in a URL", (&url.URL{Scheme: "https", User: url.UserPassword("u", "p@ss/w:rd"), Host: "h"}).String(),
			[]string{"p@ss/w:rd"}, `https://u:[redacted]@h`},
		{"token as the user", `https://ghp_abc@github.com/x.git`, []string{"ghp_abc"}, `https://[redacted]@github.com/x.git`},
		{"host named like the secret", `http://localhost:5000/v2/`, []string{"localhost"}, `http://localhost:5000/v2/`},
		{"path named like the secret", `https://h/127@x`, []string{"127"}, `https://h/127@x`},

		// Query and form values.
		{"signature in a query", `GET https://s3/blob?X-Amz-Signature=abc123&X-Amz-Date=1`, []string{"abc123"}, `GET https://s3/blob?X-Amz-Signature=[redacted]&X-Amz-Date=1`},
		{"escaped token in a query", `https://h/t?access_token=` + url.QueryEscape("a b&c"), []string{"a b&c"}, `https://h/t?access_token=[redacted]`},
		{"form body", `username=alice&password=hunter2`, []string{"hunter2"}, `username=alice&password=[redacted]`},
		{"not a credential parameter", `https://h/t?scope=repository:hunter2:pull`, []string{"hunter2"}, `https://h/t?scope=repository:hunter2:pull`},
		{"parameter name inside a word", `mytoken=hunter2`, []string{"hunter2"}, `mytoken=hunter2`},

		// JSON fields.
		{"token response", `{"token":"tok","access_token":"tok","expires_in":300}`, []string{"tok"}, `{"token":"[redacted]","access_token":"[redacted]","expires_in":300}`},
		{"refresh token, blanks", `{"refresh_token" : "r1"}`, []string{"r1"}, `{"refresh_token" : "[redacted]"}`},
		{"password field", `{"username":"alice","password":"127"}`, []string{"127"}, `{"username":"alice","password":"[redacted]"}`},
		{"JSON-escaped secret", `{"password":` + mustJSON(t, `p"a<ss\`) + `}`, []string{`p"a<ss\`}, `{"password":"[redacted]"}`},
		{"quoted with %q", fmt.Sprintf("%q", `{"token":"tok"}`), []string{"tok"}, `"{\"token\":\"[redacted]\"}"`},
		{"docker config auth", `{"auths":{"r":{"auth":"` + b64("u:p") + `"}}}`, []string{b64("u:p")}, `{"auths":{"r":{"auth":"[redacted]"}}}`},
		{"other fields", `{"username":"tok","token":"x"}`, []string{"tok"}, `{"username":"tok","token":"x"}`},

		// Adversarial secrets.
		{"regexp metacharacters", `Bearer a.*b+(c)?[d]`, []string{"a.*b+(c)?[d]"}, `Bearer [redacted]`},
		{"metacharacters do not match other text", `Bearer axxb`, []string{"a.*b"}, `Bearer axxb`},
		{"a secret that is the placeholder's word", `{"password":"redacted"}`, []string{"redacted"}, `{"password":"[redacted]"}`},
		{"a secret with a blank", `{"password":"correct horse"}`, []string{"correct horse"}, `{"password":"[redacted]"}`},
		{"overlapping secrets", `Bearer abcdef`, []string{"abc", "abcdef"}, `Bearer [redacted]`},
		{"non-ASCII secret", `{"password":"pässwörd"}`, []string{"pässwörd"}, `{"password":"[redacted]"}`},
		{"a secret followed by a letter of a longer word", `Bearer pässwördé`, []string{"pässwörd"}, `Bearer pässwördé`},
	}
	for _, tt := range tests {
		t.Run(tt.why, func(t *testing.T) {
			assert.Equal(t, tt.want, redact(tt.in, tt.secrets), "redact(%q, %q)", tt.in, tt.secrets)
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

// valuePlaces puts a secret where credentials occur as values, encoded as
// the writers of those places encode it, and returns the texts and the
// segment (place and value) that must not survive redaction.
func valuePlaces(user, secret string) (texts, segments []string) {
	add := func(text, segment string) {
		texts = append(texts, text)
		segments = append(segments, segment)
	}
	add("Authorization: Bearer "+secret+"\r\n", "Bearer "+secret+"\r\n")
	add(fmt.Sprint(http.Header{"Authorization": {"Bearer " + secret}}), "Bearer "+secret+"]")
	basic := basicHeader(user, secret)
	add("Authorization: Basic "+basic, basic)
	js, _ := json.Marshal(secret)
	for _, field := range []string{"token", "refresh_token", "password"} {
		add(`{"`+field+`":`+string(js)+`,"expires_in":300}`, `"`+field+`":`+string(js))
	}
	u := url.URL{Scheme: "https", User: url.UserPassword(user, secret), Host: "r.example", Path: "/v2/"}
	add(u.String(), ":"+url.User(secret).String()+"@r.example")
	q := url.URL{Scheme: "https", Host: "s3.example", Path: "/blob", RawQuery: url.Values{"X-Amz-Signature": {secret}}.Encode()}
	add("GET "+q.String()+" failed", "="+url.QueryEscape(secret)+" failed")
	return texts, segments
}

// FuzzRedact checks redact's two promises for any secret and any text:
// a secret placed as a credential value (as header, URL, query and JSON
// writers place it) never survives, and text holding the secret in none
// of its encodings comes back unchanged.
func FuzzRedact(f *testing.F) {
	for _, s := range [][2]string{
		{"127", "GET http://127.0.0.1:5000/v2/"}, {"http", "https://x"}, {"a.*b", "Bearer axb"},
		{"p@ss:/w", `{"password":"p@ss:/w"}`}, {" lead", "Bearer  lead"}, {"é", "Bearer é"}, {`\"`, `"token":"\\\""`},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, secret, text string) {
		if secret == "" || !utf8.ValidString(secret) || strings.ContainsFunc(secret, unicode.IsControl) ||
			strings.Contains(secret, redactedText) {
			t.Skip("not a credential: empty, invalid UTF-8, control characters, or the placeholder itself")
		}
		secrets := []string{secret, basicHeader("alice", secret)}
		texts, segments := valuePlaces("alice", secret)
		for i, in := range texts {
			got := redact(in, secrets)
			if strings.Contains(got, segments[i]) {
				t.Errorf("redact(%q) = %q, still holds %q", in, got, segments[i])
			}
		}
		got := redact(text, secrets)
		if got == text {
			return
		}
		for _, form := range encodings(secrets) {
			if strings.Contains(text, form) {
				return
			}
		}
		t.Errorf("redact(%q) = %q, changed a text that holds no form of the secret %q", text, got, secret)
	})
}
