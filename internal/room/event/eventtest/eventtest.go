// Package eventtest helps tests build events from partial JSON. event.Parse
// enforces each room version's event format; tests of the authorization
// rules or state resolution often care about a few keys only. Complete fills
// in the rest with harmless defaults.
package eventtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"chappe.eu/chappe/internal/room/event"
)

// Complete returns the event JSON with every key that event.Parse requires
// in room version v filled in where missing or null: depth 1,
// origin_server_ts 0, content {}, prev_events and auth_events [] (in pairs
// form for v1–v2), room_id "!room:test.example" (not for m.room.create in
// v12), and for v1–v2 an event_id "$eventN:" + the sender's server.
// Present values are kept as they are, so the result may still be invalid.
func Complete(eventJSON []byte, v *event.RoomVersion) ([]byte, error) {
	var e map[string]any
	d := json.NewDecoder(bytes.NewReader(eventJSON))
	d.UseNumber() // keep numbers as written
	if err := d.Decode(&e); err != nil {
		return nil, err
	}
	def := func(key string, value any) {
		if e[key] == nil {
			e[key] = value
		}
	}
	def("depth", 1)
	def("origin_server_ts", 0)
	def("content", map[string]any{})
	def("prev_events", []any{})
	def("auth_events", []any{})
	if !(v.HashRoomIDs && e["type"] == "m.room.create") {
		def("room_id", "!room:test.example")
	}
	if v.EventIDFormat == event.EventIDServerGenerated {
		sender, _ := e["sender"].(string)
		_, server, _ := strings.Cut(sender, ":")
		def("event_id", fmt.Sprintf("$event%d:%s", counter.Add(1), server))
	}
	return json.Marshal(e)
}

var counter atomic.Int64

// Parse completes eventJSON and parses it, failing the test on error.
func Parse(t testing.TB, eventJSON string, v *event.RoomVersion) *event.Event {
	t.Helper()
	raw, err := Complete([]byte(eventJSON), v)
	if err != nil {
		t.Fatalf("eventtest.Complete(%s): %v", eventJSON, err)
	}
	ev, err := event.Parse(raw, v)
	if err != nil {
		t.Fatalf("event.Parse(%s): %v", raw, err)
	}
	return ev
}
