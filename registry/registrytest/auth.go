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
// false when the request may not proceed.
func (a *authenticator) check(s *Server, w http.ResponseWriter, r *http.Request, kind Kind, repo string) (*grant, bool) {
	if a.basic {
		if a.credsOK(r) {
			return nil, true
		}
		s.count(func(st *Stats) { st.AuthFailures++ })
		w.Header().Set("WWW-Authenticate", fmt.Sprintf("Basic realm=%q", basicRealm))
		writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
		return nil, false
	}

	action := "pull"
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		action = "push"
	}
	g := a.lookup(r)
	switch {
	case g != nil && kind == KindPing:
		return g, true
	case g != nil && repo != "" && g.allows(repo, action):
		return g, true
	}
	s.count(func(st *Stats) { st.AuthFailures++ })
	challenge := fmt.Sprintf("Bearer realm=%q,service=%q", a.realm, tokenService)
	if repo != "" {
		actions := "pull"
		if action == "push" {
			actions = "pull,push"
		}
		challenge += fmt.Sprintf(",scope=%q", "repository:"+repo+":"+actions)
	}
	w.Header().Set("WWW-Authenticate", challenge)
	writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
	return nil, false
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
