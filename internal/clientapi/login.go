package clientapi

import (
	"context"
	"net/http"
	"time"

	"chappe.eu/chappe/internal/credentials"
	"chappe.eu/chappe/internal/httpapi"
	"chappe.eu/chappe/internal/matrix"
	"chappe.eu/chappe/internal/store"
)

// Prefixes of Chappe's tokens, so secret scanners can recognise leaks.
const (
	accessTokenPrefix  = "cht_"
	refreshTokenPrefix = "chr_"
)

// maxDeviceIDLen caps client-chosen device IDs (Synapse: 512).
const maxDeviceIDLen = 255

func (a *API) loginFlows(w http.ResponseWriter, r *http.Request) error {
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{
		"flows": []map[string]any{{"type": "m.login.password"}},
	})
}

type loginRequest struct {
	Type                     string          `json:"type"`
	Identifier               *userIdentifier `json:"identifier"`
	User                     string          `json:"user"`
	Password                 string          `json:"password"`
	DeviceID                 string          `json:"device_id"`
	InitialDeviceDisplayName *string         `json:"initial_device_display_name"`
	RefreshToken             bool            `json:"refresh_token"`
}

// loginResponse is the body of a successful login or registration.
type loginResponse struct {
	UserID       string `json:"user_id"`
	AccessToken  string `json:"access_token,omitempty"`
	DeviceID     string `json:"device_id,omitempty"`
	HomeServer   string `json:"home_server,omitempty"` // deprecated, still read by old clients
	ExpiresInMS  int64  `json:"expires_in_ms,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
	WellKnown    any    `json:"well_known,omitempty"`
}

func (a *API) login(w http.ResponseWriter, r *http.Request) error {
	if err := a.rateLimit(a.limits.login, r, ""); err != nil {
		return err
	}
	var req loginRequest
	if err := a.readJSON(r, &req); err != nil {
		return err
	}
	if req.Type != "m.login.password" {
		return matrix.Errorf(http.StatusBadRequest, matrix.ErrUnknown, "Unsupported login type")
	}
	if req.Identifier != nil && req.Identifier.Type != "m.id.user" {
		return matrix.Errorf(http.StatusBadRequest, matrix.ErrUnknown, "Unsupported identifier type")
	}
	if err := checkDeviceFields(req.DeviceID, req.InitialDeviceDisplayName); err != nil {
		return err
	}
	forbidden := matrix.Forbidden("Invalid username or password")
	userID, ok := a.identifiedUser(req.Identifier, req.User)
	if !ok {
		credentials.CheckPassword(dummyHash, req.Password)
		return forbidden
	}
	if err := a.rateLimitUser(a.limits.login, userID); err != nil {
		return err
	}
	acct, err := a.db.Account(r.Context(), userID)
	if err == nil && acct.Deactivated {
		// Spec: M_USER_DEACTIVATED is only told to those who prove they
		// own the account; a wrong password still gets M_FORBIDDEN.
		credentials.CheckPassword(dummyHash, req.Password)
		return forbidden
	}
	if !a.passwordMatches(r.Context(), userID, req.Password) {
		return forbidden
	}
	resp, err := a.startSession(r.Context(), userID, req.DeviceID, req.InitialDeviceDisplayName, req.RefreshToken)
	if err != nil {
		return err
	}
	resp.WellKnown = a.wellKnownBody()
	return httpapi.WriteJSON(w, http.StatusOK, resp)
}

func checkDeviceFields(deviceID string, displayName *string) error {
	if len(deviceID) > maxDeviceIDLen || !storable(deviceID) {
		return matrix.InvalidParam("device_id is too long or holds NUL")
	}
	if displayName != nil && (len(*displayName) > 1000 || !storable(*displayName)) {
		return matrix.InvalidParam("initial_device_display_name is too long or holds NUL")
	}
	return nil
}

// startSession creates (or takes over) a device and issues its tokens.
func (a *API) startSession(ctx context.Context, userID, deviceID string, displayName *string, withRefresh bool) (*loginResponse, error) {
	if deviceID == "" {
		deviceID = credentials.NewDeviceID()
	}
	access := credentials.NewToken(accessTokenPrefix)
	l := store.NewLogin{UserID: userID, DeviceID: deviceID, DisplayName: displayName, AccessHash: credentials.HashToken(access)}
	resp := &loginResponse{UserID: userID, AccessToken: access, DeviceID: deviceID, HomeServer: a.cfg.ServerName}
	if withRefresh {
		refresh := credentials.NewToken(refreshTokenPrefix)
		l.RefreshHash = credentials.HashToken(refresh)
		l.ExpiresTS = time.Now().Add(a.cfg.Auth.AccessTokenLifetime).UnixMilli()
		resp.RefreshToken = refresh
		resp.ExpiresInMS = a.cfg.Auth.AccessTokenLifetime.Milliseconds()
	}
	if err := a.db.CreateLogin(ctx, l); err != nil {
		return nil, err
	}
	return resp, nil
}

func (a *API) refresh(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := a.readJSON(r, &req); err != nil {
		return err
	}
	if req.RefreshToken == "" {
		return matrix.MissingParam("refresh_token is required")
	}
	access := credentials.NewToken(accessTokenPrefix)
	refresh := credentials.NewToken(refreshTokenPrefix)
	expires := time.Now().Add(a.cfg.Auth.AccessTokenLifetime)
	_, _, err := a.db.Refresh(r.Context(), credentials.HashToken(req.RefreshToken), credentials.HashToken(access),
		expires.UnixMilli(), credentials.HashToken(refresh))
	if err == store.ErrNotFound {
		return matrix.Errorf(http.StatusUnauthorized, matrix.ErrUnknownToken, "Unknown refresh token").With("soft_logout", false)
	}
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{
		"access_token": access, "refresh_token": refresh, "expires_in_ms": a.cfg.Auth.AccessTokenLifetime.Milliseconds(),
	})
}

// logout deletes the caller's device with its tokens (spec: "The device
// associated with the access token is also deleted").
func (a *API) logout(w http.ResponseWriter, r *http.Request, s *Session) error {
	if err := a.db.DeleteDevices(r.Context(), s.UserID, []string{s.DeviceID}); err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, struct{}{})
}

func (a *API) logoutAll(w http.ResponseWriter, r *http.Request, s *Session) error {
	devices, err := a.db.Devices(r.Context(), s.UserID)
	if err != nil {
		return err
	}
	ids := make([]string, len(devices))
	for i, d := range devices {
		ids[i] = d.DeviceID
	}
	if err := a.db.DeleteDevices(r.Context(), s.UserID, ids); err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, struct{}{})
}

func (a *API) whoami(w http.ResponseWriter, r *http.Request, s *Session) error {
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"user_id": s.UserID, "device_id": s.DeviceID, "is_guest": false})
}
