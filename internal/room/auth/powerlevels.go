package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"chappe.eu/chappe/internal/room/canonicaljson"
	"chappe.eu/chappe/internal/room/event"
)

// Infinite is the power level of a room creator in room versions with
// privileged creators (v12): "The power level of room creators is infinitely
// high". No parsed level reaches it, because those versions only accept
// integers in the canonical JSON range [-(2**53)+1, (2**53)-1].
const Infinite int64 = math.MaxInt64

// Defaults from the m.room.power_levels schema and the server-server API
// definitions of the invite, kick, ban and redact levels.
const (
	defaultBan           = 50
	defaultKick          = 50
	defaultRedact        = 50
	defaultInvite        = 0
	defaultStateDefault  = 50
	defaultEventsDefault = 0
	defaultUsersDefault  = 0
	defaultNotification  = 50 // notifications.room; no other key has a default
	noPowerLevelsCreator = 100
)

// The top-level integer keys of m.room.power_levels, in the order the rules
// list them. topKeys[i] is stored in PowerLevels.top(i).
var topKeys = [...]string{"users_default", "events_default", "state_default", "ban", "redact", "kick", "invite"}

const (
	keyUsersDefault = iota
	keyEventsDefault
	keyStateDefault
	keyBan
	keyRedact
	keyKick
	keyInvite
)

// PowerLevels is the meaning of a room's m.room.power_levels state for one
// room version, with the spec's defaults filled in for absent keys (and for an
// absent event). The maps hold only the entries present in the content; a
// value that is not a power level for the room version is treated as absent.
// A PowerLevels is immutable once returned and safe for concurrent use.
type PowerLevels struct {
	Ban, Kick, Redact, Invite   int64
	StateDefault, EventsDefault int64
	UsersDefault                int64
	Events                      map[string]int64
	Notifications               map[string]int64
	Users                       map[string]int64

	// present has bit i set when topKeys[i] is in the content with a valid value;
	// rule "check if they were added, changed or removed" compares presence.
	present uint8
	// hasEvent is false when the room has no m.room.power_levels event.
	hasEvent bool
	// creators are the room's creators: in v12 every one has Infinite power;
	// before v12 there is one, who has 100 while the room has no power levels.
	creators []string
	// privileged says creators have infinite power (v12).
	privileged bool
}

// ParsePowerLevels returns the power levels in force given a room's create
// event and its m.room.power_levels event (nil when the room has none). The
// room version is the create event's.
//
// The returned PowerLevels is always usable. The error is non-nil when create
// is not a create event, or when the power levels content breaks its room
// version's format (a user ID key that is not valid, a value that is not an
// integer — or, before v10, an integer string — …); the values that could be
// read are still returned, with the defaults for the rest, because state that
// was once accepted must keep working.
func ParsePowerLevels(create, powerLevels *event.Event) (*PowerLevels, error) {
	if create == nil || create.Type() != "m.room.create" {
		return &PowerLevels{Ban: defaultBan, Kick: defaultKick, Redact: defaultRedact,
			Invite: defaultInvite, StateDefault: defaultStateDefault}, errors.New("auth: power levels need the m.room.create event")
	}
	c := parseCreate(create)
	if powerLevels == nil {
		return c.defaultLevels(), nil
	}
	if powerLevels.Type() != "m.room.power_levels" {
		return c.defaultLevels(), fmt.Errorf("auth: %s is not an m.room.power_levels event", powerLevels.EventID())
	}
	pl, bad := parsePowerLevels(powerLevels.Content(), create.Version())
	pl.creators, pl.privileged = c.creators, c.privileged
	return pl, bad.err()
}

// UserLevel is the power level of userID, taking the room's creators into
// account: Infinite for a creator in v12, 100 for the creator of an earlier
// room without power levels.
func (p *PowerLevels) UserLevel(userID string) int64 {
	if p.privileged && p.IsCreator(userID) {
		return Infinite
	}
	if !p.hasEvent {
		if len(p.creators) > 0 && p.creators[0] == userID {
			return noPowerLevelsCreator
		}
		return defaultUsersDefault
	}
	if l, ok := p.Users[userID]; ok {
		return l
	}
	return p.UsersDefault
}

// IsCreator reports whether userID is one of the room's creators: the
// creator of the create event (content.creator before v11, its sender from
// v11), and in v12 also content.additional_creators.
func (p *PowerLevels) IsCreator(userID string) bool {
	for _, c := range p.creators {
		if c == userID {
			return true
		}
	}
	return false
}

// EventLevel is the required power level to send an event of type typ: the
// events entry for the type, else state_default or events_default.
func (p *PowerLevels) EventLevel(typ string, isState bool) int64 {
	if l, ok := p.Events[typ]; ok {
		return l
	}
	if isState {
		return p.StateDefault
	}
	return p.EventsDefault
}

// NotificationLevel is the level required to trigger the notification key
// (such as "room" for @room mentions). Only "room" has a default (50); for
// another absent key ok is false.
func (p *PowerLevels) NotificationLevel(key string) (level int64, ok bool) {
	if l, ok := p.Notifications[key]; ok {
		return l, true
	}
	if key == "room" {
		return defaultNotification, true
	}
	return 0, false
}

func (p *PowerLevels) top(i int) *int64 {
	switch i {
	case keyUsersDefault:
		return &p.UsersDefault
	case keyEventsDefault:
		return &p.EventsDefault
	case keyStateDefault:
		return &p.StateDefault
	case keyBan:
		return &p.Ban
	case keyRedact:
		return &p.Redact
	case keyKick:
		return &p.Kick
	default:
		return &p.Invite
	}
}

