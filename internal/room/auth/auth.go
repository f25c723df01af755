// Package auth implements the authorization rules of room versions 1–12:
// whether an event is allowed given a set of room state, which state an event
// must cite as its auth_events, and what a room's power levels mean.
//
// Everything here is pure: no I/O, no signatures, no storage. Callers verify
// signatures (including the signature of the server named by
// join_authorised_via_users_server, rule 4.2 of v8+, see JoinAuthorisedVia),
// exclude rejected events from the state they pass in, and decide what a
// failed check means (reject or soft-fail).
package auth

import (
	"fmt"
	"strings"

	"chappe.eu/chappe/internal/room/canonicaljson"
	"chappe.eu/chappe/internal/room/event"
)

// StateMap is the state an event is checked against, keyed by (type, state_key).
type StateMap map[event.StateKeyTuple]*event.Event

// Error is a failed authorization rule. Rule is the rule's number in the
// room version's list ("5.3.2" is rule 5.3.2 of that version's page), so the
// same check has different numbers in different versions.
type Error struct {
	Version string // room version ID
	Rule    string
	Reason  string
}

func (e *Error) Error() string {
	return fmt.Sprintf("auth: room v%s rule %s: %s", e.Version, e.Rule, e.Reason)
}

// Tuples of the state the rules read.
var (
	createTuple      = event.StateKeyTuple{Type: "m.room.create"}
	powerLevelsTuple = event.StateKeyTuple{Type: "m.room.power_levels"}
	joinRulesTuple   = event.StateKeyTuple{Type: "m.room.join_rules"}
)

func memberTuple(userID string) event.StateKeyTuple {
	return event.StateKeyTuple{Type: "m.room.member", StateKey: userID}
}

// Check reports whether ev is allowed by the authorization rules of its room
// version given the state (its auth events, or the room state before it). The
// create event must be in the map when ev is not itself the create event (also
// for v12, where it is not listed in auth_events). The error, an *Error, says
// which rule failed.
//
// Check does not look at the auth_events list itself (rules "Considering the
// event's auth_events" 2.1–2.3, 3.1–3.3 in v12; see CheckAuthEvents) but
// does apply its room_id rule (2.5, 3.5 in v12) to the state it reads. It
// does not verify signatures. Check never modifies state and is safe for
// concurrent use; it caches the parse of each power levels event it reads,
// for as long as that *event.Event is alive.
func Check(ev *event.Event, state StateMap) error {
	c := checker{ev: ev, v: ev.Version(), state: state}
	c.lay = layoutFor(c.v)
	if ev.Type() == "m.room.create" {
		return c.checkCreate()
	}
	if err := c.checkRoom(); err != nil {
		return err
	}
	if !c.create.federate && domain(ev.Sender()) != c.create.senderHost {
		return c.reject(c.lay.federate, "", "the room does not federate (m.federate is false) and the sender is from %s, not %s",
			domain(ev.Sender()), c.create.senderHost)
	}
	if c.v.SpecialCaseAliases && ev.Type() == "m.room.aliases" {
		sk := ev.StateKey()
		if sk == nil {
			return c.reject(c.lay.aliases, ".1", "m.room.aliases has no state_key")
		}
		if *sk != domain(ev.Sender()) {
			return c.reject(c.lay.aliases, ".2", "sender's domain %q does not match state_key %q", domain(ev.Sender()), *sk)
		}
		return nil
	}
	if ev.Type() == "m.room.member" {
		return c.checkMember()
	}
	if m := c.membership(ev.Sender()); m != "join" {
		return c.reject(c.lay.joined, "", "sender's membership is %q, not join", orNone(m))
	}
	pl := c.powerLevels()
	senderLevel := pl.UserLevel(ev.Sender())
	if ev.Type() == "m.room.third_party_invite" {
		if senderLevel >= pl.Invite {
			return nil
		}
		return c.reject(c.lay.tpi, ".1", "sender's power level %d is below the invite level %d", senderLevel, pl.Invite)
	}
	if need := pl.EventLevel(ev.Type(), ev.IsState()); need > senderLevel {
		return c.reject(c.lay.required, "", "%s needs power level %d; sender has %d", ev.Type(), need, senderLevel)
	}
	if sk := ev.StateKey(); sk != nil && strings.HasPrefix(*sk, "@") && *sk != ev.Sender() {
		return c.reject(c.lay.stateKey, "", "state_key %q starts with @ and is not the sender", *sk)
	}
	if ev.Type() == "m.room.power_levels" {
		return c.checkPowerLevels(pl, senderLevel)
	}
	if c.lay.redaction != 0 && ev.Type() == "m.room.redaction" {
		if senderLevel >= pl.Redact {
			return nil
		}
		if d := domain(ev.Redacts()); d != "" && d == domain(ev.EventID()) {
			return nil
		}
		return c.reject(c.lay.redaction, ".3", "sender's power level %d is below the redact level %d and %q is from another server",
			senderLevel, pl.Redact, ev.Redacts())
	}
	return nil
}

// checker carries what one Check has read so far.
type checker struct {
	ev     *event.Event
	v      *event.RoomVersion
	state  StateMap
	lay    layout
	create createInfo
	pl     *PowerLevels
}

func (c *checker) reject(rule int, sub string, format string, args ...any) error {
	return &Error{Version: c.v.ID, Rule: fmt.Sprint(rule) + sub, Reason: fmt.Sprintf(format, args...)}
}

