package push

import (
	"encoding/json"
	"fmt"
	"testing"
)

var splitPathTests = []struct {
	key  string
	want []string
}{
	{"content.body", []string{"content", "body"}},
	{`content.m\.relates_to.rel_type`, []string{"content", "m.relates_to", "rel_type"}},
	{`content.m\\foo`, []string{"content", `m\foo`}},
	{`content.m\xfoo`, []string{"content", `m\xfoo`}}, // other escapes stay as written
	{`a\\.b`, []string{`a\`, "b"}},
	{"type", []string{"type"}},
	{"a..b", []string{"a", "", "b"}},
}

func TestSplitPath(t *testing.T) {
	for _, tt := range splitPathTests {
		if got := SplitPath(tt.key); fmt.Sprint(got) != fmt.Sprint(tt.want) || len(got) != len(tt.want) {
			t.Errorf("SplitPath(%q) = %q; want %q", tt.key, got, tt.want)
		}
	}
}

var globTests = []struct {
	pattern, value string
	words          bool
	want           bool
}{
	// The spec's examples for event_match on content.topic with "lunc?*".
	{"lunc?*", "Lunch plans", false, true},
	{"lunc?*", "LUNCH", false, true},
	{"lunc?*", " lunch", false, false},
	{"lunc?*", "lunc", false, false},
	{"m.notice", "m.notice", false, true},
	{"m.notice", "M.NOTICE", false, true},
	{"m.notice", "m.noticeX", false, false},
	{"m.notice", "mXnotice", false, false}, // dots are literal
	{"", "", false, true},
	{"", "x", false, false},
	{"*", "", false, true},
	{"a*c", "a\nb\nc", false, true}, // * crosses newlines
	// content.body: any substring between word boundaries.
	{"ex*ple", "An example event.", true, true},
	{"ex*ple", "exple", true, true},
	{"ex*ple", "An exciting triple-whammy", true, true},
	{"cake", "I like cakes", true, false},
	{"cake", "cake!", true, true},
	{"cake", "CAKE time", true, true},
	{"cake", "pancake", true, false},
	{"cake", "my_cake", true, false}, // _ is a word character
	{"cake", "café cake", true, true},
	{"c?ke", "coke", true, true},
	{"a.b", "axb", true, false}, // regexp metacharacters are literal
	{"a.b", "a.b", true, true},
}

func TestGlob(t *testing.T) {
	for _, tt := range globTests {
		if got := compileGlob(tt.pattern, tt.words).match(tt.value); got != tt.want {
			t.Errorf("glob(%q, words=%v).match(%q) = %v; want %v", tt.pattern, tt.words, tt.value, got, tt.want)
		}
	}
}

const testEvent = `{
	"type": "m.room.message",
	"sender": "@bob:example.org",
	"room_id": "!room:example.org",
	"content": {
		"body": "Hello Alice, lunch?",
		"msgtype": "m.text",
		"m.mentions": {"user_ids": ["@alice:example.org", 7, null, true], "room": true},
		"m.relates_to": {"rel_type": "m.thread", "event_id": "$root"},
		"m.federate": true,
		"count": 42,
		"ratio": 1.5,
		"nothing": null,
		"nested": {"a.b": "dotted", "c\\d": "slashed"},
		"list": ["x", {"y": 1}],
		"big": 9007199254740993
	}
}`

var conditionTests = []struct {
	cond string
	want bool
}{
	// event_match
	{`{"kind":"event_match","key":"type","pattern":"m.room.message"}`, true},
	{`{"kind":"event_match","key":"type","pattern":"m.room.*"}`, true},
	{`{"kind":"event_match","key":"type","pattern":"m.room.member"}`, false},
	{`{"kind":"event_match","key":"content.body","pattern":"lunch"}`, true},
	{`{"kind":"event_match","key":"content.body","pattern":"lun"}`, false},
	{`{"kind":"event_match","key":"content.m\\.relates_to.rel_type","pattern":"m.thread"}`, true},
	{`{"kind":"event_match","key":"content.nested.a\\.b","pattern":"dotted"}`, true},
	{`{"kind":"event_match","key":"content.nested.c\\\\d","pattern":"slashed"}`, true},
	{`{"kind":"event_match","key":"content.absent","pattern":"*"}`, false}, // absent
	{`{"kind":"event_match","key":"content.count","pattern":"*"}`, false},  // not a string
	{`{"kind":"event_match","key":"content.m\\.federate","pattern":"true"}`, false},
	{`{"kind":"event_match","key":"content.nothing","pattern":"*"}`, false}, // null
	{`{"kind":"event_match","key":"content","pattern":"*"}`, false},         // object
	{`{"kind":"event_match","pattern":"*"}`, false},                         // no key
	{`{"kind":"event_match","key":"type"}`, false},                          // no pattern
	// event_property_is
	{`{"kind":"event_property_is","key":"content.m\\.federate","value":true}`, true},
	{`{"kind":"event_property_is","key":"content.m\\.federate","value":"true"}`, false},
	{`{"kind":"event_property_is","key":"content.m\\.federate","value":1}`, false},
	{`{"kind":"event_property_is","key":"content.count","value":42}`, true},
	{`{"kind":"event_property_is","key":"content.count","value":"42"}`, false},
	{`{"kind":"event_property_is","key":"content.nothing","value":null}`, true},
	{`{"kind":"event_property_is","key":"content.absent","value":null}`, false},
	{`{"kind":"event_property_is","key":"content.msgtype","value":"m.text"}`, true},
	{`{"kind":"event_property_is","key":"content.msgtype","value":"M.TEXT"}`, false}, // exact
	{`{"kind":"event_property_is","key":"content.ratio","value":1.5}`, false},        // not canonical
	{`{"kind":"event_property_is","key":"content.big","value":9007199254740993}`, false},
	{`{"kind":"event_property_is","key":"content.list","value":["x"]}`, false}, // compound
	{`{"kind":"event_property_is","key":"content.m\\.mentions.room","value":true}`, true},
	// event_property_contains
	{`{"kind":"event_property_contains","key":"content.m\\.mentions.user_ids","value":"@alice:example.org"}`, true},
	{`{"kind":"event_property_contains","key":"content.m\\.mentions.user_ids","value":"@ALICE:example.org"}`, false},
	{`{"kind":"event_property_contains","key":"content.m\\.mentions.user_ids","value":"@alice"}`, false},
	{`{"kind":"event_property_contains","key":"content.m\\.mentions.user_ids","value":7}`, true},
	{`{"kind":"event_property_contains","key":"content.m\\.mentions.user_ids","value":null}`, true},
	{`{"kind":"event_property_contains","key":"content.m\\.mentions.user_ids","value":true}`, true},
	{`{"kind":"event_property_contains","key":"content.list","value":{"y":1}}`, false},
	{`{"kind":"event_property_contains","key":"content.msgtype","value":"m.text"}`, false}, // not an array
	{`{"kind":"event_property_contains","key":"content.absent","value":"x"}`, false},
	// contains_display_name (the user's display name is "Alice")
	{`{"kind":"contains_display_name"}`, true},
	// room_member_count (the room has 5 members)
	{`{"kind":"room_member_count","is":"5"}`, true},
	{`{"kind":"room_member_count","is":"==5"}`, true},
	{`{"kind":"room_member_count","is":"2"}`, false},
	{`{"kind":"room_member_count","is":"<6"}`, true},
	{`{"kind":"room_member_count","is":"<5"}`, false},
	{`{"kind":"room_member_count","is":">4"}`, true},
	{`{"kind":"room_member_count","is":">5"}`, false},
	{`{"kind":"room_member_count","is":"<=5"}`, true},
	{`{"kind":"room_member_count","is":"<=4"}`, false},
	{`{"kind":"room_member_count","is":">=5"}`, true},
	{`{"kind":"room_member_count","is":">=6"}`, false},
	{`{"kind":"room_member_count","is":"=>5"}`, false}, // not an operator
	{`{"kind":"room_member_count","is":"five"}`, false},
	{`{"kind":"room_member_count"}`, false},
	// sender_notification_permission (the sender has 50; room needs 50,
	// "ops" needs 100)
	{`{"kind":"sender_notification_permission","key":"room"}`, true},
	{`{"kind":"sender_notification_permission","key":"ops"}`, false},
	{`{"kind":"sender_notification_permission","key":"other"}`, true}, // absent keys need 50, as in Synapse
	{`{"kind":"sender_notification_permission"}`, false},
	// Unknown conditions never match.
	{`{"kind":"org.example.unknown","key":"type"}`, false},
}

func testRoom() *RoomContext {
	return &RoomContext{MemberCount: 5, SenderLevel: 50, NotificationLevel: func(key string) int64 {
		switch key {
		case "ops":
			return 100
		}
		return 50
	}}
}

func TestConditions(t *testing.T) {
	ev, err := ParseEvent([]byte(testEvent))
	if err != nil {
		t.Fatal(err)
	}
	u := &userContext{id: "@alice:example.org", self: true, displayName: func() string { return "Alice" }}
	for _, tt := range conditionTests {
		c := compileCondition(json.RawMessage(tt.cond), false)
		if got := c.match(ev, testRoom(), u); got != tt.want {
			t.Errorf("%s matched = %v; want %v", tt.cond, got, tt.want)
		}
	}
}

var displayNameTests = []struct {
	name, body string
	want       bool
}{
	{"Alice", "hello alice", true},
	{"Alice", "hello alice!", true},
	{"Alice", "hello alicent", false},
	{"Alice", "hello_alice", false},
	{"A.B", "hi a.b there", true},
	{"A.B", "hi axb there", false}, // the name is literal, not a pattern
	{"*", "anything", false},
	{"", "hello", false},
}

func TestContainsDisplayName(t *testing.T) {
	c := compileCondition(json.RawMessage(`{"kind":"contains_display_name"}`), false)
	for _, tt := range displayNameTests {
		data, _ := json.Marshal(map[string]any{"type": "m.room.message", "content": map[string]any{"body": tt.body}})
		ev, err := ParseEvent(data)
		if err != nil {
			t.Fatal(err)
		}
		u := &userContext{id: "@a:x", self: true, displayName: func() string { return tt.name }}
		if got := c.match(ev, testRoom(), u); got != tt.want {
			t.Errorf("contains_display_name %q in %q = %v; want %v", tt.name, tt.body, got, tt.want)
		}
	}
}
