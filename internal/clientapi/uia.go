package clientapi

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"chappe.eu/chappe/internal/credentials"
	"chappe.eu/chappe/internal/matrix"
	"chappe.eu/chappe/internal/store"
)

// User-interactive authentication (spec: "User-Interactive Authentication
// API"). Sessions are stored in the database, bound to the action and the
// user they were started for, and deleted once they have authorised their
// request, so one session cannot authorise two requests.

const uiaSessionMaxAgeMS = 30 * 60 * 1000

// Stage types.
const (
	stageDummy    = "m.login.dummy"
	stagePassword = "m.login.password"
	stageRegToken = "m.login.registration_token"
)

// authDict is the "auth" object of a request that needs UIA.
type authDict struct {
	Type       string          `json:"type"`
	Session    string          `json:"session"`
	Password   string          `json:"password"`
	Token      string          `json:"token"`
	Identifier *userIdentifier `json:"identifier"`
	User       string          `json:"user"` // deprecated form of identifier
}

type userIdentifier struct {
	Type string `json:"type"`
	User string `json:"user"`
}

type uiaRequest struct {
	action string     // what is being authorised
	userID string     // who must authenticate; empty for registration
	flows  [][]string // acceptable sequences of stages
}

// uia runs one step of user-interactive authentication. It returns the
// completed session when a flow is complete, and otherwise an error that
// the handler returns: the 401 challenge, or a stage's failure.
func (a *API) uia(r *http.Request, auth *authDict, req uiaRequest) (*store.UIASession, error) {
	ctx := r.Context()
	if auth == nil || auth.Session == "" {
		s := store.UIASession{ID: credentials.NewSessionID(), UserID: req.userID, Action: req.action}
		if err := a.db.CreateUIASession(ctx, s); err != nil {
			return nil, err
		}
		if auth == nil || auth.Type == "" {
			return nil, a.challenge(req, &s, nil)
		}
		auth.Session = s.ID
	}
	if !storable(auth.Session) {
		return nil, matrix.Errorf(http.StatusBadRequest, matrix.ErrUnknown, "Unknown or expired session")
	}
	s, err := a.db.UIASessionByID(ctx, auth.Session)
	if err == store.ErrNotFound || (err == nil && (s.Action != req.action || s.UserID != req.userID)) {
		return nil, matrix.Errorf(http.StatusBadRequest, matrix.ErrUnknown, "Unknown or expired session")
	}
	if err != nil {
		return nil, err
	}
	if auth.Type != "" {
		if stageErr := a.runStage(r, auth, req, &s); stageErr != nil {
			return nil, a.challenge(req, &s, stageErr)
		}
	}
	for _, flow := range req.flows {
		if flowDone(flow, s.Completed) {
			if err := a.db.DeleteUIASession(ctx, s.ID, uiaSessionMaxAgeMS); err != nil {
				return nil, err
			}
			return &s, nil
		}
	}
	return nil, a.challenge(req, &s, nil)
}

func flowDone(flow, completed []string) bool {
	for _, st := range flow {
		if !slices.Contains(completed, st) {
			return false
		}
	}
	return true
}

// runStage checks one stage and records it as completed.
func (a *API) runStage(r *http.Request, auth *authDict, req uiaRequest, s *store.UIASession) *matrix.Error {
	allowed := false
	for _, flow := range req.flows {
		allowed = allowed || slices.Contains(flow, auth.Type)
	}
	if !allowed {
		return matrix.BadJSON("Stage %q is not offered", auth.Type)
	}
	token := ""
	switch auth.Type {
	case stageDummy:
	case stagePassword:
		if err := a.rateLimit(a.limits.login, r, req.userID); err != nil {
			return err.(*matrix.Error)
		}
		userID, ok := a.identifiedUser(auth.Identifier, auth.User)
		if !ok || userID != req.userID || !a.passwordMatches(r.Context(), userID, auth.Password) {
			return matrix.Forbidden("Invalid password")
		}
	case stageRegToken:
		if s.Token != "" { // already validated in this session
			break
		}
		if !regTokenPattern.MatchString(auth.Token) { // no such token can exist
			return matrix.Errorf(http.StatusUnauthorized, matrix.ErrUnauthorized, "Invalid registration token")
		}
		ok, err := a.db.ReserveRegistrationToken(r.Context(), auth.Token)
		if err != nil {
			a.log.Error("reserving registration token", "err", err)
			return matrix.Errorf(http.StatusInternalServerError, matrix.ErrUnknown, "Internal server error")
		}
		if !ok {
			return matrix.Errorf(http.StatusUnauthorized, matrix.ErrUnauthorized, "Invalid registration token")
		}
		token = auth.Token
	default:
		return matrix.BadJSON("Unknown stage %q", auth.Type)
	}
	if err := a.db.CompleteUIAStage(r.Context(), s.ID, auth.Type, token); err != nil {
		a.log.Error("recording UIA stage", "err", err)
		return matrix.Errorf(http.StatusInternalServerError, matrix.ErrUnknown, "Internal server error")
	}
	s.Completed = append(s.Completed, auth.Type)
	if token != "" {
		s.Token = token
	}
	return nil
}

// challenge is the 401 response that tells the client what is left to do.
func (a *API) challenge(req uiaRequest, s *store.UIASession, stageErr *matrix.Error) error {
	if stageErr != nil && stageErr.Status != http.StatusUnauthorized && stageErr.Status != http.StatusForbidden {
		return stageErr // malformed request: not a failed stage
	}
	flows := make([]map[string][]string, len(req.flows))
	for i, f := range req.flows {
		flows[i] = map[string][]string{"stages": f}
	}
	completed := s.Completed
	if completed == nil {
		completed = []string{}
	}
	e := &matrix.Error{Status: http.StatusUnauthorized, Extra: map[string]any{
		"flows": flows, "params": map[string]any{}, "session": s.ID, "completed": completed,
	}}
	if stageErr != nil {
		e.Code, e.Message = stageErr.Code, stageErr.Message
	}
	return e
}

// identifiedUser resolves an m.id.user identifier (or the deprecated user
// field) to a full local user ID.
func (a *API) identifiedUser(id *userIdentifier, legacyUser string) (string, bool) {
	user := legacyUser
	if id != nil {
		if id.Type != "m.id.user" {
			return "", false
		}
		user = id.User
	}
	if user == "" || len(user) > 255 {
		return "", false
	}
	if user[0] != '@' {
		user = "@" + user + ":" + a.cfg.ServerName
	}
	uid, err := matrix.ParseUserID(user)
	if err != nil || string(uid.Server()) != a.cfg.ServerName {
		return "", false
	}
	// Local accounts have lower-case localparts (they are created that
	// way), so "@Alice" logs in as "@alice", as with Synapse.
	lower, err := matrix.NewUserID(strings.ToLower(uid.Localpart()), uid.Server())
	if err == nil {
		return string(lower), true
	}
	return string(uid), true
}

// passwordMatches checks a local user's password. A missing or
// deactivated account costs the same hashing work as a wrong password,
// so timing tells nothing about which accounts exist.
func (a *API) passwordMatches(ctx context.Context, userID, password string) bool {
	acct, err := a.db.Account(ctx, userID)
	if err != nil || acct.Deactivated || acct.PasswordHash == "" {
		credentials.CheckPassword(dummyHash, password)
		return false
	}
	return credentials.CheckPassword(acct.PasswordHash, password)
}

// dummyHash is hashed against when there is no real hash to check.
var dummyHash, _ = credentials.HashPassword("chappe dummy password")

// rawAuth extracts the "auth" object of a request body.
type withAuth struct {
	Auth *authDict `json:"auth"`
}
