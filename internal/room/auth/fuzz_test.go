package auth

import (
	"encoding/json"
	"fmt"
	"testing"

	"chappe.eu/chappe/internal/room/event"
)

// FuzzCheck feeds random content to the events Check reads content from —
// the event under check, and the power levels, join rules, memberships and
// create event in its state — in every room version. Check must never panic,
// must be deterministic, and must agree with itself on the auth events that
// AuthEventsNeeded selects.
func FuzzCheck(f *testing.F) {
	seeds := []struct{ typ, sk, content, pl string }{
		{"m.room.member", "@bob:b.example", `{"membership":"join"}`, `{"users":{"@alice:a.example":100}}`},
		{"m.room.member", "@bob:b.example", `{"membership":"invite","third_party_invite":{"signed":{"mxid":"@bob:b.example","token":"t","signatures":{"s":{"ed25519:0":"AAAA"}}}}}`, `{}`},
		{"m.room.member", "@bob:b.example", `{"membership":"join","join_authorised_via_users_server":"@alice:a.example"}`, `{"invite":"5"}`},
		{"m.room.member", "@alice:a.example", `{"membership":"knock"}`, `{"users":[]}`},
		{"m.room.power_levels", "", `{"users":{"@alice:a.example":"100","@bob:b.example":1.5},"ban":" +7 ","events":{"x":null}}`, `{"kick":"x"}`},
		{"m.room.power_levels", "", `{"users":{"@alice:a.example":9007199254740991},"notifications":{"room":-9007199254740991}}`, `{"users":{"@alice:a.example":100},"events":"no"}`},
		{"m.room.redaction", "", `{"redacts":"$x"}`, `{"events":{"m.room.redaction":1e3}}`},
		{"m.room.create", "", `{"creator":5,"room_version":[],"additional_creators":[1]}`, `null`},
		{"m.room.third_party_invite", "t", `{"public_key":5}`, `[]`},
	}
	for _, s := range seeds {
		for _, v := range []uint8{0, 5, 9, 11} {
			f.Add(v, s.typ, s.sk, s.content, s.pl, `{"join_rule":"restricted"}`, `{"membership":"join"}`)
		}
	}
	f.Fuzz(func(t *testing.T, vIdx uint8, typ, stateKey, content, plContent, jrContent, bobMember string) {
		ids := event.Versions()
		v := version(t, ids[int(vIdx)%len(ids)])
		r := newFuzzRoom(t, v, plContent, jrContent, bobMember)
		if r == nil {
			return // the parser refused the state; nothing to check
		}
		ev := r.event(typ, stateKey, content)
		if ev == nil {
			return
		}
		err1 := Check(ev, r.state)
		err2 := Check(ev, r.state)
		if fmt.Sprint(err1) != fmt.Sprint(err2) {
			t.Fatalf("Check is not deterministic: %v, then %v", err1, err2)
		}
		if err1 != nil {
			if _, ok := err1.(*Error); !ok {
				t.Fatalf("Check error %T is not an *Error: %v", err1, err1)
			}
		}
		need, err := AuthEventsNeeded(v, ev.Type(), ev.Sender(), ev.StateKey(), ev.Content())
		if err != nil {
			return
		}
		sub := StateMap{}
		for _, tup := range need {
			if e := r.state[tup]; e != nil {
				sub[tup] = e
			}
		}
		sub[createTuple] = r.state[createTuple]
		if got := Check(ev, sub); fmt.Sprint(got) != fmt.Sprint(err1) {
			t.Fatalf("Check(auth events) = %v; Check(state) = %v", got, err1)
		}
		ParsePowerLevels(r.state[createTuple], r.state[powerLevelsTuple])
	})
}

type fuzzRoom struct {
	t      *testing.T
	v      *event.RoomVersion
	roomID string
	state  StateMap
}

func newFuzzRoom(t *testing.T, v *event.RoomVersion, plContent, jrContent, bobMember string) *fuzzRoom {
	r := &fuzzRoom{t: t, v: v, roomID: "!r:a.example", state: StateMap{}}
	create := r.raw("m.room.create", ptr(""), "@alice:a.example", `{"creator":"@alice:a.example","additional_creators":["@carol:c.example"]}`)
	if create == nil {
		t.Fatal("create refused")
	}
	if v.PrivilegedCreators {
		r.roomID = "!" + create.EventID()[1:]
	}
	r.state[createTuple] = create
	for _, s := range []struct{ typ, sk, sender, content string }{
		{"m.room.member", "@alice:a.example", "@alice:a.example", `{"membership":"join"}`},
		{"m.room.power_levels", "", "@alice:a.example", plContent},
		{"m.room.join_rules", "", "@alice:a.example", jrContent},
		{"m.room.member", "@bob:b.example", "@bob:b.example", bobMember},
		{"m.room.third_party_invite", "t", "@alice:a.example", `{"public_key":"ebVWLo/mVPlAeLES6KmLp5AfhTrmlb7X4OORC60ElmQ"}`},
	} {
		if e := r.raw(s.typ, &s.sk, s.sender, s.content); e != nil {
			r.state[event.StateKeyTuple{Type: s.typ, StateKey: s.sk}] = e
		}
	}
	return r
}

// event builds an event sent by bob.
func (r *fuzzRoom) event(typ, stateKey, content string) *event.Event {
	var sk *string
	if stateKey != "-" {
		sk = &stateKey
	}
	return r.raw(typ, sk, "@bob:b.example", content)
}

// raw parses an event, or returns nil if the parser refuses it.
func (r *fuzzRoom) raw(typ string, sk *string, sender, content string) *event.Event {
	if !json.Valid([]byte(content)) {
		return nil
	}
	m := map[string]any{"type": typ, "sender": sender, "content": json.RawMessage(content),
		"depth": 2, "origin_server_ts": 0, "prev_events": []string{}, "auth_events": []string{},
		"room_id": r.roomID}
	if sk != nil {
		m["state_key"] = *sk
	}
	if typ == "m.room.create" && r.v.PrivilegedCreators {
		delete(m, "room_id")
	}
	if r.v.EventIDFormat == event.EventIDServerGenerated {
		m["event_id"] = "$e:a.example"
		m["prev_events"], m["auth_events"] = []any{}, []any{}
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil
	}
	ev, err := event.Parse(raw, r.v)
	if err != nil {
		return nil
	}
	return ev
}
