package auth

import (
	"strings"
	"testing"
)

// Cases the golden rooms cannot reach: state that no replay produces.

func TestCheckRoomIDRules(t *testing.T) {
	for _, id := range []string{"1", "3", "6", "11"} {
		v := version(t, id)
		create := parse(t, v, `{"event_id":"$c:a.example","type":"m.room.create","state_key":"","room_id":"!r:a.example","sender":"@alice:a.example","content":{"creator":"@alice:a.example"}}`)
		join := parse(t, v, `{"event_id":"$j:a.example","type":"m.room.member","state_key":"@alice:a.example","room_id":"!r:a.example","sender":"@alice:a.example","content":{"membership":"join"}}`)
		otherCreate := parse(t, v, `{"event_id":"$c2:a.example","type":"m.room.create","state_key":"","room_id":"!other:a.example","sender":"@alice:a.example","content":{"creator":"@alice:a.example"}}`)
		otherPL := parse(t, v, `{"event_id":"$p2:a.example","type":"m.room.power_levels","state_key":"","room_id":"!other:a.example","sender":"@alice:a.example","content":{}}`)
		msg := parse(t, v, `{"event_id":"$m:a.example","type":"m.room.message","room_id":"!r:a.example","sender":"@alice:a.example","content":{}}`)
		tests := []struct {
			name  string
			state StateMap
			want  string
		}{
			{"all there", stateOf(create, join), "allow"},
			{"no create", stateOf(join), "reject 2.4"},
			{"create of another room", stateOf(otherCreate, join), "reject 2.5"},
			{"power levels of another room", stateOf(create, join, otherPL), "reject 2.5"},
		}
		for _, tt := range tests {
			if got := ruleOf(Check(msg, tt.state)); got != tt.want {
				t.Errorf("v%s %s: Check(msg) = %s; want %s", id, tt.name, got, tt.want)
			}
		}
	}
}

func TestCheckV12RoomIDIsCreateEventID(t *testing.T) {
	v := version(t, "12")
	create := parse(t, v, `{"type":"m.room.create","state_key":"","sender":"@alice:a.example","content":{}}`)
	roomID := "!" + strings.TrimPrefix(create.EventID(), "$")
	join := parse(t, v, `{"type":"m.room.member","state_key":"@alice:a.example","room_id":"`+roomID+`","sender":"@alice:a.example","content":{"membership":"join"}}`)
	for _, tt := range []struct {
		name, roomID string
		state        StateMap
		want         string
	}{
		{"room ID of the create event", roomID, stateOf(create, join), "allow"},
		{"another room ID", "!elsewhere", stateOf(create, join), "reject 2"},
		{"room ID with a domain", roomID + ":a.example", stateOf(create, join), "reject 2"},
		{"no create event", roomID, stateOf(join), "reject 2"},
	} {
		msg := parse(t, v, `{"type":"m.room.message","room_id":"`+tt.roomID+`","sender":"@alice:a.example","content":{}}`)
		if got := ruleOf(Check(msg, tt.state)); got != tt.want {
			t.Errorf("%s: Check(msg) = %s; want %s", tt.name, got, tt.want)
		}
	}
}

func TestErrorNamesVersionAndRule(t *testing.T) {
	v := version(t, "10")
	msg := parse(t, v, `{"type":"m.room.message","room_id":"!r:a.example","sender":"@alice:a.example","content":{}}`)
	err := Check(msg, StateMap{})
	want := "auth: room v10 rule 2.4: no m.room.create event in the state"
	if err == nil || err.Error() != want {
		t.Errorf("Check(msg, empty) = %v; want %s", err, want)
	}
}

func TestJoinAuthorisedVia(t *testing.T) {
	tests := []struct {
		version, content string
		want             string
		ok               bool
	}{
		{"8", `{"membership":"join","join_authorised_via_users_server":"@bob:b.example"}`, "@bob:b.example", true},
		{"12", `{"membership":"join","join_authorised_via_users_server":"@bob:b.example"}`, "@bob:b.example", true},
		{"8", `{"membership":"join","join_authorised_via_users_server":5}`, "", true},
		{"8", `{"membership":"join"}`, "", false},
		{"7", `{"membership":"join","join_authorised_via_users_server":"@bob:b.example"}`, "", false},
	}
	for _, tt := range tests {
		ev := parse(t, version(t, tt.version), `{"type":"m.room.member","state_key":"@a:a.example","sender":"@a:a.example","content":`+tt.content+`}`)
		if got, ok := JoinAuthorisedVia(ev); got != tt.want || ok != tt.ok {
			t.Errorf("v%s JoinAuthorisedVia(%s) = %q, %v; want %q, %v", tt.version, tt.content, got, ok, tt.want, tt.ok)
		}
	}
}

func TestRedactionAllowed(t *testing.T) {
	for _, tt := range []struct {
		version, redactionID, sender, redacts, originalSender string
		want                                                  bool
	}{
		// v3+: "Handling redactions": redact level or the same server as the original's sender.
		{"3", "", "@bob:b.example", "$x", "@bob2:b.example", true},
		{"3", "", "@bob:b.example", "$x", "@alice:a.example", false},
		{"11", "", "@alice:a.example", "$x", "@bob:b.example", true}, // alice has 100
		// v1–v2: rule 11, event ID servers.
		{"1", "$r:b.example", "@bob:b.example", "$x:b.example", "@carol:c.example", true},
		{"1", "$r:b.example", "@bob:b.example", "$x:a.example", "@bob:b.example", false},
	} {
		v := version(t, tt.version)
		create := parse(t, v, `{"type":"m.room.create","state_key":"","room_id":"!r:a.example","sender":"@alice:a.example","content":{"creator":"@alice:a.example"}}`)
		pl, err := ParsePowerLevels(create, parse(t, v, `{"type":"m.room.power_levels","state_key":"","sender":"@alice:a.example","content":{"users":{"@alice:a.example":100}}}`))
		if err != nil {
			t.Fatal(err)
		}
		red := parse(t, v, `{"event_id":"`+tt.redactionID+`","type":"m.room.redaction","sender":"`+tt.sender+`","redacts":"`+tt.redacts+`","content":{"redacts":"`+tt.redacts+`"}}`)
		orig := parse(t, v, `{"event_id":"`+tt.redacts+`","type":"m.room.message","sender":"`+tt.originalSender+`","content":{}}`)
		if got := RedactionAllowed(red, orig, pl); got != tt.want {
			t.Errorf("v%s RedactionAllowed(%s redacting %s's %s) = %v; want %v", tt.version, tt.sender, tt.originalSender, tt.redacts, got, tt.want)
		}
	}
}
