package syncapi_test

import (
	"fmt"
	"net/url"
	"sync/atomic"
	"testing"

	"chappe.eu/chappe/internal/testserver"
)

// Helpers of the push, receipt and unread-count tests.

var pushTxn atomic.Int64

// pushSend sends an event and returns its ID.
func pushSend(t *testing.T, c *testserver.Client, roomID, typ string, content map[string]any) string {
	t.Helper()
	path := fmt.Sprintf("/_matrix/client/v3/rooms/%s/send/%s/p%d", url.PathEscape(roomID), typ, pushTxn.Add(1))
	return c.MustDo("PUT", path, content, 200).String("event_id")
}

func pushText(t *testing.T, c *testserver.Client, roomID, body string) string {
	t.Helper()
	return pushSend(t, c, roomID, "m.room.message", map[string]any{"msgtype": "m.text", "body": body, "m.mentions": map[string]any{}})
}

// pushRoom creates a room with alice's preset and has the others join.
func pushRoom(t *testing.T, creator *testserver.Client, preset string, others ...*testserver.Client) string {
	t.Helper()
	invite := []string{}
	for _, o := range others {
		invite = append(invite, o.UserID)
	}
	roomID := creator.MustDo("POST", "/_matrix/client/v3/createRoom", map[string]any{"preset": preset, "invite": invite}, 200).String("room_id")
	for _, o := range others {
		o.MustDo("POST", "/_matrix/client/v3/join/"+url.PathEscape(roomID), map[string]any{}, 200)
	}
	return roomID
}

func receipt(t *testing.T, c *testserver.Client, roomID, typ, eventID string, body map[string]any, want int) *testserver.Response {
	t.Helper()
	if body == nil {
		body = map[string]any{}
	}
	return c.MustDo("POST", fmt.Sprintf("/_matrix/client/v3/rooms/%s/receipt/%s/%s", url.PathEscape(roomID), typ, url.PathEscape(eventID)), body, want)
}

// counts returns a joined room's unread_notifications as
// "notifications/highlights", or "absent".
func counts(room map[string]any) string {
	u, ok := room["unread_notifications"].(map[string]any)
	if !ok {
		return "absent"
	}
	return fmt.Sprintf("%v/%v", u["notification_count"], u["highlight_count"])
}

// threadCounts returns a room's unread_thread_notifications per root.
func threadCounts(room map[string]any) map[string]string {
	out := map[string]string{}
	ts, _ := room["unread_thread_notifications"].(map[string]any)
	for root, v := range ts {
		c := v.(map[string]any)
		out[root] = fmt.Sprintf("%v/%v", c["notification_count"], c["highlight_count"])
	}
	return out
}

// roomCounts does an initial /sync (with the filter, if any) and returns
// the room's counts.
func roomCounts(t *testing.T, c *testserver.Client, roomID, filter string) (string, map[string]string) {
	t.Helper()
	path := "/_matrix/client/v3/sync"
	if filter != "" {
		path += "?filter=" + url.QueryEscape(filter)
	}
	r := c.MustDo("GET", path, nil, 200)
	room := syncSection(r, "join", roomID)
	if room == nil {
		t.Fatalf("room %s not in %s's sync: %s", roomID, c.UserID, r.Raw)
	}
	return counts(room), threadCounts(room)
}

