package clientapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"chappe.eu/chappe/internal/testserver"
)

const pushRules = v3 + "/pushrules/global/"

// ruleIDs lists the rule IDs of one kind in a ruleset response.
func ruleIDs(t *testing.T, set map[string]any, kind string) []string {
	t.Helper()
	list, ok := set[kind].([]any)
	if !ok {
		t.Fatalf("ruleset has no %s list: %v", kind, set)
	}
	var out []string
	for _, r := range list {
		out = append(out, r.(map[string]any)["rule_id"].(string))
	}
	return out
}

// TestPushRulesDefaults: GET /pushrules/ and /pushrules/global/ give the
// spec's ruleset with the user's ID filled in.
func TestPushRulesDefaults(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := start(t, engine, nil)
		alice := srv.Register(t, "alice", password)
		all := alice.MustDo("GET", v3+"/pushrules/", nil, 200)
		global, ok := all.Body["global"].(map[string]any)
		if !ok {
			t.Fatalf("GET /pushrules/ = %s; want a global ruleset", all.Raw)
		}
		if got := ruleIDs(t, global, "override"); len(got) != 10 || got[0] != ".m.rule.master" || got[4] != ".m.rule.is_user_mention" {
			t.Errorf("override rules = %v", got)
		}
		if got := ruleIDs(t, global, "underride"); fmt.Sprint(got) != "[.m.rule.call .m.rule.encrypted_room_one_to_one .m.rule.room_one_to_one .m.rule.message .m.rule.encrypted]" {
			t.Errorf("underride rules = %v", got)
		}
		for _, k := range []string{"content", "room", "sender"} {
			if got := ruleIDs(t, global, k); len(got) != 0 {
				t.Errorf("%s rules = %v; want none", k, got)
			}
		}
		r := alice.MustDo("GET", pushRules+"override/.m.rule.is_user_mention", nil, 200)
		conds := r.Body["conditions"].([]any)
		if v := conds[0].(map[string]any)["value"]; v != alice.UserID || r.Body["default"] != true || r.Body["enabled"] != true {
			t.Errorf("GET .m.rule.is_user_mention = %s; want the user's ID as value, default and enabled", r.Raw)
		}
		if g := alice.MustDo("GET", pushRules, nil, 200); fmt.Sprint(g.Body["override"]) != fmt.Sprint(global["override"]) {
			t.Errorf("GET /pushrules/global/ differs from /pushrules/'s global")
		}
		// As Synapse: /pushrules/global without the slash, and one kind's list.
		if g := alice.MustDo("GET", v3+"/pushrules/global", nil, 200); fmt.Sprint(g.Body["underride"]) != fmt.Sprint(global["underride"]) {
			t.Errorf("GET /pushrules/global differs from /pushrules/'s global")
		}
		if u := alice.MustDo("GET", pushRules+"underride/", nil, 200); fmt.Sprint(u.List) != fmt.Sprint(global["underride"]) {
			t.Errorf("GET /pushrules/global/underride/ = %s; want the underride rules", u.Raw)
		}
		wantErr(t, "GET /pushrules/global/bogus/", alice.Do("GET", pushRules+"bogus/", nil), 400, "M_INVALID_PARAM")
	})
}

