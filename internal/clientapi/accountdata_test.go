package clientapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"chappe.eu/chappe/internal/testserver"
)

// Helpers of the account data, tags, typing, presence and ignore tests
// (prefixed ud, "user data", to stay out of other tests' way).

// udRoom creates a public room as c and joins the others to it.
func udRoom(t *testing.T, c *testserver.Client, others ...*testserver.Client) string {
	t.Helper()
	roomID := c.MustDo("POST", v3+"/createRoom", map[string]any{"preset": "public_chat"}, http.StatusOK).String("room_id")
	for _, o := range others {
		o.MustDo("POST", v3+"/join/"+url.PathEscape(roomID), map[string]any{}, http.StatusOK)
	}
	return roomID
}

// udSync runs /sync as c from since ("" for an initial sync) with extra
// query parameters, and fails unless it answers 200.
func udSync(t *testing.T, c *testserver.Client, since, query string) *testserver.Response {
	t.Helper()
	q := url.Values{}
	if since != "" {
		q.Set("since", since)
	}
	path := v3 + "/sync?" + q.Encode()
	if query != "" {
		path += "&" + query
	}
	return c.MustDo("GET", path, nil, http.StatusOK)
}

// udSyncAsync starts a long-polling /sync and returns a channel with its
// response.
func udSyncAsync(t *testing.T, c *testserver.Client, since string, timeout time.Duration) <-chan *testserver.Response {
	done := make(chan *testserver.Response, 1)
	go func() {
		done <- c.Do("GET", fmt.Sprintf("%s/sync?timeout=%d&since=%s", v3, timeout.Milliseconds(), url.QueryEscape(since)), nil)
	}()
	return done
}

// udWait waits for a long-poll's response.
func udWait(t *testing.T, what string, done <-chan *testserver.Response, within time.Duration) *testserver.Response {
	t.Helper()
	select {
	case r := <-done:
		if r.Status != http.StatusOK {
			t.Fatalf("%s: sync = %d %s", what, r.Status, r.Raw)
		}
		return r
	case <-time.After(within):
		t.Fatalf("%s: the long-poll did not return within %v", what, within)
		return nil
	}
}

// udJoined returns the sync response's entry of a joined room, or nil.
func udJoined(r *testserver.Response, roomID string) map[string]any {
	join, _ := r.Body["rooms"].(map[string]any)["join"].(map[string]any)
	room, _ := join[roomID].(map[string]any)
	return room
}

// udEvents returns the events of a section, top level (room "") or of a
// joined room, as "type content" strings with content in compact JSON.
// m.push_rules, which the server adds on its own, is left out.
func udEvents(r *testserver.Response, roomID, section string) []string {
	container := r.Body
	if roomID != "" {
		container = udJoined(r, roomID)
	}
	sec, _ := container[section].(map[string]any)
	evs, _ := sec["events"].([]any)
	out := []string{}
	for _, e := range evs {
		ev := e.(map[string]any)
		if ev["type"] == "m.push_rules" {
			continue
		}
		c, _ := json.Marshal(ev["content"])
		out = append(out, fmt.Sprintf("%s %s", ev["type"], c))
	}
	return out
}

func udPath(c *testserver.Client, roomID, suffix string) string {
	p := v3 + "/user/" + url.PathEscape(c.UserID)
	if roomID != "" {
		p += "/rooms/" + url.PathEscape(roomID)
	}
	return p + suffix
}

