package auth

import (
	"fmt"
	"testing"

	"chappe.eu/chappe/internal/room/event"
)

// benchRoom is a v10 room whose power levels list n users, with alice (100)
// and bob (0) joined and a public join rule.
func benchRoom(b *testing.B, n int) (StateMap, func(typ string, sk *string, sender, content string) *event.Event) {
	v := version(b, "10")
	users := map[string]int{"@alice:a.example": 100}
	for i := range n {
		users[fmt.Sprintf("@user%d:s%d.example", i, i%50)] = i % 100
	}
	mk := func(typ string, sk *string, sender, content string) *event.Event {
		js := fmt.Sprintf(`{"type":%q,"sender":%q,"content":%s`, typ, sender, content)
		if sk != nil {
			js += fmt.Sprintf(`,"state_key":%q`, *sk)
		}
		return parse(b, v, js+"}")
	}
	plContent := mustJSON(map[string]any{"users": users, "events": map[string]int{"m.room.name": 50}, "ban": 50})
	state := stateOf(
		mk("m.room.create", ptr(""), "@alice:a.example", `{"creator":"@alice:a.example"}`),
		mk("m.room.member", ptr("@alice:a.example"), "@alice:a.example", `{"membership":"join"}`),
		mk("m.room.member", ptr("@bob:b.example"), "@bob:b.example", `{"membership":"join"}`),
		mk("m.room.power_levels", ptr(""), "@alice:a.example", plContent),
		mk("m.room.join_rules", ptr(""), "@alice:a.example", `{"join_rule":"public"}`),
	)
	return state, mk
}

// BenchmarkCheck measures Check for a message and for a membership change
// (1,500 users is about the most a power levels event holds within the
// 65,536-byte PDU limit)
// in rooms with small and big power levels (the power levels event of the
// state is parsed once and cached), and for a power levels change, whose
// new content Check must parse each time.
func BenchmarkCheck(b *testing.B) {
	for _, n := range []int{10, 1_500} {
		state, mk := benchRoom(b, n)
		cases := []struct {
			name string
			ev   *event.Event
		}{
			{"message", mk("m.room.message", nil, "@bob:b.example", `{"msgtype":"m.text","body":"hello"}`)},
			{"join", mk("m.room.member", ptr("@carol:c.example"), "@carol:c.example", `{"membership":"join"}`)},
			{"kick", mk("m.room.member", ptr("@bob:b.example"), "@alice:a.example", `{"membership":"leave"}`)},
			{"power_levels", mk("m.room.power_levels", ptr(""), "@alice:a.example", string(state[powerLevelsTuple].Content()))},
		}
		for _, c := range cases {
			if err := Check(c.ev, state); err != nil {
				b.Fatalf("%s: %v", c.name, err)
			}
			b.Run(fmt.Sprintf("%s/users=%d", c.name, n), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if err := Check(c.ev, state); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