// TestPushRulesCRUD: adding, ordering, reading, enabling, changing the
// actions of and deleting rules; defaults can be disabled and given other
// actions but not deleted; one user's rules are theirs alone.
func TestPushRulesCRUD(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := start(t, engine, nil)
		alice := srv.Register(t, "alice", password)
		bob := srv.Register(t, "bob", password)
		cond := []any{map[string]any{"kind": "event_match", "key": "content.body", "pattern": "beer"},
			map[string]any{"kind": "room_member_count", "is": "<=10"}}
		put := func(id, query string, want int) {
			t.Helper()
			alice.MustDo("PUT", pushRules+"override/"+id+query, map[string]any{"conditions": cond, "actions": []any{"notify"}}, want)
		}
		put("a", "", 200)
		put("b", "", 200)
		put("c", "?after=a", 200)
		put("d", "?before=a", 200)
		put("e", "?before=c&after=b", 200)
		r := alice.MustDo("GET", pushRules, nil, 200)
		got := ruleIDs(t, r.Body, "override")
		if strings.Join(got[:6], ",") != ".m.rule.master,b,d,a,e,c" || got[6] != ".m.rule.suppress_notices" {
			t.Fatalf("override order = %v; want master, b, d, a, e, c, then the other defaults", got)
		}
		one := alice.MustDo("GET", pushRules+"override/a", nil, 200)
		if one.Body["rule_id"] != "a" || one.Body["default"] != false || one.Body["enabled"] != true ||
			fmt.Sprint(one.Body["conditions"]) != "[map[key:content.body kind:event_match pattern:beer] map[is:<=10 kind:room_member_count]]" {
			t.Fatalf("GET rule a = %s", one.Raw)
		}

		alice.MustDo("PUT", pushRules+"content/cake", map[string]any{"pattern": "cake*lie", "actions": []any{"notify",
			map[string]any{"set_tweak": "sound", "value": "cakealarm.wav"}}}, 200)
		c := alice.MustDo("GET", pushRules+"content/cake", nil, 200)
		if c.Body["pattern"] != "cake*lie" || c.Body["conditions"] != nil {
			t.Fatalf("content rule = %s", c.Raw)
		}
		room := "!dj234r78wl45Gh4D:matrix.org"
		alice.MustDo("PUT", pushRules+"room/"+url.PathEscape(room), map[string]any{"actions": []any{}}, 200)
		if rr := alice.MustDo("GET", pushRules+"room/"+url.PathEscape(room), nil, 200); rr.Body["rule_id"] != room || rr.Body["pattern"] != nil {
			t.Fatalf("room rule = %s", rr.Raw)
		}

		// enabled and actions, of user rules and of defaults.
		alice.MustDo("PUT", pushRules+"override/a/enabled", map[string]any{"enabled": false}, 200)
		if e := alice.MustDo("GET", pushRules+"override/a/enabled", nil, 200); e.Body["enabled"] != false {
			t.Fatalf("enabled after disabling = %s", e.Raw)
		}
		alice.MustDo("PUT", pushRules+"override/.m.rule.master/enabled", map[string]any{"enabled": true}, 200)
		alice.MustDo("PUT", pushRules+"underride/.m.rule.message/actions", map[string]any{"actions": []any{"dont_notify"}}, 200)
		if a := alice.MustDo("GET", pushRules+"underride/.m.rule.message/actions", nil, 200); string(a.Raw) != `{"actions":[]}` {
			t.Fatalf("actions after setting [dont_notify] = %s; want [] (dont_notify is stripped)", a.Raw)
		}
		m := alice.MustDo("GET", pushRules+"override/.m.rule.master", nil, 200)
		if m.Body["enabled"] != true || m.Body["default"] != true {
			t.Fatalf("master after enabling = %s", m.Raw)
		}
		// Updating a rule keeps it disabled.
		put("a", "", 200)
		if e := alice.MustDo("GET", pushRules+"override/a/enabled", nil, 200); e.Body["enabled"] != false {
			t.Fatalf("a re-enabled by an update: %s", e.Raw)
		}

		// bob sees none of it.
		b := bob.MustDo("GET", pushRules, nil, 200)
		if got := ruleIDs(t, b.Body, "override"); len(got) != 10 {
			t.Fatalf("bob's override rules = %v", got)
		}
		bob.MustDo("GET", pushRules+"override/a", nil, 404)
		if m := bob.MustDo("GET", pushRules+"override/.m.rule.master/enabled", nil, 200); m.Body["enabled"] != false {
			t.Fatal("alice's change of the master rule reached bob")
		}

		alice.MustDo("DELETE", pushRules+"override/a", nil, 200)
		wantErr(t, "GET a deleted rule", alice.Do("GET", pushRules+"override/a", nil), 404, "M_NOT_FOUND")
		wantErr(t, "DELETE again", alice.Do("DELETE", pushRules+"override/a", nil), 404, "M_NOT_FOUND")
		if got := ruleIDs(t, alice.MustDo("GET", pushRules, nil, 200).Body, "override"); strings.Join(got[:5], ",") != ".m.rule.master,b,d,e,c" {
			t.Fatalf("override order after deleting a = %v", got)
		}
	})
}

