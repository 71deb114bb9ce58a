package registry

import (
	"bytes"
	"encoding/json"
	"iter"
	"net/url"
	"slices"
	"strings"
)

// redactedText replaces a credential value in error text.
const redactedText = "[redacted]"

// credentialNames are the query parameters and JSON fields whose values
// are credentials: OAuth2 and Docker token responses, docker config.json
// entries, and the signatures of pre-signed blob URLs. Lower case; they
// match in any case.
var credentialNames = []string{
	"access_token", "refresh_token", "id_token", "token", "identitytoken", "registrytoken",
	"password", "passwd", "secret", "client_secret", "auth", "api_key", "apikey",
	"sig", "signature", "x-amz-signature", "x-amz-credential", "x-amz-security-token",
	"x-goog-signature", "x-goog-credential",
}

// redact returns s with every occurrence of one of secrets as a credential
// value replaced by [redactedText]. An occurrence counts when it is
//
//   - the value of an Authorization header: right after "Basic " or
//     "Bearer " (also as Go prints an http.Header);
//   - the user name or password of a URL's user information;
//   - the value of a credential parameter of a URL query or a form
//     ("?access_token=", "&password=", "X-Amz-Signature=", ...);
//   - the value of a credential field of JSON ("token", "access_token",
//     "refresh_token", "password", "auth", ...), as token servers echo them;
//
// and, except in URLs, the value ends where the secret does: the next byte
// is the end of s, white space, or punctuation that token characters
// (letters, digits, "-_~+/=") do not include. A secret counts in each of
// the encodings these places give it: as is, JSON-escaped, and
// query-, path- or user-information-escaped. Anywhere else, a secret is
// left alone: a password "127" does not touch "127.0.0.1", nor "http"
// "https://". Empty secrets are ignored.
func redact(s string, secrets []string) string {
	forms := encodings(secrets)
	if !slices.ContainsFunc(forms, func(f string) bool { return strings.Contains(s, f) }) {
		return s
	}
	var spans [][2]int
	for p := range valueStarts(s) {
		// Also after further blanks ("Bearer  x"): the value may start
		// with a blank, or the blanks may be a separator.
		for ; ; p++ {
			if n := valueAt(s, p, forms); n > 0 {
				spans = append(spans, [2]int{p, p + n})
				break
			}
			if p >= len(s) || (s[p] != ' ' && s[p] != '\t') {
				break
			}
		}
	}
	for i := range indexAll(s, "://") {
		if i > 0 && isSchemeByte(s[i-1]) {
			spans = append(spans, userInfo(s, i+len("://"), forms)...)
		}
	}
	return cut(s, spans)
}

// valueStarts yields the positions of s where a credential value starts:
// after an Authorization scheme ("Basic ", "Bearer "), after a credential
// parameter's "name=" in a URL query or a form, and after a credential
// field's name in JSON (also inside a %q-quoted string, where its quotes
// are escaped). Names match in any case, and must start a word or a
// parameter: "mytoken=" is not "token=".
func valueStarts(s string) iter.Seq[int] {
	low := asciiLower(s)
	return func(yield func(int) bool) {
		for _, scheme := range []string{"basic", "bearer"} {
			for i := range indexAll(low, scheme) {
				end := i + len(scheme)
				if (i == 0 || !isWordByte(low[i-1])) && end < len(low) && (low[end] == ' ' || low[end] == '\t') &&
					!yield(end+1) {
					return
				}
			}
		}
		for _, n := range credentialNames {
			for i := range indexAll(low, n) {
				end := i + len(n)
				if end < len(low) && low[end] == '=' && (i == 0 || strings.IndexByte("?&; \t\r\n\"'({[,", low[i-1]) >= 0) &&
					!yield(end+1) {
					return
				}
				if p, ok := jsonValue(low, i, end); ok && !yield(p) {
					return
				}
			}
		}
	}
}

