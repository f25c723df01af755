package event

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"

	"chappe.eu/chappe/internal/matrix"
	"chappe.eu/chappe/internal/room/canonicaljson"
	"chappe.eu/chappe/internal/room/signing"
)

// Proto is an event this server is about to create: everything but the
// hashes, signatures and (from room version 3) the event ID, which Build
// derives.
type Proto struct {
	Type     string
	StateKey *string // nil for a message event
	Sender   matrix.UserID
	// RoomID is required, except for m.room.create in room version 12,
	// which has none (the room ID is then the new event's CreatedRoomID).
	RoomID  matrix.RoomID
	Content json.RawMessage // a JSON object; nil means {}
	// Redacts, for m.room.redaction, is written where the room version
	// wants it: top-level before v11, in content from v11.
	Redacts        matrix.EventID
	PrevEvents     []matrix.EventID
	AuthEvents     []matrix.EventID
	Depth          int64
	OriginServerTS int64 // milliseconds since the Unix epoch

	// EventID is for room versions 1 and 2 only, which carry their event
	// ID: if empty, Build makes a random one on the origin server.
	EventID matrix.EventID
	// EventHashes is for room versions 1 and 2 only, which write
	// [event ID, {"sha256": hash}] pairs: the hash for each prev and auth
	// event, conventionally its content hash (Event.ContentHashBase64), as
	// Synapse writes it. Nothing checks it; a missing entry is written "".
	EventHashes map[matrix.EventID]string
}

// Build creates the event p in room version v: it canonicalises the content
// (strictly, whatever the version, since new JSON must never hold floats),
// adds the content hash, signs the event as origin with key and parses the
// result, which derives the event ID and checks the event format and size.
// Before room version 11 the event carries origin as its top-level origin.
func Build(p Proto, v *RoomVersion, origin matrix.ServerName, keyID signing.KeyID, key ed25519.PrivateKey) (*Event, error) {
	if p.Type == "" {
		return nil, errors.New("event: build: no type")
	}
	if p.Depth < 0 {
		return nil, errors.New("event: build: negative depth")
	}
	content := []byte("{}")
	if p.Content != nil {
		var err error
		if content, err = canonicaljson.Encode(p.Content, true); err != nil {
			return nil, fmt.Errorf("event: build: content: %w", err)
		}
		if content[0] != '{' {
			return nil, errors.New("event: build: content is not an object")
		}
	}
	fields := map[string]any{
		"type":             p.Type,
		"sender":           p.Sender,
		"depth":            p.Depth,
		"origin_server_ts": p.OriginServerTS,
		"prev_events":      refs(p.PrevEvents, p.EventHashes, v),
		"auth_events":      refs(p.AuthEvents, p.EventHashes, v),
	}
	if p.StateKey != nil {
		fields["state_key"] = *p.StateKey
	}
	switch {
	case v.HashRoomIDs && p.Type == "m.room.create" && p.StateKey != nil && *p.StateKey == "":
		if p.RoomID != "" {
			return nil, errors.New("event: build: m.room.create of room version 12 has no room_id")
		}
	case p.RoomID == "":
		return nil, errors.New("event: build: no room_id")
	default:
		fields["room_id"] = p.RoomID
	}
	if p.Redacts != "" {
		if v.RedactsInContent {
			content = canonicaljson.Set(content, "redacts", canonicaljson.AppendString(nil, string(p.Redacts)))
		} else {
			fields["redacts"] = p.Redacts
		}
	}
	fields["content"] = json.RawMessage(content)
	if !v.RedactsInContent { // v11 removed the top-level origin
		fields["origin"] = origin
	}
	if v.EventIDFormat == EventIDServerGenerated {
		id := p.EventID
		if id == "" {
			id = matrix.EventID("$" + rand.Text() + ":" + string(origin))
		}
		fields["event_id"] = id
	}

	// Content was checked strictly above; the envelope follows the version,
	// so that a v1–v5 depth beyond 2**53 (allowed up to 2**63-1) works.
	raw, err := json.Marshal(fields)
	if err == nil {
		raw, err = canonicaljson.Encode(raw, v.StrictCanonicalJSON)
	}
	if err != nil {
		return nil, fmt.Errorf("event: build: %w", err)
	}
	if raw, err = AddContentHash(raw, v); err != nil {
		return nil, err
	}
	if raw, err = Sign(raw, v, origin, keyID, key); err != nil {
		return nil, err
	}
	return Parse(raw, v)
}

// refs formats prev_events or auth_events for room version v.
func refs(ids []matrix.EventID, hashes map[matrix.EventID]string, v *RoomVersion) any {
	if v.EventIDFormat != EventIDServerGenerated {
		if ids == nil {
			return []matrix.EventID{}
		}
		return ids
	}
	pairs := make([][2]any, len(ids))
	for i, id := range ids {
		pairs[i] = [2]any{id, map[string]string{"sha256": hashes[id]}}
	}
	return pairs
}
