package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"chappe.eu/chappe/internal/store"
	"chappe.eu/chappe/internal/testserver"
)

// Concurrent appends are committed in groups, yet each succeeds or fails
// on its own: a repeated transaction ID fails alone, every stored event
// gets a distinct position, and nothing is lost.
func TestGroupCommit(t *testing.T) {
	ctx := context.Background()
	for _, engine := range testserver.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			db := open(t, testserver.NewDatabase(t, engine), t.TempDir())
			defer db.Close()
			const rooms, perRoom = 8, 25
			for r := range rooms {
				if _, err := db.CreateRoom(ctx, store.NewRoom{RoomID: fmt.Sprintf("!r%d:x", r), Version: "10", Creator: "@u:x"}, nil); err != nil {
					t.Fatal(err)
				}
			}
			var mu sync.Mutex
			positions := map[int64]bool{}
			conflicts := 0
			var wg sync.WaitGroup
			for r := range rooms {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range perRoom {
						txn, id := fmt.Sprintf("t%d-%d", r, i), fmt.Sprintf("$e%d-%d", r, i)
						switch i {
						case perRoom - 1:
							txn = fmt.Sprintf("t%d-0", r) // a retry of the first
						case perRoom - 2:
							id = fmt.Sprintf("$e%d-0", r) // fails after taking a position
						}
						pos, err := db.AppendEvents(ctx, []store.NewEvent{{
							EventID: id, RoomID: fmt.Sprintf("!r%d:x", r), Type: "m.room.message",
							Sender: "@u:x", Depth: int64(i + 1), PDU: []byte(`{}`), SenderDevice: "D", TxnID: txn,
						}})
						mu.Lock()
						switch {
						case errors.Is(err, store.ErrConflict):
							conflicts++
						case err != nil:
							t.Errorf("append %d in room %d: %v", i, r, err)
						case positions[pos]:
							t.Errorf("position %d handed out twice", pos)
						default:
							positions[pos] = true
						}
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			if conflicts != 2*rooms {
				t.Errorf("%d conflicts; want %d (a retried transaction and a repeated event ID per room)", conflicts, 2*rooms)
			}
			if want := rooms * (perRoom - 2); len(positions) != want {
				t.Errorf("%d events stored; want %d", len(positions), want)
			}
			// The failed appends gave their positions back: the stream
			// ends at the last stored event, and the next write follows it.
			last := int64(0)
			for p := range positions {
				last = max(last, p)
			}
			if pos, _ := db.StreamPos(ctx); pos != last {
				t.Errorf("StreamPos = %d; want %d, the last event's", pos, last)
			}
			for r := range rooms {
				evs, err := db.RoomEvents(ctx, fmt.Sprintf("!r%d:x", r), 0, 1<<62, 1000, false)
				if err != nil {
					t.Fatal(err)
				}
				if len(evs) != perRoom-2 {
					t.Errorf("room %d holds %d events; want %d", r, len(evs), perRoom-2)
				}
			}
		})
	}
}
