package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
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

// TestUnreadSummaryMatchesModel: random events, receipts (threaded,
// unthreaded, behind), the senders' own events and redactions; after each
// step the unread counts, at the latest position and at an earlier one,
// equal a plain count of the notifications after the read marks.
func TestUnreadSummaryMatchesModel(t *testing.T) {
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
			type action struct {
				user, thread, event string
				pos                 int64
				highlight           bool
			}
			var actions []action
			marks := map[[2]string]int64{} // user, thread ("" unthreaded)
			users := []string{"@u0:x", "@u1:x", "@u2:x"}
			threads := []string{"main", "$t1", "$t2"}
			rng := rand.New(rand.NewPCG(1, 2))
			want := func(user string, upto int64) string {
				out := map[string][2]int{}
				for _, a := range actions {
					if a.user != user || a.pos > upto || a.pos <= marks[[2]string{user, ""}] || a.pos <= marks[[2]string{user, a.thread}] {
						continue
					}
					c := out[a.thread]
					c[0]++
					if a.highlight {
						c[1]++
					}
					out[a.thread] = c
				}
				return fmt.Sprint(out)
			}
			got := func(user string, upto int64) string {
				cs, err := db.UnreadCounts(ctx, user, room, upto)
				if err != nil {
					t.Fatal(err)
				}
				out := map[string][2]int{}
				for _, c := range cs {
					out[c.ThreadID] = [2]int{c.Notifications, c.Highlights}
				}
				return fmt.Sprint(out)
			}
			var lastPos int64
			var events []action // every event, for receipts and redactions
			for step := range 300 {
				switch k := rng.IntN(10); {
				case k < 5: // an event notifying some users
					sender := users[rng.IntN(len(users))]
					thread := threads[rng.IntN(len(threads))]
					id := fmt.Sprintf("$e%d", step)
					var pas []store.PushAction
					for _, u := range users {
						if u != sender && rng.IntN(3) > 0 {
							pas = append(pas, store.PushAction{UserID: u, Highlight: rng.IntN(3) == 0, Actions: []byte(`["notify"]`)})
						}
					}
					pos, err := db.AppendEvents(ctx, []store.NewEvent{{EventID: id, RoomID: room, Type: "m.room.message", Sender: sender,
						PDU: []byte(`{}`), Push: &store.PushOutcome{ThreadID: thread, Actions: pas, SenderRead: true}}})
					if err != nil {
						t.Fatal(err)
					}
					for _, pa := range pas {
						actions = append(actions, action{pa.UserID, thread, id, pos, pa.Highlight})
					}
					if pos > marks[[2]string{sender, thread}] {
						marks[[2]string{sender, thread}] = pos
					}
					events = append(events, action{sender, thread, id, pos, false})
					lastPos = pos
				case k < 8 && len(events) > 0: // a receipt, maybe behind
					user := users[rng.IntN(len(users))]
					e := events[rng.IntN(len(events))]
					thread := ""
					if rng.IntN(2) == 0 {
						thread = e.thread
					}
					typ := "m.read"
					if rng.IntN(3) == 0 {
						typ = "m.read.private"
					}
					pos, err := db.SetReceipt(ctx, store.Receipt{RoomID: room, Type: typ, UserID: user, ThreadID: thread, EventID: e.event, EventPos: e.pos, TS: 1})
					if err != nil {
						t.Fatal(err)
					}
					if pos != 0 && e.pos > marks[[2]string{user, thread}] {
						marks[[2]string{user, thread}] = e.pos
					}
					if pos != 0 {
						lastPos = pos
					}
				case len(events) > 0: // a redaction, by someone who notifies nobody
					e := events[rng.IntN(len(events))]
					pos, err := db.AppendEvents(ctx, []store.NewEvent{{EventID: fmt.Sprintf("$r%d", step), RoomID: room,
						Type: "m.room.redaction", Sender: "@admin:x", PDU: []byte(`{}`), Redacts: e.event}})
					if err != nil {
						t.Fatal(err)
					}
					actions = slices.DeleteFunc(actions, func(a action) bool { return a.event == e.event })
					lastPos = pos
				}
				for _, u := range users {
					for _, upto := range []int64{lastPos, lastPos - 3} {
						if g, w := got(u, upto), want(u, upto); g != w {
							t.Fatalf("step %d: UnreadCounts(%s, upto %d) = %s; want %s", step, u, upto, g, w)
						}
					}
				}
			}
		})
	}
}

// TestUnreadCountsWithConcurrentReaders: readers asking for unread counts
// while notifying events commit (which update the cached counts as they
// commit, txnotes.go) never leave a wrong count in the cache: at the end
// the count is every notification, and so is what the store itself says.
func TestUnreadCountsWithConcurrentReaders(t *testing.T) {
	ctx := context.Background()
	for _, engine := range testserver.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			db := open(t, testserver.NewDatabase(t, engine), t.TempDir())
			defer db.Close()
			const room, reader, events = "!r:x", "@reader:x", 300
			if _, err := db.CreateRoom(ctx, store.NewRoom{RoomID: room, Version: "11", Creator: "@s:x"}, nil); err != nil {
				t.Fatal(err)
			}
			stop := make(chan struct{})
			var readers sync.WaitGroup
			for range 3 {
				readers.Add(1)
				go func() {
					defer readers.Done()
					for {
						select {
						case <-stop:
							return
						default:
						}
						pos, err := db.StreamPos(ctx)
						if err == nil {
							_, err = db.UnreadCounts(ctx, reader, room, pos)
						}
						if err != nil {
							t.Error(err)
							return
						}
					}
				}()
			}
			var writers sync.WaitGroup
			for w := range 4 { // several at once: group commits with several notifications
				writers.Add(1)
				go func() {
					defer writers.Done()
					for i := range events / 4 {
						_, err := db.AppendEvents(ctx, []store.NewEvent{{EventID: fmt.Sprintf("$e%d-%d", w, i), RoomID: room,
							Type: "m.room.message", Sender: "@s:x", PDU: []byte(`{}`),
							Push: &store.PushOutcome{ThreadID: "main", Actions: []store.PushAction{{UserID: reader, Highlight: i%3 == 0, Actions: []byte(`["notify"]`)}}}}})
						if err != nil {
							t.Error(err)
							return
						}
					}
				}()
			}
			writers.Wait()
			close(stop)
			readers.Wait()
			pos, err := db.StreamPos(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for range 2 { // the second from the cache
				cs, err := db.UnreadCounts(ctx, reader, room, pos)
				if err != nil {
					t.Fatal(err)
				}
				if len(cs) != 1 || cs[0].Notifications != events || cs[0].Highlights != events/3 {
					t.Fatalf("UnreadCounts = %+v; want %d notifications, %d highlights in main", cs, events, events/3)
				}
			}
		})
	}
}
