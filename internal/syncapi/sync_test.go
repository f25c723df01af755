package syncapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"chappe.eu/chappe/internal/testserver"
)

func timelineBodies(t *testing.T, r *testserver.Response, roomID string) []string {
	t.Helper()
	join, _ := r.Body["rooms"].(map[string]any)["join"].(map[string]any)
	room, ok := join[roomID].(map[string]any)
	if !ok {
		return nil
	}
	var out []string
	for _, e := range room["timeline"].(map[string]any)["events"].([]any) {
		ev := e.(map[string]any)
		if ev["type"] == "m.room.message" {
			out = append(out, ev["content"].(map[string]any)["body"].(string))
		}
	}
	return out
}

// TestSyncSendReceive: two users in one room; each message sent reaches the
// other's /sync, initial and incremental, and a waiting long-poll returns
// when a message arrives ("Syncing", "Sending events to a room").
func TestSyncSendReceive(t *testing.T) {
	for _, engine := range testserver.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			srv := testserver.Start(t, engine, nil)
			alice := srv.Register(t, "alice", "password1")
			bob := srv.Register(t, "bob", "password1")
			r := alice.MustDo("POST", "/_matrix/client/v3/createRoom", map[string]any{"preset": "public_chat", "name": "Test"}, 200)
			roomID := r.String("room_id")
			bob.MustDo("POST", "/_matrix/client/v3/join/"+url.PathEscape(roomID), map[string]any{}, 200)
			for i := range 3 {
				alice.MustDo("PUT", fmt.Sprintf("/_matrix/client/v3/rooms/%s/send/m.room.message/t%d", url.PathEscape(roomID), i),
					map[string]any{"msgtype": "m.text", "body": fmt.Sprintf("hello %d", i)}, 200)
			}
			r = bob.MustDo("GET", "/_matrix/client/v3/sync", nil, 200)
			got := timelineBodies(t, r, roomID)
			if fmt.Sprint(got) != "[hello 0 hello 1 hello 2]" {
				t.Fatalf("initial sync timeline = %v; want [hello 0 hello 1 hello 2]\n%s", got, r.Raw)
			}
			next := r.String("next_batch")

			done := make(chan *testserver.Response)
			go func() {
				done <- bob.Do("GET", "/_matrix/client/v3/sync?timeout=10000&since="+next, nil)
			}()
			time.Sleep(100 * time.Millisecond)
			alice.MustDo("PUT", "/_matrix/client/v3/rooms/"+url.PathEscape(roomID)+"/send/m.room.message/t9",
				map[string]any{"msgtype": "m.text", "body": "late"}, 200)
			select {
			case r = <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("long-poll did not return after a message")
			}
			if r.Status != http.StatusOK {
				t.Fatalf("sync = %d %s", r.Status, r.Raw)
			}
			if got := timelineBodies(t, r, roomID); fmt.Sprint(got) != "[late]" {
				t.Fatalf("incremental sync timeline = %v; want [late]\n%s", got, r.Raw)
			}
		})
	}
}

// At shutdown a waiting long-poll answers at once with an empty response
// (200 and a next_batch), instead of holding the graceful stop for its
// whole timeout.
func TestShutdownEndsLongPolls(t *testing.T) {
	srv := testserver.Start(t, "sqlite", nil)
	alice := srv.Register(t, "alice", "password1")
	next := alice.MustDo("GET", "/_matrix/client/v3/sync", nil, 200).String("next_batch")
	done := make(chan *testserver.Response, 1)
	go func() { done <- alice.Do("GET", "/_matrix/client/v3/sync?timeout=60000&since="+next, nil) }()
	time.Sleep(200 * time.Millisecond) // the sync is waiting now
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Shutdown took %v with a long-poll waiting; want it to end the wait", took)
	}
	select {
	case r := <-done:
		if r.Status != http.StatusOK || r.String("next_batch") == "" {
			t.Errorf("the waiting sync got %d %s; want 200 with a next_batch", r.Status, r.Raw)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting sync never answered")
	}
}
