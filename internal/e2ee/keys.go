package e2ee

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"chappe.eu/chappe/internal/clientapi"
	"chappe.eu/chappe/internal/httpapi"
	"chappe.eu/chappe/internal/matrix"
	"chappe.eu/chappe/internal/room/canonicaljson"
	"chappe.eu/chappe/internal/rooms"
	"chappe.eu/chappe/internal/store"
)

// Device, one-time and fallback keys (spec: "Key management API").

// maxKeyRequests caps the (user, device) pairs of one /keys/query or
// /keys/claim: a room of several thousand devices fits, a request that
// would make the server do unbounded work does not.
const maxKeyRequests = 10_000

// uploadKeys is POST /keys/upload.
func (a *API) uploadKeys(w http.ResponseWriter, r *http.Request, s *clientapi.Session) error {
	var req keysUpload
	if err := a.readJSON(r, &req); err != nil {
		return err
	}
	ctx := r.Context()
	var known []byte
	if len(req.OneTimeKeys) > 0 || len(req.FallbackKeys) > 0 {
		var err error
		if known, err = a.db.DeviceKeysOf(ctx, s.UserID, s.DeviceID); err != nil && err != store.ErrNotFound {
			return err
		}
	}
	up, err := req.check(s.UserID, s.DeviceID, storedEd25519(known, s.DeviceID))
	if err != nil {
		return err
	}
	if up.DeviceKeys != nil || len(up.OneTimeKeys) > 0 || len(up.FallbackKeys) > 0 {
		pos, err := a.db.UploadKeys(ctx, up)
		if err != nil {
			return uploadError(err)
		}
		if pos > 0 {
			a.deviceListChanged(ctx, s.UserID, "", pos)
		}
	}
	counts, err := a.oneTimeKeyCounts(r, s.UserID, s.DeviceID)
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"one_time_key_counts": counts})
}

// oneTimeKeyCounts always lists signed_curve25519, as Synapse does: some
// clients read a missing count as "the server does not support it".
func (a *API) oneTimeKeyCounts(r *http.Request, userID, deviceID string) (map[string]int, error) {
	counts, err := a.db.OneTimeKeyCounts(r.Context(), userID, deviceID)
	if err != nil {
		return nil, err
	}
	if _, ok := counts["signed_curve25519"]; !ok {
		counts["signed_curve25519"] = 0
	}
	return counts, nil
}

// unreachable is the failure reported for users of other servers until
// federation comes.
func unreachable() map[string]any {
	return map[string]any{"status": http.StatusServiceUnavailable, "message": "Federation is not available on this server"}
}

// queryKeys is POST /keys/query.
func (a *API) queryKeys(w http.ResponseWriter, r *http.Request, s *clientapi.Session) error {
	var req struct {
		DeviceKeys map[string][]string `json:"device_keys"`
	}
	if err := a.readJSON(r, &req); err != nil {
		return err
	}
	if req.DeviceKeys == nil {
		return matrix.MissingParam("device_keys is required")
	}
	n := 0
	for _, ds := range req.DeviceKeys {
		n += max(1, len(ds))
	}
	if n > maxKeyRequests {
		return matrix.InvalidParam("At most %d devices per request", maxKeyRequests)
	}
	failures := map[string]any{}
	var users []string
	for u := range req.DeviceKeys {
		uid, local, err := a.localUser(u)
		if err != nil {
			return err
		}
		if !local {
			failures[string(uid.Server())] = unreachable()
			continue
		}
		users = append(users, u)
	}
	slices.Sort(users)
	resp, err := a.keysOf(r, s.UserID, users, req.DeviceKeys)
	if err != nil {
		return err
	}
	resp["failures"] = failures
	return httpapi.WriteJSON(w, http.StatusOK, resp)
}

