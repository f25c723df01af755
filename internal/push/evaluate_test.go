package push

import (
	"encoding/json"
	"testing"
)

const alice = "@alice:example.org"

// defaultRulesTests evaluates the server-default rules for alice.
var defaultRulesTests = []struct {
	name    string
	event   string
	members int
	level   int64 // the sender's power level
	rule    string
	notify  bool
	high    bool
}{
	{"message in a group", `{"type":"m.room.message","content":{"msgtype":"m.text","body":"hi"}}`, 5, 0,
		".m.rule.message", true, false},
	{"message in a DM", `{"type":"m.room.message","content":{"msgtype":"m.text","body":"hi"}}`, 2, 0,
		".m.rule.room_one_to_one", true, false},
	{"encrypted in a DM", `{"type":"m.room.encrypted","content":{}}`, 2, 0,
		".m.rule.encrypted_room_one_to_one", true, false},
	{"encrypted in a group", `{"type":"m.room.encrypted","content":{}}`, 3, 0,
		".m.rule.encrypted", true, false},
	{"notice", `{"type":"m.room.message","content":{"msgtype":"m.notice","body":"bot"}}`, 2, 0,
		".m.rule.suppress_notices", false, false},
	{"user mention", `{"type":"m.room.message","content":{"body":"x","m.mentions":{"user_ids":["@alice:example.org"]}}}`, 5, 0,
		".m.rule.is_user_mention", true, true},
	{"other user's mention", `{"type":"m.room.message","content":{"body":"x","m.mentions":{"user_ids":["@carol:example.org"]}}}`, 5, 0,
		".m.rule.message", true, false},
	{"display name in body is no mention", `{"type":"m.room.message","content":{"body":"alice!","m.mentions":{}}}`, 5, 0,
		".m.rule.message", true, false},
	{"room mention with power", `{"type":"m.room.message","content":{"body":"@room","m.mentions":{"room":true}}}`, 5, 50,
		".m.rule.is_room_mention", true, true},
	{"room mention without power", `{"type":"m.room.message","content":{"body":"@room","m.mentions":{"room":true}}}`, 5, 0,
		".m.rule.message", true, false},
	{"invite for me", `{"type":"m.room.member","state_key":"@alice:example.org","content":{"membership":"invite"}}`, 5, 0,
		".m.rule.invite_for_me", true, false},
	{"invite for someone else", `{"type":"m.room.member","state_key":"@carol:example.org","content":{"membership":"invite"}}`, 5, 0,
		".m.rule.member_event", false, false},
	{"join", `{"type":"m.room.member","state_key":"@carol:example.org","content":{"membership":"join"}}`, 2, 0,
		".m.rule.member_event", false, false},
	{"tombstone", `{"type":"m.room.tombstone","state_key":"","content":{"body":"moved"}}`, 5, 0,
		".m.rule.tombstone", true, true},
	{"tombstone with a state key", `{"type":"m.room.tombstone","state_key":"x","content":{}}`, 5, 0,
		"", false, false},
	{"reaction", `{"type":"m.reaction","content":{"m.relates_to":{"rel_type":"m.annotation","event_id":"$x","key":"👍"}}}`, 2, 0,
		".m.rule.reaction", false, false},
	{"server ACL", `{"type":"m.room.server_acl","state_key":"","content":{}}`, 5, 0,
		".m.rule.room.server_acl", false, false},
	{"edit", `{"type":"m.room.message","content":{"body":"* hi","m.relates_to":{"rel_type":"m.replace","event_id":"$x"}}}`, 2, 0,
		".m.rule.suppress_edits", false, false},
	{"call", `{"type":"m.call.invite","content":{}}`, 2, 0,
		".m.rule.call", true, false},
	{"topic", `{"type":"m.room.topic","state_key":"","content":{"topic":"t"}}`, 5, 0,
		"", false, false},
}