// TestPushRulesErrors: every error path answers the spec's errcode, never
// a 500.
func TestPushRulesErrors(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := start(t, engine, nil)
		alice := srv.Register(t, "alice", password)
		alice.MustDo("PUT", pushRules+"override/x", map[string]any{"actions": []any{}}, 200)
		tests := []struct {
			method, path string
			body         any
			status       int
			errcode      string
		}{
			{"GET", pushRules + "override/nope", nil, 404, "M_NOT_FOUND"},
			{"GET", pushRules + "content/.m.rule.master", nil, 404, "M_NOT_FOUND"}, // another kind's rule
			{"GET", pushRules + "bogus/x", nil, 400, "M_INVALID_PARAM"},
			{"GET", v3 + "/pushrules/device/override/x", nil, 404, "M_UNRECOGNIZED"},
			{"GET", pushRules + "override/nope/enabled", nil, 404, "M_NOT_FOUND"},
			{"GET", pushRules + "override/nope/actions", nil, 404, "M_NOT_FOUND"},
			{"PUT", pushRules + "override/.mine", map[string]any{"actions": []any{}}, 400, "M_INVALID_PARAM"},
			{"PUT", pushRules + "override/.m.rule.master", map[string]any{"actions": []any{}}, 400, "M_INVALID_PARAM"},
			{"PUT", pushRules + "override/a%2Fb", map[string]any{"actions": []any{}}, 400, "M_INVALID_PARAM"},
			{"PUT", pushRules + "override/a%5Cb", map[string]any{"actions": []any{}}, 400, "M_INVALID_PARAM"},
			{"PUT", pushRules + "override/n%00ul", map[string]any{"actions": []any{}}, 400, "M_INVALID_PARAM"},
			{"PUT", pushRules + "override/y?before=nope", map[string]any{"actions": []any{}}, 400, "M_UNKNOWN"},
			{"PUT", pushRules + "override/y?after=.m.rule.master", map[string]any{"actions": []any{}}, 400, "M_UNKNOWN"},
			{"PUT", pushRules + "override/y", map[string]any{}, 400, "M_MISSING_PARAM"},
			{"PUT", pushRules + "override/y", map[string]any{"actions": "notify"}, 400, "M_BAD_JSON"},
			{"PUT", pushRules + "override/y", map[string]any{"actions": []any{"shout"}}, 400, "M_INVALID_PARAM"},
			{"PUT", pushRules + "override/y", map[string]any{"actions": []any{}, "conditions": []any{map[string]any{"key": "x"}}}, 400, "M_BAD_JSON"},
			{"PUT", pushRules + "content/y", map[string]any{"actions": []any{}}, 400, "M_MISSING_PARAM"},
			{"PUT", pushRules + "override/y", "not json", 400, "M_NOT_JSON"},
			{"PUT", pushRules + "override/y", []any{}, 400, "M_BAD_JSON"},
			{"PUT", pushRules + "override/y", map[string]any{"actions": []any{}, "pad": strings.Repeat("x", 20000)}, 400, "M_TOO_LARGE"},
			{"PUT", pushRules + "override/x/enabled", map[string]any{}, 400, "M_MISSING_PARAM"},
			{"PUT", pushRules + "override/x/enabled", map[string]any{"enabled": "yes"}, 400, "M_BAD_JSON"},
			{"PUT", pushRules + "override/nope/enabled", map[string]any{"enabled": true}, 404, "M_NOT_FOUND"},
			{"PUT", pushRules + "override/x/actions", map[string]any{}, 400, "M_MISSING_PARAM"},
			{"PUT", pushRules + "override/x/actions", map[string]any{"actions": []any{map[string]any{"value": 1}}}, 400, "M_INVALID_PARAM"},
			{"PUT", pushRules + "override/nope/actions", map[string]any{"actions": []any{}}, 404, "M_NOT_FOUND"},
			{"DELETE", pushRules + "override/.m.rule.master", nil, 400, "M_INVALID_PARAM"},
			{"DELETE", pushRules + "override/nope", nil, 404, "M_NOT_FOUND"},
			{"DELETE", pushRules + "bogus/x", nil, 400, "M_INVALID_PARAM"},
		}
		for _, tt := range tests {
			r := alice.Do(tt.method, tt.path, tt.body)
			wantErr(t, tt.method+" "+tt.path, r, tt.status, tt.errcode)
		}
		// Nothing of the failed requests was stored.
		if got := ruleIDs(t, alice.MustDo("GET", pushRules, nil, 200).Body, "override"); strings.Join(got[:2], ",") != ".m.rule.master,x" || len(got) != 11 {
			t.Fatalf("override rules after the errors = %v", got)
		}
		anon := srv.Client(t)
		wantErr(t, "GET /pushrules/ without a token", anon.Do("GET", v3+"/pushrules/", nil), http.StatusUnauthorized, "M_MISSING_TOKEN")
	})
}

