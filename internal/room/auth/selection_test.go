package auth

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"chappe.eu/chappe/internal/room/event"
)

var authEventsNeededTests = []struct {
	version, typ, sender string
	stateKey             *string
	content              string
	want                 string // tuples as type|state_key, space-separated
}{
	{"1", "m.room.create", "@a:x", ptr(""), `{}`, ""},
	{"1", "m.room.message", "@a:x", nil, `{}`, "m.room.create| m.room.power_levels| m.room.member|@a:x"},
	{"12", "m.room.message", "@a:x", nil, `{}`, "m.room.power_levels| m.room.member|@a:x"},
	{"11", "m.room.topic", "@a:x", ptr(""), `{}`, "m.room.create| m.room.power_levels| m.room.member|@a:x"},
	{"6", "m.room.member", "@a:x", ptr("@a:x"), `{"membership":"join"}`,
		"m.room.create| m.room.power_levels| m.room.member|@a:x m.room.join_rules|"},
	{"6", "m.room.member", "@a:x", ptr("@b:y"), `{"membership":"invite"}`,
		"m.room.create| m.room.power_levels| m.room.member|@a:x m.room.member|@b:y m.room.join_rules|"},
	{"7", "m.room.member", "@a:x", ptr("@a:x"), `{"membership":"knock"}`,
		"m.room.create| m.room.power_levels| m.room.member|@a:x m.room.join_rules|"},
	{"6", "m.room.member", "@a:x", ptr("@b:y"), `{"membership":"ban"}`,
		"m.room.create| m.room.power_levels| m.room.member|@a:x m.room.member|@b:y"},
	{"6", "m.room.member", "@a:x", ptr("@a:x"), `{"membership":"leave"}`,
		"m.room.create| m.room.power_levels| m.room.member|@a:x"},
	{"6", "m.room.member", "@a:x", ptr("@b:y"), `{"membership":"invite","third_party_invite":{"signed":{"token":"tok","mxid":"@b:y"}}}`,
		"m.room.create| m.room.power_levels| m.room.member|@a:x m.room.member|@b:y m.room.join_rules| m.room.third_party_invite|tok"},
	{"6", "m.room.member", "@a:x", ptr("@b:y"), `{"membership":"invite","third_party_invite":{"signed":{"token":5}}}`,
		"m.room.create| m.room.power_levels| m.room.member|@a:x m.room.member|@b:y m.room.join_rules|"},
	{"8", "m.room.member", "@a:x", ptr("@a:x"), `{"membership":"join","join_authorised_via_users_server":"@c:z"}`,
		"m.room.create| m.room.power_levels| m.room.member|@a:x m.room.join_rules| m.room.member|@c:z"},
	{"12", "m.room.member", "@a:x", ptr("@a:x"), `{"membership":"join","join_authorised_via_users_server":"@c:z"}`,
		"m.room.power_levels| m.room.member|@a:x m.room.join_rules| m.room.member|@c:z"},
	{"7", "m.room.member", "@a:x", ptr("@a:x"), `{"membership":"join","join_authorised_via_users_server":"@c:z"}`,
		"m.room.create| m.room.power_levels| m.room.member|@a:x m.room.join_rules|"},
	{"8", "m.room.member", "@a:x", ptr("@a:x"), `{"membership":"leave","join_authorised_via_users_server":"@c:z"}`,
		"m.room.create| m.room.power_levels| m.room.member|@a:x"},
}

func ptr(s string) *string { return &s }

func tuplesString(ts []event.StateKeyTuple) string {
	var parts []string
	for _, t := range ts {
		parts = append(parts, t.Type+"|"+t.StateKey)
	}
	return strings.Join(parts, " ")
}

func TestAuthEventsNeeded(t *testing.T) {
	for _, tt := range authEventsNeededTests {
		got, err := AuthEventsNeeded(version(t, tt.version), tt.typ, tt.sender, tt.stateKey, json.RawMessage(tt.content))
		if err != nil || tuplesString(got) != tt.want {
			t.Errorf("v%s AuthEventsNeeded(%s, %s, %s) = %q, %v; want %q", tt.version, tt.typ, tt.sender, tt.content, tuplesString(got), err, tt.want)
		}
	}
	if _, err := AuthEventsNeeded(version(t, "1"), "m.room.member", "@a:x", nil, json.RawMessage(`{"membership":"join"}`)); err == nil {
		t.Error("AuthEventsNeeded(member without state_key) = nil error; want one")
	}
}

// authRoom is a small room for CheckAuthEvents: create, alice's join, power
// levels, join rules, a topic, bob's invite, and a create of another room.
type authRoom struct {
	create, join, pl, jr, topic, bobInvite, otherPL *event.Event
}

func newAuthRoom(t *testing.T, v *event.RoomVersion) authRoom {
	roomID := "!r:a.example"
	var r authRoom
	r.create = parse(t, v, `{"event_id":"$create:a.example","type":"m.room.create","state_key":"","room_id":"!r:a.example","sender":"@alice:a.example","content":{"creator":"@alice:a.example"}}`)
	if v.PrivilegedCreators {
		r.create = parse(t, v, `{"type":"m.room.create","state_key":"","sender":"@alice:a.example","content":{}}`)
		roomID = "!" + r.create.EventID()[1:]
	}
	ev := func(id, typ, sk, sender, content string) *event.Event {
		return parse(t, v, fmt.Sprintf(`{"event_id":"%s:a.example","type":%q,"state_key":%q,"room_id":%q,"sender":%q,"content":%s}`,
			id, typ, sk, roomID, sender, content))
	}
	r.join = ev("$join", "m.room.member", "@alice:a.example", "@alice:a.example", `{"membership":"join"}`)
	r.pl = ev("$pl", "m.room.power_levels", "", "@alice:a.example", `{}`)
	r.jr = ev("$jr", "m.room.join_rules", "", "@alice:a.example", `{"join_rule":"invite"}`)
	r.topic = ev("$topic", "m.room.topic", "", "@alice:a.example", `{"topic":"t"}`)
	r.bobInvite = ev("$bob", "m.room.member", "@bob:b.example", "@alice:a.example", `{"membership":"invite"}`)
	r.otherPL = parse(t, v, `{"event_id":"$otherpl:a.example","type":"m.room.power_levels","state_key":"","room_id":"!other:a.example","sender":"@alice:a.example","content":{}}`)
	return r
}

