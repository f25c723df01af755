package store_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sync"
	"testing"

	"chappe.eu/chappe/internal/store"
	"chappe.eu/chappe/internal/testserver"
)

// TestRoomTailsMatchStore: RoomEvents answered from the rooms' tails in
// memory (roomtails.go) is what the store answers, for every range,
// direction and limit, after messages sent at once to several rooms, failed
// appends, redactions (the first wins; one of another room's event does
// nothing) and more events than a tail keeps.
func TestRoomTailsMatchStore(t *testing.T) {
	ctx := context.Background()
	for _, engine := range testserver.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			db := open(t, testserver.NewDatabase(t, engine), t.TempDir())
			defer db.Close()
			rooms := []string{"!a:x", "!b:x", "!c:x"}
			for _, r := range rooms {
				if _, err := db.CreateRoom(ctx, store.NewRoom{RoomID: r, Version: "10", Creator: "@u:x"}, nil); err != nil {
					t.Fatal(err)
				}
				if _, err := db.RoomVersion(ctx, r); err != nil { // as sending does
					t.Fatal(err)
				}
			}
			rng := rand.New(rand.NewPCG(4, 2))
			var mu sync.Mutex
			sent := map[string][]string{} // room -> event IDs
			n := 0
			// While events commit, a reader asking for the latest events
			// at the committed position gets every one of them (what is
			// redacted may change between its two reads, so only the
			// events are compared).
			stop := make(chan struct{})
			var reader sync.WaitGroup
			reader.Add(1)
			go func() {
				defer reader.Done()
				ids := func(evs []store.StoredEvent) (out []string) {
					for _, e := range evs {
						out = append(out, fmt.Sprint(e.StreamPos, e.EventID))
					}
					return out
				}
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					r := rooms[i%len(rooms)]
					to, err := db.StreamPos(ctx)
					if err != nil {
						t.Error(err)
						return
					}
					got, err := db.RoomEvents(ctx, r, max(0, to-12), to, 50, false)
					if err != nil {
						t.Error(err)
						return
					}
					want, err := db.RoomEventsStoredForTest(ctx, r, max(0, to-12), to, 50, false)
					if err != nil {
						t.Error(err)
						return
					}
					if !reflect.DeepEqual(ids(got), ids(want)) {
						t.Errorf("RoomEvents(%s, %d, %d) while writing = %v; want %v", r, max(0, to-12), to, ids(got), ids(want))
						return
					}
				}
			}()
			// Rounds of concurrent appends, one per room, so that the
			// group commit writes several rooms in one transaction.
			for round := range 150 {
				var wg sync.WaitGroup
				for ri, r := range rooms {
					mu.Lock()
					n++
					id := fmt.Sprintf("$e%d", n)
					ev := store.NewEvent{EventID: id, RoomID: r, Type: "m.room.message", Sender: "@u:x",
						Depth: int64(round + 1), PDU: []byte(fmt.Sprintf(`{"n":%d}`, n)), SenderDevice: "D", TxnID: id}
					switch {
					case round%7 == 3 && len(sent[r]) > 0: // a redaction of an event of this room
						ev.Type, ev.Redacts = "m.room.redaction", sent[r][rng.IntN(len(sent[r]))]
					case round%11 == 5: // of another room's event: stores nothing more
						other := rooms[(ri+1)%len(rooms)]
						if len(sent[other]) > 0 {
							ev.Type, ev.Redacts = "m.room.redaction", sent[other][0]
						}
					case round%9 == 4 && len(sent[r]) > 0: // a retried transaction ID: fails
						ev.TxnID = sent[r][0]
					}
					mu.Unlock()
					wg.Add(1)
					go func() {
						defer wg.Done()
						_, err := db.AppendEvents(ctx, []store.NewEvent{ev})
						mu.Lock()
						defer mu.Unlock()
						switch {
						case errors.Is(err, store.ErrConflict) && ev.TxnID != ev.EventID:
						case err != nil:
							t.Errorf("append %s: %v", ev.EventID, err)
						default:
							sent[r] = append(sent[r], ev.EventID)
						}
					}()
				}
				wg.Wait()
			}
			close(stop)
			reader.Wait()
			head, err := db.StreamPos(ctx)
			if err != nil {
				t.Fatal(err)
			}
			served := 0
			for range 400 {
				r := rooms[rng.IntN(len(rooms))]
				from := head - int64(rng.IntN(int(head)+1))
				to := from + int64(rng.IntN(int(head-from)+1))
				limit, backwards := 1+rng.IntN(30), rng.IntN(2) == 0
				got, err := db.RoomEvents(ctx, r, from, to, limit, backwards)
				if err != nil {
					t.Fatal(err)
				}
				want, err := db.RoomEventsStoredForTest(ctx, r, from, to, limit, backwards)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != 0 || len(want) != 0 {
					if !reflect.DeepEqual(got, want) {
						t.Fatalf("RoomEvents(%s, %d, %d, %d, %v):\n got %+v\nwant %+v", r, from, to, limit, backwards, got, want)
					}
				}
				if db.RoomTailHoldsForTest(r, from, to) {
					served++
				}
			}
			// The tails keep the latest events, not the oldest.
			if served == 0 {
				t.Error("no range was answered from a tail")
			}
			if db.RoomTailHoldsForTest(rooms[0], 0, head) {
				t.Error("a tail claims the whole history of a room with more events than it keeps")
			}
			if !db.RoomTailHoldsForTest(rooms[0], head-3, head) {
				t.Error("the latest events of a room are not in its tail")
			}
		})
	}
}

// TestForgetChangesDropsRoomTails: after a write the process did not make
// (ForgetChanges), RoomEvents reads the store, not a stale tail.
func TestForgetChangesDropsRoomTails(t *testing.T) {
	ctx := context.Background()
	for _, engine := range testserver.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			db := open(t, testserver.NewDatabase(t, engine), t.TempDir())
			defer db.Close()
			const room = "!a:x"
			if _, err := db.CreateRoom(ctx, store.NewRoom{RoomID: room, Version: "10", Creator: "@u:x"}, nil); err != nil {
				t.Fatal(err)
			}
			if _, err := db.RoomVersion(ctx, room); err != nil {
				t.Fatal(err)
			}
			pos, err := db.AppendEvents(ctx, []store.NewEvent{{EventID: "$m", RoomID: room, Type: "m.room.message", Sender: "@u:x", PDU: []byte(`{}`)}})
			if err != nil {
				t.Fatal(err)
			}
			if !db.RoomTailHoldsForTest(room, pos-1, pos) {
				t.Fatal("the new event is not in the room's tail")
			}
			if err := db.ExecForTest(ctx, `UPDATE events SET redacted_by = '$by-hand' WHERE event_id = '$m'`); err != nil {
				t.Fatal(err)
			}
			db.ForgetChanges()
			evs, err := db.RoomEvents(ctx, room, pos-1, pos, 10, true)
			if err != nil || len(evs) != 1 || evs[0].RedactedBy != "$by-hand" {
				t.Fatalf("RoomEvents after a write by hand = %+v, %v; want $m redacted by $by-hand", evs, err)
			}
		})
	}
}
