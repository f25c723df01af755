package clientapi

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"regexp"

	"chappe.eu/chappe/internal/credentials"
	"chappe.eu/chappe/internal/httpapi"
	"chappe.eu/chappe/internal/matrix"
	"chappe.eu/chappe/internal/store"
)

// Synapse-compatible admin endpoints that operators' tools rely on:
// shared-secret registration (register_new_matrix_user) and registration
// tokens. Request and response shapes follow Synapse's admin API.

const nonceMaxAgeMS = 60 * 1000 // Synapse keeps nonces for 60 s

func (a *API) sharedSecretNonce(w http.ResponseWriter, r *http.Request) error {
	if a.cfg.Registration.SharedSecret == "" {
		return matrix.Errorf(http.StatusBadRequest, matrix.ErrUnknown, "Shared secret registration is not enabled")
	}
	if err := a.rateLimit(a.limits.register, r, ""); err != nil {
		return err
	}
	nonce := credentials.NewSessionID()
	if err := a.db.AddNonce(r.Context(), nonce); err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]string{"nonce": nonce})
}

func (a *API) sharedSecretRegister(w http.ResponseWriter, r *http.Request) error {
	if a.cfg.Registration.SharedSecret == "" {
		return matrix.Errorf(http.StatusBadRequest, matrix.ErrUnknown, "Shared secret registration is not enabled")
	}
	if err := a.rateLimit(a.limits.register, r, ""); err != nil {
		return err
	}
	var req struct {
		Nonce       string  `json:"nonce"`
		Username    string  `json:"username"`
		Password    string  `json:"password"`
		Admin       bool    `json:"admin"`
		UserType    *string `json:"user_type"`
		Displayname *string `json:"displayname"`
		MAC         string  `json:"mac"`
	}
	if err := a.readJSON(r, &req); err != nil {
		return err
	}
	if req.Nonce == "" || req.Username == "" || req.MAC == "" {
		return matrix.MissingParam("nonce, username and mac are required")
	}
	// The nonce is spent before the MAC is checked, as Synapse does, so
	// that each nonce buys a single guess.
	ok := false
	if storable(req.Nonce) {
		var err error
		if ok, err = a.db.UseNonce(r.Context(), req.Nonce, nonceMaxAgeMS); err != nil {
			return err
		}
	}
	if !ok {
		return matrix.Errorf(http.StatusBadRequest, matrix.ErrUnknown, "Unrecognised nonce")
	}
	// The MAC covers nonce, username, password, admin flag and user type,
	// NUL-separated, with HMAC-SHA1 keyed by the shared secret.
	mac := hmac.New(sha1.New, []byte(a.cfg.Registration.SharedSecret))
	mac.Write([]byte(req.Nonce + "\x00" + req.Username + "\x00" + req.Password + "\x00"))
	if req.Admin {
		mac.Write([]byte("admin"))
	} else {
		mac.Write([]byte("notadmin"))
	}
	if req.UserType != nil && *req.UserType != "" { // Synapse: only a non-empty user_type
		mac.Write([]byte("\x00" + *req.UserType))
	}
	given, err := hex.DecodeString(req.MAC)
	if err != nil || !hmac.Equal(given, mac.Sum(nil)) {
		return matrix.Forbidden("HMAC incorrect")
	}
	userID, err := a.checkNewUsername(r.Context(), req.Username)
	if err != nil {
		return err
	}
	if err := a.checkNewPassword(req.Password); err != nil {
		return err
	}
	if err := a.createAccount(r.Context(), userID, req.Password, req.Admin); err != nil {
		return err
	}
	if req.Displayname != nil && len(*req.Displayname) <= maxDisplayName {
		v, _ := json.Marshal(*req.Displayname)
		if _, err := a.db.SetProfileField(r.Context(), userID, "displayname", v, maxProfileBytes); err != nil {
			return err
		}
	}
	a.log.Info("registered user with the shared secret", "user_id", userID, "admin", req.Admin)
	resp, err := a.startSession(r.Context(), userID, "", nil, false)
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, resp)
}

// Registration tokens: Synapse's grammar, [A-Za-z0-9._~-]{1,64}.
var regTokenPattern = regexp.MustCompile(`^[A-Za-z0-9._~-]{1,64}$`)