func TestDefaultRules(t *testing.T) {
	for _, tt := range defaultRulesTests {
		ev, err := ParseEvent([]byte(tt.event))
		if err != nil {
			t.Fatal(err)
		}
		room := &RoomContext{MemberCount: tt.members, SenderLevel: tt.level, NotificationLevel: func(string) int64 { return 50 }}
		// The shared compiled defaults and a per-user compile agree.
		for name, c := range map[string]*Compiled{"shared": compiledDefaults(), "compiled": Compile(Defaults(alice))} {
			got := c.Evaluate(ev, room, alice, nil)
			if got.RuleID != tt.rule || got.Notify != tt.notify || got.Highlight != tt.high {
				t.Errorf("%s (%s): Evaluate = %s notify=%v highlight=%v; want %s notify=%v highlight=%v",
					tt.name, name, got.RuleID, got.Notify, got.Highlight, tt.rule, tt.notify, tt.high)
			}
		}
	}
}

// The spec's default ruleset, in its order.
func TestDefaultsOrder(t *testing.T) {
	rs := Defaults(alice)
	var ids []string
	for _, k := range Kinds {
		for _, r := range rs.Of(k) {
			ids = append(ids, string(k)+":"+r.RuleID)
			if !r.Default {
				t.Errorf("%s is not marked default", r.RuleID)
			}
		}
	}
	want := []string{"override:.m.rule.master", "override:.m.rule.suppress_notices", "override:.m.rule.invite_for_me",
		"override:.m.rule.member_event", "override:.m.rule.is_user_mention", "override:.m.rule.is_room_mention",
		"override:.m.rule.tombstone", "override:.m.rule.reaction", "override:.m.rule.room.server_acl",
		"override:.m.rule.suppress_edits", "underride:.m.rule.call", "underride:.m.rule.encrypted_room_one_to_one",
		"underride:.m.rule.room_one_to_one", "underride:.m.rule.message", "underride:.m.rule.encrypted"}
	if len(ids) != len(want) {
		t.Fatalf("Defaults = %v; want %v", ids, want)
	}
	for i := range want {
		if ids[i] != want[i] {
			t.Errorf("Defaults[%d] = %s; want %s", i, ids[i], want[i])
		}
	}
	r, _ := rs.Find(Override, ".m.rule.invite_for_me")
	if got := string(r.Conditions[2]); got != `{"kind":"event_match","key":"state_key","pattern":"@alice:example.org"}` {
		t.Errorf("invite_for_me's state_key condition = %s; want the user's ID", got)
	}
	if m, _ := rs.Find(Override, ".m.rule.master"); m.Enabled {
		t.Error(".m.rule.master is enabled by default")
	}
}