// TestUnreadCounts: messages, mentions, keywords and notices in a group;
// messages in a DM (room_member_count == 2); the counts drop with m.read
// and m.read.private receipts, whichever is further, and when the user
// sends an event.
func TestUnreadCounts(t *testing.T) {
	for _, engine := range testserver.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			srv := testserver.Start(t, engine, nil)
			alice := srv.Register(t, "alice", "password1")
			bob := srv.Register(t, "bob", "password1")
			carol := srv.Register(t, "carol", "password1")
			group := pushRoom(t, alice, "public_chat", bob, carol)
			dm := pushRoom(t, alice, "private_chat", bob)

			want := func(c *testserver.Client, roomID, w string) {
				t.Helper()
				if got, _ := roomCounts(t, c, roomID, ""); got != w {
					t.Fatalf("%s's counts in %s = %s; want %s", c.UserID, roomID, got, w)
				}
			}
			want(alice, group, "0/0")

			e1 := pushText(t, bob, group, "hello")
			want(alice, group, "1/0")
			want(bob, group, "0/0") // never for one's own events
			pushSend(t, bob, group, "m.room.message", map[string]any{"msgtype": "m.text", "body": "hey you",
				"m.mentions": map[string]any{"user_ids": []string{alice.UserID}}})
			want(alice, group, "2/1")
			want(carol, group, "2/0")
			pushSend(t, carol, group, "m.room.message", map[string]any{"msgtype": "m.notice", "body": "bot says"})
			want(alice, group, "2/1") // .m.rule.suppress_notices
			want(carol, group, "0/0") // she sent an event: read up to it
			// A keyword rule with a highlight.
			alice.MustDo("PUT", "/_matrix/client/v3/pushrules/global/content/lunch", map[string]any{
				"pattern": "lunch", "actions": []any{"notify", map[string]any{"set_tweak": "highlight"}}}, 200)
			e4 := pushText(t, bob, group, "Lunch, anyone?")
			want(alice, group, "3/2")
			want(carol, group, "1/0")
			// @room from someone without the power to: an ordinary message.
			pushSend(t, bob, group, "m.room.message", map[string]any{"msgtype": "m.text", "body": "@room hi",
				"m.mentions": map[string]any{"room": true}})
			want(carol, group, "2/0")
			// From the creator (power 100): a highlight.
			e6 := pushSend(t, alice, group, "m.room.message", map[string]any{"msgtype": "m.text", "body": "@room hi",
				"m.mentions": map[string]any{"room": true}})
			want(carol, group, "3/1")

			// alice sent an event: her counts are cleared up to it.
			want(alice, group, "0/0")
			e7 := pushText(t, bob, group, "after alice")
			want(alice, group, "1/0")

			// carol's receipts: m.read up to e4, then m.read.private
			// behind it changes nothing, then m.read.private ahead counts.
			receipt(t, carol, group, "m.read", e4, nil, 200)
			want(carol, group, "3/1") // the @room mentions and e7
			receipt(t, carol, group, "m.read.private", e1, nil, 200)
			want(carol, group, "3/1")
			receipt(t, carol, group, "m.read.private", e6, nil, 200)
			want(carol, group, "1/0")
			receipt(t, carol, group, "m.read", e7, nil, 200)
			want(carol, group, "0/0")

			// DM: every message notifies (.m.rule.room_one_to_one), with a sound.
			pushText(t, bob, dm, "psst")
			want(alice, dm, "1/0")
			n := alice.MustDo("GET", "/_matrix/client/v3/notifications?limit=1", nil, 200)
			list := n.Body["notifications"].([]any)
			if len(list) != 1 || fmt.Sprint(list[0].(map[string]any)["actions"]) != "[notify map[set_tweak:sound value:default]]" {
				t.Fatalf("the DM's notification = %s; want the sound of .m.rule.room_one_to_one", n.Raw)
			}
			// A muted room (a room rule with no actions) raises nothing.
			alice.MustDo("PUT", "/_matrix/client/v3/pushrules/global/room/"+url.PathEscape(dm), map[string]any{"actions": []any{}}, 200)
			pushText(t, bob, dm, "psst again")
			want(alice, dm, "1/0")
		})
	}
}

