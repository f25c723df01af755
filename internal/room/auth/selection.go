package auth

import (
	"encoding/json"
	"errors"
	"fmt"

	"chappe.eu/chappe/internal/room/event"
)

// AuthEventsNeeded returns the state to select as auth_events for a new event
// (server-server API "Auth events selection"), per room version: the create
// event (not in v12, where the room ID stands for it), the power levels, the
// sender's membership and, for m.room.member, the target's membership, the
// join rules (join, invite, knock), the m.room.third_party_invite redeemed by
// an invite, and the membership of join_authorised_via_users_server (v8+).
// An m.room.create event needs none. Tuples are listed whether or not the
// room has such state; the caller selects those it has.
//
// The error reports an m.room.member event without a state_key, whose
// content cannot be read.
func AuthEventsNeeded(v *event.RoomVersion, typ, sender string, stateKey *string, content json.RawMessage) ([]event.StateKeyTuple, error) {
	if typ == "m.room.member" {
		content = canonical(content)
	}
	return authEventsNeeded(v, typ, sender, stateKey, content)
}

// authEventsNeeded is AuthEventsNeeded for canonical content.
func authEventsNeeded(v *event.RoomVersion, typ, sender string, stateKey *string, content []byte) ([]event.StateKeyTuple, error) {
	if typ == "m.room.create" {
		return nil, nil
	}
	need := make([]event.StateKeyTuple, 0, 6)
	if !v.PrivilegedCreators {
		need = append(need, createTuple)
	}
	need = append(need, powerLevelsTuple, memberTuple(sender))
	if typ != "m.room.member" {
		return need, nil
	}
	if stateKey == nil {
		return need, errors.New("auth: m.room.member without a state_key")
	}
	if *stateKey != sender {
		need = append(need, memberTuple(*stateKey))
	}
	mc := parseMemberContent(content) // what cannot be read selects nothing more
	membership, _ := stringValue(mc.Membership)
	if membership == "join" || membership == "invite" || membership == "knock" {
		need = append(need, joinRulesTuple)
	}
	if membership == "invite" && mc.ThirdPartyInvite != nil {
		if token, ok := tpiToken(mc.ThirdPartyInvite); ok {
			need = append(need, event.StateKeyTuple{Type: "m.room.third_party_invite", StateKey: token})
		}
	}
	if membership == "join" && v.RestrictedJoin && mc.JoinAuthorisedVia != nil {
		if via, ok := stringValue(mc.JoinAuthorisedVia); ok && via != sender && via != *stateKey {
			need = append(need, memberTuple(via))
		}
	}
	return need, nil
}

// CheckAuthEvents applies the rules about an incoming event's auth_events
// list ("Considering the event's auth_events": rule 2 of v1–v11, 3 of v12):
// authEvents must be exactly the events ev.AuthEventIDs() names (in any
// order), none listed twice, no two for one (type, state_key), each one the
// auth events selection asks for, none of them rejected (rejected reports
// which were; nil means none), all in ev's room, and, before v12, one of
// them the create event. It returns them as a StateMap for Check; for v12 the
// caller adds the create event the room ID names.
//
// A failed rule is an *Error; authEvents not matching ev.AuthEventIDs() is
// another error (the caller has not fetched what the event cites). For an
// m.room.create event it returns an empty map: rule 1 decides those before
// auth_events are considered.
func CheckAuthEvents(ev *event.Event, authEvents []*event.Event, rejected func(eventID string) bool) (StateMap, error) {
	v := ev.Version()
	r := layoutFor(v).authEvents
	reject := func(sub string, format string, args ...any) error {
		return &Error{Version: v.ID, Rule: itoa(r) + sub, Reason: fmt.Sprintf(format, args...)}
	}
	ids := ev.AuthEventIDs()
	if ev.Type() == "m.room.create" {
		// Rule 1 decides a create event before rule 2 reads auth_events.
		return StateMap{}, nil
	}
	byID := make(map[string]*event.Event, len(authEvents))
	for _, a := range authEvents {
		byID[a.EventID()] = a
	}
	listed := make(map[string]bool, len(ids))
	for _, id := range ids {
		if listed[id] {
			return nil, reject(".1", "auth event %s is listed twice", id)
		}
		listed[id] = true
		if byID[id] == nil {
			return nil, fmt.Errorf("auth: auth event %s not supplied", id)
		}
	}
	if len(byID) != len(listed) {
		return nil, errors.New("auth: supplied events that are not in auth_events")
	}
	need, err := authEventsNeeded(v, ev.Type(), ev.Sender(), ev.StateKey(), ev.Content())
	if err != nil {
		return nil, reject(".2", "%v", err)
	}
	state := make(StateMap, len(ids))
	for _, id := range ids {
		a := byID[id]
		t, ok := a.StateTuple()
		if !ok {
			return nil, reject(".2", "auth event %s is not a state event", id)
		}
		if state[t] != nil {
			return nil, reject(".1", "two auth events for (%s, %q)", t.Type, t.StateKey)
		}
		if !contains(need, t) {
			return nil, reject(".2", "auth event %s (%s, %q) is not one the event needs", id, t.Type, t.StateKey)
		}
		if rejected != nil && rejected(id) {
			return nil, reject(".3", "auth event %s was rejected", id)
		}
		if a.RoomID() != ev.RoomID() {
			return nil, reject(".5", "auth event %s is from room %q", id, a.RoomID())
		}
		state[t] = a
	}
	if !v.PrivilegedCreators && state[createTuple] == nil {
		return nil, reject(".4", "no m.room.create among the auth events")
	}
	return state, nil
}

func contains(ts []event.StateKeyTuple, t event.StateKeyTuple) bool {
	for _, x := range ts {
		if x == t {
			return true
		}
	}
	return false
}