// User rules come before the defaults of their kind, after the master rule;
// room and sender rules match by ID; a disabled rule is skipped; changed
// default actions apply.
func TestUserRulesEvaluation(t *testing.T) {
	u := &UserRules{}
	mustPut := func(r Rule, before, after string) {
		t.Helper()
		if err := u.Put(r, before, after); err != nil {
			t.Fatal(err)
		}
	}
	pattern := "lunch"
	mustPut(Rule{Kind: Content, RuleID: "lunch", Pattern: &pattern,
		Actions: []json.RawMessage{json.RawMessage(`"notify"`), json.RawMessage(`{"set_tweak":"highlight"}`)}}, "", "")
	mustPut(Rule{Kind: Room, RuleID: "!muted:example.org", Actions: []json.RawMessage{}}, "", "")
	mustPut(Rule{Kind: Sender, RuleID: "@boss:example.org",
		Actions: []json.RawMessage{json.RawMessage(`"notify"`), json.RawMessage(`{"set_tweak":"highlight","value":true}`)}}, "", "")
	mustPut(Rule{Kind: Override, RuleID: "quiet-bots", Conditions: []json.RawMessage{
		json.RawMessage(`{"kind":"event_match","key":"sender","pattern":"@*bot:example.org"}`)}, Actions: []json.RawMessage{}}, "", "")
	if err := u.SetActions(alice, Underride, ".m.rule.message", []json.RawMessage{json.RawMessage(`"notify"`),
		json.RawMessage(`{"set_tweak":"sound","value":"x"}`)}); err != nil {
		t.Fatal(err)
	}
	c := CompileUser(alice, u)
	room := &RoomContext{MemberCount: 5, NotificationLevel: func(string) int64 { return 50 }}
	tests := []struct {
		event string
		rule  string
		high  bool
	}{
		{`{"type":"m.room.message","room_id":"!r:example.org","sender":"@bob:example.org","content":{"body":"lunch now"}}`, "lunch", true},
		{`{"type":"m.room.message","room_id":"!muted:example.org","sender":"@bob:example.org","content":{"body":"hi"}}`, "!muted:example.org", false},
		{`{"type":"m.room.message","room_id":"!muted:example.org","sender":"@bob:example.org","content":{"body":"lunch"}}`, "lunch", true},
		{`{"type":"m.room.message","room_id":"!r:example.org","sender":"@boss:example.org","content":{"body":"hi"}}`, "@boss:example.org", true},
		{`{"type":"m.room.message","room_id":"!r:example.org","sender":"@newsbot:example.org","content":{"body":"lunch"}}`, "quiet-bots", false},
		{`{"type":"m.room.message","room_id":"!r:example.org","sender":"@bob:example.org","content":{"body":"hi"}}`, ".m.rule.message", false},
	}
	for _, tt := range tests {
		ev, _ := ParseEvent([]byte(tt.event))
		got := c.Evaluate(ev, room, alice, nil)
		if got.RuleID != tt.rule || got.Highlight != tt.high {
			t.Errorf("Evaluate(%s) = %s highlight=%v; want %s highlight=%v", tt.event, got.RuleID, got.Highlight, tt.rule, tt.high)
		}
	}
	ev, _ := ParseEvent([]byte(tests[5].event))
	if got := string(c.Evaluate(ev, room, alice, nil).Actions); got != `["notify",{"set_tweak":"sound","value":"x"}]` {
		t.Errorf("changed default actions = %s", got)
	}

	// Disabling the content rule lets the room rule win; the master rule
	// beats everything.
	if err := u.SetEnabled(alice, Content, "lunch", false); err != nil {
		t.Fatal(err)
	}
	ev, _ = ParseEvent([]byte(tests[2].event))
	if got := CompileUser(alice, u).Evaluate(ev, room, alice, nil).RuleID; got != "!muted:example.org" {
		t.Errorf("with lunch disabled: rule %s; want the room rule", got)
	}
	if err := u.SetEnabled(alice, Override, ".m.rule.master", true); err != nil {
		t.Fatal(err)
	}
	ev, _ = ParseEvent([]byte(tests[3].event))
	if got := CompileUser(alice, u).Evaluate(ev, room, alice, nil); got.RuleID != ".m.rule.master" || got.Notify {
		t.Errorf("with master enabled: %s notify=%v; want .m.rule.master, no notification", got.RuleID, got.Notify)
	}
}

// A content rule whose pattern is missing (stored by an older client, say)
// never matches; conditions this server does not know disable their rule.
func TestBrokenRulesNeverMatch(t *testing.T) {
	u := &UserRules{Rules: map[Kind][]Rule{
		Content:  {{Kind: Content, RuleID: "nopattern", Enabled: true, Actions: []json.RawMessage{json.RawMessage(`"notify"`)}}},
		Override: {{Kind: Override, RuleID: "unknown", Enabled: true, Conditions: []json.RawMessage{json.RawMessage(`{"kind":"x.future"}`)}, Actions: []json.RawMessage{json.RawMessage(`"notify"`)}}},
	}}
	ev, _ := ParseEvent([]byte(`{"type":"m.room.topic","state_key":"","content":{"body":"x"}}`))
	if got := CompileUser(alice, u).Evaluate(ev, &RoomContext{MemberCount: 3}, alice, nil); got.RuleID != "" {
		t.Errorf("matched %s; want no rule", got.RuleID)
	}
}
