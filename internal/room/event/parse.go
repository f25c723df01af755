package event

import (
	"errors"
	"fmt"
	"strconv"
	"sync"

	"chappe.eu/chappe/internal/matrix"
	"chappe.eu/chappe/internal/room/canonicaljson"
)

// ParseError says why Parse refused an event. Such an event does not comply
// with its room version's event format and is dropped, not rejected.
type ParseError struct {
	Key    string // the offending top-level key, "" for the event as a whole
	Reason string
	Err    error // what it wraps: ErrTooLarge or a canonicaljson error
}

func (e *ParseError) Error() string {
	s := "event: "
	if e.Key != "" {
		s += e.Key + ": "
	}
	s += e.Reason
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *ParseError) Unwrap() error { return e.Err }

// ErrTooLarge is wrapped by the ParseError of an event over MaxPDUSize.
var ErrTooLarge = errors.New("larger than 65536 bytes")

// maxKeyBytes limits type and state_key ("Size limits").
const maxKeyBytes = 255

// Parse parses a PDU of room version v. It checks the event format of the
// version and nothing that depends on other events, keys or state:
//
//   - the JSON is canonicalised, in strict mode from room version 6 (floats,
//     out-of-range integers, duplicate keys and invalid UTF-8 are refused;
//     before v6 only the latter two);
//   - type (≤ 255 bytes), sender (a user ID, historical grammar allowed),
//     content (an object), depth (0 ≤ depth ≤ 2**63-1, and ≤ 2**53-1 from v6
//     by strict canonical JSON), origin_server_ts
//     (an integer), prev_events and auth_events are required; room_id is
//     required too (a string starting with '!'), except on m.room.create in
//     room version 12;
//   - prev_events and auth_events are [[event ID, {hashes}], …] in versions
//     1 and 2 and lists of event IDs after; versions 1 and 2 also require
//     event_id, with a server name;
//   - state_key, if present, is a string of ≤ 255 bytes; hashes, signatures
//     and redacts, if present, have the right types (hashes and signatures
//     are optional here: VerifyContentHash and VerifySignatures require
//     them);
//   - the canonical JSON without unsigned is at most MaxPDUSize bytes.
//     NOTSPEC: the limit excludes unsigned, which no signature covers, so
//     that a relaying server cannot push a valid event over it.
//
// An unsigned value that is not an object is ignored rather than refused,
// and so are floats in unsigned from room version 6, for the same reason. From room version 3 the event ID is computed from
// the reference hash; an event_id key in the JSON is then just data.
// Grammar beyond the above (the room_id's server, auth_events counts) is for
// the authorization rules, which reject rather than drop.
func Parse(raw []byte, v *RoomVersion) (*Event, error) {
	buf := scratchPool.Get().(*[]byte)
	defer putScratch(buf)
	canon, err := canonicaljson.AppendEncode((*buf)[:0], raw, v.StrictCanonicalJSON)
	if err != nil && v.StrictCanonicalJSON && (errors.Is(err, canonicaljson.ErrFloat) || errors.Is(err, canonicaljson.ErrRange)) {
		canon, err = strictButUnsigned((*buf)[:0], raw, err)
	}
	*buf = canon
	if err != nil {
		return nil, &ParseError{Reason: "invalid JSON", Err: err}
	}
	if canon[0] != '{' {
		return nil, &ParseError{Reason: "not a JSON object"}
	}
	if len(canon) > MaxPDUSize+maxUnsignedSize {
		return nil, &ParseError{Reason: fmt.Sprintf("%d bytes of canonical JSON", len(canon)), Err: ErrTooLarge}
	}
	e := &Event{version: v}
	p := parser{e: e}
	// Copy every member but unsigned into the event's own buffer and parse
	// the copies, so that the accessors' slices point into e.raw. The
	// buffer never grows (the copy is no longer than canon), so the slices
	// stay valid.
	out := make([]byte, 1, len(canon))
	out[0] = '{'
	for k, val := range canonicaljson.Members(canon) {
		if string(k) == "unsigned" {
			if val[0] == '{' {
				e.unsigned = append([]byte(nil), val...)
			}
			continue
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = append(out, '"')
		out = append(out, k...)
		out = append(out, '"', ':')
		out = append(out, val...)
		p.member(string(k), out[len(out)-len(val):])
	}
	out = append(out, '}')
	if p.err != nil {
		return nil, p.err
	}
	if err := p.finish(); err != nil {
		return nil, err
	}
	if len(out) > MaxPDUSize {
		return nil, &ParseError{Reason: fmt.Sprintf("%d bytes of canonical JSON", len(out)), Err: ErrTooLarge}
	}
	e.raw = out
	if v.EventIDFormat != EventIDServerGenerated {
		e.eventID = formatEventID(referenceHash(out, v), v)
	}
	return e, nil
}

// strictButUnsigned is the slow path of strict parsing for JSON with a
// float or a large integer: it accepts the event if the number is in
// unsigned, which is not part of the event (neither hashed nor signed) and
// which a relaying server could otherwise use to make a valid event invalid.
// It returns strictErr if the number is elsewhere.
func strictButUnsigned(dst, raw []byte, strictErr error) ([]byte, error) {
	canon, err := canonicaljson.AppendEncode(dst, raw, false)
	if err != nil || canon[0] != '{' {
		return canon, strictErr
	}
	for k, val := range canonicaljson.Members(canon) {
		if string(k) != "unsigned" && canonicaljson.Valid(val, true) != nil {
			return canon, strictErr
		}
	}
	return canon, nil
}

// maxUnsignedSize bounds the unsigned object Parse is willing to skip over,
// so that hostile input is refused before it is copied.
const maxUnsignedSize = 1 << 20

var scratchPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func putScratch(b *[]byte) {
	if cap(*b) <= 4*MaxPDUSize {
		scratchPool.Put(b)
	}
}

// parser collects the top-level members of an event.
type parser struct {
	e    *Event
	seen uint // requiredBit of each key seen
	err  error

	contentRaw []byte
	redacts    []byte
}

func (p *parser) fail(key, format string, args ...any) {
	if p.err == nil {
		p.err = &ParseError{Key: key, Reason: fmt.Sprintf(format, args...)}
	}
}

func (p *parser) member(key string, val []byte) {
	e := p.e
	p.seen |= requiredBit(key)
	switch key {
	case "type":
		e.typ = p.str(key, val)
		if len(e.typ) > maxKeyBytes {
			p.fail(key, "longer than %d bytes", maxKeyBytes)
		}
	case "state_key":
		sk := p.str(key, val)
		if len(sk) > maxKeyBytes {
			p.fail(key, "longer than %d bytes", maxKeyBytes)
		}
		e.stateKey = &sk
	case "sender":
		e.sender = p.str(key, val)
		if _, err := matrix.ParseUserID(e.sender); err != nil && p.err == nil {
			p.fail(key, "%v", err)
		}
	case "room_id":
		e.roomID = p.str(key, val)
		if len(e.roomID) > matrix.MaxIDLength || len(e.roomID) < 2 || e.roomID[0] != '!' {
			p.fail(key, "not a room ID")
		}
	case "content":
		if val[0] != '{' {
			p.fail(key, "not an object")
		}
		e.content = val
	case "depth":
		e.depth = p.integer(key, val)
		if e.depth < 0 {
			p.fail(key, "negative")
		}
	case "origin_server_ts":
		e.originServerTS = p.integer(key, val)
	case "prev_events":
		e.prevEvents = p.refs(key, val)
	case "auth_events":
		e.authEvents = p.refs(key, val)
	case "event_id":
		if e.version.EventIDFormat == EventIDServerGenerated {
			e.eventID = p.str(key, val)
			id, err := matrix.ParseEventID(e.eventID)
			if err == nil {
				_, err = matrix.ParseServerName(string(id.Server()))
			}
			if err != nil {
				p.fail(key, "not an event ID with a server name: %v", err)
			}
		}
	case "redacts":
		p.redacts = val
	case "origin":
		if val[0] == '"' {
			e.origin, _ = canonicaljson.Unquote(val)
		}
	case "hashes":
		if val[0] != '{' {
			p.fail(key, "not an object")
		} else if h, ok := canonicaljson.Get(val, "sha256"); ok {
			e.contentHash = p.str("hashes.sha256", h)
		}
	case "signatures":
		p.signatures(val)
	}
}

func (p *parser) str(key string, val []byte) string {
	s, err := canonicaljson.Unquote(val)
	if err != nil {
		p.fail(key, "not a string")
	}
	return s
}

func (p *parser) integer(key string, val []byte) int64 {
	// Canonical JSON writes integers in plain decimal; anything ParseInt
	// refuses is a float or out of range.
	n, err := strconv.ParseInt(string(val), 10, 64)
	if err != nil {
		p.fail(key, "not an integer in range")
	}
	return n
}

// refs parses prev_events or auth_events.
func (p *parser) refs(key string, val []byte) []string {
	if val[0] != '[' {
		p.fail(key, "not an array")
		return nil
	}
	ids := []string{}
	for elem := range canonicaljson.Elements(val) {
		idJSON := elem
		if p.e.version.EventIDFormat == EventIDServerGenerated {
			// [event ID, {"sha256": hash}]
			var parts [][]byte
			if elem[0] == '[' {
				for part := range canonicaljson.Elements(elem) {
					parts = append(parts, part)
				}
			}
			if len(parts) != 2 || parts[1][0] != '{' {
				p.fail(key, "not a list of [event ID, hashes] pairs")
				return nil
			}
			idJSON = parts[0]
		}
		id, err := canonicaljson.Unquote(idJSON)
		if err == nil {
			_, err = matrix.ParseEventID(id)
		}
		if err != nil {
			p.fail(key, "not a list of event IDs")
			return nil
		}
		ids = append(ids, id)
	}
	return ids
}

// signatures checks the shape {server: {key ID: signature}}.
func (p *parser) signatures(val []byte) {
	if val[0] != '{' {
		p.fail("signatures", "not an object")
		return
	}
	for _, byServer := range canonicaljson.Members(val) {
		if byServer[0] != '{' {
			p.fail("signatures", "not an object of objects")
			return
		}
		for _, sig := range canonicaljson.Members(byServer) {
			if sig[0] != '"' {
				p.fail("signatures", "a signature is not a string")
				return
			}
		}
	}
}

// finish checks what depends on several keys.
func (p *parser) finish() error {
	e, v := p.e, p.e.version
	required := []string{"type", "sender", "content", "depth", "origin_server_ts", "prev_events", "auth_events"}
	if !(v.HashRoomIDs && e.typ == "m.room.create") {
		required = append(required, "room_id")
	}
	if v.EventIDFormat == EventIDServerGenerated {
		required = append(required, "event_id")
	}
	for _, key := range required {
		if p.seen&requiredBit(key) == 0 {
			return &ParseError{Key: key, Reason: "missing"}
		}
	}
	if e.typ == "m.room.redaction" {
		if v.RedactsInContent {
			if r, ok := canonicaljson.Get(e.content, "redacts"); ok && r[0] == '"' {
				e.redacts, _ = canonicaljson.Unquote(r)
			}
		} else if p.redacts != nil {
			if p.redacts[0] != '"' {
				return &ParseError{Key: "redacts", Reason: "not a string"}
			}
			e.redacts, _ = canonicaljson.Unquote(p.redacts)
		}
	}
	return nil
}

// requiredBit numbers the keys that may be required, for parser.seen.
func requiredBit(key string) uint {
	switch key {
	case "type":
		return 1 << 0
	case "sender":
		return 1 << 1
	case "content":
		return 1 << 2
	case "depth":
		return 1 << 3
	case "origin_server_ts":
		return 1 << 4
	case "prev_events":
		return 1 << 5
	case "auth_events":
		return 1 << 6
	case "room_id":
		return 1 << 7
	case "event_id":
		return 1 << 8
	}
	return 0
}
