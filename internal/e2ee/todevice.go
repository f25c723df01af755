package e2ee

import (
	"encoding/json"
	"errors"
	"net/http"

	"chappe.eu/chappe/internal/clientapi"
	"chappe.eu/chappe/internal/httpapi"
	"chappe.eu/chappe/internal/matrix"
	"chappe.eu/chappe/internal/store"
)

// Send-to-device messaging (spec: "Send-to-Device messaging"). Messages
// wait in the database until the device's next /sync token acknowledges
// them, so a restart loses none; /sync delivers them (syncapi/todevice.go).

// maxToDeviceRecipients caps the devices one request reaches, after "*"
// is expanded: a room of a few thousand devices fits.
const maxToDeviceRecipients = 10_000

// sendToDevice is PUT /sendToDevice/{eventType}/{txnId}.
func (a *API) sendToDevice(w http.ResponseWriter, r *http.Request, s *clientapi.Session) error {
	typ, txnID := r.PathValue("eventType"), r.PathValue("txnId")
	if !storableID(typ) {
		return matrix.InvalidParam("Invalid event type")
	}
	if !storableID(txnID) {
		return matrix.InvalidParam("Invalid transaction ID")
	}
	var req struct {
		Messages map[string]map[string]json.RawMessage `json:"messages"`
	}
	if err := a.readJSON(r, &req); err != nil {
		return err
	}
	if req.Messages == nil {
		return matrix.MissingParam("messages is required")
	}
	var targets []store.ToDeviceTarget
	for u, devices := range req.Messages {
		_, local, err := a.localUser(u)
		if err != nil {
			return err
		}
		if !local {
			// NOTSPEC: messages to other servers need federation; they are
			// dropped rather than refused, so that a client's messages to
			// local users still go out.
			continue
		}
		for d, content := range devices {
			c, err := canonicalObject(content, "A message")
			if err != nil {
				return err
			}
			if d != "*" && !storableID(d) {
				continue // no such device can exist
			}
			targets = append(targets, store.ToDeviceTarget{UserID: u, DeviceID: d, Content: c})
			if len(targets) > maxToDeviceRecipients {
				return tooManyRecipients()
			}
		}
	}
	ctx := r.Context()
	pos, recipients, sent, err := a.db.SendToDevice(ctx, s.UserID, s.DeviceID, txnID, typ, targets, maxToDeviceRecipients)
	if errors.Is(err, store.ErrTooManyRecipients) {
		return tooManyRecipients()
	}
	if err != nil {
		return err
	}
	if sent {
		for _, u := range recipients {
			a.notify.NotifyUser(pos, u)
		}
	}
	return httpapi.WriteJSON(w, http.StatusOK, struct{}{})
}

func tooManyRecipients() error {
	return matrix.Errorf(http.StatusRequestEntityTooLarge, matrix.ErrTooLarge, "A to-device request may reach at most %d devices", maxToDeviceRecipients)
}
