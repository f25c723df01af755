package event

import "strconv"

// RoomVersion describes which algorithms a room version uses. Room versions
// are opaque identifiers; code asks a RoomVersion about the behaviour it needs
// instead of comparing version strings.
type RoomVersion struct {
	ID     string
	Stable bool

	// EventIDFormat says how event IDs are formed.
	EventIDFormat EventIDFormat
	// StateRes is the state resolution algorithm: 1 (v1), 2 (v2–v11) or
	// 21 (v2.1, room version 12).
	StateRes int

	// SpecialCaseAliases: m.room.aliases events are authorised by their
	// state key's server alone (v1–v5).
	SpecialCaseAliases bool
	// EnforceKeyValidity: signing keys must be valid at origin_server_ts (v5+).
	EnforceKeyValidity bool
	// StrictCanonicalJSON: integers out of range and floats are rejected (v6+).
	StrictCanonicalJSON bool
	// NotificationsPowerLevel: the notifications key of m.room.power_levels
	// is checked like the other levels (v6+).
	NotificationsPowerLevel bool
	// Knock: the knock membership and join rule exist (v7+).
	Knock bool
	// RestrictedJoin: the restricted join rule exists (v8+).
	RestrictedJoin bool
	// KnockRestricted: the knock_restricted join rule exists (v10+).
	KnockRestricted bool
	// IntegerPowerLevels: power levels must be integers, not strings (v10+).
	IntegerPowerLevels bool
	// ImplicitRoomCreator: m.room.create has no creator key; the sender is
	// the creator (v11+).
	ImplicitRoomCreator bool
	// RedactsInContent: m.room.redaction carries redacts in content (v11+).
	RedactsInContent bool
	// PrivilegedCreators: the room's creators (sender and additional_creators
	// of m.room.create) have infinite power and the room ID is derived from
	// the create event's reference hash (v12).
	PrivilegedCreators bool
	// HashRoomIDs: the room ID is "!" + the create event's reference hash in
	// URL-safe base64 and m.room.create has no room_id (v12).
	HashRoomIDs bool

	// Redaction selects the redaction algorithm.
	Redaction RedactionRules
}

// EventIDFormat says how a room version forms event IDs.
type EventIDFormat int

const (
	// EventIDServerGenerated: "$opaque:server.name", carried in the event (v1, v2).
	EventIDServerGenerated EventIDFormat = iota + 1
	// EventIDHashStdBase64: "$" + unpadded standard base64 of the reference hash (v3).
	EventIDHashStdBase64
	// EventIDHashURLBase64: "$" + unpadded URL-safe base64 of the reference hash (v4+).
	EventIDHashURLBase64
)

// RedactionRules selects one room version's redaction algorithm.
type RedactionRules int

const (
	RedactionV1  RedactionRules = iota + 1 // v1–v5
	RedactionV6                            // v6–v8: m.room.aliases loses its special keys
	RedactionV9                            // v9–v10: join_authorised_via_users_server kept
	RedactionV11                           // v11–v12
)

// DefaultRoomVersion is the version new rooms get (spec: "Servers SHOULD use
// room version 12 as the default room version").
const DefaultRoomVersion = "12"

var versions = map[string]*RoomVersion{}

func init() {
	v := RoomVersion{Stable: true, EventIDFormat: EventIDServerGenerated, StateRes: 1,
		SpecialCaseAliases: true, Redaction: RedactionV1}
	add := func(id string, change func(*RoomVersion)) {
		change(&v)
		v.ID = id
		copied := v
		versions[id] = &copied
	}
	add("1", func(*RoomVersion) {})
	add("2", func(v *RoomVersion) { v.StateRes = 2 })
	add("3", func(v *RoomVersion) { v.EventIDFormat = EventIDHashStdBase64 })
	add("4", func(v *RoomVersion) { v.EventIDFormat = EventIDHashURLBase64 })
	add("5", func(v *RoomVersion) { v.EnforceKeyValidity = true })
	add("6", func(v *RoomVersion) {
		v.SpecialCaseAliases = false
		v.StrictCanonicalJSON = true
		v.NotificationsPowerLevel = true
		v.Redaction = RedactionV6
	})
	add("7", func(v *RoomVersion) { v.Knock = true })
	add("8", func(v *RoomVersion) { v.RestrictedJoin = true })
	add("9", func(v *RoomVersion) { v.Redaction = RedactionV9 })
	add("10", func(v *RoomVersion) { v.KnockRestricted = true; v.IntegerPowerLevels = true })
	add("11", func(v *RoomVersion) {
		v.ImplicitRoomCreator = true
		v.RedactsInContent = true
		v.Redaction = RedactionV11
	})
	add("12", func(v *RoomVersion) { v.PrivilegedCreators = true; v.HashRoomIDs = true; v.StateRes = 21 })
}

// Version returns the room version with the given ID, or false if this
// server does not implement it.
func Version(id string) (*RoomVersion, bool) {
	v, ok := versions[id]
	return v, ok
}

// Versions returns the IDs of every supported room version.
func Versions() []string {
	ids := make([]string, 0, len(versions))
	for i := 1; i <= len(versions); i++ {
		ids = append(ids, strconv.Itoa(i))
	}
	return ids
}
