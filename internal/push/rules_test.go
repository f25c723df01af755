package push

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"chappe.eu/chappe/internal/matrix"
)

func overrideIDs(u *UserRules) string {
	var ids []string
	for _, r := range u.Ruleset(alice).Override {
		if !r.Default {
			ids = append(ids, r.RuleID)
		}
	}
	return strings.Join(ids, ",")
}

// Put places rules as the spec says: new rules first; before and after
// next to a user rule; an updated rule moves like a new one (as in
// Synapse) and keeps its enabled state.
func TestPutOrdering(t *testing.T) {
	steps := []struct {
		id, before, after string
		want              string
		errcode           string
	}{
		{id: "a", want: "a"},
		{id: "b", want: "b,a"},
		{id: "c", after: "a", want: "b,a,c"},
		{id: "d", before: "a", want: "b,d,a,c"},
		{id: "e", before: "c", after: "b", want: "b,d,a,e,c"}, // before wins
		{id: "f", before: "nope", want: "b,d,a,e,c", errcode: "M_UNKNOWN"},
		{id: "g", after: ".m.rule.master", want: "b,d,a,e,c", errcode: "M_UNKNOWN"}, // not relative to defaults
		{id: "a", want: "a,b,d,e,c"},
		{id: "b", after: "c", want: "a,d,e,c,b"},
		{id: "c", before: "c", want: "a,d,e,c,b", errcode: "M_UNKNOWN"}, // itself
	}
	u := &UserRules{}
	for i, s := range steps {
		err := u.Put(Rule{Kind: Override, RuleID: s.id, Actions: []json.RawMessage{}}, s.before, s.after)
		var me *matrix.Error
		switch {
		case s.errcode == "" && err != nil:
			t.Fatalf("step %d: Put(%s) = %v", i, s.id, err)
		case s.errcode != "" && (!errors.As(err, &me) || me.Code != s.errcode):
			t.Fatalf("step %d: Put(%s) = %v; want %s", i, s.id, err, s.errcode)
		}
		if got := overrideIDs(u); got != s.want {
			t.Fatalf("step %d: after Put(%s, before=%q, after=%q): %s; want %s", i, s.id, s.before, s.after, got, s.want)
		}
	}
	if err := u.SetEnabled(alice, Override, "d", false); err != nil {
		t.Fatal(err)
	}
	if err := u.Put(Rule{Kind: Override, RuleID: "d"}, "", ""); err != nil {
		t.Fatal(err)
	}
	if r, _ := u.Ruleset(alice).Find(Override, "d"); r.Enabled {
		t.Error("an updated rule was re-enabled")
	}
	if r, _ := u.Ruleset(alice).Find(Override, "a"); !r.Enabled {
		t.Error("a new rule is not enabled")
	}
}

func TestRuleErrors(t *testing.T) {
	u := &UserRules{}
	check := func(what string, err error, code string) {
		t.Helper()
		var me *matrix.Error
		if !errors.As(err, &me) || me.Code != code {
			t.Errorf("%s = %v; want %s", what, err, code)
		}
	}
	check("Put(.x)", u.Put(Rule{Kind: Override, RuleID: ".x"}, "", ""), "M_INVALID_PARAM")
	check("Delete(missing)", u.Delete(alice, Override, "missing"), "M_NOT_FOUND")
	check("Delete(default)", u.Delete(alice, Override, ".m.rule.master"), "M_INVALID_PARAM")
	check("Delete(default of another kind)", u.Delete(alice, Content, ".m.rule.master"), "M_NOT_FOUND")
	check("SetEnabled(missing)", u.SetEnabled(alice, Room, "!x:y", true), "M_NOT_FOUND")
	check("SetActions(wrong kind)", u.SetActions(alice, Underride, ".m.rule.master", nil), "M_NOT_FOUND")
	for _, id := range []string{"", ".dot", "a/b", `a\b`, "nul\x00", strings.Repeat("x", 256), "bad\xff"} {
		check(fmt.Sprintf("ValidateRuleID(%q)", id), ValidateRuleID(id), "M_INVALID_PARAM")
	}
	if err := ValidateRuleID("!room:example.org"); err != nil {
		t.Errorf("ValidateRuleID(room ID) = %v", err)
	}
	for range MaxUserRules {
		u.Rules = map[Kind][]Rule{Room: append(u.Rules[Room], Rule{Kind: Room, RuleID: fmt.Sprint(len(u.Rules[Room]))})}
	}
	check("Put beyond the cap", u.Put(Rule{Kind: Sender, RuleID: "@x:y"}, "", ""), "M_LIMIT_EXCEEDED")
}

