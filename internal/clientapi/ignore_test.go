package clientapi_test

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"chappe.eu/chappe/internal/testserver"
)

// udTimeline returns the messages and topics of a joined room's timeline
// in a sync response as "sender:type[:body]" strings.
func udTimeline(r *testserver.Response, roomID string) []string {
	room := udJoined(r, roomID)
	if room == nil {
		return nil
	}
	tl, _ := room["timeline"].(map[string]any)
	evs, _ := tl["events"].([]any)
	return udDescribe(evs)
}

func udDescribe(evs []any) []string {
	out := []string{}
	for _, e := range evs {
		ev := e.(map[string]any)
		if ev["type"] != "m.room.message" && ev["type"] != "m.room.topic" {
			continue
		}
		s := fmt.Sprintf("%s:%s", ev["sender"], ev["type"])
		if b, ok := ev["content"].(map[string]any)["body"].(string); ok {
			s += ":" + b
		}
		out = append(out, s)
	}
	return out
}

func udSay(t *testing.T, c *testserver.Client, roomID, txn, body string) {
	t.Helper()
	c.MustDo("PUT", v3+"/rooms/"+url.PathEscape(roomID)+"/send/m.room.message/"+txn, map[string]any{"msgtype": "m.text", "body": body}, http.StatusOK)
}

func udIgnore(t *testing.T, c *testserver.Client, users ...string) {
	t.Helper()
	m := map[string]any{}
	for _, u := range users {
		m[u] = map[string]any{}
	}
	c.MustDo("PUT", udPath(c, "", "/account_data/m.ignored_user_list"), map[string]any{"ignored_users": m}, http.StatusOK)
}

// TestIgnoredUsers: once alice ignores bob, his messages vanish from her
// /sync timeline and /messages — not his state events, nor anyone else's
// messages — and his invites do not reach her; unignoring him brings his
// new messages back ("Ignoring Users").
func TestIgnoredUsers(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := start(t, engine, nil)
		alice := srv.Register(t, "alice", password)
		bob := srv.Register(t, "bob", password)
		carol := srv.Register(t, "carol", password)
		a, b, c := alice.UserID, bob.UserID, carol.UserID
		// Bob may set the topic: his state events must stay visible.
		roomID := alice.MustDo("POST", v3+"/createRoom", map[string]any{"preset": "public_chat",
			"power_level_content_override": map[string]any{"users": map[string]any{b: 50}}}, http.StatusOK).String("room_id")
		bob.MustDo("POST", v3+"/join/"+url.PathEscape(roomID), map[string]any{}, http.StatusOK)
		carol.MustDo("POST", v3+"/join/"+url.PathEscape(roomID), map[string]any{}, http.StatusOK)
		r := udSync(t, alice, "", "")
		next := r.String("next_batch")

		udIgnore(t, alice, b)
		udSay(t, bob, roomID, "b1", "from bob")
		udSay(t, carol, roomID, "c1", "from carol")
		bob.MustDo("PUT", v3+"/rooms/"+url.PathEscape(roomID)+"/state/m.room.topic", map[string]any{"topic": "bob's topic"}, http.StatusOK)
		udSay(t, alice, roomID, "a1", "from alice")

		want := fmt.Sprintf("[%s:m.room.message:from carol %s:m.room.topic %s:m.room.message:from alice]", c, b, a)
		r = udSync(t, alice, next, "")
		if got := fmt.Sprint(udTimeline(r, roomID)); got != want {
			t.Fatalf("alice's incremental sync timeline = %s; want %s", got, want)
		}
		if got := fmt.Sprint(udTimeline(udSync(t, alice, "", ""), roomID)); got != want {
			t.Fatalf("alice's initial sync timeline = %s; want %s", got, want)
		}
		// The ignore list itself came down as account data.
		if got := fmt.Sprint(udEvents(r, "", "account_data")); got != fmt.Sprintf(`[m.ignored_user_list {"ignored_users":{"%s":{}}}]`, b) {
			t.Fatalf("alice's account_data = %s; want the ignore list", got)
		}
		next = r.String("next_batch")

		mr := alice.MustDo("GET", v3+"/rooms/"+url.PathEscape(roomID)+"/messages?dir=b&limit=4", nil, http.StatusOK)
		chunk, _ := mr.Body["chunk"].([]any)
		if got, want := fmt.Sprint(udDescribe(chunk)), fmt.Sprintf("[%s:m.room.message:from alice %s:m.room.topic %s:m.room.message:from carol]", a, b, c); got != want {
			t.Fatalf("alice's /messages = %s; want %s", got, want)
		}
		// Carol, who ignores nobody, sees everything.
		if got := fmt.Sprint(udTimeline(udSync(t, carol, "", ""), roomID)); got != fmt.Sprintf("[%s:m.room.message:from bob %s]", b, want[1:len(want)-1]) {
			t.Fatalf("carol's timeline = %s; want bob's message too", got)
		}

		// Invites: bob's is dropped, carol's reaches alice.
		fromBob := udRoom(t, bob)
		bob.MustDo("POST", v3+"/rooms/"+url.PathEscape(fromBob)+"/invite", map[string]any{"user_id": a}, http.StatusOK)
		fromCarol := udRoom(t, carol)
		carol.MustDo("POST", v3+"/rooms/"+url.PathEscape(fromCarol)+"/invite", map[string]any{"user_id": a}, http.StatusOK)
		for _, sync := range []*testserver.Response{udSync(t, alice, next, ""), udSync(t, alice, "", "")} {
			invites, _ := sync.Body["rooms"].(map[string]any)["invite"].(map[string]any)
			if _, ok := invites[fromBob]; ok {
				t.Fatalf("alice's sync shows bob's invite: %s", sync.Raw)
			}
			if _, ok := invites[fromCarol]; !ok {
				t.Fatalf("alice's sync lacks carol's invite: %s", sync.Raw)
			}
		}

		// Unignoring: bob's new messages come back, the missed ones do not.
		udIgnore(t, alice)
		udSay(t, bob, roomID, "b2", "bob again")
		r = udSync(t, alice, next, "")
		if got, want := fmt.Sprint(udTimeline(r, roomID)), fmt.Sprintf("[%s:m.room.message:bob again]", b); got != want {
			t.Fatalf("alice's sync after unignoring = %s; want %s", got, want)
		}
		// Ignoring oneself hides nothing.
		udIgnore(t, alice, a)
		udSay(t, alice, roomID, "a2", "mine")
		if got := udTimeline(udSync(t, alice, r.String("next_batch"), ""), roomID); fmt.Sprint(got) != fmt.Sprintf("[%s:m.room.message:mine]", a) {
			t.Fatalf("alice's sync after ignoring herself = %v; want her own message", got)
		}
	})
}

