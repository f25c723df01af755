package clientapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"

	"chappe.eu/chappe/internal/httpapi"
	"chappe.eu/chappe/internal/matrix"
	"chappe.eu/chappe/internal/store"
)

// Profiles (spec: "Profiles", v1.16 custom profile fields).

const (
	maxProfileBytes = 64 * 1024 // spec: "the total profile MUST be under 64 KiB"
	maxProfileKey   = 255       // spec: M_KEY_TOO_LARGE beyond 255 bytes
	// maxDisplayName follows Synapse's MAX_DISPLAYNAME_LEN.
	maxDisplayName = 256
	maxAvatarURL   = 1000
)

// profileKeyPattern is the spec's keyName pattern.
var profileKeyPattern = regexp.MustCompile(`^(avatar_url|displayname|m\.tz|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+)$`)

// profileUser parses {userId} and checks that it is a local, existing
// account; a remote or unknown user is 404 (remote profiles come with
// federation).
func (a *API) profileUser(r *http.Request) (string, error) {
	uid, err := matrix.ParseUserID(r.PathValue("userId"))
	if err != nil {
		return "", matrix.InvalidParam("Invalid user ID")
	}
	if string(uid.Server()) != a.cfg.ServerName {
		return "", matrix.NotFound("Profile not found")
	}
	acct, err := a.db.Account(r.Context(), string(uid))
	if err != nil || acct.Deactivated {
		if err != nil && err != store.ErrNotFound {
			return "", err
		}
		return "", matrix.NotFound("Profile not found")
	}
	return string(uid), nil
}

func (a *API) getProfile(w http.ResponseWriter, r *http.Request) error {
	userID, err := a.profileUser(r)
	if err != nil {
		return err
	}
	p, err := a.db.Profile(r.Context(), userID)
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, p)
}

func profileKey(r *http.Request) (string, error) {
	key := r.PathValue("field")
	if len(key) > maxProfileKey {
		return "", matrix.Errorf(http.StatusBadRequest, "M_KEY_TOO_LARGE", "Profile key too long")
	}
	if !profileKeyPattern.MatchString(key) {
		return "", matrix.InvalidParam("Invalid profile key")
	}
	return key, nil
}

func (a *API) getProfileField(w http.ResponseWriter, r *http.Request) error {
	key, err := profileKey(r)
	if err != nil {
		return err
	}
	userID, err := a.profileUser(r)
	if err != nil {
		return err
	}
	p, err := a.db.Profile(r.Context(), userID)
	if err != nil {
		return err
	}
	v, ok := p[key]
	if !ok {
		return matrix.NotFound("Profile field not set")
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]json.RawMessage{key: v})
}

// ownProfileKey checks that the caller edits their own profile.
func (a *API) ownProfileKey(r *http.Request, s *Session) (string, error) {
	key, err := profileKey(r)
	if err != nil {
		return "", err
	}
	if r.PathValue("userId") != s.UserID {
		return "", matrix.Forbidden("You cannot change another user's profile")
	}
	return key, nil
}

func (a *API) putProfileField(w http.ResponseWriter, r *http.Request, s *Session) error {
	key, err := a.ownProfileKey(r, s)
	if err != nil {
		return err
	}
	var body map[string]json.RawMessage
	if err := a.readJSON(r, &body); err != nil {
		return err
	}
	v, ok := body[key]
	if !ok {
		return matrix.MissingParam("Missing key %q", key)
	}
	if err := checkProfileValue(key, v); err != nil {
		return err
	}
	// Stored compact: whitespace the client sent is no part of the
	// profile, and must not count against its size.
	var compact bytes.Buffer
	if err := json.Compact(&compact, v); err != nil {
		return matrix.BadJSON("Malformed value")
	}
	ok, err = a.db.SetProfileField(r.Context(), s.UserID, key, compact.Bytes(), maxProfileBytes)
	if err != nil {
		return err
	}
	if !ok {
		return matrix.Errorf(http.StatusBadRequest, "M_PROFILE_TOO_LARGE", "Profile would exceed 64 KiB")
	}
	// Propagating the change to the user's rooms comes with the rooms work.
	return httpapi.WriteJSON(w, http.StatusOK, struct{}{})
}

// checkProfileValue enforces the types the spec gives the well-known keys.
func checkProfileValue(key string, v json.RawMessage) error {
	var s string
	switch key {
	case "displayname":
		if string(v) == "null" {
			return nil
		}
		if json.Unmarshal(v, &s) != nil {
			return matrix.BadJSON("displayname must be a string")
		}
		if len(s) > maxDisplayName {
			return matrix.InvalidParam("displayname is too long")
		}
	case "avatar_url":
		if string(v) == "null" {
			return nil
		}
		if json.Unmarshal(v, &s) != nil || (s != "" && !strings.HasPrefix(s, "mxc://")) {
			return matrix.BadJSON("avatar_url must be an mxc:// URI")
		}
		if len(s) > maxAvatarURL {
			return matrix.InvalidParam("avatar_url is too long")
		}
	case "m.tz":
		if json.Unmarshal(v, &s) != nil {
			return matrix.BadJSON("m.tz must be a string")
		}
	}
	return nil
}

func (a *API) deleteProfileField(w http.ResponseWriter, r *http.Request, s *Session) error {
	key, err := a.ownProfileKey(r, s)
	if err != nil {
		return err
	}
	if _, err := a.db.SetProfileField(r.Context(), s.UserID, key, nil, maxProfileBytes); err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, struct{}{})
}
