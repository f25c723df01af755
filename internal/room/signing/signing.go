// Package signing implements "Signing JSON" and "Checking for a Signature"
// (appendices) with ed25519, for any JSON object: server keys, federation
// requests and, through the event package, events.
//
// Objects are canonicalised in lax mode: whether floats or large integers
// are acceptable is the caller's decision (a federation request may carry
// events of old room versions), and lax mode keeps them as the signer wrote
// them.
package signing

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"chappe.eu/chappe/internal/room/canonicaljson"
)

// KeyID is a signing key identifier, "algorithm:version", such as
// "ed25519:a_JaEG".
type KeyID string

// AlgorithmEd25519 is the only signing algorithm the spec defines.
const AlgorithmEd25519 = "ed25519"

// ParseKeyID checks that s is "algorithm:version" with both parts
// non-empty and the version made of a-z, A-Z, 0-9 and '_', as the server
// keys API requires.
func ParseKeyID(s string) (KeyID, error) {
	alg, version, ok := strings.Cut(s, ":")
	if !ok || alg == "" || version == "" {
		return "", fmt.Errorf("signing: invalid key ID %q: want algorithm:version", s)
	}
	for i := 0; i < len(version); i++ {
		c := version[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			return "", fmt.Errorf("signing: invalid key ID %q: version may hold only a-z, A-Z, 0-9 and _", s)
		}
	}
	return KeyID(s), nil
}

// Algorithm returns the part before the colon.
func (k KeyID) Algorithm() string {
	alg, _, _ := strings.Cut(string(k), ":")
	return alg
}

// Version returns the part after the colon.
func (k KeyID) Version() string {
	_, v, _ := strings.Cut(string(k), ":")
	return v
}

// Reasons a signature check fails; Verify and VerifyMessage wrap them.
var (
	// ErrNotSigned: the object has no ed25519 signature by the entity.
	ErrNotSigned = errors.New("no ed25519 signature by the entity")
	// ErrUnknownKey: none of the entity's signing keys is known (the caller
	// may fetch keys and try again).
	ErrUnknownKey = errors.New("no known key for any of the entity's signatures")
	// ErrBadSignature: a signature by a known key does not verify.
	ErrBadSignature = errors.New("signature does not verify")
)

// KeyLookup returns the public key that entity signs with under keyID, or
// false if it is unknown (or, for the caller's purpose, expired).
type KeyLookup func(entity string, keyID KeyID) (ed25519.PublicKey, bool)

// Message returns the bytes that a signature over obj covers: the canonical
// JSON of obj without "signatures" and "unsigned". obj must be a JSON object.
func Message(obj []byte) ([]byte, error) {
	canonical, err := canonicaljson.Encode(obj, false)
	if err != nil {
		return nil, err
	}
	if len(canonical) == 0 || canonical[0] != '{' {
		return nil, errors.New("signing: not a JSON object")
	}
	return canonicaljson.Delete(canonical, "signatures", "unsigned"), nil
}

// Sign signs obj (a JSON object) as entity with key and returns it in
// canonical form with the signature added under signatures[entity][keyID];
// other signatures and unsigned are kept.
func Sign(obj []byte, entity string, keyID KeyID, key ed25519.PrivateKey) ([]byte, error) {
	canonical, err := canonicaljson.Encode(obj, false)
	if err != nil {
		return nil, err
	}
	if len(canonical) == 0 || canonical[0] != '{' {
		return nil, errors.New("signing: not a JSON object")
	}
	msg := canonicaljson.Delete(canonical, "signatures", "unsigned")
	return AddSignature(canonical, entity, keyID, ed25519.Sign(key, msg))
}

// AddSignature returns the canonical object obj with sig added under
// signatures[entity][keyID], replacing a signature already there.
func AddSignature(obj []byte, entity string, keyID KeyID, sig []byte) ([]byte, error) {
	sigs, ok := canonicaljson.Get(obj, "signatures")
	if !ok {
		sigs = []byte("{}")
	} else if len(sigs) == 0 || sigs[0] != '{' {
		return nil, errors.New("signing: signatures is not an object")
	}
	mine, ok := canonicaljson.Get(sigs, entity)
	if !ok {
		mine = []byte("{}")
	} else if len(mine) == 0 || mine[0] != '{' {
		return nil, fmt.Errorf("signing: signatures of %q is not an object", entity)
	}
	value := canonicaljson.AppendString(nil, base64.RawStdEncoding.EncodeToString(sig))
	mine = canonicaljson.Set(mine, string(keyID), value)
	sigs = canonicaljson.Set(sigs, entity, mine)
	return canonicaljson.Set(obj, "signatures", sigs), nil
}

// Verify checks that obj (a JSON object) carries a valid signature by
// entity, following "Checking for a Signature": signatures by algorithms
// other than ed25519 and by unknown keys are ignored, at least one must
// remain, and every remaining one must verify.
func Verify(obj []byte, entity string, keys KeyLookup) error {
	canonical, err := canonicaljson.Encode(obj, false)
	if err != nil {
		return err
	}
	msg := canonicaljson.Delete(canonical, "signatures", "unsigned")
	return VerifyMessage(msg, canonical, entity, keys)
}

// VerifyMessage is Verify for objects whose signed bytes are not simply the
// object without signatures (events sign their redacted form): it checks
// entity's signatures in the canonical object signed against msg.
func VerifyMessage(msg, signed []byte, entity string, keys KeyLookup) error {
	sigs, _ := canonicaljson.Get(signed, "signatures")
	mine, ok := canonicaljson.Get(sigs, entity)
	if !ok {
		return fmt.Errorf("signing: %q: %w", entity, ErrNotSigned)
	}
	found, verified := false, 0
	for rawKeyID, value := range canonicaljson.Members(mine) {
		keyID := KeyID(rawKeyID)
		if keyID.Algorithm() != AlgorithmEd25519 {
			continue
		}
		found = true
		pub, ok := keys(entity, keyID)
		if !ok {
			continue
		}
		b64, err := canonicaljson.Unquote(value)
		if err != nil {
			return fmt.Errorf("signing: %q %s: signature is not a string: %w", entity, keyID, ErrBadSignature)
		}
		sig, err := decodeBase64(b64)
		if err != nil || len(pub) != ed25519.PublicKeySize || !ed25519.Verify(pub, msg, sig) {
			return fmt.Errorf("signing: %q %s: %w", entity, keyID, ErrBadSignature)
		}
		verified++
	}
	switch {
	case !found:
		return fmt.Errorf("signing: %q: %w", entity, ErrNotSigned)
	case verified == 0:
		return fmt.Errorf("signing: %q: %w", entity, ErrUnknownKey)
	}
	return nil
}

// decodeBase64 decodes standard base64 with or without padding, as the
// spec asks decoders to accept both.
func decodeBase64(s string) ([]byte, error) {
	return base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
}

// DecodeBase64 decodes unpadded (or padded) standard base64, for keys and
// hashes found in JSON.
func DecodeBase64(s string) ([]byte, error) { return decodeBase64(s) }
