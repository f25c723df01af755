package clientapi

import (
	"context"
	"net/http"
	"strings"
	"time"

	"chappe.eu/chappe/internal/credentials"
	"chappe.eu/chappe/internal/httpapi"
	"chappe.eu/chappe/internal/matrix"
	"chappe.eu/chappe/internal/store"
)

// Session is the authenticated caller of a request.
type Session struct {
	UserID   string
	DeviceID string
	IsAdmin  bool
	// TokenHash identifies the access token used, for /logout.
	TokenHash []byte
}

// authedFunc is a handler that needs an access token.
type authedFunc func(w http.ResponseWriter, r *http.Request, s *Session) error

// accessToken extracts the access token from the Authorization header or,
// deprecated but still used by some clients, the access_token query
// parameter.
func accessToken(r *http.Request) (string, bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		tok, ok := strings.CutPrefix(h, "Bearer ")
		return strings.TrimSpace(tok), ok
	}
	if tok := r.URL.Query().Get("access_token"); tok != "" {
		return tok, true
	}
	return "", false
}

// authenticate resolves the request's access token to a session.
func (a *API) authenticate(r *http.Request) (*Session, error) {
	tok, ok := accessToken(r)
	if !ok || tok == "" {
		return nil, matrix.Errorf(http.StatusUnauthorized, matrix.ErrMissingToken, "Missing access token")
	}
	unknown := matrix.Errorf(http.StatusUnauthorized, matrix.ErrUnknownToken, "Unknown access token").With("soft_logout", false)
	if len(tok) > 512 {
		return nil, unknown
	}
	hash := credentials.HashToken(tok)
	s, err := a.db.SessionByToken(r.Context(), hash)
	if err == store.ErrNotFound {
		return nil, unknown
	}
	if err != nil {
		return nil, err
	}
	if s.Deactivated {
		return nil, unknown
	}
	if s.ExpiresTS != 0 && s.ExpiresTS <= time.Now().UnixMilli() {
		// The client can refresh: soft logout keeps its local state.
		return nil, matrix.Errorf(http.StatusUnauthorized, matrix.ErrUnknownToken, "Access token has expired").With("soft_logout", true)
	}
	a.touchDevice(r, s.UserID, s.DeviceID)
	return &Session{UserID: s.UserID, DeviceID: s.DeviceID, IsAdmin: s.IsAdmin, TokenHash: hash}, nil
}

// Authenticate resolves the request's access token to the calling
// session, answering M_MISSING_TOKEN or M_UNKNOWN_TOKEN; other APIs served
// beside the client API (media) authenticate through it.
func (a *API) Authenticate(r *http.Request) (*Session, error) { return a.authenticate(r) }

// authed wraps a handler that needs an access token.
func (a *API) authed(h authedFunc) httpapi.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		s, err := a.authenticate(r)
		if err != nil {
			return err
		}
		return h(w, r, s)
	}
}

// admin wraps a handler that needs a server administrator.
func (a *API) admin(h authedFunc) httpapi.HandlerFunc {
	return a.authed(func(w http.ResponseWriter, r *http.Request, s *Session) error {
		if !s.IsAdmin {
			return matrix.Forbidden("You are not a server admin")
		}
		return h(w, r, s)
	})
}

// touchDevice records last_seen for the device at most once a
// lastSeenInterval, off the request path.
func (a *API) touchDevice(r *http.Request, userID, deviceID string) {
	key := userID + "|" + deviceID
	now := time.Now()
	a.lastSeenMu.Lock()
	if now.Sub(a.lastSeen[key]) < lastSeenInterval {
		a.lastSeenMu.Unlock()
		return
	}
	if len(a.lastSeen) > 100_000 {
		clear(a.lastSeen)
	}
	a.lastSeen[key] = now
	a.lastSeenMu.Unlock()
	ip := clientIP(r)
	a.background.Add(1)
	go func() {
		defer a.background.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := a.db.TouchDevice(ctx, userID, deviceID, ip, now.UnixMilli()); err != nil {
			a.log.Warn("recording device last seen", "err", err)
		}
	}()
}
