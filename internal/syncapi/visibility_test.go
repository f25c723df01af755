package syncapi_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"chappe.eu/chappe/internal/testserver"
)

// room is a small DSL over one test room.
type room struct {
	t  *testing.T
	id string
}

func (r room) path(suffix string) string {
	return "/_matrix/client/v3/rooms/" + url.PathEscape(r.id) + suffix
}

var txn int

func say(t *testing.T, c *testserver.Client, r room, body string) string {
	t.Helper()
	txn++
	resp := c.MustDo("PUT", r.path(fmt.Sprintf("/send/m.room.message/txn%d", txn)), map[string]any{"msgtype": "m.text", "body": body}, 200)
	return resp.String("event_id")
}

func setState(t *testing.T, c *testserver.Client, r room, typ string, content map[string]any) {
	t.Helper()
	c.MustDo("PUT", r.path("/state/"+typ+"/"), content, 200)
}

// messagesBodies pages /messages backwards from the end and returns the
// message bodies oldest first.
func messagesBodies(t *testing.T, c *testserver.Client, r room) []string {
	t.Helper()
	resp := c.MustDo("GET", r.path("/messages?dir=b&limit=100"), nil, 200)
	var out []string
	chunk := resp.Body["chunk"].([]any)
	for i := len(chunk) - 1; i >= 0; i-- {
		ev := chunk[i].(map[string]any)
		if ev["type"] == "m.room.message" {
			out = append(out, ev["content"].(map[string]any)["body"].(string))
		}
	}
	return out
}

func syncSection(r *testserver.Response, section, roomID string) map[string]any {
	rooms, _ := r.Body["rooms"].(map[string]any)
	sec, _ := rooms[section].(map[string]any)
	room, _ := sec[roomID].(map[string]any)
	return room
}

func bodiesOf(room map[string]any) []string {
	var out []string
	if room == nil {
		return nil
	}
	for _, e := range room["timeline"].(map[string]any)["events"].([]any) {
		ev := e.(map[string]any)
		if ev["type"] == "m.room.message" {
			out = append(out, ev["content"].(map[string]any)["body"].(string))
		}
	}
	return out
}

// History visibility ("Room History Visibility", server behaviour) on
// /sync and /messages for each setting.
func TestHistoryVisibilitySettings(t *testing.T) {
	cases := []struct {
		visibility string
		invited    []string // what Bob sees after being invited then joining
		joined     []string // after joining without invite
	}{
		{"shared", []string{"before invite", "after invite", "after join"}, []string{"before join", "after join"}},
		{"invited", []string{"after invite", "after join"}, []string{"after join"}},
		{"joined", []string{"after join"}, []string{"after join"}},
		{"world_readable", []string{"before invite", "after invite", "after join"}, []string{"before join", "after join"}},
	}
	for _, engine := range testserver.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			srv := testserver.Start(t, engine, nil)
			alice := srv.Register(t, "alice", "password1")
			bob := srv.Register(t, "bob", "password1")
			for _, tc := range cases {
				t.Run(tc.visibility+"/invited", func(t *testing.T) {
					r := room{t, alice.MustDo("POST", "/_matrix/client/v3/createRoom", map[string]any{"preset": "private_chat"}, 200).String("room_id")}
					setState(t, alice, r, "m.room.history_visibility", map[string]any{"history_visibility": tc.visibility})
					say(t, alice, r, "before invite")
					alice.MustDo("POST", r.path("/invite"), map[string]any{"user_id": bob.UserID}, 200)
					say(t, alice, r, "after invite")
					bob.MustDo("POST", r.path("/join"), map[string]any{}, 200)
					say(t, alice, r, "after join")
					if got := messagesBodies(t, bob, r); fmt.Sprint(got) != fmt.Sprint(tc.invited) {
						t.Errorf("/messages = %v; want %v", got, tc.invited)
					}
					s := bob.MustDo("GET", "/_matrix/client/v3/sync?filter="+url.QueryEscape(`{"room":{"timeline":{"limit":50}}}`), nil, 200)
					if got := bodiesOf(syncSection(s, "join", r.id)); fmt.Sprint(got) != fmt.Sprint(tc.invited) {
						t.Errorf("/sync timeline = %v; want %v", got, tc.invited)
					}
				})
				t.Run(tc.visibility+"/joined", func(t *testing.T) {
					r := room{t, alice.MustDo("POST", "/_matrix/client/v3/createRoom", map[string]any{"preset": "public_chat"}, 200).String("room_id")}
					setState(t, alice, r, "m.room.history_visibility", map[string]any{"history_visibility": tc.visibility})
					say(t, alice, r, "before join")
					bob.MustDo("POST", r.path("/join"), map[string]any{}, 200)
					say(t, alice, r, "after join")
					if got := messagesBodies(t, bob, r); fmt.Sprint(got) != fmt.Sprint(tc.joined) {
						t.Errorf("/messages = %v; want %v", got, tc.joined)
					}
				})
			}
		})
	}
}

