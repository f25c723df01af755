// Package event holds the room event (PDU) type of every room version:
// parsing, event IDs, content and reference hashes, signing and redaction.
// It is pure: no I/O, no database, no HTTP.
package event

import (
	"encoding/json"
)

// Event is a parsed, immutable room event (a PDU) of a known room version.
// Use the accessors; the fields are private so that an Event always matches
// the JSON it was parsed from.
type Event struct {
	version *RoomVersion
	raw     []byte // the JSON the event was parsed from, without unsigned

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
}

// StateKeyTuple identifies a piece of room state.
type StateKeyTuple struct {
	Type     string
	StateKey string
}

func (e *Event) Version() *RoomVersion     { return e.version }
func (e *Event) EventID() string           { return e.eventID }
func (e *Event) RoomID() string            { return e.roomID }
func (e *Event) Sender() string            { return e.sender }
func (e *Event) Type() string              { return e.typ }
func (e *Event) StateKey() *string         { return e.stateKey }
func (e *Event) IsState() bool             { return e.stateKey != nil }
func (e *Event) Content() json.RawMessage  { return e.content }
func (e *Event) PrevEventIDs() []string    { return e.prevEvents }
func (e *Event) AuthEventIDs() []string    { return e.authEvents }
func (e *Event) Depth() int64              { return e.depth }
func (e *Event) OriginServerTS() int64     { return e.originServerTS }
func (e *Event) Unsigned() json.RawMessage { return e.unsigned }
func (e *Event) JSON() []byte              { return e.raw }

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
