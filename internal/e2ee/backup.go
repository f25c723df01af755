package e2ee

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"chappe.eu/chappe/internal/clientapi"
	"chappe.eu/chappe/internal/httpapi"
	"chappe.eu/chappe/internal/matrix"
	"chappe.eu/chappe/internal/store"
)

// Server-side key backups (spec: "Server-side key backups"). The server
// keeps the encrypted room keys and the backup's public auth_data; it
// cannot read either, but chooses between two copies of a session's key
// by their plaintext metadata, as the spec says.

// backupVersionJSON is GET /room_keys/version's answer.
type backupVersionJSON struct {
	Algorithm string          `json:"algorithm"`
	AuthData  json.RawMessage `json:"auth_data"`
	Count     int64           `json:"count"`
	ETag      string          `json:"etag"`
	Version   string          `json:"version"`
}

// parseVersion reads a version string; a string no version can have reads
// as -1, which names no version.
func parseVersion(s string) int64 {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v <= 0 || strconv.FormatInt(v, 10) != s {
		return -1
	}
	return v
}

func (a *API) createBackupVersion(w http.ResponseWriter, r *http.Request, s *clientapi.Session) error {
	var req struct {
		Algorithm string          `json:"algorithm"`
		AuthData  json.RawMessage `json:"auth_data"`
	}
	if err := a.readJSON(r, &req); err != nil {
		return err
	}
	if req.Algorithm == "" || req.AuthData == nil {
		return matrix.MissingParam("algorithm and auth_data are required")
	}
	if !storableID(req.Algorithm) {
		return matrix.InvalidParam("Invalid algorithm")
	}
	auth, err := canonicalObject(req.AuthData, "auth_data")
	if err != nil {
		return err
	}
	v, err := a.db.CreateBackupVersion(r.Context(), s.UserID, req.Algorithm, auth)
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]string{"version": strconv.FormatInt(v, 10)})
}

// getBackupVersion is GET /room_keys/version and /room_keys/version/{version}.
func (a *API) getBackupVersion(w http.ResponseWriter, r *http.Request, s *clientapi.Session) error {
	version, notFound := int64(0), matrix.NotFound("No current backup version")
	if p := r.PathValue("version"); p != "" {
		version, notFound = parseVersion(p), matrix.NotFound("Unknown backup version")
	}
	if version < 0 {
		return notFound
	}
	v, err := a.db.Backup(r.Context(), s.UserID, version)
	if err == store.ErrNotFound {
		return notFound
	}
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, backupVersionJSON{
		Algorithm: v.Algorithm, AuthData: v.AuthData, Count: v.Count,
		ETag: strconv.FormatInt(v.ETag, 10), Version: strconv.FormatInt(v.Version, 10),
	})
}

// updateBackupVersion is PUT /room_keys/version/{version}: only auth_data
// may change.
func (a *API) updateBackupVersion(w http.ResponseWriter, r *http.Request, s *clientapi.Session) error {
	var req struct {
		Algorithm string          `json:"algorithm"`
		AuthData  json.RawMessage `json:"auth_data"`
		Version   *string         `json:"version"`
	}
	if err := a.readJSON(r, &req); err != nil {
		return err
	}
	path := r.PathValue("version")
	if req.Version != nil && *req.Version != path {
		return matrix.InvalidParam("The version in the body does not match the path")
	}
	if req.Algorithm == "" || req.AuthData == nil {
		return matrix.MissingParam("algorithm and auth_data are required")
	}
	auth, err := canonicalObject(req.AuthData, "auth_data")
	if err != nil {
		return err
	}
	version := parseVersion(path)
	notFound := matrix.NotFound("Unknown backup version")
	if version < 0 {
		return notFound
	}
	ctx := r.Context()
	v, err := a.db.Backup(ctx, s.UserID, version)
	if err == store.ErrNotFound {
		return notFound
	}
	if err != nil {
		return err
	}
	if v.Algorithm != req.Algorithm {
		return matrix.InvalidParam("Algorithm does not match")
	}
	if err := a.db.UpdateBackupVersion(ctx, s.UserID, version, auth); err == store.ErrNotFound {
		return notFound
	} else if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, struct{}{})
}

func (a *API) deleteBackupVersion(w http.ResponseWriter, r *http.Request, s *clientapi.Session) error {
	version := parseVersion(r.PathValue("version"))
	notFound := matrix.NotFound("Unknown backup version")
	if version < 0 {
		return notFound
	}
	if err := a.db.DeleteBackupVersion(r.Context(), s.UserID, version); err == store.ErrNotFound {
		return notFound
	} else if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, struct{}{})
}

// keyBackupData is one session's backed-up key.
type keyBackupData struct {
	FirstMessageIndex *int64          `json:"first_message_index"`
	ForwardedCount    *int64          `json:"forwarded_count"`
	IsVerified        *bool           `json:"is_verified"`
	SessionData       json.RawMessage `json:"session_data"`
}

func (k *keyBackupData) toStore(roomID, sessionID string) (store.BackupKey, error) {
	if k.FirstMessageIndex == nil || k.ForwardedCount == nil || k.IsVerified == nil || k.SessionData == nil {
		return store.BackupKey{}, matrix.MissingParam("A key needs first_message_index, forwarded_count, is_verified and session_data")
	}
	if *k.FirstMessageIndex < 0 || *k.ForwardedCount < 0 {
		return store.BackupKey{}, matrix.InvalidParam("first_message_index and forwarded_count cannot be negative")
	}
	if !storableID(roomID) || !storableID(sessionID) {
		return store.BackupKey{}, matrix.InvalidParam("Invalid room or session ID")
	}
	data, err := canonicalObject(k.SessionData, "session_data")
	if err != nil {
		return store.BackupKey{}, err
	}
	return store.BackupKey{RoomID: roomID, SessionID: sessionID, FirstMessageIndex: *k.FirstMessageIndex,
		ForwardedCount: *k.ForwardedCount, IsVerified: *k.IsVerified, SessionData: data}, nil
}