// A user who left sees the room as of their leave: the leave section of
// /sync stops at the leave, and /messages, /state and /event show nothing
// that happened afterwards ("Pitfalls": leave sections, state after leave).
func TestLeaveBoundsEverything(t *testing.T) {
	for _, engine := range testserver.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			srv := testserver.Start(t, engine, nil)
			alice := srv.Register(t, "alice", "password1")
			bob := srv.Register(t, "bob", "password1")
			r := room{t, alice.MustDo("POST", "/_matrix/client/v3/createRoom", map[string]any{"preset": "public_chat"}, 200).String("room_id")}
			bob.MustDo("POST", r.path("/join"), map[string]any{}, 200)
			say(t, alice, r, "while bob is here")
			since := bob.MustDo("GET", "/_matrix/client/v3/sync", nil, 200).String("next_batch")

			say(t, alice, r, "just before the kick")
			alice.MustDo("POST", r.path("/kick"), map[string]any{"user_id": bob.UserID, "reason": "test"}, 200)
			secret := say(t, alice, r, "after bob left")
			setState(t, alice, r, "m.room.topic", map[string]any{"topic": "secret topic"})

			s := bob.MustDo("GET", "/_matrix/client/v3/sync?since="+since, nil, 200)
			left := syncSection(s, "leave", r.id)
			if left == nil {
				t.Fatalf("no leave section after a kick: %s", s.Raw)
			}
			if got := bodiesOf(left); fmt.Sprint(got) != "[just before the kick]" {
				t.Errorf("leave timeline = %v; want [just before the kick]", got)
			}
			if strings.Contains(string(s.Raw), "after bob left") || strings.Contains(string(s.Raw), "secret topic") {
				t.Errorf("leave section leaks what happened after the leave: %s", s.Raw)
			}
			if syncSection(s, "join", r.id) != nil {
				t.Error("the room is still in the join section")
			}

			if got := messagesBodies(t, bob, r); strings.Contains(fmt.Sprint(got), "after bob left") {
				t.Errorf("/messages after the kick = %v; must stop at the leave", got)
			}
			st := bob.MustDo("GET", r.path("/state"), nil, 200)
			if strings.Contains(string(st.Raw), "secret topic") {
				t.Errorf("GET /state after the kick shows later state: %s", st.Raw)
			}
			if got := bob.Do("GET", r.path("/state/m.room.topic/"), nil); got.Status != 404 {
				t.Errorf("GET topic after the kick = %d %s; want 404 (no topic when bob left)", got.Status, got.Raw)
			}
			if got := bob.Do("GET", r.path("/event/"+url.PathEscape(secret)), nil); got.Status != 404 {
				t.Errorf("GET /event of a message after the kick = %d; want 404", got.Status)
			}
			// An incremental sync after that says nothing more of the room.
			s2 := bob.MustDo("GET", "/_matrix/client/v3/sync?timeout=0&since="+s.String("next_batch"), nil, 200)
			say(t, alice, r, "later still")
			s3 := bob.MustDo("GET", "/_matrix/client/v3/sync?timeout=0&since="+s2.String("next_batch"), nil, 200)
			if strings.Contains(string(s3.Raw), r.id) {
				t.Errorf("a later sync mentions the room bob left: %s", s3.Raw)
			}
		})
	}
}

