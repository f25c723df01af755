package e2ee

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"unicode/utf8"

	"chappe.eu/chappe/internal/matrix"
	"chappe.eu/chappe/internal/room/canonicaljson"
	"chappe.eu/chappe/internal/room/signing"
	"chappe.eu/chappe/internal/store"
)

// Checks of what clients upload. Signed objects are kept as the client
// signed them, in canonical JSON: re-encoding them from Go structs would
// drop fields the client signed and break the signature.

// maxIDLen bounds device IDs, key IDs and algorithm names.
const maxIDLen = 255

// storableID reports whether s can be stored as text and looked up on
// both engines: non-empty, bounded, valid UTF-8 without NUL.
func storableID(s string) bool {
	return s != "" && len(s) <= maxIDLen && utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

func invalidSignature(format string, args ...any) *matrix.Error {
	return matrix.Errorf(http.StatusBadRequest, ErrInvalidSignature, format, args...)
}

// canonicalObject returns raw as canonical JSON, which must be an object.
func canonicalObject(raw json.RawMessage, what string) ([]byte, error) {
	c, err := canonicaljson.Encode(raw, false)
	if err != nil || len(c) == 0 || c[0] != '{' {
		return nil, matrix.BadJSON("%s must be a JSON object", what)
	}
	return c, nil
}

// ed25519Key decodes an unpadded base64 ed25519 public key.
func ed25519Key(b64 string) (ed25519.PublicKey, bool) {
	b, err := signing.DecodeBase64(b64)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, false
	}
	return ed25519.PublicKey(b), true
}

// verifyBy checks that obj carries a valid signature of entity by the
// ed25519 key keyName ("ed25519:<keyName>"); signatures by other keys
// are ignored.
func verifyBy(obj []byte, entity, keyName string, pub ed25519.PublicKey) error {
	want := signing.KeyID("ed25519:" + keyName)
	return signing.Verify(obj, entity, func(e string, id signing.KeyID) (ed25519.PublicKey, bool) {
		return pub, e == entity && id == want
	})
}

// deviceKeysJSON is the part of a device keys object the server reads.
type deviceKeysJSON struct {
	UserID     string            `json:"user_id"`
	DeviceID   string            `json:"device_id"`
	Algorithms []string          `json:"algorithms"`
	Keys       map[string]string `json:"keys"`
}

// parseDeviceKeys checks device keys uploaded for userID's deviceID: they
// name that device, hold its ed25519 key and are signed by it. It returns
// the object to store (canonical, without unsigned), its identity (the
// canonical "keys") and the device's ed25519 key.
func parseDeviceKeys(raw json.RawMessage, userID, deviceID string) (stored, identity []byte, pub ed25519.PublicKey, err error) {
	c, err := canonicalObject(raw, "device_keys")
	if err != nil {
		return nil, nil, nil, err
	}
	var dk deviceKeysJSON
	if err := json.Unmarshal(c, &dk); err != nil {
		return nil, nil, nil, matrix.BadJSON("device_keys: %v", err)
	}
	if dk.UserID != userID || dk.DeviceID != deviceID {
		return nil, nil, nil, matrix.InvalidParam("device_keys must be those of %s's device %s", userID, deviceID)
	}
	if dk.Algorithms == nil || len(dk.Keys) == 0 {
		return nil, nil, nil, matrix.InvalidParam("device_keys needs algorithms and keys")
	}
	for name := range dk.Keys {
		alg, dev, ok := strings.Cut(name, ":")
		if !ok || alg == "" || dev != deviceID {
			return nil, nil, nil, matrix.InvalidParam("device_keys.keys: %q is not <algorithm>:%s", name, deviceID)
		}
	}
	pub, ok := ed25519Key(dk.Keys["ed25519:"+deviceID])
	if !ok {
		return nil, nil, nil, matrix.InvalidParam("device_keys has no valid ed25519:%s key", deviceID)
	}
	if err := verifyBy(c, userID, deviceID, pub); err != nil {
		return nil, nil, nil, invalidSignature("device_keys are not signed by the device's own ed25519 key")
	}
	identity, _ = canonicaljson.Get(c, "keys")
	return canonicaljson.Delete(c, "unsigned"), identity, pub, nil
}