// pushTestRoom creates a public room with the others joined.
func pushTestRoom(t *testing.T, creator *testserver.Client, others ...*testserver.Client) string {
	t.Helper()
	roomID := creator.MustDo("POST", v3+"/createRoom", map[string]any{"preset": "public_chat"}, 200).String("room_id")
	for _, o := range others {
		o.MustDo("POST", v3+"/join/"+url.PathEscape(roomID), map[string]any{}, 200)
	}
	return roomID
}

var pushTestTxn atomic.Int64

func pushTestSend(t *testing.T, c *testserver.Client, roomID string, content map[string]any) string {
	t.Helper()
	return c.MustDo("PUT", roomPath(roomID, fmt.Sprintf("/send/m.room.message/pt%d", pushTestTxn.Add(1))), content, 200).String("event_id")
}

// TestPushHostileInput: hostile strings (see badinput_test.go) in rule IDs,
// patterns, conditions, actions, before/after, thread IDs and markers get
// a 4xx or are stored and read back, never a 500.
func TestPushHostileInput(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := start(t, engine, nil)
		alice := srv.Register(t, "alice", password)
		bob := srv.Register(t, "bob", password)
		roomID := pushTestRoom(t, alice, bob)
		ev := pushTestSend(t, alice, roomID, map[string]any{"msgtype": "m.text", "body": "hi"})
		for _, p := range []string{pushRules + "override/%FF", pushRules + "override/%FF/enabled", receiptPath(roomID, "m.read", "$%FF")} {
			wantNo500(t, "PUT "+p, alice.Do("PUT", p, `{"actions":[],"enabled":true}`))
			wantNo500(t, "GET "+p, alice.Do("GET", p, nil))
			wantNo500(t, "POST "+p, alice.Do("POST", p, `{}`))
		}
		for i, h := range append(hostileStrings, `"a/b"`) {
			var s string
			if err := json.Unmarshal([]byte(h), &s); err != nil {
				t.Fatal(err)
			}
			esc := url.PathEscape(s)
			reqs := []struct {
				method, path, body string
			}{
				{"PUT", pushRules + "override/" + esc, `{"actions":[]}`},
				{"GET", pushRules + "override/" + esc, ""},
				{"PUT", pushRules + "override/.m.rule.master/enabled", `{"enabled":` + h + `}`},
				{"PUT", pushRules + "override/.m.rule.master/actions", `{"actions":[` + h + `]}`},
				{"PUT", pushRules + fmt.Sprintf("content/c%d", i), `{"actions":[{"set_tweak":` + h + `,"value":` + h + `}],"pattern":` + h + `}`},
				{"PUT", pushRules + fmt.Sprintf("override/o%d", i), `{"actions":["notify"],"conditions":[{"kind":` + h + `},{"kind":"event_match","key":` + h + `,"pattern":` + h + `},{"kind":"event_property_is","key":"a","value":` + h + `}]}`},
				{"PUT", pushRules + "override/z?before=" + url.QueryEscape(s), `{"actions":[]}`},
				{"POST", receiptPath(roomID, "m.read", ev), `{"thread_id":` + h + `}`},
				{"POST", receiptPath(roomID, esc, ev), `{}`},
				{"POST", receiptPath(roomID, "m.read", s), `{}`},
				{"POST", roomPath(roomID, "/read_markers"), `{"m.fully_read":` + h + `,"m.read":` + h + `}`},
				{"GET", v3 + "/notifications?from=" + url.QueryEscape(s) + "&only=" + url.QueryEscape(s), ""},
			}
			for _, rq := range reqs {
				var body any
				if rq.body != "" {
					body = rq.body
				}
				wantNo500(t, rq.method+" "+rq.path+" "+rq.body, alice.Do(rq.method, rq.path, body))
			}
		}
		// What was stored reads back, and alice's rules are evaluated for
		// bob's events.
		alice.MustDo("GET", v3+"/pushrules/", nil, 200)
		pushTestSend(t, bob, roomID, map[string]any{"msgtype": "m.text", "body": "still fine \u0000 x"})
		alice.MustDo("GET", v3+"/sync", nil, 200)
		alice.MustDo("GET", v3+"/notifications", nil, 200)
	})
}
