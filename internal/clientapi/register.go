package clientapi

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"net/http"
	"strconv"
	"strings"

	"chappe.eu/chappe/internal/credentials"
	"chappe.eu/chappe/internal/httpapi"
	"chappe.eu/chappe/internal/matrix"
	"chappe.eu/chappe/internal/store"
)

type registerRequest struct {
	Auth                     *authDict `json:"auth"`
	Username                 string    `json:"username"`
	Password                 string    `json:"password"`
	DeviceID                 string    `json:"device_id"`
	InitialDeviceDisplayName *string   `json:"initial_device_display_name"`
	InhibitLogin             bool      `json:"inhibit_login"`
	RefreshToken             bool      `json:"refresh_token"`
}

// registrationFlows are the UIA flows of /register for the server's mode.
func (a *API) registrationFlows() [][]string {
	if a.cfg.Registration.Mode == "token" {
		return [][]string{{stageRegToken}}
	}
	return [][]string{{stageDummy}}
}

func (a *API) register(w http.ResponseWriter, r *http.Request) error {
	if kind := r.URL.Query().Get("kind"); kind == "guest" {
		return matrix.Errorf(http.StatusForbidden, matrix.ErrGuestAccessForbidden, "Guest access is disabled")
	} else if kind != "" && kind != "user" {
		return matrix.InvalidParam("kind must be user or guest")
	}
	if a.cfg.Registration.Mode == "closed" {
		return matrix.Forbidden("Registration is disabled")
	}
	if err := a.checkRateLimit(a.limits.register, r); err != nil {
		return err
	}
	var req registerRequest
	if err := a.readJSON(r, &req); err != nil {
		return err
	}
	if err := checkDeviceFields(req.DeviceID, req.InitialDeviceDisplayName); err != nil {
		return err
	}
	// The username and password are checked before authentication, as
	// Synapse does, so a client learns of a taken name before it spends a
	// registration token.
	userID := ""
	if req.Username != "" {
		var err error
		if userID, err = a.checkNewUsername(r.Context(), req.Username); err != nil {
			return err
		}
	}
	if err := a.checkNewPassword(req.Password); err != nil {
		return err
	}
	session, err := a.uia(r, req.Auth, uiaRequest{action: "register", flows: a.registrationFlows()})
	if err != nil {
		return err
	}
	if userID == "" {
		if userID, err = a.generateUserID(r.Context()); err != nil {
			return err
		}
	}
	if err := a.createAccount(r.Context(), userID, req.Password, false); err != nil {
		return err
	}
	// Only a completed registration uses up the IP's allowance.
	_ = a.rateLimit(a.limits.register, r, "")
	if session.Token != "" {
		if err := a.db.CompleteRegistrationToken(r.Context(), session.Token); err != nil {
			a.log.Error("counting registration token use", "err", err)
		}
	}
	a.log.Info("registered user", "user_id", userID)
	if req.InhibitLogin {
		return httpapi.WriteJSON(w, http.StatusOK, loginResponse{UserID: userID, HomeServer: a.cfg.ServerName})
	}
	resp, err := a.startSession(r.Context(), userID, req.DeviceID, req.InitialDeviceDisplayName, req.RefreshToken)
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, resp)
}

// checkNewUsername validates a requested localpart and that it is free.
func (a *API) checkNewUsername(ctx context.Context, username string) (string, error) {
	if len(username) > 255 {
		return "", matrix.Errorf(http.StatusBadRequest, matrix.ErrInvalidUsername, "Username is too long")
	}
	uid, err := matrix.NewUserID(username, matrix.ServerName(a.cfg.ServerName))
	if err != nil {
		return "", matrix.Errorf(http.StatusBadRequest, matrix.ErrInvalidUsername, "%s", err.Error())
	}
	// Synapse reserves all-digit localparts for generated IDs.
	if strings.Trim(username, "0123456789") == "" {
		return "", matrix.Errorf(http.StatusBadRequest, matrix.ErrInvalidUsername, "Numeric user IDs are reserved")
	}
	taken, err := a.db.AccountExists(ctx, string(uid))
	if err != nil {
		return "", err
	}
	if taken {
		return "", matrix.Errorf(http.StatusBadRequest, matrix.ErrUserInUse, "User ID already taken")
	}
	return string(uid), nil
}

func (a *API) checkNewPassword(password string) error {
	if password == "" {
		return nil // an account without a password; only tokens log it in
	}
	if len(password) < a.cfg.Auth.MinPasswordLength {
		return matrix.Errorf(http.StatusBadRequest, matrix.ErrWeakPassword,
			"Password must be at least %d characters", a.cfg.Auth.MinPasswordLength)
	}
	if len(password) > credentials.MaxPasswordBytes {
		return matrix.Errorf(http.StatusBadRequest, matrix.ErrWeakPassword, "Password is too long")
	}
	return nil
}

// generateUserID picks a free random numeric localpart.
func (a *API) generateUserID(ctx context.Context) (string, error) {
	for range 10 {
		var b [8]byte
		rand.Read(b[:])
		n := binary.BigEndian.Uint64(b[:]) % 1e10
		uid := "@" + strconv.FormatUint(n, 10) + ":" + a.cfg.ServerName
		taken, err := a.db.AccountExists(ctx, uid)
		if err != nil {
			return "", err
		}
		if !taken {
			return uid, nil
		}
	}
	return "", matrix.Errorf(http.StatusInternalServerError, matrix.ErrUnknown, "Could not generate a user ID")
}

// createAccount hashes the password and stores the account.
func (a *API) createAccount(ctx context.Context, userID, password string, admin bool) error {
	return CreateAccount(ctx, a.db, userID, password, admin)
}

// CreateAccount creates a local account; it is also what `chappe user add`
// calls. A taken user ID is M_USER_IN_USE.
func CreateAccount(ctx context.Context, db *store.DB, userID, password string, admin bool) error {
	hash := ""
	if password != "" {
		var err error
		if hash, err = credentials.HashPassword(password); err != nil {
			return matrix.Errorf(http.StatusBadRequest, matrix.ErrWeakPassword, "Password is too long")
		}
	}
	err := db.CreateAccount(ctx, store.Account{UserID: userID, PasswordHash: hash, IsAdmin: admin})
	if err == store.ErrConflict {
		return matrix.Errorf(http.StatusBadRequest, matrix.ErrUserInUse, "User ID already taken")
	}
	return err
}

func (a *API) registerAvailable(w http.ResponseWriter, r *http.Request) error {
	if a.cfg.Registration.Mode == "closed" {
		return matrix.Forbidden("Registration is disabled")
	}
	if err := a.rateLimit(a.limits.register, r, ""); err != nil {
		return err
	}
	username := r.URL.Query().Get("username")
	if username == "" {
		return matrix.MissingParam("username is required")
	}
	if _, err := a.checkNewUsername(r.Context(), username); err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]bool{"available": true})
}

func (a *API) registrationTokenValidity(w http.ResponseWriter, r *http.Request) error {
	if a.cfg.Registration.Mode != "token" {
		return matrix.Forbidden("Registration tokens are not in use")
	}
	if err := a.rateLimit(a.limits.register, r, ""); err != nil {
		return err
	}
	token := r.URL.Query().Get("token")
	if token == "" {
		return matrix.MissingParam("token is required")
	}
	valid := false
	if regTokenPattern.MatchString(token) { // no other token can exist
		t, err := a.db.RegistrationTokenByValue(r.Context(), token)
		if err != nil && err != store.ErrNotFound {
			return err
		}
		valid = err == nil && t.Valid(nowMS())
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]bool{"valid": valid})
}