// TestAccountData: only the owner reads and writes their account data,
// global or per room, and the server-managed types are refused with 405
// ("Client Config").
func TestAccountData(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := start(t, engine, nil)
		alice := srv.Register(t, "alice", password)
		bob := srv.Register(t, "bob", password)
		roomID := udRoom(t, alice)
		global := udPath(alice, "", "/account_data/org.example.config")
		inRoom := udPath(alice, roomID, "/account_data/org.example.config")

		alice.MustDo("PUT", global, map[string]any{"theme": "dark"}, http.StatusOK)
		alice.MustDo("PUT", inRoom, map[string]any{"pinned": true}, http.StatusOK)
		if r := alice.MustDo("GET", global, nil, http.StatusOK); string(r.Raw) != `{"theme":"dark"}` {
			t.Errorf("GET global = %s; want {\"theme\":\"dark\"}", r.Raw)
		}
		if r := alice.MustDo("GET", inRoom, nil, http.StatusOK); string(r.Raw) != `{"pinned":true}` {
			t.Errorf("GET room = %s; want {\"pinned\":true}", r.Raw)
		}
		alice.MustDo("PUT", global, map[string]any{"theme": "light"}, http.StatusOK)
		if r := alice.MustDo("GET", global, nil, http.StatusOK); string(r.Raw) != `{"theme":"light"}` {
			t.Errorf("GET after replacing = %s; want {\"theme\":\"light\"}", r.Raw)
		}

		tests := []struct {
			what    string
			c       *testserver.Client
			method  string
			path    string
			body    any
			status  int
			errcode string
		}{
			{"another user's global data", bob, "GET", global, nil, 403, "M_FORBIDDEN"},
			{"setting another user's global data", bob, "PUT", global, map[string]any{}, 403, "M_FORBIDDEN"},
			{"another user's room data", bob, "GET", inRoom, nil, 403, "M_FORBIDDEN"},
			{"setting another user's room data", bob, "PUT", inRoom, map[string]any{}, 403, "M_FORBIDDEN"},
			{"an invalid user ID", alice, "GET", v3 + "/user/not-a-user/account_data/x", nil, 403, "M_FORBIDDEN"},
			{"unset data", alice, "GET", udPath(alice, "", "/account_data/org.example.none"), nil, 404, "M_NOT_FOUND"},
			{"a global type in a room (no inheritance)", alice, "GET", udPath(alice, "!other:chappe.test", "/account_data/org.example.config"), nil, 404, "M_NOT_FOUND"},
			{"m.fully_read", alice, "PUT", udPath(alice, "", "/account_data/m.fully_read"), map[string]any{"event_id": "$x"}, 405, "M_BAD_JSON"},
			{"m.push_rules", alice, "PUT", udPath(alice, "", "/account_data/m.push_rules"), map[string]any{}, 405, "M_BAD_JSON"},
			{"m.fully_read in a room", alice, "PUT", udPath(alice, roomID, "/account_data/m.fully_read"), map[string]any{"event_id": "$x"}, 405, "M_BAD_JSON"},
			{"not JSON", alice, "PUT", global, "{not json", 400, "M_NOT_JSON"},
			{"an array", alice, "PUT", global, "[1,2]", 400, "M_BAD_JSON"},
			{"a string", alice, "PUT", global, `"x"`, 400, "M_BAD_JSON"},
			{"an invalid room ID", alice, "PUT", udPath(alice, "not-a-room", "/account_data/x"), map[string]any{}, 400, "M_INVALID_PARAM"},
			{"an invalid room ID (GET)", alice, "GET", udPath(alice, "not-a-room", "/account_data/x"), nil, 400, "M_INVALID_PARAM"},
			{"an overlong type", alice, "PUT", udPath(alice, "", "/account_data/"+strings.Repeat("x", 256)), map[string]any{}, 400, "M_INVALID_PARAM"},
			{"a type with NUL", alice, "PUT", udPath(alice, "", "/account_data/a%00b"), map[string]any{}, 400, "M_INVALID_PARAM"},
		}
		for _, tt := range tests {
			wantErr(t, tt.what, tt.c.Do(tt.method, tt.path, tt.body), tt.status, tt.errcode)
		}
		if r := alice.MustDo("GET", global, nil, http.StatusOK); string(r.Raw) != `{"theme":"light"}` {
			t.Errorf("GET after refused writes = %s; want it unchanged", r.Raw)
		}
		// m.fully_read and m.push_rules can still be read (here: unset).
		wantErr(t, "reading m.push_rules", alice.Do("GET", udPath(alice, "", "/account_data/m.fully_read"), nil), 404, "M_NOT_FOUND")
	})
}

