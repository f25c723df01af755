package clientapi

import (
	"net/http"
	"time"

	"chappe.eu/chappe/internal/credentials"
	"chappe.eu/chappe/internal/httpapi"
	"chappe.eu/chappe/internal/matrix"
)

func nowMS() int64 { return time.Now().UnixMilli() }

// passwordFlows: account changes need the user's current password.
var passwordFlows = [][]string{{stagePassword}}

func (a *API) changePassword(w http.ResponseWriter, r *http.Request) error {
	s, err := a.authenticate(r)
	if err != nil {
		return err
	}
	var req struct {
		Auth          *authDict `json:"auth"`
		NewPassword   string    `json:"new_password"`
		LogoutDevices *bool     `json:"logout_devices"`
	}
	if err := a.readJSON(r, &req); err != nil {
		return err
	}
	if req.NewPassword == "" {
		return matrix.MissingParam("new_password is required")
	}
	if err := a.checkNewPassword(req.NewPassword); err != nil {
		return err
	}
	if _, err := a.uia(r, req.Auth, uiaRequest{action: "password", userID: s.UserID, flows: passwordFlows}); err != nil {
		return err
	}
	hash, err := credentials.HashPassword(req.NewPassword)
	if err != nil {
		return err
	}
	var keep *string
	if req.LogoutDevices == nil || *req.LogoutDevices { // default true
		keep = &s.DeviceID
	}
	if err := a.db.SetPassword(r.Context(), s.UserID, hash, keep); err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, struct{}{})
}

func (a *API) deactivate(w http.ResponseWriter, r *http.Request) error {
	s, err := a.authenticate(r)
	if err != nil {
		return err
	}
	var req struct {
		Auth  *authDict `json:"auth"`
		Erase bool      `json:"erase"`
	}
	if err := a.readJSON(r, &req); err != nil {
		return err
	}
	if _, err := a.uia(r, req.Auth, uiaRequest{action: "deactivate", userID: s.UserID, flows: passwordFlows}); err != nil {
		return err
	}
	if err := a.db.Deactivate(r.Context(), s.UserID); err != nil {
		return err
	}
	a.log.Info("deactivated user", "user_id", s.UserID)
	// We never bound third-party identifiers to an identity server.
	return httpapi.WriteJSON(w, http.StatusOK, map[string]string{"id_server_unbind_result": "no-support"})
}
