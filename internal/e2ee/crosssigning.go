package e2ee

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"net/http"
	"slices"

	"chappe.eu/chappe/internal/clientapi"
	"chappe.eu/chappe/internal/httpapi"
	"chappe.eu/chappe/internal/matrix"
	"chappe.eu/chappe/internal/room/canonicaljson"
	"chappe.eu/chappe/internal/store"
)

// Cross-signing (spec: "Cross-signing"): a user's master key signs their
// self-signing key (which signs their devices) and their user-signing key
// (which signs other users' master keys).

// crossSigningKeyJSON is the part of a cross-signing key the server reads.
type crossSigningKeyJSON struct {
	UserID string            `json:"user_id"`
	Usage  []string          `json:"usage"`
	Keys   map[string]string `json:"keys"`
}

// parsedKey is an uploaded cross-signing key, checked.
type parsedKey struct {
	store.CrossSigningKey
	pub ed25519.PublicKey
}

// parseCrossSigningKey checks one uploaded key of the given usage.
func parseCrossSigningKey(raw json.RawMessage, userID, usage string) (*parsedKey, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	c, err := canonicalObject(raw, usage+" key")
	if err != nil {
		return nil, err
	}
	var k crossSigningKeyJSON
	if err := json.Unmarshal(c, &k); err != nil {
		return nil, matrix.BadJSON("%s key: %v", usage, err)
	}
	if k.UserID != userID {
		return nil, matrix.InvalidParam("The %s key must be one of %s", usage, userID)
	}
	if !slices.Contains(k.Usage, usage) {
		return nil, matrix.InvalidParam("The %s key must have usage %q", usage, usage)
	}
	if len(k.Keys) != 1 {
		return nil, matrix.InvalidParam("The %s key must hold exactly one key", usage)
	}
	for name, value := range k.Keys {
		alg, pubName, ok := splitKeyName(name)
		pub, valid := ed25519Key(value)
		if !ok || alg != "ed25519" || pubName != value || !valid {
			return nil, matrix.InvalidParam("The %s key must be ed25519:<key> with the unpadded base64 key", usage)
		}
		return &parsedKey{store.CrossSigningKey{Type: usage, PublicKey: value, JSON: canonicaljson.Delete(c, "unsigned")}, pub}, nil
	}
	panic("unreachable")
}