// A room the user may not see answers exactly like a room that does not
// exist.
func TestUnknownAndInvisibleRoomsLookAlike(t *testing.T) {
	for _, engine := range testserver.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			srv := testserver.Start(t, engine, nil)
			alice := srv.Register(t, "alice", "password1")
			eve := srv.Register(t, "eve", "password1")
			r := room{t, alice.MustDo("POST", "/_matrix/client/v3/createRoom", map[string]any{"preset": "private_chat"}, 200).String("room_id")}
			ev := say(t, alice, r, "private")
			unknown := room{t, "!doesnotexist:chappe.test"}
			for _, p := range []string{"/state", "/state/m.room.name/", "/members", "/joined_members", "/messages?dir=b"} {
				a, b := eve.Do("GET", r.path(p), nil), eve.Do("GET", unknown.path(p), nil)
				if a.Status != b.Status || a.Errcode() != b.Errcode() || a.String("error") != b.String("error") {
					t.Errorf("GET %s: private room = %d %s, unknown room = %d %s; want the same answer", p, a.Status, a.Raw, b.Status, b.Raw)
				}
				if a.Status < 400 || a.Status >= 500 {
					t.Errorf("GET %s of a private room = %d; want a 4xx", p, a.Status)
				}
			}
			a := eve.Do("GET", r.path("/event/"+url.PathEscape(ev)), nil)
			b := eve.Do("GET", unknown.path("/event/"+url.PathEscape(ev)), nil)
			if a.Status != 404 || b.Status != 404 || a.String("error") != b.String("error") {
				t.Errorf("GET /event: private = %d %s, unknown = %d %s; want the same 404", a.Status, a.Raw, b.Status, b.Raw)
			}
			a = eve.Do("PUT", r.path("/send/m.room.message/x1"), map[string]any{"body": "hi"})
			b = eve.Do("PUT", unknown.path("/send/m.room.message/x1"), map[string]any{"body": "hi"})
			if a.Status != b.Status || a.Errcode() != b.Errcode() {
				t.Errorf("send: private = %d %s, unknown = %d %s; want the same answer", a.Status, a.Raw, b.Status, b.Raw)
			}
		})
	}
}

// A limited /sync timeline's prev_batch fills the gap exactly: /messages
// from it returns the missing events, none twice, none skipped
// ("Pitfalls": pagination tokens).
func TestPrevBatchFillsTheGap(t *testing.T) {
	for _, engine := range testserver.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			srv := testserver.Start(t, engine, nil)
			alice := srv.Register(t, "alice", "password1")
			bob := srv.Register(t, "bob", "password1")
			r := room{t, alice.MustDo("POST", "/_matrix/client/v3/createRoom", map[string]any{"preset": "public_chat"}, 200).String("room_id")}
			bob.MustDo("POST", r.path("/join"), map[string]any{}, 200)
			since := bob.MustDo("GET", "/_matrix/client/v3/sync", nil, 200).String("next_batch")
			var want []string
			for i := range 25 {
				b := fmt.Sprintf("m%02d", i)
				want = append(want, b)
				say(t, alice, r, b)
			}
			s := bob.MustDo("GET", "/_matrix/client/v3/sync?since="+since+"&filter="+url.QueryEscape(`{"room":{"timeline":{"limit":5}}}`), nil, 200)
			jr := syncSection(s, "join", r.id)
			tl := jr["timeline"].(map[string]any)
			if tl["limited"] != true {
				t.Fatalf("timeline of 25 new events with limit 5 is not limited: %s", s.Raw)
			}
			got := bodiesOf(jr)
			prev := tl["prev_batch"].(string)
			for {
				m := bob.MustDo("GET", r.path("/messages?dir=b&limit=7&from="+url.QueryEscape(prev)+"&to="+url.QueryEscape(since)), nil, 200)
				chunk := m.Body["chunk"].([]any)
				for _, e := range chunk {
					ev := e.(map[string]any)
					if ev["type"] == "m.room.message" {
						got = append([]string{ev["content"].(map[string]any)["body"].(string)}, got...)
					}
				}
				end, ok := m.Body["end"].(string)
				if !ok || len(chunk) == 0 {
					break
				}
				prev = end
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("sync + back-pagination = %v; want %v", got, want)
			}
		})
	}
}
