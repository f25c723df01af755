package store_test

import (
	"context"
	"fmt"
	"testing"

	"chappe.eu/chappe/internal/store"
	"chappe.eu/chappe/internal/testserver"
)

// TestPushActionsAndReadMarks: an event's notifications for many users
// (full batches and a remainder) are stored with it; counts are per
// thread and drop with receipts, which only move forward, and with the
// sender's own events; Notifications pages and flags what was read.
func TestPushActionsAndReadMarks(t *testing.T) {
	ctx := context.Background()
	for _, engine := range testserver.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			db := open(t, testserver.NewDatabase(t, engine), t.TempDir())
			defer db.Close()
			const room = "!r:x"
			if _, err := db.CreateRoom(ctx, store.NewRoom{RoomID: room, Version: "11", Creator: "@u0:x"},
				[]store.NewEvent{{EventID: "$create", RoomID: room, Type: "m.room.create", Sender: "@u0:x", PDU: []byte(`{}`)}}); err != nil {
				t.Fatal(err)
			}
			var actions []store.PushAction
			for i := range 100 {
				actions = append(actions, store.PushAction{UserID: fmt.Sprintf("@u%d:x", i), Highlight: i%2 == 0, Actions: []byte(`["notify"]`)})
			}
			send := func(id, sender, thread string, actions []store.PushAction) int64 {
				t.Helper()
				pos, err := db.AppendEvents(ctx, []store.NewEvent{{EventID: id, RoomID: room, Type: "m.room.message", Sender: sender,
					PDU: []byte(`{}`), Push: &store.PushOutcome{ThreadID: thread, Actions: actions, SenderRead: true}}})
				if err != nil {
					t.Fatal(err)
				}
				return pos
			}
			unread := func(user string) string {
				t.Helper()
				cs, err := db.UnreadCounts(ctx, user, room, 1<<40)
				if err != nil {
					t.Fatal(err)
				}
				out := map[string]string{}
				for _, c := range cs {
					out[c.ThreadID] = fmt.Sprintf("%d/%d", c.Notifications, c.Highlights)
				}
				return fmt.Sprint(out)
			}
			p1 := send("$1", "@s:x", "main", actions)
			p2 := send("$2", "@s:x", "$1", actions[:3])
			for _, tt := range []struct{ user, want string }{
				{"@u0:x", "map[$1:1/1 main:1/1]"}, {"@u1:x", "map[$1:1/0 main:1/0]"},
				{"@u64:x", "map[main:1/1]"}, {"@u99:x", "map[main:1/0]"}, {"@nobody:x", "map[]"},
			} {
				if got := unread(tt.user); got != tt.want {
					t.Errorf("UnreadCounts(%s) = %s; want %s", tt.user, got, tt.want)
				}
			}
			// Counts as of an earlier position leave later events out.
			if cs, err := db.UnreadCounts(ctx, "@u0:x", room, p2-1); err != nil || len(cs) != 1 || cs[0].ThreadID != "main" {
				t.Errorf("UnreadCounts(u0, upto %d) = %+v, %v; want main only", p2-1, cs, err)
			}

			// A threaded receipt clears its thread; one behind changes nothing.
			receipt := func(user, typ, thread, event string, eventPos int64) int64 {
				t.Helper()
				pos, err := db.SetReceipt(ctx, store.Receipt{RoomID: room, Type: typ, UserID: user, ThreadID: thread, EventID: event, EventPos: eventPos, TS: 1})
				if err != nil {
					t.Fatal(err)
				}
				return pos
			}
			if pos := receipt("@u0:x", "m.read", "$1", "$2", p2); pos == 0 {
				t.Fatal("SetReceipt returned no position for a new receipt")
			}
			if got := unread("@u0:x"); got != "map[main:1/1]" {
				t.Errorf("after a receipt in the thread: %s", got)
			}
			if pos := receipt("@u0:x", "m.read", "$1", "$1", p1); pos != 0 {
				t.Errorf("a receipt behind the current one got position %d; want 0", pos)
			}
			// m.read.private counts too, and an unthreaded receipt covers main.
			receipt("@u0:x", "m.read.private", "", "$1", p1)
			if got := unread("@u0:x"); got != "map[]" {
				t.Errorf("after an unthreaded private receipt: %s", got)
			}
			// The sender's own event in main clears main, not the thread.
			send("$3", "@u1:x", "main", nil)
			if got := unread("@u1:x"); got != "map[$1:1/0]" {
				t.Errorf("after u1's own event: %s", got)
			}

			// Only u0's private receipt is hidden from others.
			rs, err := db.RoomReceipts(ctx, room, "@u1:x", 0, 1<<40)
			if err != nil || len(rs) != 1 || rs[0].Type != "m.read" || rs[0].EventID != "$2" {
				t.Fatalf("RoomReceipts for u1 = %+v, %v; want u0's m.read only", rs, err)
			}
			if rs, _ := db.RoomReceipts(ctx, room, "@u0:x", 0, 1<<40); len(rs) != 2 {
				t.Fatalf("RoomReceipts for u0 = %+v; want both of u0's", rs)
			}

			ns, err := db.Notifications(ctx, "@u1:x", 0, 1, false)
			if err != nil || len(ns) != 1 || ns[0].EventID != "$2" || ns[0].Read {
				t.Fatalf("Notifications(u1, limit 1) = %+v, %v; want $2 unread", ns, err)
			}
			ns, _ = db.Notifications(ctx, "@u1:x", ns[0].Pos, 10, false)
			if len(ns) != 1 || ns[0].EventID != "$1" || !ns[0].Read {
				t.Fatalf("Notifications(u1, second page) = %+v; want $1 read", ns)
			}
			if ns, _ := db.Notifications(ctx, "@u1:x", 0, 10, true); len(ns) != 0 {
				t.Fatalf("Notifications(u1, highlights) = %+v; want none", ns)
			}
		})
	}
}
