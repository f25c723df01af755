package e2ee_test

import (
	"fmt"
	"net/http"
	"testing"

	"chappe.eu/chappe/internal/testserver"
)

const roomKeys = "/_matrix/client/v3/room_keys"

func backupKey(fmi, fc int, verified bool, tag string) map[string]any {
	return map[string]any{"first_message_index": fmi, "forwarded_count": fc, "is_verified": verified,
		"session_data": map[string]any{"ciphertext": tag, "ephemeral": "e", "mac": "m"}}
}

// TestKeyBackupVersions: create, read (current and by version), update
// auth_data, delete; versions are not reused.
func TestKeyBackupVersions(t *testing.T) {
	forEngine(t, func(t *testing.T, srv *testserver.Server) {
		alice := srv.Register(t, "alice", "password1")
		bob := srv.Register(t, "bob", "password1")
		if r := alice.Do("GET", roomKeys+"/version", nil); r.Status != 404 || r.Errcode() != "M_NOT_FOUND" {
			t.Fatalf("current version without a backup = %d %s; want 404 M_NOT_FOUND", r.Status, r.Raw)
		}
		const alg = "m.megolm_backup.v1.curve25519-aes-sha2"
		r := alice.MustDo("POST", roomKeys+"/version", map[string]any{"algorithm": alg, "auth_data": map[string]any{"public_key": "abc"}}, 200)
		if r.String("version") != "1" {
			t.Fatalf("first version = %s; want 1", r.Raw)
		}
		r = alice.MustDo("GET", roomKeys+"/version", nil, 200)
		if r.String("version") != "1" || r.String("algorithm") != alg || str(obj(r.Body["auth_data"])["public_key"]) != "abc" ||
			r.String("etag") == "" || num(r.Body["count"]) != 0 {
			t.Fatalf("current version = %s", r.Raw)
		}
		alice.MustDo("PUT", roomKeys+"/version/1", map[string]any{"algorithm": alg, "auth_data": map[string]any{"public_key": "def"}, "version": "1"}, 200)
		if r := alice.MustDo("GET", roomKeys+"/version/1", nil, 200); str(obj(r.Body["auth_data"])["public_key"]) != "def" {
			t.Fatalf("auth_data after update = %s; want def", r.Raw)
		}
		for _, tc := range []struct {
			name, method, path string
			body               any
			status             int
			code               string
		}{
			{"update with another algorithm", "PUT", "/version/1", map[string]any{"algorithm": "other", "auth_data": map[string]any{}}, 400, "M_INVALID_PARAM"},
			{"update with another version in the body", "PUT", "/version/1", map[string]any{"algorithm": alg, "auth_data": map[string]any{}, "version": "2"}, 400, "M_INVALID_PARAM"},
			{"update of an unknown version", "PUT", "/version/7", map[string]any{"algorithm": alg, "auth_data": map[string]any{}}, 404, "M_NOT_FOUND"},
			{"a version that is not a number", "GET", "/version/x1", nil, 404, "M_NOT_FOUND"},
			{"create without auth_data", "POST", "/version", map[string]any{"algorithm": alg}, 400, "M_MISSING_PARAM"},
			{"create with auth_data not an object", "POST", "/version", map[string]any{"algorithm": alg, "auth_data": 3}, 400, "M_BAD_JSON"},
		} {
			if r := alice.Do(tc.method, roomKeys+tc.path, tc.body); r.Status != tc.status || r.Errcode() != tc.code {
				t.Errorf("%s: %d %s; want %d %s", tc.name, r.Status, r.Raw, tc.status, tc.code)
			}
		}
		// Another user's backup is invisible.
		if r := bob.Do("GET", roomKeys+"/version/1", nil); r.Status != 404 {
			t.Fatalf("bob reading alice's backup = %d %s; want 404", r.Status, r.Raw)
		}
		alice.MustDo("DELETE", roomKeys+"/version/1", nil, 200)
		if r := alice.Do("GET", roomKeys+"/version", nil); r.Status != 404 {
			t.Fatalf("current version after deletion = %d %s; want 404", r.Status, r.Raw)
		}
		if r := alice.Do("DELETE", roomKeys+"/version/1", nil); r.Status != 404 {
			t.Fatalf("deleting a deleted version = %d %s; want 404", r.Status, r.Raw)
		}
		if r := alice.MustDo("POST", roomKeys+"/version", map[string]any{"algorithm": alg, "auth_data": map[string]any{}}, 200); r.String("version") != "2" {
			t.Fatalf("version after a deleted one = %s; want 2 (never reused)", r.Raw)
		}
	})
}