// parseOneTimeKeys checks one-time or fallback keys ("<algorithm>:<key
// ID>" to a key object or, for unsigned algorithms, a string). Signed
// keys must carry the device's signature when its key is known (pub not
// nil): a key that fails it would fail the claimer's check later, leaving
// messages undecryptable. Fallback keys are at most one per algorithm.
func parseOneTimeKeys(raw map[string]json.RawMessage, userID, deviceID string, pub ed25519.PublicKey, fallback bool) ([]store.OneTimeKey, error) {
	field := "one_time_keys"
	if fallback {
		field = "fallback_keys"
	}
	out := make([]store.OneTimeKey, 0, len(raw))
	seen := map[string]bool{}
	for name, v := range raw {
		alg, id, ok := strings.Cut(name, ":")
		if !ok || !storableID(alg) || !storableID(id) {
			return nil, matrix.InvalidParam("%s: %q is not <algorithm>:<key ID>", field, name)
		}
		if fallback && seen[alg] {
			return nil, matrix.InvalidParam("fallback_keys: at most one key per algorithm")
		}
		seen[alg] = true
		c, err := canonicaljson.Encode(v, false)
		if err != nil || len(c) == 0 || (c[0] != '{' && c[0] != '"') {
			return nil, matrix.BadJSON("%s: %q must be a key object or a string", field, name)
		}
		if c[0] == '{' {
			k, ok := canonicaljson.Get(c, "key")
			if !ok || len(k) == 0 || k[0] != '"' {
				return nil, matrix.BadJSON("%s: %q has no key", field, name)
			}
			if pub != nil && strings.HasPrefix(alg, "signed_") {
				if err := verifyBy(c, userID, deviceID, pub); err != nil {
					return nil, invalidSignature("%s: %q is not signed by the device's ed25519 key", field, name)
				}
			}
		}
		out = append(out, store.OneTimeKey{Algorithm: alg, KeyID: id, JSON: c})
	}
	return out, nil
}

// keysUpload is the body of /keys/upload and the key part of a dehydrated
// device.
type keysUpload struct {
	DeviceKeys   json.RawMessage            `json:"device_keys"`
	OneTimeKeys  map[string]json.RawMessage `json:"one_time_keys"`
	FallbackKeys map[string]json.RawMessage `json:"fallback_keys"`
}

// check validates the upload for userID's deviceID and returns what to
// store. known is the device's ed25519 key if it uploaded device keys
// before, else nil.
func (k *keysUpload) check(userID, deviceID string, known ed25519.PublicKey) (store.KeysUpload, error) {
	up := store.KeysUpload{UserID: userID, DeviceID: deviceID}
	pub := known
	if len(k.DeviceKeys) > 0 && string(k.DeviceKeys) != "null" {
		stored, identity, devPub, err := parseDeviceKeys(k.DeviceKeys, userID, deviceID)
		if err != nil {
			return up, err
		}
		up.DeviceKeys, up.Identity, pub = stored, identity, devPub
	}
	var err error
	if up.OneTimeKeys, err = parseOneTimeKeys(k.OneTimeKeys, userID, deviceID, pub, false); err != nil {
		return up, err
	}
	if up.FallbackKeys, err = parseOneTimeKeys(k.FallbackKeys, userID, deviceID, pub, true); err != nil {
		return up, err
	}
	return up, nil
}

// storedEd25519 returns the ed25519 key of a device's stored device keys,
// or nil when it has none.
func storedEd25519(js []byte, deviceID string) ed25519.PublicKey {
	var dk deviceKeysJSON
	if json.Unmarshal(js, &dk) != nil {
		return nil
	}
	pub, _ := ed25519Key(dk.Keys["ed25519:"+deviceID])
	return pub
}

// uploadError turns the store's refusals of an upload into the client's
// errors.
func uploadError(err error) error {
	switch {
	case errors.Is(err, store.ErrIdentityChanged):
		return matrix.InvalidParam("A device's identity keys cannot change once uploaded; log in as a new device instead")
	case errors.Is(err, store.ErrKeyExists):
		return matrix.InvalidParam("One-time key already exists with different contents: %s",
			strings.TrimPrefix(err.Error(), store.ErrKeyExists.Error()+": "))
	}
	return err
}

// addSignature adds a signature (unpadded base64) to the canonical
// object obj under signatures[entity][keyID].
func addSignature(obj []byte, entity, keyID, sig string) []byte {
	sigs, ok := canonicaljson.Get(obj, "signatures")
	if !ok || len(sigs) == 0 || sigs[0] != '{' {
		sigs = []byte("{}")
	}
	mine, ok := canonicaljson.Get(sigs, entity)
	if !ok || len(mine) == 0 || mine[0] != '{' {
		mine = []byte("{}")
	}
	mine = canonicaljson.Set(mine, keyID, canonicaljson.AppendString(nil, sig))
	return canonicaljson.Set(obj, "signatures", canonicaljson.Set(sigs, entity, mine))
}

// decodeSig decodes an unpadded (or padded) base64 signature.
func decodeSig(b64 string) ([]byte, error) { return signing.DecodeBase64(b64) }