// TestAccountDataSync: /sync returns global account data at the top level
// and room account data in the room; an incremental sync returns exactly
// what changed since its token, once; a change wakes a waiting /sync.
func TestAccountDataSync(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := start(t, engine, nil)
		alice := srv.Register(t, "alice", password)
		bob := srv.Register(t, "bob", password)
		roomID := udRoom(t, alice, bob)
		alice.MustDo("PUT", udPath(alice, "", "/account_data/org.example.a"), map[string]any{"n": 1}, http.StatusOK)
		alice.MustDo("PUT", udPath(alice, "", "/account_data/org.example.b"), map[string]any{"n": 1}, http.StatusOK)
		alice.MustDo("PUT", udPath(alice, roomID, "/account_data/org.example.r"), map[string]any{"n": 1}, http.StatusOK)
		bob.MustDo("PUT", udPath(bob, "", "/account_data/org.example.bob"), map[string]any{"n": 1}, http.StatusOK)

		r := udSync(t, alice, "", "")
		if got, want := fmt.Sprint(udEvents(r, "", "account_data")), `[org.example.a {"n":1} org.example.b {"n":1}]`; got != want {
			t.Fatalf("initial sync account_data = %s; want %s", got, want)
		}
		if got, want := fmt.Sprint(udEvents(r, roomID, "account_data")), `[org.example.r {"n":1}]`; got != want {
			t.Fatalf("initial sync room account_data = %s; want %s", got, want)
		}
		next := r.String("next_batch")

		alice.MustDo("PUT", udPath(alice, "", "/account_data/org.example.b"), map[string]any{"n": 2}, http.StatusOK)
		r = udSync(t, alice, next, "")
		if got, want := fmt.Sprint(udEvents(r, "", "account_data")), `[org.example.b {"n":2}]`; got != want {
			t.Fatalf("incremental sync account_data = %s; want only the change %s", got, want)
		}
		if udJoined(r, roomID) != nil {
			t.Fatalf("incremental sync lists the room though nothing changed in it: %s", r.Raw)
		}
		next = r.String("next_batch")
		r = udSync(t, alice, next, "")
		if got := udEvents(r, "", "account_data"); len(got) != 0 {
			t.Fatalf("second incremental sync account_data = %v; want nothing (no change is sent twice)", got)
		}

		done := udSyncAsync(t, alice, next, 10*time.Second)
		time.Sleep(100 * time.Millisecond)
		alice.MustDo("PUT", udPath(alice, roomID, "/account_data/org.example.r"), map[string]any{"n": 2}, http.StatusOK)
		r = udWait(t, "room account data", done, 5*time.Second)
		if got, want := fmt.Sprint(udEvents(r, roomID, "account_data")), `[org.example.r {"n":2}]`; got != want {
			t.Fatalf("woken sync room account_data = %s; want %s", got, want)
		}
		if got := udEvents(r, "", "account_data"); len(got) != 0 {
			t.Fatalf("woken sync global account_data = %v; want nothing", got)
		}
		// Bob never sees Alice's data, and Alice's changes do not wake him.
		rb := udSync(t, bob, "", "")
		if got, want := fmt.Sprint(udEvents(rb, "", "account_data")), `[org.example.bob {"n":1}]`; got != want {
			t.Fatalf("bob's account_data = %s; want only his own %s", got, want)
		}
		if got := udEvents(rb, roomID, "account_data"); len(got) != 0 {
			t.Fatalf("bob's room account_data = %v; want none of alice's", got)
		}
	})
}