// TestKeyBackupKeys: keys stored per session, room or all; the spec's
// rules for which copy of a session's key is kept; etag and count; writes
// to an old version get M_WRONG_ROOM_KEYS_VERSION.
func TestKeyBackupKeys(t *testing.T) {
	forEngine(t, func(t *testing.T, srv *testserver.Server) {
		alice := srv.Register(t, "alice", "password1")
		const alg = "m.megolm_backup.v1.curve25519-aes-sha2"
		alice.MustDo("POST", roomKeys+"/version", map[string]any{"algorithm": alg, "auth_data": map[string]any{}}, 200)
		room, sess := esc("!room:chappe.test"), esc("sess/ion+1") // session IDs are base64: '/' and '+'
		path := roomKeys + "/keys/" + room + "/" + sess + "?version=1"

		r := alice.MustDo("PUT", path, backupKey(5, 1, false, "first"), 200)
		etag := r.String("etag")
		if num(r.Body["count"]) != 1 || etag == "" {
			t.Fatalf("put = %s; want count 1 and an etag", r.Raw)
		}
		// Each upload after the first: is it kept?
		for _, tc := range []struct {
			name string
			key  map[string]any
			kept bool
		}{
			{"higher first_message_index", backupKey(6, 0, false, "a"), false},
			{"lower first_message_index", backupKey(3, 1, false, "b"), true},
			{"same index, more forwards", backupKey(3, 2, false, "c"), false},
			{"same index, fewer forwards", backupKey(3, 0, false, "d"), true},
			{"verified beats a lower index", backupKey(9, 9, true, "e"), true},
			{"unverified never beats verified", backupKey(0, 0, false, "f"), false},
			{"verified, lower index", backupKey(1, 9, true, "g"), true},
			{"all equal: the stored one stays", backupKey(1, 9, true, "h"), false},
		} {
			before := alice.MustDo("GET", path, nil, 200)
			r := alice.MustDo("PUT", path, tc.key, 200)
			after := alice.MustDo("GET", path, nil, 200)
			kept := str(obj(after.Body["session_data"])["ciphertext"]) == str(obj(tc.key["session_data"])["ciphertext"])
			if kept != tc.kept {
				t.Errorf("%s: kept = %v; want %v (stored %s, before %s)", tc.name, kept, tc.kept, after.Raw, before.Raw)
			}
			if changed := r.String("etag") != etag; changed != tc.kept {
				t.Errorf("%s: etag changed = %v; want %v", tc.name, changed, tc.kept)
			}
			etag = r.String("etag")
		}

		alice.MustDo("PUT", roomKeys+"/keys/"+room+"?version=1", map[string]any{"sessions": map[string]any{"s2": backupKey(0, 0, false, "s2")}}, 200)
		r = alice.MustDo("PUT", roomKeys+"/keys?version=1", map[string]any{"rooms": map[string]any{
			"!other:chappe.test": map[string]any{"sessions": map[string]any{"s3": backupKey(0, 0, false, "s3")}}}}, 200)
		if num(r.Body["count"]) != 3 {
			t.Fatalf("count after three sessions = %s; want 3", r.Raw)
		}
		r = alice.MustDo("GET", roomKeys+"/keys?version=1", nil, 200)
		if got := keysOf(obj(obj(obj(r.Body["rooms"])["!room:chappe.test"])["sessions"])); fmt.Sprint(got) != "[s2 sess/ion+1]" {
			t.Fatalf("all keys = %s", r.Raw)
		}
		if r := alice.MustDo("GET", roomKeys+"/keys/"+esc("!empty:chappe.test")+"?version=1", nil, 200); len(obj(r.Body["sessions"])) != 0 {
			t.Fatalf("keys of a room without any = %s; want no sessions", r.Raw)
		}
		if r := alice.Do("GET", roomKeys+"/keys/"+room+"/nosuch?version=1", nil); r.Status != 404 || r.Errcode() != "M_NOT_FOUND" {
			t.Fatalf("missing session = %d %s; want 404 M_NOT_FOUND", r.Status, r.Raw)
		}
		r = alice.MustDo("DELETE", roomKeys+"/keys/"+room+"?version=1", nil, 200)
		if num(r.Body["count"]) != 1 {
			t.Fatalf("count after deleting a room's keys = %s; want 1", r.Raw)
		}

		// A new version: the old one takes no writes.
		alice.MustDo("POST", roomKeys+"/version", map[string]any{"algorithm": alg, "auth_data": map[string]any{}}, 200)
		r = alice.Do("PUT", path, backupKey(0, 0, false, "old"))
		if r.Status != http.StatusForbidden || r.Errcode() != "M_WRONG_ROOM_KEYS_VERSION" || r.String("current_version") != "2" {
			t.Fatalf("write to version 1 = %d %s; want 403 M_WRONG_ROOM_KEYS_VERSION with current_version 2", r.Status, r.Raw)
		}
		for _, tc := range []struct {
			name, method, path string
			body               any
			status             int
			code               string
		}{
			{"no version", "PUT", roomKeys + "/keys/" + room + "/" + sess, backupKey(0, 0, false, "x"), 400, "M_MISSING_PARAM"},
			{"key without is_verified", "PUT", roomKeys + "/keys/" + room + "/" + sess + "?version=2",
				map[string]any{"first_message_index": 0, "forwarded_count": 0, "session_data": map[string]any{}}, 400, "M_MISSING_PARAM"},
			{"negative index", "PUT", roomKeys + "/keys/" + room + "/" + sess + "?version=2", backupKey(-1, 0, false, "x"), 400, "M_INVALID_PARAM"},
			{"read an unknown version", "GET", roomKeys + "/keys?version=9", nil, 404, "M_NOT_FOUND"},
			{"delete from an unknown version", "DELETE", roomKeys + "/keys?version=9", nil, 404, "M_NOT_FOUND"},
		} {
			if r := alice.Do(tc.method, tc.path, tc.body); r.Status != tc.status || r.Errcode() != tc.code {
				t.Errorf("%s: %d %s; want %d %s", tc.name, r.Status, r.Raw, tc.status, tc.code)
			}
		}
	})
}