// checkRoom finds the create event and applies the room_id rules: v12 rule 2
// (the room ID is the create event's ID) and "If any event in auth_events has
// a room_id which does not match that of the event being authorised, reject"
// to every piece of state the rules may read. Before v12 a missing create
// event is rule 2.4 ("If there is no m.room.create event among the entries").
func (c *checker) checkRoom() error {
	create := c.state[createTuple]
	if c.v.PrivilegedCreators {
		if create == nil || !strings.HasPrefix(create.EventID(), "$") ||
			c.ev.RoomID() != "!"+create.EventID()[1:] {
			return c.reject(2, "", "room_id %q is not the ID of the room's m.room.create event", c.ev.RoomID())
		}
	} else {
		if create == nil {
			return c.reject(c.lay.authEvents, ".4", "no m.room.create event in the state")
		}
		if create.RoomID() != c.ev.RoomID() {
			return c.reject(c.lay.authEvents, ".5", "m.room.create is from room %q", create.RoomID())
		}
	}
	c.create = parseCreate(create)
	tuples, _ := authEventsNeeded(c.v, c.ev.Type(), c.ev.Sender(), c.ev.StateKey(), c.ev.Content())
	for _, t := range tuples {
		if e := c.state[t]; e != nil && e.RoomID() != c.ev.RoomID() {
			return c.reject(c.lay.authEvents, ".5", "%s %q is from room %q", t.Type, t.StateKey, e.RoomID())
		}
	}
	return nil
}

// membership is userID's current membership, "" when there is none.
func (c *checker) membership(userID string) string {
	m := c.state[memberTuple(userID)]
	if m == nil {
		return ""
	}
	s, _ := stringValue(field(m.Content(), "membership"))
	return s
}

// joinRule is the current join rule. NOTSPEC: the rules do not say what it is
// without an m.room.join_rules event (or without its join_rule key); like
// every implementation, and as rooms were created before join rules existed,
// it is "invite".
func (c *checker) joinRule() string {
	jr := c.state[joinRulesTuple]
	if jr == nil {
		return "invite"
	}
	raw := field(jr.Content(), "join_rule")
	if raw == nil {
		return "invite"
	}
	s, _ := stringValue(raw)
	return s
}

// powerLevels returns the power levels in the state, parsed once per Check.
func (c *checker) powerLevels() *PowerLevels {
	if c.pl == nil {
		c.pl = levelsFor(c.create, c.state[powerLevelsTuple])
	}
	return c.pl
}

func orNone(membership string) string {
	if membership == "" {
		return "none"
	}
	return membership
}

// layout numbers the top-level rules of a room version's list: versions
// 1–5 have the m.room.aliases rule 4, versions 1–2 the redaction rule 11,
// version 12 the room_id rule 2.
type layout struct {
	authEvents, federate, aliases, member, joined int
	tpi, required, stateKey, powerLevels          int
	redaction                                     int // 0 when there is no such rule
}

func layoutFor(v *event.RoomVersion) layout {
	switch {
	case v.PrivilegedCreators:
		return layout{authEvents: 3, federate: 4, member: 5, joined: 6, tpi: 7, required: 8, stateKey: 9, powerLevels: 10}
	case v.SpecialCaseAliases:
		l := layout{authEvents: 2, federate: 3, aliases: 4, member: 5, joined: 6, tpi: 7, required: 8, stateKey: 9, powerLevels: 10}
		if redactionAuthRule(v) {
			l.redaction = 11
		}
		return l
	default:
		return layout{authEvents: 2, federate: 3, member: 4, joined: 5, tpi: 6, required: 7, stateKey: 8, powerLevels: 9}
	}
}

// redactionAuthRule reports whether the version authorises redactions by
// the redact level or by the domains of event IDs (v1–v2 rule 11). From v3,
// event IDs have no domain, and redactions are checked on delivery instead
// (see RedactionAllowed).
func redactionAuthRule(v *event.RoomVersion) bool {
	return v.EventIDFormat == event.EventIDServerGenerated
}

// checkCreate applies rule 1.
func (c *checker) checkCreate() error {
	ev := c.ev
	if len(ev.PrevEventIDs()) > 0 {
		return c.reject(1, ".1", "m.room.create has prev_events")
	}
	if c.v.PrivilegedCreators {
		if ev.RoomID() != "" {
			return c.reject(1, ".2", "m.room.create has a room_id")
		}
	} else if d := domain(ev.RoomID()); d != domain(ev.Sender()) {
		return c.reject(1, ".2", "room_id domain %q does not match sender domain %q", d, domain(ev.Sender()))
	}
	content := ev.Content()
	if rv := field(content, "room_version"); rv != nil {
		s, ok := stringValue(rv)
		if _, known := event.Version(s); !ok || !known {
			return c.reject(1, ".3", "unknown room_version %s", clip(rv))
		}
	}
	switch {
	case c.v.PrivilegedCreators:
		if ac := field(content, "additional_creators"); ac != nil {
			if ac[0] != '[' {
				return c.reject(1, ".4", "additional_creators is not an array")
			}
			for raw := range canonicaljson.Elements(ac) {
				if s, ok := stringValue(raw); !ok || !validUserID(s) {
					return c.reject(1, ".4", "additional_creators holds %s, not a valid user ID", clip(raw))
				}
			}
		}
	case !c.v.ImplicitRoomCreator:
		if !hasField(content, "creator") {
			return c.reject(1, ".4", "m.room.create has no creator")
		}
	}
	return nil
}
