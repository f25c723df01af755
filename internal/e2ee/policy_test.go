package e2ee_test

import (
	"net/http"
	"testing"

	"chappe.eu/chappe/internal/config"
	"chappe.eu/chappe/internal/testserver"
)

const megolm = "m.megolm.v1.aes-sha2"

// encryption returns a room's m.room.encryption algorithm, "" if none.
func encryption(t testing.TB, c *testserver.Client, roomID string) string {
	t.Helper()
	r := c.Do("GET", "/_matrix/client/v3/rooms/"+esc(roomID)+"/state/m.room.encryption/", nil)
	if r.Status == http.StatusNotFound {
		return ""
	}
	if r.Status != 200 {
		t.Fatalf("GET m.room.encryption = %d %s", r.Status, r.Raw)
	}
	return r.String("algorithm")
}

// TestEncryptionPolicy: private rooms and direct chats are encrypted from
// creation, and encryption once on cannot be turned off, by a new
// m.room.encryption or by redacting it.
func TestEncryptionPolicy(t *testing.T) {
	forEngine(t, func(t *testing.T, srv *testserver.Server) {
		alice := srv.Register(t, "alice", "password1")
		create := func(body map[string]any) string {
			return alice.MustDo("POST", "/_matrix/client/v3/createRoom", body, 200).String("room_id")
		}
		for _, tc := range []struct {
			name string
			body map[string]any
			want string
		}{
			{"private chat", map[string]any{"preset": "private_chat"}, megolm},
			{"trusted private chat", map[string]any{"preset": "trusted_private_chat"}, megolm},
			{"no preset, private visibility", map[string]any{}, megolm},
			{"direct chat, even with the public preset", map[string]any{"preset": "public_chat", "is_direct": true}, megolm},
			{"public room", map[string]any{"preset": "public_chat"}, ""},
		} {
			if got := encryption(t, alice, create(tc.body)); got != tc.want {
				t.Errorf("%s: encryption %q; want %q", tc.name, got, tc.want)
			}
		}
		r := alice.Do("POST", "/_matrix/client/v3/createRoom", map[string]any{"preset": "private_chat",
			"initial_state": []any{map[string]any{"type": "m.room.encryption", "state_key": "", "content": map[string]any{}}}})
		if r.Status != http.StatusBadRequest || r.Errcode() != "M_INVALID_PARAM" {
			t.Errorf("private room created with encryption switched off = %d %s; want 400 M_INVALID_PARAM", r.Status, r.Raw)
		}

		roomID := create(map[string]any{"preset": "public_chat"})
		state := "/_matrix/client/v3/rooms/" + esc(roomID) + "/state/m.room.encryption/"
		alice.MustDo("PUT", state, map[string]any{"algorithm": megolm}, 200)
		alice.MustDo("PUT", state, map[string]any{"algorithm": megolm, "rotation_period_msgs": 50}, 200)
		for _, tc := range []struct {
			name    string
			content map[string]any
		}{
			{"no algorithm", map[string]any{}},
			{"another algorithm", map[string]any{"algorithm": "m.none"}},
		} {
			if r := alice.Do("PUT", state, tc.content); r.Status != http.StatusForbidden || r.Errcode() != "M_FORBIDDEN" {
				t.Errorf("%s: %d %s; want 403 M_FORBIDDEN", tc.name, r.Status, r.Raw)
			}
		}
		encID := alice.MustDo("PUT", state, map[string]any{"algorithm": megolm, "rotation_period_msgs": 60}, 200).String("event_id")
		if r := alice.Do("PUT", "/_matrix/client/v3/rooms/"+esc(roomID)+"/redact/"+esc(encID)+"/r1", map[string]any{}); r.Status != http.StatusForbidden {
			t.Errorf("redacting m.room.encryption = %d %s; want 403", r.Status, r.Raw)
		}
		if got := encryption(t, alice, roomID); got != megolm {
			t.Errorf("after refused changes the room's encryption is %q; want %q", got, megolm)
		}
	})
}

// TestEncryptionNotRequired: an operator may leave encryption to the
// room creator.
func TestEncryptionNotRequired(t *testing.T) {
	srv := testserver.Start(t, "sqlite", func(c *config.Config) { c.Rooms.EncryptPrivate = false })
	alice := srv.Register(t, "alice", "password1")
	roomID := alice.MustDo("POST", "/_matrix/client/v3/createRoom", map[string]any{"preset": "private_chat"}, 200).String("room_id")
	if got := encryption(t, alice, roomID); got != "" {
		t.Fatalf("private room without the policy: encryption %q; want none", got)
	}
}
