package push

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestCopyRoomRules: the enabled rules about the old room — its room rule
// and override and underride rules matching its room_id — are copied for
// the new room, first in their kind; disabled ones, other rooms' and
// rules the new room already has are left alone.
func TestCopyRoomRules(t *testing.T) {
	doc := `{"rules":{
		"room":[{"rule_id":"!old:x","enabled":true,"actions":[]}],
		"override":[
			{"rule_id":"other","enabled":true,"conditions":[{"kind":"event_match","key":"room_id","pattern":"!else:x"}],"actions":[]},
			{"rule_id":"!old:x","enabled":true,"conditions":[{"kind":"event_match","key":"room_id","pattern":"!old:x"},{"kind":"event_match","key":"type","pattern":"m.room.message"}],"actions":["notify"]}],
		"underride":[{"rule_id":"quiet","enabled":false,"conditions":[{"kind":"event_match","key":"room_id","pattern":"!old:x"}],"actions":[]}]}}`
	u, err := ParseUserRules([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if !u.CopyRoomRules("!old:x", "!new:x") {
		t.Fatal("nothing copied")
	}
	if r := u.Rules[Room][0]; r.RuleID != "!new:x" || !r.Enabled || len(u.Rules[Room]) != 2 {
		t.Errorf("room rules = %+v; want !new:x first, then !old:x", u.Rules[Room])
	}
	o := u.Rules[Override]
	if len(o) != 3 || o[0].RuleID != "!new:x" {
		t.Fatalf("override rules = %+v; want the copy first", o)
	}
	conds := string(o[0].Conditions[0]) + string(o[0].Conditions[1])
	if !strings.Contains(conds, `"pattern":"!new:x"`) || strings.Contains(conds, "!old:x") || !strings.Contains(conds, "m.room.message") {
		t.Errorf("copied conditions = %s; want room_id !new:x and the type condition kept", conds)
	}
	var actions []string
	for _, a := range o[0].Actions {
		var s string
		json.Unmarshal(a, &s)
		actions = append(actions, s)
	}
	if len(actions) != 1 || actions[0] != "notify" {
		t.Errorf("copied actions = %v; want [notify]", actions)
	}
	if len(u.Rules[Underride]) != 1 {
		t.Errorf("a disabled rule was copied: %+v", u.Rules[Underride])
	}
	if u.CopyRoomRules("!old:x", "!new:x") {
		t.Error("a second copy changed the rules again")
	}
}
