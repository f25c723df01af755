package e2ee

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"chappe.eu/chappe/internal/clientapi"
	"chappe.eu/chappe/internal/httpapi"
	"chappe.eu/chappe/internal/matrix"
	"chappe.eu/chappe/internal/store"
)

// Dehydrated devices (MSC3814, unstable prefix org.matrix.msc3814.v1): a
// device whose private keys the client keeps encrypted in secret storage
// and whose public keys are uploaded with it, so that other devices send
// it room keys while every real device of the user is offline; a later
// login rehydrates it and reads its to-device messages.

// dehydratedEventsLimit is how many messages one events call returns.
const dehydratedEventsLimit = 100

// putDehydratedDevice is PUT /dehydrated_device.
func (a *API) putDehydratedDevice(w http.ResponseWriter, r *http.Request, s *clientapi.Session) error {
	var req struct {
		DeviceID    string          `json:"device_id"`
		DeviceData  json.RawMessage `json:"device_data"`
		DisplayName *string         `json:"initial_device_display_name"`
		keysUpload
	}
	if err := a.readJSON(r, &req); err != nil {
		return err
	}
	if req.DeviceID == "" || req.DeviceData == nil || req.DeviceKeys == nil {
		return matrix.MissingParam("device_id, device_data and device_keys are required")
	}
	if !storableID(req.DeviceID) {
		return matrix.InvalidParam("Invalid device_id")
	}
	if n := req.DisplayName; n != nil && (len(*n) > 1000 || !utf8.ValidString(*n) || strings.IndexByte(*n, 0) >= 0) {
		return matrix.InvalidParam("Invalid initial_device_display_name")
	}
	data, err := canonicalObject(req.DeviceData, "device_data")
	if err != nil {
		return err
	}
	up, err := req.keysUpload.check(s.UserID, req.DeviceID, nil)
	if err != nil {
		return err
	}
	ctx := r.Context()
	pos, err := a.db.PutDehydratedDevice(ctx, s.UserID, store.DehydratedDevice{DeviceID: req.DeviceID, DeviceData: data}, req.DisplayName, up)
	if err == store.ErrDeviceInUse {
		return matrix.InvalidParam("device_id is the ID of one of your devices")
	}
	if err != nil {
		return uploadError(err)
	}
	a.deviceListChanged(ctx, s.UserID, "", pos)
	return httpapi.WriteJSON(w, http.StatusOK, map[string]string{"device_id": req.DeviceID})
}

// getDehydratedDevice is GET /dehydrated_device.
func (a *API) getDehydratedDevice(w http.ResponseWriter, r *http.Request, s *clientapi.Session) error {
	d, err := a.db.DehydratedDevice(r.Context(), s.UserID)
	if err == store.ErrNotFound {
		return matrix.NotFound("No dehydrated device")
	}
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"device_id": d.DeviceID, "device_data": json.RawMessage(d.DeviceData)})
}

// deleteDehydratedDevice is DELETE /dehydrated_device.
func (a *API) deleteDehydratedDevice(w http.ResponseWriter, r *http.Request, s *clientapi.Session) error {
	id, err := a.db.DeleteDehydratedDevice(r.Context(), s.UserID)
	if err == store.ErrNotFound {
		return matrix.NotFound("No dehydrated device")
	}
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]string{"device_id": id})
}

// dehydratedDeviceEvents is POST /dehydrated_device/{deviceId}/events: the
// device's to-device messages in batches. As the MSC asks, a batch is not
// deleted when the next is fetched, so that an interrupted rehydration
// can start over; the messages go with the device when it is replaced or
// deleted.
func (a *API) dehydratedDeviceEvents(w http.ResponseWriter, r *http.Request, s *clientapi.Session) error {
	var req struct {
		NextBatch string `json:"next_batch"`
	}
	if err := a.readJSON(r, &req); err != nil {
		return err
	}
	ctx := r.Context()
	d, err := a.db.DehydratedDevice(ctx, s.UserID)
	if err != nil && err != store.ErrNotFound {
		return err
	}
	if err == store.ErrNotFound || d.DeviceID != r.PathValue("deviceId") {
		return matrix.Forbidden("Not your dehydrated device")
	}
	var after int64
	if req.NextBatch != "" {
		if after, err = strconv.ParseInt(req.NextBatch, 10, 64); err != nil || after < 0 {
			return matrix.InvalidParam("Invalid next_batch")
		}
	}
	upto, err := a.db.StreamPos(ctx)
	if err != nil {
		return err
	}
	msgs, _, err := a.db.ToDeviceMessages(ctx, s.UserID, d.DeviceID, after, upto, dehydratedEventsLimit)
	if err != nil {
		return err
	}
	events := make([]toDeviceEvent, len(msgs))
	for i, m := range msgs {
		events[i] = toDeviceEvent{Sender: m.Sender, Type: m.Type, Content: m.Content}
		after = m.Pos
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"events": events, "next_batch": strconv.FormatInt(after, 10)})
}

// toDeviceEvent is a to-device message as clients receive it.
type toDeviceEvent struct {
	Sender  string          `json:"sender"`
	Type    string          `json:"type"`
	Content json.RawMessage `json:"content"`
}
