package push

import (
	"encoding/json"
	"testing"
)

// FuzzRules feeds arbitrary PUT bodies and events through parsing,
// storage, compilation and evaluation: nothing may panic, an accepted rule
// must survive the stored document's round trip, and evaluating it must
// give the same result before and after.
func FuzzRules(f *testing.F) {
	f.Add([]byte(`{"actions":["notify"],"conditions":[{"kind":"event_match","key":"content.body","pattern":"a*b?c"}]}`),
		[]byte(`{"type":"m.room.message","content":{"body":"axxbyc"}}`))
	f.Add([]byte(`{"actions":[{"set_tweak":"highlight"}],"conditions":[{"kind":"event_property_contains","key":"content.m\\.x","value":1}]}`),
		[]byte(`{"type":"x","content":{"m.x":[1,"1",null]}}`))
	f.Add([]byte(`{"actions":[],"conditions":[{"kind":"room_member_count","is":">=2"},{"kind":"sender_notification_permission","key":"room"}]}`),
		[]byte(`{"type":"m.room.message","sender":"@a:b","content":{}}`))
	f.Add([]byte(`{"actions":["notify"],"pattern":"[*]?\\"}`), []byte(`{"content":{"body":"[x]y\\"}}`))
	f.Fuzz(func(t *testing.T, body, event []byte) {
		ev, err := ParseEvent(event)
		if err != nil {
			return
		}
		room := &RoomContext{MemberCount: 2, SenderLevel: 50, NotificationLevel: func(string) int64 { return 50 }}
		for _, k := range Kinds {
			r, err := ParseRuleBody(k, "r", body)
			if err != nil {
				continue
			}
			u := &UserRules{}
			if err := u.Put(r, "", ""); err != nil {
				t.Fatalf("Put of a parsed rule: %v", err)
			}
			doc, err := u.Encode()
			if err != nil {
				t.Fatal(err)
			}
			back, err := ParseUserRules(doc)
			if err != nil {
				t.Fatalf("stored document does not parse: %v\n%s", err, doc)
			}
			a := CompileUser("@a:b", u).Evaluate(ev, room, "@a:b", func() string { return "A" })
			b := CompileUser("@a:b", back).Evaluate(ev, room, "@a:b", func() string { return "A" })
			if a.RuleID != b.RuleID || a.Notify != b.Notify || a.Highlight != b.Highlight || string(a.Actions) != string(b.Actions) {
				t.Fatalf("evaluation changed across storage: %+v vs %+v", a, b)
			}
			if a.RuleID != "" && !json.Valid(a.Actions) {
				t.Fatalf("invalid actions JSON %q", a.Actions)
			}
		}
	})
}
