package event

import (
	"slices"

	"chappe.eu/chappe/internal/room/canonicaljson"
)

// The redaction algorithms of the room versions (rooms/fragments/
// v1-redactions.md, v6-, v9-, v11-redactions.md). Room version 12 uses v11's.

// topLevelKeys are the keys redaction keeps, by algorithm. v11 drops origin,
// membership and prev_state.
var topLevelKeys = map[RedactionRules][]string{
	RedactionV1: {"event_id", "type", "room_id", "sender", "state_key", "content", "hashes",
		"signatures", "depth", "prev_events", "prev_state", "auth_events", "origin",
		"origin_server_ts", "membership"},
	RedactionV11: {"event_id", "type", "room_id", "sender", "state_key", "content", "hashes",
		"signatures", "depth", "prev_events", "auth_events", "origin_server_ts"},
}

func init() {
	topLevelKeys[RedactionV6] = topLevelKeys[RedactionV1]
	topLevelKeys[RedactionV9] = topLevelKeys[RedactionV1]
}

// allKeys marks an event type whose content survives redaction whole.
var allKeys = []string{"*"}

// contentKeys are the content keys redaction keeps, by algorithm and type.
var contentKeys = map[RedactionRules]map[string][]string{
	RedactionV1: {
		"m.room.member":             {"membership"},
		"m.room.create":             {"creator"},
		"m.room.join_rules":         {"join_rule"},
		"m.room.power_levels":       {"ban", "events", "events_default", "kick", "redact", "state_default", "users", "users_default"},
		"m.room.aliases":            {"aliases"},
		"m.room.history_visibility": {"history_visibility"},
	},
	RedactionV6: { // m.room.aliases loses its protection
		"m.room.member":             {"membership"},
		"m.room.create":             {"creator"},
		"m.room.join_rules":         {"join_rule"},
		"m.room.power_levels":       {"ban", "events", "events_default", "kick", "redact", "state_default", "users", "users_default"},
		"m.room.history_visibility": {"history_visibility"},
	},
	RedactionV9: { // restricted joins
		"m.room.member":             {"join_authorised_via_users_server", "membership"},
		"m.room.create":             {"creator"},
		"m.room.join_rules":         {"allow", "join_rule"},
		"m.room.power_levels":       {"ban", "events", "events_default", "kick", "redact", "state_default", "users", "users_default"},
		"m.room.history_visibility": {"history_visibility"},
	},
	RedactionV11: { // third_party_invite.signed is handled in redactContent
		"m.room.member":             {"join_authorised_via_users_server", "membership", "third_party_invite"},
		"m.room.create":             allKeys,
		"m.room.join_rules":         {"allow", "join_rule"},
		"m.room.power_levels":       {"ban", "events", "events_default", "invite", "kick", "redact", "state_default", "users", "users_default"},
		"m.room.history_visibility": {"history_visibility"},
		"m.room.redaction":          {"redacts"},
	},
}

// redact applies v's redaction algorithm to the canonical JSON of an event
// and returns canonical JSON, without signatures unless withSignatures.
// Keys are kept in order, so no re-sorting is needed. unsigned is dropped
// with the rest: callers that serve a redacted event attach their own.
func redact(canon []byte, rules RedactionRules, withSignatures bool) []byte {
	var typ string
	if t, ok := canonicaljson.Get(canon, "type"); ok && t[0] == '"' {
		typ, _ = canonicaljson.Unquote(t)
	}
	keep := topLevelKeys[rules]
	out := make([]byte, 0, len(canon))
	out = append(out, '{')
	for k, v := range canonicaljson.Members(canon) {
		if !slices.Contains(keep, string(k)) || !withSignatures && string(k) == "signatures" {
			continue
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = append(out, '"')
		out = append(out, k...)
		out = append(out, '"', ':')
		if string(k) == "content" {
			out = redactContent(out, v, typ, rules)
		} else {
			out = append(out, v...)
		}
	}
	return append(out, '}')
}

func redactContent(out, content []byte, typ string, rules RedactionRules) []byte {
	keep := contentKeys[rules][typ]
	if len(content) == 0 || content[0] != '{' {
		return append(out, "{}"...)
	}
	if slices.Equal(keep, allKeys) {
		return append(out, content...)
	}
	out = append(out, '{')
	first := true
	for k, v := range canonicaljson.Members(content) {
		if !slices.Contains(keep, string(k)) {
			continue
		}
		if rules == RedactionV11 && typ == "m.room.member" && string(k) == "third_party_invite" {
			// Only third_party_invite.signed survives, and only if
			// third_party_invite is an object (as Synapse reads "allows the
			// signed key of the third_party_invite key").
			if v[0] != '{' {
				continue
			}
			signed, ok := canonicaljson.Get(v, "signed")
			v = []byte("{}")
			if ok {
				v = canonicaljson.Set(nil, "signed", signed)
			}
		}
		if !first {
			out = append(out, ',')
		}
		first = false
		out = append(out, '"')
		out = append(out, k...)
		out = append(out, '"', ':')
		out = append(out, v...)
	}
	return append(out, '}')
}

// signedPart is what event signatures and the reference hash cover: the
// redacted event without signatures (and unsigned, which redaction drops).
func signedPart(canon []byte, v *RoomVersion) []byte {
	return redact(canon, v.Redaction, false)
}

// Redact returns e redacted by its room version's algorithm, with the same
// event ID and no unsigned.
func (e *Event) Redact() *Event {
	r, err := Parse(redact(e.raw, e.version.Redaction, true), e.version)
	if err != nil {
		// Redaction keeps every key Parse requires and only shrinks the
		// event, so a valid event always yields a valid redacted one.
		panic("event: redacted event does not parse: " + err.Error())
	}
	return r
}

// RedactJSON applies room version v's redaction algorithm to the event
// eventJSON and returns canonical JSON (without unsigned).
func RedactJSON(eventJSON []byte, v *RoomVersion) ([]byte, error) {
	canon, err := canonicalEvent(eventJSON, v)
	if err != nil {
		return nil, err
	}
	return redact(canon, v.Redaction, true), nil
}
