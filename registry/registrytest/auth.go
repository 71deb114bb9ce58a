package registrytest

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

const (
	basicRealm   = "registrytest"
	tokenService = "registrytest"
	tokenTTL     = 5 * time.Minute
)

type authenticator struct {
	basic      bool
	user, pass string
	realm      string

	mu     sync.Mutex
	tokens map[string]*grant
}

// grant is what a token allows: actions per repository.
type grant struct {
	access  map[string][]string
	expires time.Time
}

func (g *grant) allows(repo, action string) bool {
	return slices.Contains(g.access[repo], action) || slices.Contains(g.access[repo], "*")
}

func (a *authenticator) credsOK(r *http.Request) bool {
	u, p, ok := r.BasicAuth()
	return ok &&
		subtle.ConstantTimeCompare([]byte(u), []byte(a.user)) == 1 &&
		subtle.ConstantTimeCompare([]byte(p), []byte(a.pass)) == 1
}

// check authenticates a registry request. It answers 401 itself and returns
// false when the request may not proceed. With tokens, as in Distribution,
// a cross-repository mount needs pull on the source repository too, and
// the challenge asks for both scopes.
func (a *authenticator) check(s *Server, w http.ResponseWriter, r *http.Request, rt route) bool {
	if a.basic {
		if a.credsOK(r) {
			return true
		}
		s.count(func(st *Stats) { st.AuthFailures++ })
		w.Header().Set("WWW-Authenticate", fmt.Sprintf("Basic realm=%q", basicRealm))
		writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
		return false
	}

	action := "pull"
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		action = "push"
	}
	g := a.lookup(r)
	from := mountSource(r, rt)
	switch {
	case g != nil && rt.kind == KindPing:
		return true
	case g != nil && rt.repo != "" && g.allows(rt.repo, action) && (from == "" || g.allows(from, "pull")):
		return true
	}
	s.count(func(st *Stats) { st.AuthFailures++ })
	challenge := fmt.Sprintf("Bearer realm=%q,service=%q", a.realm, tokenService)
	if rt.repo != "" {
		actions := "pull"
		if action == "push" {
			actions = "pull,push"
		}
		scopes := []string{"repository:" + rt.repo + ":" + actions}
		if from != "" && from != rt.repo {
			// As Distribution asks: a mount needs pull on its source too.
			scopes = append(scopes, "repository:"+from+":pull")
		}
		challenge += fmt.Sprintf(",scope=%q", strings.Join(scopes, " "))
	}
	w.Header().Set("WWW-Authenticate", challenge)
	writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
	return false
}

// mountSource returns the source repository of a cross-repository mount
// request, or "".
func mountSource(r *http.Request, rt route) string {
	if rt.kind != KindUpload || r.Method != http.MethodPost || r.URL.Query().Get("mount") == "" {
		return ""
	}
	return r.URL.Query().Get("from")
}

func (a *authenticator) lookup(r *http.Request) *grant {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	g := a.tokens[tok]
	if g == nil || time.Now().After(g.expires) {
		return nil
	}
	return g
}

// serveToken is the token endpoint: GET with HTTP basic credentials and
// scope parameters ("repository:name:pull,push"), as in Docker's token
// authentication specification.
func (a *authenticator) serveToken(s *Server, w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		// Only the GET flow; clients fall back to it on 404.
		http.NotFound(w, r)
		return
	}
	if !a.credsOK(r) {
		s.count(func(st *Stats) { st.AuthFailures++ })
		writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", "invalid username or password")
		return
	}
	g := &grant{access: map[string][]string{}, expires: time.Now().Add(tokenTTL)}
	for _, sc := range r.URL.Query()["scope"] {
		for _, one := range strings.Fields(sc) {
			parts := strings.Split(one, ":")
			if len(parts) != 3 || parts[0] != "repository" {
				continue
			}
			g.access[parts[1]] = append(g.access[parts[1]], strings.Split(parts[2], ",")...)
		}
	}
	buf := make([]byte, 24)
	if _, err := rand.Read(buf); err != nil {
		writeError(w, http.StatusInternalServerError, "UNKNOWN", "no randomness")
		return
	}
	tok := hex.EncodeToString(buf)
	a.mu.Lock()
	a.tokens[tok] = g
	a.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"token":      tok,
		"expires_in": int(tokenTTL / time.Second),
		"issued_at":  time.Now().UTC().Format(time.RFC3339),
	})
}