// An ignored user's messages are not served by GET /event or /context
// either, as Synapse does; the others' around them still are.
func TestIgnoredUsersInEventAndContext(t *testing.T) {
	for _, engine := range testserver.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			srv := testserver.Start(t, engine, nil)
			alice := srv.Register(t, "alice", "password1")
			bob := srv.Register(t, "bob", "password1")
			roomID := alice.MustDo("POST", "/_matrix/client/v3/createRoom", map[string]any{"preset": "public_chat"}, 200).String("room_id")
			bob.MustDo("POST", roomPath(roomID, "/join"), map[string]any{}, 200)
			send := func(c *testserver.Client, txn, body string) string {
				return c.MustDo("PUT", roomPath(roomID, "/send/m.room.message/"+txn), map[string]any{"msgtype": "m.text", "body": body}, 200).String("event_id")
			}
			first := send(alice, "a1", "from alice")
			spam := send(bob, "b1", "from bob")
			last := send(alice, "a2", "alice again")
			alice.MustDo("PUT", "/_matrix/client/v3/user/"+url.PathEscape(alice.UserID)+"/account_data/m.ignored_user_list",
				map[string]any{"ignored_users": map[string]any{bob.UserID: map[string]any{}}}, 200)

			if r := alice.Do("GET", roomPath(roomID, "/event/"+url.PathEscape(spam)), nil); r.Status != 404 {
				t.Errorf("GET /event of an ignored user's message = %d %s; want 404", r.Status, r.Raw)
			}
			if r := alice.Do("GET", roomPath(roomID, "/context/"+url.PathEscape(spam)), nil); r.Status != 404 {
				t.Errorf("/context of an ignored user's message = %d %s; want 404", r.Status, r.Raw)
			}
			r := alice.MustDo("GET", roomPath(roomID, "/context/"+url.PathEscape(first)+"?limit=10"), nil, 200)
			got := udDescribe(r.Body["events_after"].([]any))
			if fmt.Sprint(got) != fmt.Sprintf("[%s:m.room.message:alice again]", alice.UserID) {
				t.Errorf("/context events_after = %v; want only alice's message", got)
			}
			if r := bob.Do("GET", roomPath(roomID, "/event/"+url.PathEscape(last)), nil); r.Status != 200 {
				t.Errorf("bob, who ignores nobody, GET /event = %d; want 200", r.Status)
			}
		})
	}
}

// Search does not return an ignored user's messages.
func TestIgnoredUsersInSearch(t *testing.T) {
	srv := testserver.Start(t, "sqlite", nil)
	alice := srv.Register(t, "alice", "password1")
	bob := srv.Register(t, "bob", "password1")
	roomID := alice.MustDo("POST", "/_matrix/client/v3/createRoom", map[string]any{"preset": "public_chat"}, 200).String("room_id")
	bob.MustDo("POST", roomPath(roomID, "/join"), map[string]any{}, 200)
	alice.MustDo("PUT", roomPath(roomID, "/send/m.room.message/a1"), map[string]any{"msgtype": "m.text", "body": "pineapple from alice"}, 200)
	bob.MustDo("PUT", roomPath(roomID, "/send/m.room.message/b1"), map[string]any{"msgtype": "m.text", "body": "pineapple from bob"}, 200)
	udIgnore(t, alice, bob.UserID)
	r := alice.MustDo("POST", "/_matrix/client/v3/search", map[string]any{"search_categories": map[string]any{
		"room_events": map[string]any{"search_term": "pineapple"}}}, 200)
	results := r.Body["search_categories"].(map[string]any)["room_events"].(map[string]any)["results"].([]any)
	if len(results) != 1 || results[0].(map[string]any)["result"].(map[string]any)["sender"] != alice.UserID {
		t.Fatalf("search results = %s; want alice's message only", r.Raw)
	}
}