// uploadCrossSigningKeys is POST /keys/device_signing/upload.
//
// User-interactive authentication is needed only to replace keys: not for
// the first upload, nor for uploading the stored keys again (spec v1.11,
// MSC3967), so that a client can set up cross-signing right after
// registration and retry a request whose answer it lost.
func (a *API) uploadCrossSigningKeys(w http.ResponseWriter, r *http.Request, s *clientapi.Session) error {
	var req struct {
		Master      json.RawMessage `json:"master_key"`
		SelfSigning json.RawMessage `json:"self_signing_key"`
		UserSigning json.RawMessage `json:"user_signing_key"`
		Auth        json.RawMessage `json:"auth"`
	}
	if err := a.readJSON(r, &req); err != nil {
		return err
	}
	var keys []*parsedKey
	for _, k := range []struct {
		raw   json.RawMessage
		usage string
	}{{req.Master, "master"}, {req.SelfSigning, "self_signing"}, {req.UserSigning, "user_signing"}} {
		p, err := parseCrossSigningKey(k.raw, s.UserID, k.usage)
		if err != nil {
			return err
		}
		if p != nil {
			keys = append(keys, p)
		}
	}
	if len(keys) == 0 {
		return httpapi.WriteJSON(w, http.StatusOK, struct{}{})
	}
	ctx := r.Context()
	for _, k := range keys {
		if _, err := a.db.Device(ctx, s.UserID, k.PublicKey); err == nil {
			return matrix.Forbidden("The %s key's public key is the ID of one of your devices", k.Type)
		} else if err != store.ErrNotFound {
			return err
		}
	}
	for attempt := 0; ; attempt++ {
		all, err := a.db.CrossSigningKeys(ctx, []string{s.UserID})
		if err != nil {
			return err
		}
		current := all[s.UserID]
		master := current["master"].PublicKey
		masterPub, _ := ed25519Key(master)
		changed := false
		for _, k := range keys {
			if k.Type == "master" {
				master, masterPub = k.PublicKey, k.pub
			}
			changed = changed || !bytes.Equal(current[k.Type].JSON, k.JSON)
		}
		if master == "" {
			return matrix.MissingParam("No master key: upload one first or with the others")
		}
		for _, k := range keys {
			if k.Type != "master" && verifyBy(k.JSON, s.UserID, master, masterPub) != nil {
				return invalidSignature("The %s key is not signed by the master key", k.Type)
			}
		}
		if !changed {
			return httpapi.WriteJSON(w, http.StatusOK, struct{}{}) // the same keys again
		}
		var expect map[string]string
		if _, hasMaster := current["master"]; hasMaster {
			if err := a.auth.PasswordUIA(r, req.Auth, "device_signing_upload", s.UserID); err != nil {
				return err
			}
		} else {
			// No UIA: only if nobody uploads keys meanwhile.
			expect = map[string]string{}
			for t, k := range current {
				expect[t] = k.PublicKey
			}
		}
		list := make([]store.CrossSigningKey, len(keys))
		for i, k := range keys {
			list[i] = k.CrossSigningKey
		}
		pos, err := a.db.SetCrossSigningKeys(ctx, s.UserID, list, expect)
		if errors.Is(err, store.ErrKeysChanged) && attempt == 0 {
			continue // decide again: now the keys exist and UIA is due
		}
		if err != nil {
			return err
		}
		a.deviceListChanged(ctx, s.UserID, "", pos)
		return httpapi.WriteJSON(w, http.StatusOK, struct{}{})
	}
}

// signatureFailure is one entry of /keys/signatures/upload's failures.
func signatureFailure(code, msg string) map[string]string {
	return map[string]string{"errcode": code, "error": msg}
}

// uploadSignatures is POST /keys/signatures/upload. Each signed object
// must be the stored key with new signatures; each new signature is
// checked against the key it claims: the self-signing key for the user's
// devices, one of the user's devices for their master key, the
// user-signing key for other users' master keys. Failures are reported
// per key and the valid signatures are stored.
func (a *API) uploadSignatures(w http.ResponseWriter, r *http.Request, s *clientapi.Session) error {
	var req map[string]map[string]json.RawMessage
	if err := a.readJSON(r, &req); err != nil {
		return err
	}
	n := 0
	users := []string{s.UserID}
	for u, keys := range req {
		n += len(keys)
		if _, err := matrix.ParseUserID(u); err != nil {
			return matrix.InvalidParam("Invalid user ID %q", u)
		}
		if u != s.UserID {
			users = append(users, u)
		}
	}
	if n > maxKeyRequests {
		return matrix.InvalidParam("At most %d keys per request", maxKeyRequests)
	}
	ctx := r.Context()
	cross, err := a.db.CrossSigningKeys(ctx, users)
	if err != nil {
		return err
	}
	devs, err := a.db.DevicesKeys(ctx, []string{s.UserID})
	if err != nil {
		return err
	}
	ownDevices := map[string][]byte{}
	for _, d := range devs {
		ownDevices[d.DeviceID] = d.JSON
	}
	mine := cross[s.UserID]

	failures := map[string]map[string]any{}
	fail := func(user, key, code, msg string) {
		if failures[user] == nil {
			failures[user] = map[string]any{}
		}
		failures[user][key] = signatureFailure(code, msg)
	}
	var sigs []store.Signature
	var changes []store.DeviceListChange
	for user, keys := range req {
		for keyID, raw := range keys {
			c, err := canonicaljson.Encode(raw, false)
			if err != nil || len(c) == 0 || c[0] != '{' {
				fail(user, keyID, matrix.ErrBadJSON, "Not a JSON object")
				continue
			}
			found, code, msg := a.checkSignatures(s.UserID, user, keyID, c, mine, cross[user], ownDevices)
			if code != "" {
				fail(user, keyID, code, msg)
				continue
			}
			sigs = append(sigs, found...)
			change := store.DeviceListChange{UserID: user}
			if user != s.UserID {
				change.Viewer = s.UserID // only the signer's view of them changed
			}
			if !slices.Contains(changes, change) {
				changes = append(changes, change)
			}
		}
	}
	if len(sigs) > 0 {
		pos, err := a.db.AddSignatures(ctx, sigs, changes)
		if err != nil {
			return err
		}
		for _, c := range changes {
			a.deviceListChanged(ctx, c.UserID, c.Viewer, pos)
		}
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"failures": failures})
}

