package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"chappe.eu/chappe/internal/store"
	"chappe.eu/chappe/internal/testserver"
)

// TestPrunePushActions: pruning deletes the notifications stored before
// the cutoff and no others, in batches that may split an event's rows,
// and leaves the unread counts as they were.
func TestPrunePushActions(t *testing.T) {
	ctx := context.Background()
	defer store.SetPruneBatchForTest(3)() // 2 rows an event: batches end inside events
	for _, engine := range testserver.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			db := open(t, testserver.NewDatabase(t, engine), t.TempDir())
			defer db.Close()
			const room = "!r:x"
			if _, err := db.CreateRoom(ctx, store.NewRoom{RoomID: room, Version: "11", Creator: "@s:x"}, nil); err != nil {
				t.Fatal(err)
			}
			n := 0
			send := func(count int) {
				for range count {
					n++
					_, err := db.AppendEvents(ctx, []store.NewEvent{{EventID: fmt.Sprintf("$e%d", n), RoomID: room, Type: "m.room.message",
						Sender: "@s:x", PDU: []byte(`{}`), Push: &store.PushOutcome{ThreadID: "main", Actions: []store.PushAction{
							{UserID: "@a:x", Actions: []byte(`["notify"]`)}, {UserID: "@b:x", Actions: []byte(`["notify"]`)}}}}})
					if err != nil {
						t.Fatal(err)
					}
				}
			}
			notifications := func(user string) int {
				ns, err := db.Notifications(ctx, user, 0, 100, false)
				if err != nil {
					t.Fatal(err)
				}
				return len(ns)
			}
			send(5)
			time.Sleep(5 * time.Millisecond)
			cutoff := time.Now().UnixMilli()
			time.Sleep(5 * time.Millisecond)
			send(2)
			if k, err := db.PrunePushActions(ctx, 0); err != nil || k != 0 {
				t.Fatalf("pruning before everything deleted %d, %v; want 0", k, err)
			}
			if k, err := db.PrunePushActions(ctx, cutoff); err != nil || k != 10 {
				t.Fatalf("pruning before the cutoff deleted %d, %v; want 10 (5 events × 2 users)", k, err)
			}
			if a, b := notifications("@a:x"), notifications("@b:x"); a != 2 || b != 2 {
				t.Errorf("notifications left: %d and %d; want the 2 recent ones each", a, b)
			}
			pos, err := db.StreamPos(ctx)
			if err != nil {
				t.Fatal(err)
			}
			cs, err := db.UnreadCounts(ctx, "@a:x", room, pos)
			if err != nil || len(cs) != 1 || cs[0].Notifications != 7 {
				t.Errorf("unread counts after pruning = %+v, %v; want 7 in main", cs, err)
			}
			if k, err := db.PrunePushActions(ctx, time.Now().Add(time.Hour).UnixMilli()); err != nil || k != 4 {
				t.Fatalf("pruning everything deleted %d, %v; want 4", k, err)
			}
			if a := notifications("@a:x"); a != 0 {
				t.Errorf("%d notifications left; want none", a)
			}
		})
	}
}