func fromStore(k store.BackupKey) map[string]any {
	return map[string]any{"first_message_index": k.FirstMessageIndex, "forwarded_count": k.ForwardedCount,
		"is_verified": k.IsVerified, "session_data": json.RawMessage(k.SessionData)}
}

type sessionsJSON struct {
	Sessions map[string]*keyBackupData `json:"sessions"`
}

// backupPath reads the version query parameter and the room and session
// of the path ("" when not given).
func backupPath(r *http.Request) (version int64, roomID, sessionID string, err error) {
	v := r.URL.Query().Get("version")
	if v == "" {
		return 0, "", "", matrix.MissingParam("version is required")
	}
	return parseVersion(v), r.PathValue("roomId"), r.PathValue("sessionId"), nil
}

// putBackupKeys is PUT /room_keys/keys[/{roomId}[/{sessionId}]].
func (a *API) putBackupKeys(w http.ResponseWriter, r *http.Request, s *clientapi.Session) error {
	version, roomID, sessionID, err := backupPath(r)
	if err != nil {
		return err
	}
	var keys []store.BackupKey
	add := func(room string, sessions map[string]*keyBackupData) error {
		for sid, k := range sessions {
			if k == nil {
				return matrix.BadJSON("A key must be an object")
			}
			bk, err := k.toStore(room, sid)
			if err != nil {
				return err
			}
			keys = append(keys, bk)
		}
		return nil
	}
	switch {
	case sessionID != "":
		var k keyBackupData
		if err := a.readJSON(r, &k); err != nil {
			return err
		}
		err = add(roomID, map[string]*keyBackupData{sessionID: &k})
	case roomID != "":
		var body sessionsJSON
		if err := a.readJSON(r, &body); err != nil {
			return err
		}
		err = add(roomID, body.Sessions)
	default:
		var body struct {
			Rooms map[string]*sessionsJSON `json:"rooms"`
		}
		if err := a.readJSON(r, &body); err != nil {
			return err
		}
		for room, ss := range body.Rooms {
			if ss == nil {
				return matrix.BadJSON("A room's keys must be an object")
			}
			if err = add(room, ss.Sessions); err != nil {
				break
			}
		}
	}
	if err != nil {
		return err
	}
	etag, count, err := a.db.PutBackupKeys(r.Context(), s.UserID, version, keys)
	if w, ok := store.IsWrongVersion(err); ok {
		return matrix.Errorf(http.StatusForbidden, ErrWrongRoomKeysVersion, "Wrong backup version").
			With("current_version", strconv.FormatInt(w.Current, 10))
	}
	if errors.Is(err, store.ErrNotFound) {
		return matrix.NotFound("Unknown backup version")
	}
	if err != nil {
		return err
	}
	return writeETag(w, etag, count)
}

func writeETag(w http.ResponseWriter, etag, count int64) error {
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"etag": strconv.FormatInt(etag, 10), "count": count})
}

// getBackupKeys is GET /room_keys/keys[/{roomId}[/{sessionId}]]. A room
// without keys answers with no sessions and a missing session with
// M_NOT_FOUND, as Synapse does.
func (a *API) getBackupKeys(w http.ResponseWriter, r *http.Request, s *clientapi.Session) error {
	version, roomID, sessionID, err := backupPath(r)
	if err != nil {
		return err
	}
	notFound := matrix.NotFound("Unknown backup version")
	if version < 0 {
		return notFound
	}
	keys, err := a.db.BackupKeys(r.Context(), s.UserID, version, roomID, sessionID)
	if err == store.ErrNotFound {
		return notFound
	}
	if err != nil {
		return err
	}
	switch {
	case sessionID != "":
		if len(keys) == 0 {
			return matrix.NotFound("Key not found")
		}
		return httpapi.WriteJSON(w, http.StatusOK, fromStore(keys[0]))
	case roomID != "":
		sessions := map[string]any{}
		for _, k := range keys {
			sessions[k.SessionID] = fromStore(k)
		}
		return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"sessions": sessions})
	}
	rooms := map[string]map[string]map[string]any{}
	for _, k := range keys {
		if rooms[k.RoomID] == nil {
			rooms[k.RoomID] = map[string]map[string]any{"sessions": {}}
		}
		rooms[k.RoomID]["sessions"][k.SessionID] = fromStore(k)
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"rooms": rooms})
}

// deleteBackupKeys is DELETE /room_keys/keys[/{roomId}[/{sessionId}]].
func (a *API) deleteBackupKeys(w http.ResponseWriter, r *http.Request, s *clientapi.Session) error {
	version, roomID, sessionID, err := backupPath(r)
	if err != nil {
		return err
	}
	notFound := matrix.NotFound("Unknown backup version")
	if version < 0 {
		return notFound
	}
	etag, count, err := a.db.DeleteBackupKeys(r.Context(), s.UserID, version, roomID, sessionID)
	if err == store.ErrNotFound {
		return notFound
	}
	if err != nil {
		return err
	}
	return writeETag(w, etag, count)
}