// TestTags: tags are the room account data m.tag; order must be a number
// in [0, 1] and a tag at most 255 bytes ("Room Tagging").
func TestTags(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := start(t, engine, nil)
		alice := srv.Register(t, "alice", password)
		bob := srv.Register(t, "bob", password)
		roomID := udRoom(t, alice)
		tags := udPath(alice, roomID, "/tags")
		tagsOf := func() string {
			t.Helper()
			r := alice.MustDo("GET", tags, nil, http.StatusOK)
			m, _ := r.Body["tags"].(map[string]any)
			var keys []string
			for k, v := range m {
				b, _ := json.Marshal(v)
				keys = append(keys, k+"="+string(b))
			}
			sort.Strings(keys)
			return strings.Join(keys, " ")
		}
		if got := tagsOf(); got != "" {
			t.Fatalf("tags of an untagged room = %q; want none", got)
		}
		r := udSync(t, alice, "", "")
		next := r.String("next_batch")

		alice.MustDo("PUT", tags+"/m.favourite", map[string]any{"order": 0.25}, http.StatusOK)
		alice.MustDo("PUT", tags+"/u.work", map[string]any{}, http.StatusOK)
		alice.MustDo("PUT", tags+"/"+url.PathEscape("u.été"), map[string]any{"order": 1}, http.StatusOK)
		if got, want := tagsOf(), `m.favourite={"order":0.25} u.work={} u.été={"order":1}`; got != want {
			t.Fatalf("tags = %s; want %s", got, want)
		}
		alice.MustDo("DELETE", tags+"/u.work", nil, http.StatusOK)
		alice.MustDo("DELETE", tags+"/u.never", nil, http.StatusOK) // absent: still 200, as Synapse
		alice.MustDo("PUT", tags+"/m.favourite", map[string]any{"order": 0}, http.StatusOK)
		if got, want := tagsOf(), `m.favourite={"order":0} u.été={"order":1}`; got != want {
			t.Fatalf("tags after changes = %s; want %s", got, want)
		}

		r = udSync(t, alice, next, "")
		if got, want := fmt.Sprint(udEvents(r, roomID, "account_data")), `[m.tag {"tags":{"m.favourite":{"order":0},"u.été":{"order":1}}}]`; got != want {
			t.Fatalf("incremental sync room account_data = %s; want %s", got, want)
		}
		if r := alice.MustDo("GET", udPath(alice, roomID, "/account_data/m.tag"), nil, http.StatusOK); !strings.Contains(string(r.Raw), `"m.favourite"`) {
			t.Fatalf("m.tag through the account data API = %s; want the tags", r.Raw)
		}

		tests := []struct {
			what    string
			c       *testserver.Client
			method  string
			path    string
			body    any
			status  int
			errcode string
		}{
			{"order above 1", alice, "PUT", tags + "/u.x", map[string]any{"order": 1.5}, 400, "M_INVALID_PARAM"},
			{"negative order", alice, "PUT", tags + "/u.x", map[string]any{"order": -0.1}, 400, "M_INVALID_PARAM"},
			{"order not a number", alice, "PUT", tags + "/u.x", map[string]any{"order": "0.5"}, 400, "M_BAD_JSON"},
			{"not JSON", alice, "PUT", tags + "/u.x", "nope", 400, "M_NOT_JSON"},
			{"a tag of 256 bytes", alice, "PUT", tags + "/" + strings.Repeat("t", 256), map[string]any{}, 400, "M_INVALID_PARAM"},
			{"another user's tags", bob, "GET", tags, nil, 403, "M_FORBIDDEN"},
			{"tagging for another user", bob, "PUT", tags + "/u.x", map[string]any{}, 403, "M_FORBIDDEN"},
			{"untagging for another user", bob, "DELETE", tags + "/m.favourite", nil, 403, "M_FORBIDDEN"},
			{"an invalid room ID", alice, "PUT", udPath(alice, "bad", "/tags/u.x"), map[string]any{}, 400, "M_INVALID_PARAM"},
		}
		for _, tt := range tests {
			wantErr(t, tt.what, tt.c.Do(tt.method, tt.path, tt.body), tt.status, tt.errcode)
		}
		alice.MustDo("PUT", tags+"/"+strings.Repeat("t", 255), map[string]any{}, http.StatusOK)
		if got := tagsOf(); !strings.Contains(got, "m.favourite") || strings.Contains(got, "u.x") {
			t.Fatalf("tags after refused changes = %s; want them unchanged but for the 255-byte tag", got)
		}
	})
}

// udHostile are JSON strings that have broken servers: NUL (which
// PostgreSQL refuses in text), lone surrogates, bidi controls, long ones.
var udHostile = []string{`""`, `"\u0000"`, `"a\u0000b"`, `"\udfff\ud800x"`, `"\u202e"`, `"` + strings.Repeat("é", 1000) + `"`}