// plProblems records what in a power levels content breaks its room
// version's format; which of these reject an event depends on the version.
type plProblems struct {
	top           string // a top-level key whose value is not a power level
	events        string // why events is not an object of power levels
	notifications string // likewise for notifications
	users         string // why users is not an object of valid user IDs to power levels
}

func (b plProblems) err() error {
	for _, s := range []string{b.top, b.events, b.notifications, b.users} {
		if s != "" {
			return errors.New("auth: m.room.power_levels: " + s)
		}
	}
	return nil
}

// parsePowerLevels reads the canonical content of an m.room.power_levels
// event of room version v leniently and reports what breaks the version's
// format.
func parsePowerLevels(content json.RawMessage, v *event.RoomVersion) (*PowerLevels, plProblems) {
	p := &PowerLevels{Ban: defaultBan, Kick: defaultKick, Redact: defaultRedact, Invite: defaultInvite,
		StateDefault: defaultStateDefault, EventsDefault: defaultEventsDefault,
		UsersDefault: defaultUsersDefault, hasEvent: true}
	var bad plProblems
	if len(content) == 0 || content[0] != '{' {
		bad.top = "content is not an object"
		return p, bad
	}
	for rawKey, raw := range canonicaljson.Members(content) {
		switch key := string(rawKey); key {
		case "events":
			p.Events, bad.events = parseLevelMap(raw, key, v, false)
		case "notifications":
			p.Notifications, bad.notifications = parseLevelMap(raw, key, v, false)
		case "users":
			p.Users, bad.users = parseLevelMap(raw, key, v, true)
		default:
			i := topKeyIndex(key)
			if i < 0 {
				continue
			}
			l, ok := parseLevel(raw, v)
			if !ok {
				if bad.top == "" {
					bad.top = fmt.Sprintf("%s is not a power level: %s", key, clip(raw))
				}
				continue
			}
			*p.top(i) = l
			p.present |= 1 << i
		}
	}
	return p, bad
}

func topKeyIndex(key string) int {
	for i, k := range topKeys {
		if k == key {
			return i
		}
	}
	return -1
}

// parseLevelMap reads an object of power levels, skipping entries that are
// not power levels (or, for users, whose key is not a valid user ID).
func parseLevelMap(raw json.RawMessage, name string, v *event.RoomVersion, userKeys bool) (map[string]int64, string) {
	if raw[0] != '{' {
		return nil, name + " is not an object"
	}
	out := make(map[string]int64)
	problem := ""
	for rawKey, r := range canonicaljson.Members(raw) {
		k := keyString(rawKey)
		if userKeys && !validUserID(k) {
			if problem == "" {
				problem = fmt.Sprintf("%s key %q is not a valid user ID", name, k)
			}
			continue
		}
		l, ok := parseLevel(r, v)
		if !ok {
			if problem == "" {
				problem = fmt.Sprintf("%s[%q] is not a power level: %s", name, k, clip(r))
			}
			continue
		}
		out[k] = l
	}
	return out, problem
}

// keyString returns the key of a raw key of canonical JSON (without quotes),
// unescaping it if need be.
func keyString(raw []byte) string {
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw)
	}
	quoted := make([]byte, 0, len(raw)+2)
	quoted = append(append(append(quoted, '"'), raw...), '"')
	s, _ := canonicaljson.Unquote(quoted)
	return s
}

// maxSafe bounds integers in canonical JSON (v6+): [-(2**53)+1, (2**53)-1].
const maxSafe = 1<<53 - 1

// parseLevel reads one power level value as room version v allows it:
//   - a JSON integer (v6+: within the canonical JSON range);
//   - v1–v9: a string holding an integer, with optional surrounding
//     whitespace, leading zeros and one sign ("stringy power levels");
//   - v1–v5: a number with a fraction or exponent, truncated toward zero
//     ("floaty power levels"; v6+ canonical JSON forbids floats).
//
// NOTSPEC: values that do not fit in an int64 are rejected (the spec bounds
// them only from v6); no real room uses them.
func parseLevel(raw json.RawMessage, v *event.RoomVersion) (int64, bool) {
	if len(raw) == 0 {
		return 0, false
	}
	switch c := raw[0]; {
	case c == '"':
		if v.IntegerPowerLevels {
			return 0, false
		}
		s, ok := stringValue(raw)
		if !ok {
			return 0, false
		}
		return parseIntString(strings.TrimSpace(s))
	case c == '-' || isDigit(c):
		s := string(raw)
		if strings.ContainsAny(s, ".eE") {
			if v.StrictCanonicalJSON {
				return 0, false
			}
			f, err := strconv.ParseFloat(s, 64)
			if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
				return 0, false
			}
			f = math.Trunc(f)
			if f < math.MinInt64 || f >= math.MaxInt64 {
				return 0, false
			}
			return int64(f), true
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, false
		}
		if v.StrictCanonicalJSON && (n > maxSafe || n < -maxSafe) {
			return 0, false
		}
		return n, true
	}
	return 0, false
}

// parseIntString accepts [+-]?[0-9]+ (the stringy power levels format once
// whitespace is trimmed).
func parseIntString(s string) (int64, bool) {
	digits := s
	if len(digits) > 0 && (digits[0] == '+' || digits[0] == '-') {
		digits = digits[1:]
	}
	if digits == "" {
		return 0, false
	}
	for i := 0; i < len(digits); i++ {
		if !isDigit(digits[i]) {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// clip shortens a JSON value for an error message.
func clip(raw json.RawMessage) string {
	if len(raw) > 40 {
		return string(raw[:37]) + "..."
	}
	return string(raw)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
