package filter

import "testing"

var typeMatches = []struct {
	pattern, typ string
	want         bool
}{
	{"m.room.message", "m.room.message", true},
	{"m.room.message", "m.room.messages", false},
	{"m.*", "m.room.message", true},
	{"m.room.*", "m.reaction", false},
	{"*", "anything", true},
	{"m.*.message", "m.room.message", true},
	{"m.*.message", "m.room.member", false},
}

func TestMatchType(t *testing.T) {
	for _, tc := range typeMatches {
		if got := matchType(tc.pattern, tc.typ); got != tc.want {
			t.Errorf("matchType(%q, %q) = %v; want %v", tc.pattern, tc.typ, got, tc.want)
		}
	}
}

func TestEventFilterMatch(t *testing.T) {
	f := EventFilter{Types: []string{"m.room.*"}, NotTypes: []string{"m.room.member"}, NotSenders: []string{"@spam:x"}}
	cases := []struct {
		typ, sender string
		want        bool
	}{
		{"m.room.message", "@a:x", true},
		{"m.room.member", "@a:x", false},
		{"m.reaction", "@a:x", false},
		{"m.room.message", "@spam:x", false},
	}
	for _, c := range cases {
		if got := f.Match(c.typ, c.sender); got != c.want {
			t.Errorf("Match(%q, %q) = %v; want %v", c.typ, c.sender, got, c.want)
		}
	}
	empty := EventFilter{Types: []string{}}
	if empty.Match("m.room.message", "@a:x") {
		t.Error("an empty types list must match nothing")
	}
}

func TestContainsURL(t *testing.T) {
	yes := true
	f := RoomEventFilter{ContainsURL: &yes}
	if !f.MatchEvent("!r:x", "m.room.message", "@a:x", []byte(`{"url":"mxc://x/y"}`)) {
		t.Error("contains_url true rejected an event with a url")
	}
	if f.MatchEvent("!r:x", "m.room.message", "@a:x", []byte(`{"body":"hi"}`)) {
		t.Error("contains_url true accepted an event without a url")
	}
}

func TestValidate(t *testing.T) {
	neg := -1
	f := Filter{Room: RoomFilter{Timeline: RoomEventFilter{EventFilter: EventFilter{Limit: &neg}}}}
	if f.Validate() == nil {
		t.Error("a negative limit validated")
	}
	if _, err := Parse([]byte(`{"event_format":"xml"}`)); err == nil {
		t.Error("an unknown event_format parsed")
	}
}
