package auth

import (
	"encoding/json"
	"testing"

	"chappe.eu/chappe/internal/room/event"
)

// version returns a room version that must exist.
func version(t testing.TB, id string) *event.RoomVersion {
	t.Helper()
	v, ok := event.Version(id)
	if !ok {
		t.Fatalf("no room version %q", id)
	}
	return v
}

// parse builds an event of version v from a JSON object literal; fields the
// rules do not read may be left out (depth, origin_server_ts, prev_events,
// auth_events, room_id, and event_id in v1–v2 are filled in).
func parse(t testing.TB, v *event.RoomVersion, js string) *event.Event {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(js), &m); err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	fill := func(k string, val any) {
		if _, ok := m[k]; !ok {
			m[k] = val
		}
	}
	fill("depth", 1)
	fill("origin_server_ts", 0)
	fill("prev_events", []any{})
	fill("auth_events", []any{})
	if !(v.PrivilegedCreators && m["type"] == "m.room.create") {
		fill("room_id", "!r:a.example")
	}
	if v.EventIDFormat == event.EventIDServerGenerated {
		if id, _ := m["event_id"].(string); id == "" {
			m["event_id"] = "$anon:a.example"
		}
	}
	ev, err := event.Parse([]byte(mustJSON(m)), v)
	if err != nil {
		if len(js) > 200 {
			js = js[:200] + "…"
		}
		t.Fatalf("event.Parse(%s): %v", js, err)
	}
	return ev
}

// stateOf keys events by their state tuple.
func stateOf(evs ...*event.Event) StateMap {
	s := StateMap{}
	for _, e := range evs {
		if t, ok := e.StateTuple(); ok {
			s[t] = e
		}
	}
	return s
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func ruleOf(err error) string {
	if err == nil {
		return "allow"
	}
	if e, ok := err.(*Error); ok {
		return "reject " + e.Rule
	}
	return "error: " + err.Error()
}
