package event

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"

	"chappe.eu/chappe/internal/room/canonicaljson"
	"chappe.eu/chappe/internal/room/signing"
)

// canonicalEvent canonicalises event JSON as room version v requires and
// checks that it is an object. It does not check the event format: the
// functions on raw JSON below serve building and the spec's test vectors,
// whose events are not complete PDUs.
func canonicalEvent(eventJSON []byte, v *RoomVersion) ([]byte, error) {
	canon, err := canonicaljson.Encode(eventJSON, v.StrictCanonicalJSON)
	if err != nil {
		return nil, &ParseError{Reason: "invalid JSON", Err: err}
	}
	if canon[0] != '{' {
		return nil, &ParseError{Reason: "not a JSON object"}
	}
	return canon, nil
}

// contentHash is the SHA-256 of the canonical event without unsigned,
// signatures and hashes ("Calculating the content hash for an event").
func contentHash(canon []byte) [32]byte {
	return sha256.Sum256(canonicaljson.Delete(canon, "unsigned", "signatures", "hashes"))
}

// referenceHash is the SHA-256 of the redacted canonical event without
// signatures and unsigned ("Calculating the reference hash for an event").
func referenceHash(canon []byte, v *RoomVersion) [32]byte {
	return sha256.Sum256(signedPart(canon, v))
}

// formatEventID turns a reference hash into an event ID: unpadded standard
// base64 in room version 3, URL-safe from version 4.
func formatEventID(ref [32]byte, v *RoomVersion) string {
	if v.EventIDFormat == EventIDHashStdBase64 {
		return "$" + base64.RawStdEncoding.EncodeToString(ref[:])
	}
	return "$" + base64.RawURLEncoding.EncodeToString(ref[:])
}

// ContentHash returns the content hash of the event eventJSON.
func ContentHash(eventJSON []byte, v *RoomVersion) ([32]byte, error) {
	canon, err := canonicalEvent(eventJSON, v)
	if err != nil {
		return [32]byte{}, err
	}
	return contentHash(canon), nil
}

// ReferenceHash returns the reference hash of the event eventJSON.
func ReferenceHash(eventJSON []byte, v *RoomVersion) ([32]byte, error) {
	canon, err := canonicalEvent(eventJSON, v)
	if err != nil {
		return [32]byte{}, err
	}
	return referenceHash(canon, v), nil
}

// AddContentHash computes the content hash of the event eventJSON and
// returns the event as canonical JSON with it stored in hashes.sha256
// (other algorithms under hashes are kept).
func AddContentHash(eventJSON []byte, v *RoomVersion) ([]byte, error) {
	canon, err := canonicalEvent(eventJSON, v)
	if err != nil {
		return nil, err
	}
	sum := contentHash(canon)
	hashes, ok := canonicaljson.Get(canon, "hashes")
	if !ok || hashes[0] != '{' {
		hashes = nil
	}
	b64 := canonicaljson.AppendString(nil, base64.RawStdEncoding.EncodeToString(sum[:]))
	return canonicaljson.Set(canon, "hashes", canonicaljson.Set(hashes, "sha256", b64)), nil
}

// ReferenceHash returns e's reference hash. From room version 3 on, the
// event ID is this hash in base64.
func (e *Event) ReferenceHash() [32]byte {
	return referenceHash(e.raw, e.version)
}

// ErrContentHash is returned by VerifyContentHash. The spec's remedy is to
// process the event in redacted form (Redact), not to drop it.
var ErrContentHash = errors.New("event: content hash does not match")

// VerifyContentHash checks hashes.sha256 against the event's content hash.
// It fails with ErrContentHash if it is missing, malformed or different.
func (e *Event) VerifyContentHash() error {
	want, err := signing.DecodeBase64(e.contentHash)
	got := contentHash(e.raw)
	if e.contentHash == "" || err != nil || !bytes.Equal(want, got[:]) {
		return ErrContentHash
	}
	return nil
}
