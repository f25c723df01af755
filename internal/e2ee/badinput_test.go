package e2ee_test

import (
	"net/url"
	"strings"
	"testing"

	"chappe.eu/chappe/internal/testserver"
)

// hostile are JSON string literals that have broken servers: NUL (which
// PostgreSQL refuses in text), lone surrogates, bidi controls, ID-like
// and long values.
var hostile = []string{
	`""`, `"\u0000"`, `"a\u0000b"`, `"\udfff\ud800x"`, `"\u202e"`, `"@:"`, `"@a:chappe.test"`, `"*"`,
	`"` + strings.Repeat("x", 3000) + `"`, `"` + strings.Repeat("é", 1000) + `"`,
}

// TestBadInput feeds hostile strings into every place of every e2ee
// endpoint's body, path and query that holds one, and malformed bodies:
// answers are 4xx (or 200 for what is merely unknown), never 500.
func TestBadInput(t *testing.T) {
	forEngine(t, func(t *testing.T, srv *testserver.Server) {
		c := srv.Register(t, "alice", "password1")
		c.MustDo("POST", "/_matrix/client/v3/room_keys/version", map[string]any{"algorithm": "a", "auth_data": map[string]any{}}, 200)
		const v3 = "/_matrix/client/v3"
		const msc = "/_matrix/client/unstable/org.matrix.msc3814.v1"
		key := `{"first_message_index":0,"forwarded_count":0,"is_verified":false,"session_data":{"X":"X"}}`
		bodies := []struct{ method, path, template string }{
			{"POST", v3 + "/keys/upload", `{"device_keys":{"user_id":"X","device_id":"X","algorithms":["X"],"keys":{"X":"X"},"signatures":{"X":{"X":"X"}}},"one_time_keys":{"X":"X","a:X":{"key":"X"}},"fallback_keys":{"X":{"key":"X"}}}`},
			{"POST", v3 + "/keys/upload", `{"one_time_keys":{"signed_curve25519:X":{"key":"X","signatures":{"X":{"X":"X"}}}},"fallback_keys":{"X:X":"X"}}`},
			{"POST", v3 + "/keys/query", `{"device_keys":{"X":["X"]}}`},
			{"POST", v3 + "/keys/query", `{"device_keys":{"@alice:chappe.test":["X"]}}`},
			{"POST", v3 + "/keys/claim", `{"one_time_keys":{"X":{"X":"X"}}}`},
			{"POST", v3 + "/keys/claim", `{"one_time_keys":{"@alice:chappe.test":{"X":"X"}}}`},
			{"POST", v3 + "/keys/device_signing/upload", `{"master_key":{"user_id":"X","usage":["X"],"keys":{"X":"X"}},"auth":{"type":"X","session":"X"}}`},
			{"POST", v3 + "/keys/device_signing/upload", `{"master_key":{"user_id":"@alice:chappe.test","usage":["master"],"keys":{"ed25519:X":"X"}}}`},
			{"POST", v3 + "/keys/signatures/upload", `{"X":{"X":{"user_id":"X","keys":{"X":"X"},"signatures":{"X":{"X":"X"}}}}}`},
			{"POST", v3 + "/keys/signatures/upload", `{"@alice:chappe.test":{"X":{"user_id":"X"}}}`},
			{"PUT", v3 + "/sendToDevice/m.test/t", `{"messages":{"X":{"X":{"X":"X"}}}}`},
			{"PUT", v3 + "/sendToDevice/m.test/u", `{"messages":{"@alice:chappe.test":{"X":{"X":"X"}}}}`},
			{"POST", v3 + "/room_keys/version", `{"algorithm":"X","auth_data":{"X":"X"}}`},
			{"PUT", v3 + "/room_keys/version/1", `{"algorithm":"X","auth_data":{"X":"X"},"version":"X"}`},
			{"PUT", v3 + "/room_keys/keys?version=1", `{"rooms":{"X":{"sessions":{"X":` + key + `}}}}`},
			{"PUT", v3 + "/room_keys/keys/r?version=1", `{"sessions":{"X":` + key + `}}`},
			{"PUT", msc + "/dehydrated_device", `{"device_id":"X","device_data":{"X":"X"},"initial_device_display_name":"X","device_keys":{"user_id":"X","device_id":"X","algorithms":[],"keys":{"X":"X"}},"one_time_keys":{"X":"X"}}`},
			{"POST", msc + "/dehydrated_device/d/events", `{"next_batch":"X"}`},
		}
		check := func(method, path string, body any) {
			t.Helper()
			r := c.Do(method, path, body)
			if r.Status >= 500 {
				t.Errorf("%s %s %.200v = %d %s", method, path, body, r.Status, r.Raw)
			}
		}
		for _, b := range bodies {
			for _, h := range hostile {
				check(b.method, b.path, strings.ReplaceAll(b.template, `"X"`, h))
			}
			for _, bad := range []string{`[]`, `"x"`, `{`, `{"device_keys":5,"one_time_keys":[],"messages":"x","rooms":1,"sessions":[]}`, `null`} {
				check(b.method, b.path, bad)
			}
		}
		// Strings in the path and query.
		for _, h := range hostile {
			s := h[1 : len(h)-1] // the JSON escapes as they are: what a client could put in a URL
			e := url.PathEscape(s)
			q := url.QueryEscape(s)
			for _, p := range []struct{ method, path string }{
				{"PUT", v3 + "/sendToDevice/" + e + "/" + e},
				{"GET", v3 + "/keys/changes?from=" + q + "&to=" + q},
				{"GET", v3 + "/room_keys/version/" + e},
				{"DELETE", v3 + "/room_keys/version/" + e},
				{"GET", v3 + "/room_keys/keys/" + e + "/" + e + "?version=" + q},
				{"PUT", v3 + "/room_keys/keys/" + e + "/" + e + "?version=1"},
				{"DELETE", v3 + "/room_keys/keys/" + e + "?version=" + q},
				{"POST", msc + "/dehydrated_device/" + e + "/events"},
			} {
				check(p.method, p.path, map[string]any{"messages": map[string]any{}, "first_message_index": 0, "forwarded_count": 0,
					"is_verified": true, "session_data": map[string]any{}})
			}
		}
		// And with the NUL unescaped, as a raw byte.
		for _, p := range []string{v3 + "/sendToDevice/m.test/a%00b", v3 + "/room_keys/keys/a%00b/c%00d?version=1"} {
			check("PUT", p, map[string]any{"messages": map[string]any{}, "first_message_index": 0, "forwarded_count": 0, "is_verified": true, "session_data": map[string]any{}})
		}
	})
}
