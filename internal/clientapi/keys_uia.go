package clientapi

import (
	"bytes"
	"encoding/json"
	"net/http"

	"chappe.eu/chappe/internal/matrix"
)

// PasswordUIA runs user-interactive authentication with the user's
// password for an action of an API served beside this one (uploading
// cross-signing keys, in internal/e2ee). auth is the request's "auth"
// object, or nil. It returns nil once the flow is complete, else the error
// to return: the 401 challenge or a stage's failure.
func (a *API) PasswordUIA(r *http.Request, auth json.RawMessage, action, userID string) error {
	var ad *authDict
	if raw := bytes.TrimSpace(auth); len(raw) > 0 && string(raw) != "null" {
		ad = &authDict{}
		if err := json.Unmarshal(raw, ad); err != nil {
			return matrix.BadJSON("auth must be an authentication object")
		}
	}
	_, err := a.uia(r, ad, uiaRequest{action: action, userID: userID, flows: passwordFlows})
	return err
}
