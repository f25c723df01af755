package rooms

import (
	"encoding/json"
	"fmt"
	"testing"

	"chappe.eu/chappe/internal/room/event"
	"chappe.eu/chappe/internal/room/event/eventtest"
	"chappe.eu/chappe/internal/store"
)

var parseRelatesToTests = []struct {
	content string
	want    relatesTo
	ok      bool
}{
	{`{}`, relatesTo{}, false},
	{`{"m.relates_to":{"rel_type":"m.thread","event_id":"$a"}}`, relatesTo{EventID: "$a", RelType: "m.thread"}, true},
	{`{"m.relates_to":{"rel_type":"m.annotation","event_id":"$a","key":"👍"}}`, relatesTo{EventID: "$a", RelType: "m.annotation", Key: strPtr("👍")}, true},
	// Rich replies have no rel_type: not a relation the server handles.
	{`{"m.relates_to":{"m.in_reply_to":{"event_id":"$a"}}}`, relatesTo{}, false},
	{`{"m.relates_to":{"rel_type":"m.thread"}}`, relatesTo{RelType: "m.thread"}, false},
	// Wrong types are ignored, not errors: the spec ignores such relations.
	{`{"m.relates_to":{"rel_type":1,"event_id":"$a"}}`, relatesTo{EventID: "$a"}, false},
	{`{"m.relates_to":{"rel_type":"m.annotation","event_id":"$a","key":5}}`, relatesTo{EventID: "$a", RelType: "m.annotation"}, true},
	{`{"m.relates_to":"$a"}`, relatesTo{}, false},
	{`not json`, relatesTo{}, false},
}

func strPtr(s string) *string { return &s }

func TestParseRelatesTo(t *testing.T) {
	for _, tt := range parseRelatesToTests {
		got, ok := parseRelatesTo(json.RawMessage(tt.content))
		if ok != tt.ok || got.EventID != tt.want.EventID || got.RelType != tt.want.RelType ||
			(got.Key == nil) != (tt.want.Key == nil) || (got.Key != nil && *got.Key != *tt.want.Key) {
			t.Errorf("parseRelatesTo(%s) = %+v, %v; want %+v, %v", tt.content, got, ok, tt.want, tt.ok)
		}
	}
}

var hasNewContentTests = []struct {
	content string
	want    bool
}{
	{`{"m.new_content":{"body":"x"}}`, true},
	{`{"m.new_content":{}}`, true},
	{`{"m.new_content":null}`, false},
	{`{"m.new_content":"x"}`, false},
	{`{"m.new_content":[{}]}`, false},
	{`{"body":"x"}`, false},
	{`[]`, false},
}

func TestHasNewContent(t *testing.T) {
	for _, tt := range hasNewContentTests {
		if got := hasNewContent(json.RawMessage(tt.content)); got != tt.want {
			t.Errorf("hasNewContent(%s) = %v; want %v", tt.content, got, tt.want)
		}
	}
}

// TestEditCandidates: only the parent's sender and type can replace it,
// the most recent first by origin_server_ts, then by the larger event ID
// ("Server-side aggregation of m.replace relationships").
func TestEditCandidates(t *testing.T) {
	v, _ := event.Version("11")
	parent := &Stored{Event: eventtest.Parse(t, `{"type":"m.room.message","sender":"@a:x","content":{"body":"p"}}`, v)}
	edit := func(id, sender, typ string, ts int64) store.Relation {
		return store.Relation{Parent: parent.EventID(), EventID: id, RelType: "m.replace", Type: typ, Sender: sender, OriginServerTS: ts}
	}
	kids := []store.Relation{
		edit("$b", "@a:x", "m.room.message", 20),
		edit("$z", "@a:x", "m.room.message", 10),
		edit("$c", "@a:x", "m.room.message", 20),
		edit("$other", "@b:x", "m.room.message", 99),  // another sender
		edit("$type", "@a:x", "m.room.encrypted", 99), // another type
		{Parent: parent.EventID(), EventID: "$thread", RelType: "m.thread", Type: "m.room.message", Sender: "@a:x", OriginServerTS: 99},
	}
	var got []string
	for _, c := range editCandidates(parent, kids) {
		got = append(got, c.EventID)
	}
	if want := "[$c $b $z]"; fmt.Sprint(got) != want {
		t.Errorf("editCandidates = %v; want %s", got, want)
	}
}
