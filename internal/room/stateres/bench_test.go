package stateres

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"chappe.eu/chappe/internal/room/event"
)

// largeRoom is a generated room: members joined one after the other, the
// power levels changing every 1,000 joins, then two forks of 50 state events
// each — on one the creator changes the power levels and the topic and kicks
// 48 members, on the other a moderator changes the power levels and the
// topic and 48 other members change their display names.
type largeRoom struct {
	v      *event.RoomVersion
	events map[string]*event.Event
	forks  []StateMap

	kicked, renamed []string // user IDs
	plA, plB        string   // the forks' power levels events
	topicA, topicB  string
}

func buildLargeRoom(tb testing.TB, versionID string, members int) *largeRoom {
	tb.Helper()
	v, _ := event.Version(versionID)
	room := &largeRoom{v: v, events: make(map[string]*event.Event, members+200)}
	roomID := "!large:example.com"
	ts := int64(0)
	var prev string
	depth := int64(0)
	state := StateMap{}
	add := func(sender, typ, stateKey string, content any, auth ...string) *event.Event {
		ts++
		depth++
		c, _ := json.Marshal(content)
		pdu := map[string]any{"type": typ, "sender": sender, "state_key": stateKey,
			"content": json.RawMessage(c), "origin_server_ts": ts, "depth": depth,
			"hashes": map[string]string{"sha256": "placeholder"}, "signatures": map[string]any{}}
		if !(typ == "m.room.create" && v.PrivilegedCreators) {
			pdu["room_id"] = roomID
		}
		kept := []string{}
		for _, a := range auth {
			if a != "" && !(v.PrivilegedCreators && a == state[createKey]) {
				kept = append(kept, a)
			}
		}
		prevs := []string{}
		if prev != "" {
			prevs = []string{prev}
		}
		if v.EventIDFormat == event.EventIDServerGenerated {
			pdu["event_id"] = fmt.Sprintf("$%d:example.com", ts)
			pdu["prev_events"], pdu["auth_events"] = pairs(prevs), pairs(kept)
		} else {
			pdu["prev_events"], pdu["auth_events"] = prevs, kept
		}
		raw, _ := json.Marshal(pdu)
		ev, err := event.Parse(raw, v)
		if err != nil {
			tb.Fatal(err)
		}
		if typ == "m.room.create" && v.PrivilegedCreators {
			roomID = "!" + ev.EventID()[1:]
		}
		room.events[ev.EventID()] = ev
		state[event.StateKeyTuple{Type: typ, StateKey: stateKey}] = ev.EventID()
		prev = ev.EventID()
		return ev
	}
	member := func(u string) string { return state[event.StateKeyTuple{Type: "m.room.member", StateKey: u}] }
	user := func(i int) string { return fmt.Sprintf("@user%05d:example.com", i) }
	const alice, bob = "@alice:example.com", "@bob:example.com"
	users := func(extra map[string]int) map[string]any {
		u := map[string]any{bob: 100}
		if !v.PrivilegedCreators {
			u[alice] = 100
		}
		for k, l := range extra {
			u[k] = l
		}
		return map[string]any{"users": u}
	}

	add(alice, "m.room.create", "", map[string]any{"creator": alice, "room_version": v.ID})
	add(alice, "m.room.member", alice, map[string]any{"membership": "join"}, state[createKey])
	add(alice, "m.room.power_levels", "", users(nil), state[createKey], member(alice))
	add(alice, "m.room.join_rules", "", map[string]any{"join_rule": "public"}, state[createKey], member(alice), state[powerLevelsKey])
	add(bob, "m.room.member", bob, map[string]any{"membership": "join"}, state[createKey], state[joinRulesKey], state[powerLevelsKey])
	for i := 0; i < members; i++ {
		if i > 0 && i%1000 == 0 {
			add(alice, "m.room.power_levels", "", users(map[string]int{user(i - 1): 10}),
				state[createKey], member(alice), state[powerLevelsKey])
		}
		add(user(i), "m.room.member", user(i), map[string]any{"membership": "join", "displayname": "user"},
			state[createKey], state[joinRulesKey], state[powerLevelsKey])
	}

	base, tip := clone(state), prev
	// Fork A: the creator.
	add(alice, "m.room.power_levels", "", users(map[string]int{"@charlie:example.com": 50}),
		state[createKey], member(alice), state[powerLevelsKey])
	room.plA = prev
	add(alice, "m.room.topic", "", map[string]any{"topic": "A"}, state[createKey], member(alice), state[powerLevelsKey])
	room.topicA = prev
	for i := 0; i < 48; i++ {
		add(alice, "m.room.member", user(i), map[string]any{"membership": "leave"},
			state[createKey], member(alice), state[powerLevelsKey], member(user(i)))
		room.kicked = append(room.kicked, user(i))
	}
	room.forks = append(room.forks, state)

	// Fork B: the moderator and 48 members.
	state, prev = clone(base), tip
	add(bob, "m.room.power_levels", "", users(map[string]int{"@dave:example.com": 50}),
		state[createKey], member(bob), state[powerLevelsKey])
	room.plB = prev
	add(bob, "m.room.topic", "", map[string]any{"topic": "B"}, state[createKey], member(bob), state[powerLevelsKey])
	room.topicB = prev
	for i := 48; i < 96; i++ {
		add(user(i), "m.room.member", user(i), map[string]any{"membership": "join", "displayname": "renamed"},
			state[createKey], state[joinRulesKey], state[powerLevelsKey], member(user(i)))
		room.renamed = append(room.renamed, user(i))
	}
	room.forks = append(room.forks, state)
	return room
}