func (a *API) listRegistrationTokens(w http.ResponseWriter, r *http.Request, s *Session) error {
	ts, err := a.db.RegistrationTokens(r.Context())
	if err != nil {
		return err
	}
	if v := r.URL.Query().Get("valid"); v == "true" || v == "false" {
		now, want := nowMS(), v == "true"
		kept := ts[:0]
		for _, t := range ts {
			if t.Valid(now) == want {
				kept = append(kept, t)
			}
		}
		ts = kept
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"registration_tokens": ts})
}

func (a *API) newRegistrationToken(w http.ResponseWriter, r *http.Request, s *Session) error {
	var req struct {
		Token       *string `json:"token"`
		UsesAllowed *int64  `json:"uses_allowed"`
		ExpiryTime  *int64  `json:"expiry_time"`
		Length      *int    `json:"length"`
	}
	if err := a.readJSON(r, &req); err != nil {
		return err
	}
	t := store.RegistrationToken{UsesAllowed: req.UsesAllowed, ExpiryTime: req.ExpiryTime}
	if err := checkTokenLimits(t, nowMS()); err != nil {
		return err
	}
	if req.Token != nil {
		if !regTokenPattern.MatchString(*req.Token) {
			return matrix.InvalidParam("token must be 1-64 characters of A-Z, a-z, 0-9, ., _, ~ and -")
		}
		t.Token = *req.Token
	} else {
		n := 16
		if req.Length != nil {
			if *req.Length < 1 || *req.Length > 64 {
				return matrix.InvalidParam("length must be between 1 and 64")
			}
			n = *req.Length
		}
		t.Token = credentials.NewSessionID()
		for len(t.Token) < n {
			t.Token += credentials.NewSessionID()
		}
		t.Token = t.Token[:n]
	}
	err := a.db.CreateRegistrationToken(r.Context(), t)
	if err == store.ErrConflict {
		return matrix.InvalidParam("Token already exists")
	}
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, t)
}

func checkTokenLimits(t store.RegistrationToken, now int64) error {
	if t.UsesAllowed != nil && *t.UsesAllowed < 0 {
		return matrix.InvalidParam("uses_allowed must be a non-negative integer or null")
	}
	if t.ExpiryTime != nil && *t.ExpiryTime < now {
		return matrix.InvalidParam("expiry_time must not be in the past")
	}
	return nil
}

func (a *API) pathRegToken(r *http.Request) (store.RegistrationToken, error) {
	token := r.PathValue("token")
	if !regTokenPattern.MatchString(token) {
		return store.RegistrationToken{}, matrix.NotFound("No such registration token")
	}
	t, err := a.db.RegistrationTokenByValue(r.Context(), token)
	if err == store.ErrNotFound {
		return t, matrix.NotFound("No such registration token")
	}
	return t, err
}

func (a *API) getRegistrationToken(w http.ResponseWriter, r *http.Request, s *Session) error {
	t, err := a.pathRegToken(r)
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, t)
}

func (a *API) updateRegistrationToken(w http.ResponseWriter, r *http.Request, s *Session) error {
	t, err := a.pathRegToken(r)
	if err != nil {
		return err
	}
	// Absent keys stay as they are; null means unlimited.
	var req map[string]json.RawMessage
	if err := a.readJSON(r, &req); err != nil {
		return err
	}
	for key, dst := range map[string]**int64{"uses_allowed": &t.UsesAllowed, "expiry_time": &t.ExpiryTime} {
		raw, ok := req[key]
		if !ok {
			continue
		}
		var v *int64
		if err := json.Unmarshal(raw, &v); err != nil {
			return matrix.BadJSON("%s must be an integer or null", key)
		}
		*dst = v
	}
	if err := checkTokenLimits(t, nowMS()); err != nil {
		return err
	}
	if err := a.db.UpdateRegistrationToken(r.Context(), t); err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, t)
}

func (a *API) deleteRegistrationToken(w http.ResponseWriter, r *http.Request, s *Session) error {
	t, err := a.pathRegToken(r)
	if err != nil {
		return err
	}
	if err := a.db.DeleteRegistrationToken(r.Context(), t.Token); err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, struct{}{})
}
