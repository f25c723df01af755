package auth

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"

	"chappe.eu/chappe/internal/room/canonicaljson"
)

// tpiToken returns content.third_party_invite.signed.token, the state key of
// the m.room.third_party_invite event an invite redeems.
func tpiToken(tpi json.RawMessage) (string, bool) {
	return stringValue(field(field(tpi, "signed"), "token"))
}

type tpiEventContent struct {
	PublicKey  json.RawMessage `json:"public_key"`
	PublicKeys []struct {
		PublicKey json.RawMessage `json:"public_key"`
	} `json:"public_keys"`
}

// verifySignedByAny reports whether any ed25519 signature in signed verifies
// under any of the public keys of the m.room.third_party_invite content.
func verifySignedByAny(signed json.RawMessage, tpiContent json.RawMessage) bool {
	var c tpiEventContent
	_ = json.Unmarshal(tpiContent, &c) // a field of the wrong type is left empty
	var keys []ed25519.PublicKey
	add := func(raw json.RawMessage) {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return
		}
		if b, ok := decodeBase64(s); ok && len(b) == ed25519.PublicKeySize {
			keys = append(keys, ed25519.PublicKey(b))
		}
	}
	add(c.PublicKey)
	for _, k := range c.PublicKeys {
		add(k.PublicKey)
	}
	if len(keys) == 0 {
		return false
	}
	var sigs map[string]map[string]json.RawMessage
	if json.Unmarshal(field(signed, "signatures"), &sigs) != nil {
		return false
	}
	msg, err := signedBytes(signed)
	if err != nil {
		return false
	}
	for _, byKey := range sigs {
		for keyID, rawSig := range byKey {
			if !strings.HasPrefix(keyID, "ed25519:") {
				continue
			}
			var s string
			if json.Unmarshal(rawSig, &s) != nil {
				continue
			}
			sig, ok := decodeBase64(s)
			if !ok || len(sig) != ed25519.SignatureSize {
				continue
			}
			for _, k := range keys {
				if ed25519.Verify(k, msg, sig) {
					return true
				}
			}
		}
	}
	return false
}

// decodeBase64 accepts the spec's unpadded base64 and, as identity servers
// have published both, also padded and URL-safe forms.
func decodeBase64(s string) ([]byte, bool) {
	s = strings.TrimRight(s, "=")
	if b, err := base64.RawStdEncoding.DecodeString(s); err == nil {
		return b, true
	}
	if b, err := base64.RawURLEncoding.DecodeString(s); err == nil {
		return b, true
	}
	return nil, false
}

// signedBytes returns the canonical JSON of a signed object without its
// signatures and unsigned keys: the bytes its signatures cover ("Signing
// JSON" in the appendices).
func signedBytes(signed json.RawMessage) ([]byte, error) {
	canon, err := canonicaljson.Encode(signed, false)
	if err != nil {
		return nil, err
	}
	if canon[0] != '{' {
		return nil, errors.New("auth: signed is not an object")
	}
	return canonicaljson.Delete(canon, "signatures", "unsigned"), nil
}