func TestCheckAuthEvents(t *testing.T) {
	for _, id := range []string{"1", "4", "12"} {
		v := version(t, id)
		r := newAuthRoom(t, v)
		roomID := r.join.RoomID()
		ae := 2 // the auth_events rule
		if v.PrivilegedCreators {
			ae = 3
		}
		refs := func(evs ...*event.Event) string {
			var parts []string
			for _, e := range evs {
				if v.EventIDFormat == event.EventIDServerGenerated {
					parts = append(parts, fmt.Sprintf(`[%q,{}]`, e.EventID()))
				} else {
					parts = append(parts, fmt.Sprintf("%q", e.EventID()))
				}
			}
			return "[" + strings.Join(parts, ",") + "]"
		}
		// bob, invited, joins.
		joinOf := func(listed ...*event.Event) *event.Event {
			return parse(t, v, fmt.Sprintf(`{"event_id":"$bj:b.example","type":"m.room.member","state_key":"@bob:b.example","room_id":%q,"sender":"@bob:b.example","content":{"membership":"join"},"auth_events":%s}`,
				roomID, refs(listed...)))
		}
		// The create event first, so that base[1:] lacks it before v12.
		base := []*event.Event{r.pl, r.jr, r.bobInvite}
		if !v.PrivilegedCreators {
			base = slices.Concat([]*event.Event{r.create}, base)
		}
		with := func(evs ...*event.Event) []*event.Event { return slices.Concat(base, evs) }
		tests := []struct {
			name     string
			listed   []*event.Event
			supplied []*event.Event
			want     string
		}{
			{"exactly the selection", base, base, "allow"},
			{"a subset", base[1:], base[1:], map[bool]string{true: "allow", false: "reject 2.4"}[v.PrivilegedCreators]},
			{"an event listed twice", with(r.pl), base, fmt.Sprintf("reject %d.1", ae)},
			{"an event not selected", with(r.topic), with(r.topic), fmt.Sprintf("reject %d.2", ae)},
			{"alice's membership, not needed for bob's join", with(r.join), with(r.join), fmt.Sprintf("reject %d.2", ae)},
			{"two events for one state key", with(r.otherPL), with(r.otherPL), fmt.Sprintf("reject %d.1", ae)},
			{"an event of another room", withoutPL(base, r.otherPL), withoutPL(base, r.otherPL), fmt.Sprintf("reject %d.5", ae)},
			{"a listed event not supplied", base, base[1:], "error: auth: auth event " + base[0].EventID() + " not supplied"},
			{"a supplied event not listed", base[1:], base, "error: auth: supplied events that are not in auth_events"},
		}
		if v.PrivilegedCreators {
			tests = append(tests, struct {
				name     string
				listed   []*event.Event
				supplied []*event.Event
				want     string
			}{"v12: the create event", with(r.create), with(r.create), "reject 3.2"})
		}
		for _, tt := range tests {
			ev := joinOf(tt.listed...)
			_, err := CheckAuthEvents(ev, tt.supplied, nil)
			if got := ruleOf(err); got != tt.want {
				t.Errorf("v%s %s: CheckAuthEvents = %s; want %s", id, tt.name, got, tt.want)
			}
		}
		rejectedJR := func(id string) bool { return id == r.jr.EventID() }
		if _, err := CheckAuthEvents(joinOf(base...), base, rejectedJR); ruleOf(err) != fmt.Sprintf("reject %d.3", ae) {
			t.Errorf("v%s: CheckAuthEvents(join rules rejected) = %v; want rule %d.3", id, err, ae)
		}
		state, err := CheckAuthEvents(joinOf(base...), base, func(string) bool { return false })
		if err != nil {
			t.Fatal(err)
		}
		if v.PrivilegedCreators {
			state[createTuple] = r.create
		}
		if err := Check(joinOf(base...), state); err != nil {
			t.Errorf("v%s: Check(bob's join, its auth events) = %v; want nil", id, err)
		}
	}
}

// withoutPL replaces the power levels in evs by pl.
func withoutPL(evs []*event.Event, pl *event.Event) []*event.Event {
	var out []*event.Event
	for _, e := range evs {
		if e.Type() != "m.room.power_levels" {
			out = append(out, e)
		}
	}
	return append(out, pl)
}

func TestCheckAuthEventsCreate(t *testing.T) {
	v := version(t, "1")
	create := parse(t, v, `{"event_id":"$c:a.example","type":"m.room.create","state_key":"","room_id":"!r:a.example","sender":"@alice:a.example","content":{"creator":"@alice:a.example"}}`)
	if state, err := CheckAuthEvents(create, nil, nil); err != nil || len(state) != 0 {
		t.Errorf("CheckAuthEvents(create) = %v, %v; want empty, nil", state, err)
	}
}
