package event

import (
	"encoding/json"
	"strings"
	"testing"

	"chappe.eu/chappe/internal/room/canonicaljson"
)

// redactContents are, per event type, content holding every key some
// redaction algorithm keeps, and one none keeps.
var redactContents = map[string]string{
	"m.room.member": `{"membership":"join","join_authorised_via_users_server":"@u:x","displayname":"D",
		"third_party_invite":{"signed":{"mxid":"@u:x","token":"t","signatures":{}},"display_name":"E"}}`,
	"m.room.create":             `{"creator":"@u:x","room_version":"1","m.federate":false,"extra":1}`,
	"m.room.join_rules":         `{"join_rule":"restricted","allow":[{"type":"m.room_membership"}],"extra":1}`,
	"m.room.power_levels":       `{"ban":50,"events":{},"events_default":0,"invite":0,"kick":50,"redact":50,"state_default":50,"users":{},"users_default":0,"notifications":{"room":50},"extra":1}`,
	"m.room.aliases":            `{"aliases":["#a:x"],"extra":1}`,
	"m.room.history_visibility": `{"history_visibility":"shared","extra":1}`,
	"m.room.redaction":          `{"redacts":"$x","reason":"spam"}`,
	"m.room.message":            `{"body":"hi","msgtype":"m.text"}`,
}

// redactTests give the content keys kept, per algorithm and type (joined
// with spaces, in canonical order; "tpi" marks third_party_invite with only
// signed).
var redactTests = []struct {
	rules RedactionRules
	keep  map[string]string
}{
	{RedactionV1, map[string]string{
		"m.room.member":             "membership",
		"m.room.create":             "creator",
		"m.room.join_rules":         "join_rule",
		"m.room.power_levels":       "ban events events_default kick redact state_default users users_default",
		"m.room.aliases":            "aliases",
		"m.room.history_visibility": "history_visibility",
	}},
	{RedactionV6, map[string]string{
		"m.room.member":             "membership",
		"m.room.create":             "creator",
		"m.room.join_rules":         "join_rule",
		"m.room.power_levels":       "ban events events_default kick redact state_default users users_default",
		"m.room.history_visibility": "history_visibility",
	}},
	{RedactionV9, map[string]string{
		"m.room.member":             "join_authorised_via_users_server membership",
		"m.room.create":             "creator",
		"m.room.join_rules":         "allow join_rule",
		"m.room.power_levels":       "ban events events_default kick redact state_default users users_default",
		"m.room.history_visibility": "history_visibility",
	}},
	{RedactionV11, map[string]string{
		"m.room.member":             "join_authorised_via_users_server membership tpi",
		"m.room.create":             "creator extra m.federate room_version",
		"m.room.join_rules":         "allow join_rule",
		"m.room.power_levels":       "ban events events_default invite kick redact state_default users users_default",
		"m.room.history_visibility": "history_visibility",
		"m.room.redaction":          "redacts",
	}},
}

var versionOfRules = map[RedactionRules][]string{
	RedactionV1:  {"1", "2", "3", "4", "5"},
	RedactionV6:  {"6", "7", "8"},
	RedactionV9:  {"9", "10"},
	RedactionV11: {"11", "12"},
}

func TestRedactContent(t *testing.T) {
	for _, tt := range redactTests {
		for _, id := range versionOfRules[tt.rules] {
			v := mustVersion(t, id)
			for typ, content := range redactContents {
				raw := pdu(t, v, map[string]any{"type": typ, "state_key": "", "content": json.RawMessage(content)})
				ev, err := Parse(raw, v)
				if err != nil {
					t.Fatalf("v%s %s: %v", id, typ, err)
				}
				r := ev.Redact()
				var keys []string
				for k, val := range canonicaljson.Members(r.Content()) {
					if string(k) == "third_party_invite" {
						if string(val) != `{"signed":{"mxid":"@u:x","signatures":{},"token":"t"}}` {
							t.Errorf("v%s: redacted third_party_invite = %s; want only signed", id, val)
						}
						k = []byte("tpi")
					}
					keys = append(keys, string(k))
				}
				if got, want := strings.Join(keys, " "), tt.keep[typ]; got != want {
					t.Errorf("v%s: redacted %s content keys = %q; want %q", id, typ, got, want)
				}
				if r.EventID() != ev.EventID() {
					t.Errorf("v%s %s: redacted event ID %s; want %s", id, typ, r.EventID(), ev.EventID())
				}
			}
		}
	}
}

func TestRedactTopLevel(t *testing.T) {
	change := map[string]any{"origin": "a.example", "membership": "join", "prev_state": []any{},
		"unsigned": map[string]any{"age": 1}, "other": 1, "state_key": "", "redacts": "$x"}
	for _, v := range allVersions(t) {
		ev, err := Parse(pdu(t, v, change), v)
		if err != nil {
			t.Fatal(err)
		}
		r := ev.Redact()
		var keys []string
		for k := range canonicaljson.Members(r.JSON()) {
			keys = append(keys, string(k))
		}
		want := "auth_events content depth hashes membership origin origin_server_ts prev_events prev_state room_id sender signatures state_key type"
		if v.Redaction == RedactionV11 {
			want = "auth_events content depth hashes origin_server_ts prev_events room_id sender signatures state_key type"
		}
		if v.EventIDFormat == EventIDServerGenerated {
			want = strings.Replace(want, "depth", "depth event_id", 1)
		}
		if got := strings.Join(keys, " "); got != want {
			t.Errorf("v%s: redacted keys = %q; want %q", v.ID, got, want)
		}
		if r.Unsigned() != nil {
			t.Errorf("v%s: redacted Unsigned() = %s; want nil", v.ID, r.Unsigned())
		}
		// Redaction is idempotent.
		if again := r.Redact(); string(again.JSON()) != string(r.JSON()) {
			t.Errorf("v%s: Redact(Redact(e)) = %s; want %s", v.ID, again.JSON(), r.JSON())
		}
	}
}

func TestRedactThirdPartyInviteShapes(t *testing.T) {
	v := mustVersion(t, "11")
	for content, want := range map[string]string{
		`{"membership":"invite","third_party_invite":"x"}`:                `{"membership":"invite"}`,
		`{"membership":"invite","third_party_invite":{"display_name":1}}`: `{"membership":"invite","third_party_invite":{}}`,
	} {
		raw := pdu(t, v, map[string]any{"type": "m.room.member", "state_key": "@u:x", "content": json.RawMessage(content)})
		got, err := RedactJSON(raw, v)
		if err != nil {
			t.Fatal(err)
		}
		if c, _ := canonicaljson.Get(got, "content"); string(c) != want {
			t.Errorf("redacted content of %s = %s; want %s", content, c, want)
		}
	}
}
