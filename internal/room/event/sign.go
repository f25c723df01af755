package event

import (
	"crypto/ed25519"
	"fmt"

	"chappe.eu/chappe/internal/matrix"
	"chappe.eu/chappe/internal/room/canonicaljson"
	"chappe.eu/chappe/internal/room/signing"
)

// Events are signed in redacted form, so that a signature still verifies
// after redaction ("Signing Events"); the content hash, which redaction
// keeps, ties the signature to the full content.

// Sign signs the event eventJSON as server with key: it redacts the event
// by room version v's rules, signs the redacted form without signatures and
// unsigned, and returns the whole event as canonical JSON with the signature
// added under signatures[server][keyID]. It does not add the content hash;
// call AddContentHash first when creating an event.
func Sign(eventJSON []byte, v *RoomVersion, server matrix.ServerName, keyID signing.KeyID, key ed25519.PrivateKey) ([]byte, error) {
	canon, err := canonicalEvent(eventJSON, v)
	if err != nil {
		return nil, err
	}
	return signCanonical(canon, v, server, keyID, key)
}

func signCanonical(canon []byte, v *RoomVersion, server matrix.ServerName, keyID signing.KeyID, key ed25519.PrivateKey) ([]byte, error) {
	msg := signedPart(canon, v)
	return signing.AddSignature(canon, string(server), keyID, ed25519.Sign(key, msg))
}

// Sign returns a copy of e with server's signature added, as a resident
// server does to an invite or a restricted join it vouches for. The event
// ID does not change: signatures are not part of the reference hash.
func (e *Event) Sign(server matrix.ServerName, keyID signing.KeyID, key ed25519.PrivateKey) (*Event, error) {
	signed, err := signCanonical(e.raw, e.version, server, keyID, key)
	if err != nil {
		return nil, err
	}
	c := *e
	c.raw = signed
	if len(c.raw) > MaxPDUSize {
		return nil, &ParseError{Reason: "too large once signed", Err: ErrTooLarge}
	}
	return &c, nil
}

// VerifyKey is a server's public key as the key fetcher knows it.
type VerifyKey struct {
	Key ed25519.PublicKey
	// ValidUntilTS is the key's valid_until_ts in milliseconds, which the
	// fetcher must already have capped at 7 days after it fetched the key;
	// 0 means no limit. From room version 5 a key is only used for events
	// whose origin_server_ts is at most ValidUntilTS.
	ValidUntilTS int64
	// ExpiredTS is, for a key from old_verify_keys, its expired_ts; 0 for a
	// current key. An old key is only used for events from before it expired.
	ExpiredTS int64
}

// KeyLookup returns server's key with the given ID, or false if the key is
// unknown.
type KeyLookup func(server matrix.ServerName, keyID signing.KeyID) (VerifyKey, bool)

// RequiredSigners returns the servers whose signatures e must carry
// ("Validating hashes and signatures on received events"):
//
//   - the sender's server, except for an invite made from a third-party
//     invite (m.room.member, membership invite, content.third_party_invite),
//     which another server may send on the sender's behalf and whose own
//     signed block the authorization rules check;
//   - in room versions 1 and 2, the server of the event ID, if different;
//   - from room version 8, for an m.room.member event whose content has
//     join_authorised_via_users_server naming a user ID, that user's server:
//     the authorization rules ask for the event to be "validly signed" by it,
//     and this is where that is verified.
func (e *Event) RequiredSigners() []matrix.ServerName {
	var servers []matrix.ServerName
	add := func(s matrix.ServerName) {
		for _, have := range servers {
			if have == s {
				return
			}
		}
		servers = append(servers, s)
	}
	if !e.isThirdPartyInvite() {
		add(matrix.UserID(e.sender).Server())
	}
	if e.version.EventIDFormat == EventIDServerGenerated {
		add(matrix.EventID(e.eventID).Server())
	}
	if e.version.RestrictedJoin && e.typ == "m.room.member" {
		if raw, ok := canonicaljson.Get(e.content, "join_authorised_via_users_server"); ok {
			s, err := canonicaljson.Unquote(raw)
			if u, perr := matrix.ParseUserID(s); err == nil && perr == nil {
				add(u.Server())
			}
		}
	}
	return servers
}

func (e *Event) isThirdPartyInvite() bool {
	if e.typ != "m.room.member" {
		return false
	}
	m, _ := canonicaljson.Get(e.content, "membership")
	_, tpi := canonicaljson.Get(e.content, "third_party_invite")
	return string(m) == `"invite"` && tpi
}

// VerifySignatures checks that e is validly signed by each of its
// RequiredSigners. For each server, signatures by keys that keys does not
// know, or that had expired by e's origin_server_ts, are skipped; at least
// one must remain and all that remain must verify. It fails with an error
// wrapping signing.ErrNotSigned, signing.ErrUnknownKey (fetch the keys and
// retry) or signing.ErrBadSignature. An event that fails is dropped.
func (e *Event) VerifySignatures(keys KeyLookup) error {
	msg := signedPart(e.raw, e.version)
	lookup := func(entity string, keyID signing.KeyID) (ed25519.PublicKey, bool) {
		k, ok := keys(matrix.ServerName(entity), keyID)
		switch {
		case !ok:
			return nil, false
		case k.ExpiredTS != 0 && k.ExpiredTS < e.originServerTS:
			return nil, false
		case e.version.EnforceKeyValidity && k.ValidUntilTS != 0 && k.ValidUntilTS < e.originServerTS:
			return nil, false
		}
		return k.Key, true
	}
	for _, server := range e.RequiredSigners() {
		if err := signing.VerifyMessage(msg, e.raw, string(server), lookup); err != nil {
			return fmt.Errorf("event %s: %w", e.eventID, err)
		}
	}
	return nil
}