// TestUserDataBadInput: hostile strings in the bodies and paths of the
// account data, tag, presence and typing endpoints get a 4xx or are
// stored as given, never a 500; what is stored reads back the same.
func TestUserDataBadInput(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := start(t, engine, nil)
		alice := srv.Register(t, "alice", password)
		roomID := udRoom(t, alice)
		bodies := []struct{ method, path, template string }{
			{"PUT", udPath(alice, "", "/account_data/org.example.x"), `{"k":X,"X":[X]}`},
			{"PUT", udPath(alice, roomID, "/account_data/org.example.x"), `{"k":X}`},
			{"PUT", udPath(alice, roomID, "/tags/u.x"), `{"order":0.5,"k":X}`},
			{"PUT", presencePath(alice.UserID), `{"presence":X,"status_msg":X}`},
			{"PUT", presencePath(alice.UserID), `{"presence":"online","status_msg":X}`},
			{"PUT", typingPath(roomID, alice.UserID), `{"typing":true,"timeout":X}`},
		}
		for _, b := range bodies {
			for _, h := range udHostile {
				body := strings.ReplaceAll(b.template, "X", h)
				r := alice.Do(b.method, b.path, body)
				wantNo500(t, b.method+" "+b.path+" with "+body[:min(len(body), 60)], r)
			}
		}
		paths := []string{"a%00b", "%ED%A0%80", "%E2%80%AE", strings.Repeat("%C3%A9", 200)}
		for _, p := range paths {
			for _, r := range []*testserver.Response{
				alice.Do("PUT", udPath(alice, "", "/account_data/"+p), map[string]any{}),
				alice.Do("GET", udPath(alice, "", "/account_data/"+p), nil),
				alice.Do("PUT", udPath(alice, roomID, "/tags/"+p), map[string]any{}),
				alice.Do("DELETE", udPath(alice, roomID, "/tags/"+p), nil),
				alice.Do("GET", v3+"/user/"+p+"/account_data/x", nil),
				alice.Do("GET", v3+"/user/"+url.PathEscape(alice.UserID)+"/rooms/"+p+"/tags", nil),
				alice.Do("GET", presencePath(p), nil),
				alice.Do("GET", v3+"/presence/"+p+"/status", nil),
				alice.Do("PUT", v3+"/rooms/"+p+"/typing/"+url.PathEscape(alice.UserID), map[string]any{"typing": true}),
			} {
				wantNo500(t, "path part "+p[:min(len(p), 30)], r)
			}
		}
		// Content with escapes is kept exactly.
		content := `{"nul":"\u0000","surrogate":"\udfff","emoji":"\ud83d\ude00"}`
		alice.MustDo("PUT", udPath(alice, "", "/account_data/org.example.esc"), content, http.StatusOK)
		var got, want any
		json.Unmarshal(alice.MustDo("GET", udPath(alice, "", "/account_data/org.example.esc"), nil, http.StatusOK).Raw, &got)
		json.Unmarshal([]byte(content), &want)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("content read back = %v; want %v", got, want)
		}
	})
}

// A left room's entry in /sync carries its account data too.
func TestLeftRoomAccountData(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := start(t, engine, nil)
		alice := srv.Register(t, "alice", password)
		bob := srv.Register(t, "bob", password)
		roomID := udRoom(t, bob, alice)
		alice.MustDo("PUT", udPath(alice, roomID, "/tags/u.old"), map[string]any{}, http.StatusOK)
		alice.MustDo("POST", v3+"/rooms/"+url.PathEscape(roomID)+"/leave", map[string]any{}, http.StatusOK)
		r := udSync(t, alice, "", "filter="+url.QueryEscape(`{"room":{"include_leave":true}}`))
		leave, _ := r.Body["rooms"].(map[string]any)["leave"].(map[string]any)
		room, _ := leave[roomID].(map[string]any)
		ad, _ := room["account_data"].(map[string]any)
		got, _ := json.Marshal(ad["events"])
		if want := `[{"content":{"tags":{"u.old":{}}},"type":"m.tag"}]`; string(got) != want {
			t.Fatalf("left room account_data = %s; want %s\n%s", got, want, r.Raw)
		}
	})
}

// GET of the m.push_rules account data answers the user's push rules, as
// Synapse does (they are stored by the push rules API, and /sync shows them
// as this account data).
func TestAccountDataPushRules(t *testing.T) {
	srv := testserver.Start(t, "sqlite", nil)
	alice := srv.Register(t, "alice", "password1")
	r := alice.MustDo("GET", "/_matrix/client/v3/user/"+url.PathEscape(alice.UserID)+"/account_data/m.push_rules", nil, 200)
	global, _ := r.Body["global"].(map[string]any)
	if global == nil || global["override"] == nil || global["underride"] == nil {
		t.Fatalf("m.push_rules account data = %s; want the ruleset", r.Raw)
	}
}