// TestThreadedCounts: with unread_thread_notifications, a thread's
// notifications are counted apart from the main timeline's, and threaded
// receipts clear only their thread; without it, the room counts both.
func TestThreadedCounts(t *testing.T) {
	for _, engine := range testserver.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			srv := testserver.Start(t, engine, nil)
			alice := srv.Register(t, "alice", "password1")
			bob := srv.Register(t, "bob", "password1")
			carol := srv.Register(t, "carol", "password1")
			roomID := pushRoom(t, alice, "public_chat", bob, carol)
			const threaded = `{"room":{"timeline":{"unread_thread_notifications":true}}}`

			root := pushText(t, bob, roomID, "root")
			inThread := func(body string) string {
				return pushSend(t, bob, roomID, "m.room.message", map[string]any{"msgtype": "m.text", "body": body,
					"m.relates_to": map[string]any{"rel_type": "m.thread", "event_id": root}})
			}
			r1 := inThread("reply 1")
			r2 := inThread("reply 2")
			// An event that references a reply in the thread is in the
			// thread too: its thread is found one hop away.
			pushSend(t, bob, roomID, "m.room.message", map[string]any{"msgtype": "m.text", "body": "ref",
				"m.relates_to": map[string]any{"rel_type": "m.reference", "event_id": r1}})
			m2 := pushText(t, bob, roomID, "main 2")

			check := func(filter, wantMain string, wantThreads map[string]string) {
				t.Helper()
				gotMain, gotThreads := roomCounts(t, alice, roomID, filter)
				if gotMain != wantMain || fmt.Sprint(gotThreads) != fmt.Sprint(wantThreads) {
					t.Fatalf("counts (filter %q) = %s %v; want %s %v", filter, gotMain, gotThreads, wantMain, wantThreads)
				}
			}
			check("", "5/0", map[string]string{})
			check(threaded, "2/0", map[string]string{root: "3/0"})

			// A threaded receipt in the thread clears the thread up to it.
			receipt(t, alice, roomID, "m.read", r2, map[string]any{"thread_id": root}, 200)
			check(threaded, "2/0", map[string]string{root: "1/0"}) // the reference came after r2
			// One for the main timeline clears main only.
			receipt(t, alice, roomID, "m.read.private", m2, map[string]any{"thread_id": "main"}, 200)
			check(threaded, "0/0", map[string]string{root: "1/0"})
			check("", "1/0", map[string]string{})
			// An unthreaded receipt clears everything up to its event.
			receipt(t, alice, roomID, "m.read", m2, nil, 200)
			check(threaded, "0/0", map[string]string{})

			// Receipts whose thread does not fit the event are refused.
			receipt(t, carol, roomID, "m.read", r1, map[string]any{"thread_id": "main"}, 400)
			receipt(t, carol, roomID, "m.read", m2, map[string]any{"thread_id": root}, 400)
			receipt(t, carol, roomID, "m.read", root, map[string]any{"thread_id": root}, 200) // the root itself
			receipt(t, carol, roomID, "m.read", root, map[string]any{"thread_id": "main"}, 200)
		})
	}
}

// TestIgnoredSenderDoesNotNotify: messages from a user one ignores raise
// no notification (as in Synapse: the ignorer will not see them).
func TestIgnoredSenderDoesNotNotify(t *testing.T) {
	for _, engine := range testserver.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			srv := testserver.Start(t, engine, nil)
			alice := srv.Register(t, "alice", "password1")
			bob := srv.Register(t, "bob", "password1")
			carol := srv.Register(t, "carol", "password1")
			roomID := pushRoom(t, alice, "public_chat", bob, carol)
			alice.MustDo("PUT", "/_matrix/client/v3/user/"+url.PathEscape(alice.UserID)+"/account_data/m.ignored_user_list",
				map[string]any{"ignored_users": map[string]any{bob.UserID: map[string]any{}}}, 200)
			pushText(t, carol, roomID, "hear me")
			pushText(t, bob, roomID, "you cannot hear me")
			if got, _ := roomCounts(t, alice, roomID, ""); got != "1/0" {
				t.Fatalf("alice's counts = %s; want 1/0 (carol's message only)", got)
			}
			if got, _ := roomCounts(t, carol, roomID, ""); got != "1/0" {
				t.Fatalf("carol's counts = %s; want 1/0 (bob's message)", got)
			}
		})
	}
}

// TestRedactionClearsNotification: a redacted message no longer counts as
// unread (as in Synapse), and is gone from /notifications.
func TestRedactionClearsNotification(t *testing.T) {
	for _, engine := range testserver.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			srv := testserver.Start(t, engine, nil)
			alice := srv.Register(t, "alice", "password1")
			bob := srv.Register(t, "bob", "password1")
			roomID := pushRoom(t, alice, "public_chat", bob)
			e1 := pushSend(t, bob, roomID, "m.room.message", map[string]any{"msgtype": "m.text", "body": "oops",
				"m.mentions": map[string]any{"user_ids": []string{alice.UserID}}})
			pushText(t, bob, roomID, "fine")
			if got, _ := roomCounts(t, alice, roomID, ""); got != "2/1" {
				t.Fatalf("counts = %s; want 2/1", got)
			}
			bob.MustDo("PUT", fmt.Sprintf("/_matrix/client/v3/rooms/%s/redact/%s/r1", url.PathEscape(roomID), url.PathEscape(e1)), map[string]any{}, 200)
			if got, _ := roomCounts(t, alice, roomID, ""); got != "1/0" {
				t.Fatalf("counts after the redaction = %s; want 1/0", got)
			}
			n := alice.MustDo("GET", "/_matrix/client/v3/notifications", nil, 200)
			if list := n.Body["notifications"].([]any); len(list) != 1 {
				t.Fatalf("notifications after the redaction = %s; want one", n.Raw)
			}
		})
	}
}