// checkSignatures checks the signatures that signer adds to user's key
// keyID (the canonical object c) and returns them, or an errcode and
// message.
func (a *API) checkSignatures(signer, user, keyID string, c []byte, mine, theirs map[string]store.CrossSigningKey,
	ownDevices map[string][]byte) (found []store.Signature, code, msg string) {
	var stored []byte
	var signers map[string]ed25519.PublicKey // acceptable signing key IDs
	switch {
	case user == signer && ownDevices[keyID] != nil:
		stored = ownDevices[keyID]
		ssk, ok := mine["self_signing"]
		if !ok {
			return nil, matrix.ErrNotFound, "You have no self-signing key"
		}
		pub, _ := ed25519Key(ssk.PublicKey)
		signers = map[string]ed25519.PublicKey{"ed25519:" + ssk.PublicKey: pub}
	case user == signer && mine["master"].PublicKey == keyID && keyID != "":
		stored = mine["master"].JSON
		signers = map[string]ed25519.PublicKey{}
		for id, js := range ownDevices {
			if pub := storedEd25519(js, id); pub != nil {
				signers["ed25519:"+id] = pub
			}
		}
	case user != signer && theirs["master"].PublicKey == keyID && keyID != "":
		stored = theirs["master"].JSON
		usk, ok := mine["user_signing"]
		if !ok {
			return nil, matrix.ErrNotFound, "You have no user-signing key"
		}
		pub, _ := ed25519Key(usk.PublicKey)
		signers = map[string]ed25519.PublicKey{"ed25519:" + usk.PublicKey: pub}
	default:
		return nil, matrix.ErrNotFound, "Unknown key"
	}
	if !bytes.Equal(canonicaljson.Delete(c, "signatures", "unsigned"), canonicaljson.Delete(stored, "signatures", "unsigned")) {
		return nil, matrix.ErrInvalidParam, "The object does not match the stored key"
	}
	sigs, _ := canonicaljson.Get(c, "signatures")
	own, _ := canonicaljson.Get(sigs, signer)
	msgBytes := canonicaljson.Delete(c, "signatures", "unsigned")
	for rawID, value := range canonicaljson.Members(own) {
		sigKey, err := canonicaljson.Unquote(append(append([]byte{'"'}, rawID...), '"'))
		if err != nil {
			continue
		}
		pub, ok := signers[sigKey]
		if !ok {
			continue // a signature the key already had, or one we cannot check
		}
		b64, err := canonicaljson.Unquote(value)
		if err != nil {
			return nil, ErrInvalidSignature, "Invalid signature"
		}
		sig, err := decodeSig(b64)
		if err != nil || !ed25519.Verify(pub, msgBytes, sig) {
			return nil, ErrInvalidSignature, "Invalid signature by " + sigKey
		}
		found = append(found, store.Signature{TargetUser: user, TargetKey: keyID, SignerUser: signer, SignerKey: sigKey, Signature: b64})
	}
	if len(found) == 0 {
		return nil, ErrInvalidSignature, "No signature by a key that may sign this one"
	}
	return found, "", ""
}