func pairs(ids []string) [][2]any {
	out := make([][2]any, len(ids))
	for i, id := range ids {
		out[i] = [2]any{id, map[string]string{"sha256": "placeholder"}}
	}
	return out
}

// TestLargeRoom checks the benchmark's room on a smaller scale, so that the
// benchmark measures a resolution that is right.
func TestLargeRoom(t *testing.T) {
	for _, vid := range []string{"11", "12"} {
		t.Run("v"+vid, func(t *testing.T) {
			room := buildLargeRoom(t, vid, 2500)
			l := &mapLoader{events: room.events}
			got, err := Resolve(context.Background(), room.v, room.forks, l)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(room.forks[0]) { // both forks hold the same keys
				t.Errorf("len(Resolve) = %d, want %d", len(got), len(room.forks[0]))
			}
			membership := func(u string) (string, string) {
				ev := room.events[got[event.StateKeyTuple{Type: "m.room.member", StateKey: u}]]
				if ev == nil {
					return "", ""
				}
				var c struct{ Membership, Displayname string }
				_ = json.Unmarshal(ev.Content(), &c)
				return c.Membership, c.Displayname
			}
			for _, u := range room.kicked {
				if m, _ := membership(u); m != "leave" {
					t.Errorf("kicked %s: membership %q, want leave", u, m)
				}
			}
			for _, u := range room.renamed {
				if m, d := membership(u); m != "join" || d != "renamed" {
					t.Errorf("renamed %s: %q %q, want join renamed", u, m, d)
				}
			}
			// The creator's power levels sort first (more power, or in v11
			// the same power and an earlier timestamp); the moderator's,
			// allowed after them, are applied last and win, and so does
			// the topic based on them, last in mainline order.
			if got[powerLevelsKey] != room.plB {
				t.Errorf("power levels = %s, want the moderator's %s", got[powerLevelsKey], room.plB)
			}
			if topic := got[event.StateKeyTuple{Type: "m.room.topic"}]; topic != room.topicB {
				t.Errorf("topic = %s, want the moderator's %s", topic, room.topicB)
			}
			if l.calls > 10 {
				t.Errorf("the loader was called %d times; resolution should batch", l.calls)
			}
		})
	}
}

// BenchmarkResolveLargeRoom resolves two forks of a room of 10,000 members
// with 100 conflicting state events (50 on each fork).
func BenchmarkResolveLargeRoom(b *testing.B) {
	for _, vid := range []string{"11", "12"} {
		b.Run("v"+vid, func(b *testing.B) {
			room := buildLargeRoom(b, vid, 10000)
			l := &mapLoader{events: room.events}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := Resolve(ctx, room.v, room.forks, l); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