// keysOf assembles /keys/query's answer for local users: their device
// keys (all devices, or those asked for) with the display name in
// unsigned, and their cross-signing keys; each key with the uploaded
// signatures the viewer may see.
func (a *API) keysOf(r *http.Request, viewer string, users []string, wanted map[string][]string) (map[string]any, error) {
	ctx := r.Context()
	devs, err := a.db.DevicesKeys(ctx, users)
	if err != nil {
		return nil, err
	}
	sigs, err := a.db.Signatures(ctx, users)
	if err != nil {
		return nil, err
	}
	cross, err := a.db.CrossSigningKeys(ctx, users)
	if err != nil {
		return nil, err
	}
	// Signatures by the key's owner are for everyone; those of other users
	// (a user-signing key's signature of someone's master key) only for
	// their signer.
	extra := map[[2]string][]store.Signature{}
	for _, sg := range sigs {
		if sg.SignerUser == sg.TargetUser || sg.SignerUser == viewer {
			k := [2]string{sg.TargetUser, sg.TargetKey}
			extra[k] = append(extra[k], sg)
		}
	}
	withSigs := func(obj []byte, user, key string) json.RawMessage {
		for _, sg := range extra[[2]string{user, key}] {
			obj = addSignature(obj, sg.SignerUser, sg.SignerKey, sg.Signature)
		}
		return obj
	}

	deviceKeys := make(map[string]map[string]json.RawMessage, len(users))
	for _, u := range users {
		deviceKeys[u] = map[string]json.RawMessage{}
	}
	for _, d := range devs {
		if want := wanted[d.UserID]; len(want) > 0 && !slices.Contains(want, d.DeviceID) {
			continue
		}
		obj := withSigs(d.JSON, d.UserID, d.DeviceID)
		if d.DisplayName != nil {
			obj = canonicaljson.Set(obj, "unsigned",
				canonicaljson.Set(nil, "device_display_name", canonicaljson.AppendString(nil, *d.DisplayName)))
		}
		deviceKeys[d.UserID][d.DeviceID] = obj
	}
	master, selfSigning, userSigning := map[string]json.RawMessage{}, map[string]json.RawMessage{}, map[string]json.RawMessage{}
	for u, keys := range cross {
		if k, ok := keys["master"]; ok {
			master[u] = withSigs(k.JSON, u, k.PublicKey)
		}
		if k, ok := keys["self_signing"]; ok {
			selfSigning[u] = withSigs(k.JSON, u, k.PublicKey)
		}
		if k, ok := keys["user_signing"]; ok && u == viewer {
			userSigning[u] = withSigs(k.JSON, u, k.PublicKey)
		}
	}
	return map[string]any{
		"device_keys": deviceKeys, "master_keys": master,
		"self_signing_keys": selfSigning, "user_signing_keys": userSigning,
	}, nil
}

// claimKeys is POST /keys/claim.
func (a *API) claimKeys(w http.ResponseWriter, r *http.Request, s *clientapi.Session) error {
	var req struct {
		OneTimeKeys map[string]map[string]string `json:"one_time_keys"`
	}
	if err := a.readJSON(r, &req); err != nil {
		return err
	}
	if req.OneTimeKeys == nil {
		return matrix.MissingParam("one_time_keys is required")
	}
	failures := map[string]any{}
	var claims []store.KeyClaim
	for u, devices := range req.OneTimeKeys {
		uid, local, err := a.localUser(u)
		if err != nil {
			return err
		}
		if !local {
			failures[string(uid.Server())] = unreachable()
			continue
		}
		for d, alg := range devices {
			if !storableID(d) || !storableID(alg) {
				continue // names no device or algorithm that can exist
			}
			claims = append(claims, store.KeyClaim{UserID: u, DeviceID: d, Algorithm: alg})
		}
		if len(claims) > maxKeyRequests {
			return matrix.InvalidParam("At most %d devices per request", maxKeyRequests)
		}
	}
	claimed, err := a.db.ClaimKeys(r.Context(), claims)
	if err != nil {
		return err
	}
	out := map[string]map[string]map[string]json.RawMessage{}
	for _, k := range claimed {
		if out[k.UserID] == nil {
			out[k.UserID] = map[string]map[string]json.RawMessage{}
		}
		out[k.UserID][k.DeviceID] = map[string]json.RawMessage{k.Algorithm + ":" + k.KeyID: k.JSON}
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"one_time_keys": out, "failures": failures})
}

// keyChanges is GET /keys/changes.
func (a *API) keyChanges(w http.ResponseWriter, r *http.Request, s *clientapi.Session) error {
	q := r.URL.Query()
	if q.Get("from") == "" {
		return matrix.MissingParam("from is required")
	}
	from, err := rooms.ParseStreamToken(q.Get("from"))
	if err != nil {
		return err
	}
	ctx := r.Context()
	now, err := a.db.StreamPos(ctx)
	if err != nil {
		return err
	}
	to := now
	if t := q.Get("to"); t != "" {
		// The spec calls to a hint; a token from the future reads as now.
		if to, err = rooms.ParseStreamToken(t); err != nil {
			return err
		}
		to = min(to, now)
	}
	changed, left, err := a.db.DeviceListChanges(ctx, s.UserID, from, to)
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string][]string{"changed": nonNil(changed), "left": nonNil(left)})
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// splitKeyName splits "<algorithm>:<name>".
func splitKeyName(s string) (alg, name string, ok bool) {
	alg, name, ok = strings.Cut(s, ":")
	return alg, name, ok && alg != "" && name != ""
}
