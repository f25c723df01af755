// Package event holds the room event (PDU) type of every room version:
// parsing, event IDs, content and reference hashes, signing and redaction.
// It is pure: no I/O, no database, no HTTP.
//
// An Event is always valid for its room version's event format and always
// matches its canonical JSON; whether its hashes and signatures check out
// is a separate question (VerifyContentHash, VerifySignatures), because the
// receiving server must still process an event whose content hash fails
// (in redacted form) and tests build events without signing them.
package event

import (
	"encoding/json"

	"chappe.eu/chappe/internal/room/canonicaljson"
)

// MaxPDUSize is the largest an event may be: its canonical JSON, signatures
// included, must not exceed 65,536 bytes (client-server API, "Size limits").
const MaxPDUSize = 65536

// Event is a parsed, immutable room event (a PDU) of a known room version.
// Use the accessors; the fields are private so that an Event always matches
// the JSON it was parsed from. An Event is safe for concurrent use.
type Event struct {
	version *RoomVersion
	raw     []byte // canonical JSON of the event without unsigned

	eventID        string
	roomID         string
	sender         string
	typ            string
	stateKey       *string
	content        json.RawMessage
	prevEvents     []string
	authEvents     []string
	depth          int64
	originServerTS int64
	redacts        string
	unsigned       json.RawMessage
	origin         string
	contentHash    string // hashes.sha256 as written, "" if absent
}

// StateKeyTuple identifies a piece of room state.
type StateKeyTuple struct {
	Type     string
	StateKey string
}

func (e *Event) Version() *RoomVersion { return e.version }

// EventID is the event's ID: the event_id key in room versions 1 and 2, the
// reference hash in base64 from version 3 on.
func (e *Event) EventID() string { return e.eventID }

// RoomID is the room_id key as written; it is "" for an m.room.create event
// of room version 12, whose room ID is CreatedRoomID.
func (e *Event) RoomID() string { return e.roomID }

func (e *Event) Sender() string    { return e.sender }
func (e *Event) Type() string      { return e.typ }
func (e *Event) StateKey() *string { return e.stateKey }
func (e *Event) IsState() bool     { return e.stateKey != nil }

// Content is the canonical JSON of the content object.
func (e *Event) Content() json.RawMessage { return e.content }

func (e *Event) PrevEventIDs() []string { return e.prevEvents }
func (e *Event) AuthEventIDs() []string { return e.authEvents }
func (e *Event) Depth() int64           { return e.depth }
func (e *Event) OriginServerTS() int64  { return e.originServerTS }

// Unsigned is the unsigned object the event arrived with (nil if none or if
// it was not an object). It is not covered by hashes or signatures.
func (e *Event) Unsigned() json.RawMessage { return e.unsigned }

// JSON is the canonical JSON of the event without unsigned: the bytes its
// hashes and size limit are computed from.
func (e *Event) JSON() []byte { return e.raw }

// Origin is the deprecated top-level origin key, "" if absent.
func (e *Event) Origin() string { return e.origin }

// ContentHashBase64 is hashes.sha256 as written in the event, "" if absent.
func (e *Event) ContentHashBase64() string { return e.contentHash }

// Redacts is the event ID an m.room.redaction redacts: the top-level key
// before room version 11, the content key from v11 on.
func (e *Event) Redacts() string { return e.redacts }

// StateTuple returns the (type, state_key) of a state event; ok is false
// for a message event.
func (e *Event) StateTuple() (t StateKeyTuple, ok bool) {
	if e.stateKey == nil {
		return StateKeyTuple{}, false
	}
	return StateKeyTuple{e.typ, *e.stateKey}, true
}

// CreatedRoomID is, for an m.room.create event, the ID of the room it
// creates: "!" and its event ID's hash in room version 12, its room_id
// before. It is "" for other events.
func (e *Event) CreatedRoomID() string {
	switch {
	case e.typ != "m.room.create" || e.stateKey == nil || *e.stateKey != "":
		return ""
	case e.version.HashRoomIDs:
		return "!" + e.eventID[1:]
	}
	return e.roomID
}

// PDU is the event as sent over federation: JSON with unsigned added back.
func (e *Event) PDU() []byte {
	if len(e.unsigned) == 0 {
		return e.raw
	}
	return canonicaljson.Set(e.raw, "unsigned", e.unsigned)
}

// WithUnsigned returns a copy of e with unsigned replaced (nil removes it).
// unsigned must be a JSON object; it is canonicalised.
func (e *Event) WithUnsigned(unsigned json.RawMessage) (*Event, error) {
	c := *e
	c.unsigned = nil
	if unsigned != nil {
		u, err := canonicaljson.Encode(unsigned, false)
		if err != nil {
			return nil, err
		}
		if u[0] != '{' {
			return nil, &ParseError{Key: "unsigned", Reason: "not an object"}
		}
		c.unsigned = u
	}
	return &c, nil
}
