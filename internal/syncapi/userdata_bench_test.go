package syncapi_test

import (
	"fmt"
	"net/url"
	"testing"

	"chappe.eu/chappe/internal/testserver"
)

// BenchmarkQuietSync is an incremental /sync (timeout 0) with nothing new
// for a user in 50 rooms: the fixed cost of every section that looks for
// changes (timelines, account data, typing, presence…). Run with
// -benchtime=200x on SQLite; the sections this adds per joined room
// (room account data: one query; typing: memory) are where it grows.
func BenchmarkQuietSync(b *testing.B) {
	srv := testserver.Start(b, "sqlite", nil)
	alice := srv.Register(b, "alice", "password1")
	bob := srv.Register(b, "bob", "password1")
	for range 50 {
		roomID := alice.MustDo("POST", "/_matrix/client/v3/createRoom", map[string]any{"preset": "public_chat"}, 200).String("room_id")
		bob.MustDo("POST", "/_matrix/client/v3/join/"+url.PathEscape(roomID), map[string]any{}, 200)
		alice.MustDo("PUT", fmt.Sprintf("/_matrix/client/v3/user/%s/rooms/%s/tags/u.t", url.PathEscape(alice.UserID), url.PathEscape(roomID)),
			map[string]any{"order": 0.5}, 200)
	}
	next := alice.MustDo("GET", "/_matrix/client/v3/sync", nil, 200).String("next_batch")
	path := "/_matrix/client/v3/sync?timeout=0&since=" + url.QueryEscape(next)
	b.ResetTimer()
	for range b.N {
		alice.MustDo("GET", path, nil, 200)
	}
}