var ruleBodyTests = []struct {
	kind    Kind
	body    string
	errcode string
	want    string // the rule as JSON
}{
	{Override, `{"actions":["notify","dont_notify","coalesce",{"set_tweak":"sound","value":"x"}]}`, "",
		`{"actions":["notify",{"set_tweak":"sound","value":"x"}],"conditions":[],"default":false,"enabled":true,"rule_id":"r"}`},
	{Override, `{"actions":[],"conditions":[{"kind":"event_match","key":"type","pattern":"x"},{"kind":"future","n":1}]}`, "",
		`{"actions":[],"conditions":[{"kind":"event_match","key":"type","pattern":"x"},{"kind":"future","n":1}],"default":false,"enabled":true,"rule_id":"r"}`},
	{Content, `{"actions":["notify"],"pattern":"cake*lie"}`, "",
		`{"actions":["notify"],"default":false,"enabled":true,"pattern":"cake*lie","rule_id":"r"}`},
	{Room, `{"actions":[],"conditions":[{"kind":"x"}],"pattern":"ignored"}`, "",
		`{"actions":[],"default":false,"enabled":true,"rule_id":"r"}`},
	{Override, `{}`, "M_MISSING_PARAM", ""},
	{Override, `{"actions":null}`, "M_MISSING_PARAM", ""},
	{Override, `{"actions":"notify"}`, "M_BAD_JSON", ""},
	{Override, `{"actions":["shout"]}`, "M_INVALID_PARAM", ""},
	{Override, `{"actions":[{"value":1}]}`, "M_INVALID_PARAM", ""},
	{Override, `{"actions":[1]}`, "M_INVALID_PARAM", ""},
	{Override, `{"actions":[],"conditions":{}}`, "M_BAD_JSON", ""},
	{Override, `{"actions":[],"conditions":[{"key":"type"}]}`, "M_BAD_JSON", ""},
	{Override, `{"actions":[],"conditions":["x"]}`, "M_BAD_JSON", ""},
	{Content, `{"actions":[]}`, "M_MISSING_PARAM", ""},
	{Content, `{"actions":[],"pattern":5}`, "M_BAD_JSON", ""},
}

func TestParseRuleBody(t *testing.T) {
	for _, tt := range ruleBodyTests {
		r, err := ParseRuleBody(tt.kind, "r", []byte(tt.body))
		if tt.errcode != "" {
			var me *matrix.Error
			if !errors.As(err, &me) || me.Code != tt.errcode {
				t.Errorf("ParseRuleBody(%s, %s) = %v; want %s", tt.kind, tt.body, err, tt.errcode)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseRuleBody(%s, %s) = %v", tt.kind, tt.body, err)
			continue
		}
		got, _ := json.Marshal(r)
		if string(got) != tt.want {
			t.Errorf("ParseRuleBody(%s, %s) = %s; want %s", tt.kind, tt.body, got, tt.want)
		}
	}
}

// The stored document round-trips, and changed defaults appear merged.
func TestUserRulesRoundTrip(t *testing.T) {
	u := &UserRules{}
	p := "x"
	if err := u.Put(Rule{Kind: Content, RuleID: "c", Pattern: &p, Actions: []json.RawMessage{json.RawMessage(`"notify"`)}}, "", ""); err != nil {
		t.Fatal(err)
	}
	if err := u.SetActions(alice, Underride, ".m.rule.message", []json.RawMessage{}); err != nil {
		t.Fatal(err)
	}
	data, err := u.Encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseUserRules(data)
	if err != nil {
		t.Fatal(err)
	}
	rs := back.Ruleset(alice)
	if r, ok := rs.Find(Content, "c"); !ok || r.Kind != Content || *r.Pattern != "x" {
		t.Errorf("content rule after round trip = %+v, %v", r, ok)
	}
	if r, _ := rs.Find(Underride, ".m.rule.message"); len(r.Actions) != 0 || !r.Default {
		t.Errorf(".m.rule.message after muting = %+v; want no actions", r)
	}
	if empty, err := ParseUserRules(nil); err != nil || CompileUser(alice, empty) != compiledDefaults() {
		t.Errorf("ParseUserRules(nil) = %v, %v; want the shared defaults", empty, err)
	}
}
