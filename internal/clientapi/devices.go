package clientapi

import (
	"net/http"

	"chappe.eu/chappe/internal/httpapi"
	"chappe.eu/chappe/internal/matrix"
	"chappe.eu/chappe/internal/store"
)

type deviceJSON struct {
	DeviceID    string  `json:"device_id"`
	DisplayName *string `json:"display_name,omitempty"`
	LastSeenIP  string  `json:"last_seen_ip,omitempty"`
	LastSeenTS  int64   `json:"last_seen_ts,omitempty"`
}

func toDeviceJSON(d store.Device) deviceJSON {
	return deviceJSON{DeviceID: d.DeviceID, DisplayName: d.DisplayName, LastSeenIP: d.LastSeenIP, LastSeenTS: d.LastSeenTS}
}

func (a *API) listDevices(w http.ResponseWriter, r *http.Request, s *Session) error {
	ds, err := a.db.Devices(r.Context(), s.UserID)
	if err != nil {
		return err
	}
	out := make([]deviceJSON, len(ds))
	for i, d := range ds {
		out[i] = toDeviceJSON(d)
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"devices": out})
}

// pathDeviceID returns the {deviceId} path parameter; an absurd one is
// answered like an unknown device.
func pathDeviceID(r *http.Request) (string, error) {
	id := r.PathValue("deviceId")
	if id == "" || len(id) > maxDeviceIDLen || !storable(id) {
		return "", matrix.NotFound("Unknown device")
	}
	return id, nil
}

func (a *API) getDevice(w http.ResponseWriter, r *http.Request, s *Session) error {
	id, err := pathDeviceID(r)
	if err != nil {
		return err
	}
	d, err := a.db.Device(r.Context(), s.UserID, id)
	if err == store.ErrNotFound {
		return matrix.NotFound("Unknown device")
	}
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, toDeviceJSON(d))
}

func (a *API) putDevice(w http.ResponseWriter, r *http.Request, s *Session) error {
	id, err := pathDeviceID(r)
	if err != nil {
		return err
	}
	var req struct {
		DisplayName *string `json:"display_name"`
	}
	if err := a.readJSON(r, &req); err != nil {
		return err
	}
	if req.DisplayName == nil {
		// Nothing to change; the device must still exist.
		if _, err := a.db.Device(r.Context(), s.UserID, id); err == store.ErrNotFound {
			return matrix.NotFound("Unknown device")
		} else if err != nil {
			return err
		}
		return httpapi.WriteJSON(w, http.StatusOK, struct{}{})
	}
	if len(*req.DisplayName) > 1000 || !storable(*req.DisplayName) {
		return matrix.InvalidParam("display_name is too long or holds NUL")
	}
	err = a.db.SetDeviceDisplayName(r.Context(), s.UserID, id, *req.DisplayName)
	if err == store.ErrNotFound {
		return matrix.NotFound("Unknown device")
	}
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, struct{}{})
}

func (a *API) deleteDevice(w http.ResponseWriter, r *http.Request) error {
	s, err := a.authenticate(r)
	if err != nil {
		return err
	}
	// No 404 for an unknown device: the spec's 200 is "The device was
	// successfully removed, or had been removed previously", so a client
	// whose first DELETE succeeded but whose answer was lost can retry.
	// Synapse does the same. DeleteDevices ignores unknown IDs.
	id := r.PathValue("deviceId")
	var req withAuth
	if err := a.readJSON(r, &req); err != nil {
		return err
	}
	if _, err := a.uia(r, req.Auth, uiaRequest{action: "delete_devices", userID: s.UserID, flows: passwordFlows}); err != nil {
		return err
	}
	if err := a.db.DeleteDevices(r.Context(), s.UserID, storableIDs([]string{id})); err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, struct{}{})
}

// storableIDs drops the device IDs that cannot exist: unknown devices are
// ignored anyway, and these would make PostgreSQL fail the query.
func storableIDs(ids []string) []string {
	kept := make([]string, 0, len(ids))
	for _, id := range ids {
		if storable(id) {
			kept = append(kept, id)
		}
	}
	return kept
}

// maxDevicesPerRequest caps /delete_devices.
const maxDevicesPerRequest = 1000

func (a *API) deleteDevices(w http.ResponseWriter, r *http.Request) error {
	s, err := a.authenticate(r)
	if err != nil {
		return err
	}
	var req struct {
		Auth    *authDict `json:"auth"`
		Devices []string  `json:"devices"`
	}
	if err := a.readJSON(r, &req); err != nil {
		return err
	}
	if req.Devices == nil {
		return matrix.MissingParam("devices is required")
	}
	if len(req.Devices) > maxDevicesPerRequest {
		return matrix.InvalidParam("at most %d devices per request", maxDevicesPerRequest)
	}
	if _, err := a.uia(r, req.Auth, uiaRequest{action: "delete_devices", userID: s.UserID, flows: passwordFlows}); err != nil {
		return err
	}
	if err := a.db.DeleteDevices(r.Context(), s.UserID, storableIDs(req.Devices)); err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, struct{}{})
}