// jsonValue returns where the value starts when s[i:end] is the name of a
// JSON field holding a string: "name" : "value, or \"name\":\"value as
// %q prints JSON.
func jsonValue(s string, i, end int) (int, bool) {
	escaped := i >= 2 && s[i-2] == '\\'
	if i < 1 || s[i-1] != '"' {
		return 0, false
	}
	p := end
	quote := func() bool {
		if escaped {
			if !strings.HasPrefix(s[p:], `\`) {
				return false
			}
			p++
		}
		if !strings.HasPrefix(s[p:], `"`) {
			return false
		}
		p++
		return true
	}
	blanks := func() {
		for p < len(s) && strings.IndexByte(" \t\r\n", s[p]) >= 0 {
			p++
		}
	}
	if !quote() {
		return 0, false
	}
	blanks()
	if p >= len(s) || s[p] != ':' {
		return 0, false
	}
	p++
	blanks()
	return p, quote()
}

// indexAll yields the index of every occurrence of sub in s.
func indexAll(s, sub string) iter.Seq[int] {
	return func(yield func(int) bool) {
		for off := 0; off <= len(s); {
			i := strings.Index(s[off:], sub)
			if i < 0 || !yield(off+i) {
				return
			}
			off += i + 1
		}
	}
}

// asciiLower lowers the ASCII letters of s, keeping its length.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func isWordByte(c byte) bool {
	return c == '_' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9')
}

func isSchemeByte(c byte) bool { return isWordByte(c) && c != '_' || c == '+' || c == '.' || c == '-' }

// encodings returns the forms secrets take in headers, URLs and JSON,
// longest first.
func encodings(secrets []string) []string {
	var forms []string
	for _, sec := range secrets {
		if sec == "" {
			continue
		}
		forms = append(forms, sec, jsonString(sec, true), jsonString(sec, false),
			url.QueryEscape(sec), url.PathEscape(sec), url.User(sec).String())
	}
	slices.SortFunc(forms, func(a, b string) int { return len(b) - len(a) })
	return slices.Compact(forms)
}

// jsonString returns sec as encoding/json writes it inside a string,
// without the quotes.
func jsonString(sec string, escapeHTML bool) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(escapeHTML)
	_ = enc.Encode(sec) // a string always encodes
	return strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(b.String(), `"`), "\n"), `"`)
}

// valueAt returns the length of the longest form at s[p:] that ends a
// value there, or 0.
func valueAt(s string, p int, forms []string) int {
	for _, f := range forms {
		if strings.HasPrefix(s[p:], f) && endsValue(s, p+len(f)) {
			return len(f)
		}
	}
	return 0
}

// endsValue reports whether a value may end before s[i]: at the end of s,
// or before a byte no token has.
func endsValue(s string, i int) bool {
	if i >= len(s) {
		return true
	}
	c := s[i]
	isToken := c >= 0x80 || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') ||
		strings.IndexByte("-_~+/=", c) >= 0
	return !isToken
}

// userInfo returns the spans of the user name and password of the URL
// whose authority starts at s[p] when they are forms of a secret.
func userInfo(s string, p int, forms []string) [][2]int {
	end := p + strings.IndexFunc(s[p:], func(r rune) bool {
		return strings.ContainsRune("/?#\"<>\\", r) || r <= ' '
	})
	if end < p {
		end = len(s)
	}
	at := strings.LastIndexByte(s[p:end], '@')
	if at < 0 {
		return nil
	}
	info := s[p : p+at]
	var spans [][2]int
	user, pass, hasPass := strings.Cut(info, ":")
	if slices.Contains(forms, user) {
		spans = append(spans, [2]int{p, p + len(user)})
	}
	if start := p + len(user) + 1; hasPass && slices.Contains(forms, pass) {
		spans = append(spans, [2]int{start, start + len(pass)})
	}
	return spans
}

// cut replaces the spans of s (which may overlap) with [redactedText].
func cut(s string, spans [][2]int) string {
	if len(spans) == 0 {
		return s
	}
	slices.SortFunc(spans, func(a, b [2]int) int { return a[0] - b[0] })
	var b strings.Builder
	last := 0
	for i := 0; i < len(spans); {
		start, end := spans[i][0], spans[i][1]
		for i++; i < len(spans) && spans[i][0] < end; i++ {
			end = max(end, spans[i][1])
		}
		b.WriteString(s[last:start])
		b.WriteString(redactedText)
		last = end
	}
	b.WriteString(s[last:])
	return b.String()
}
