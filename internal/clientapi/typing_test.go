package clientapi_test

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"
)

func typingPath(roomID, userID string) string {
	return v3 + "/rooms/" + url.PathEscape(roomID) + "/typing/" + url.PathEscape(userID)
}

// TestTyping: only a joined member may say they are typing, only for
// themselves; m.typing reaches the room's members in /sync's ephemeral
// events when it changes, once, and a timeout ends it ("Typing
// Notifications").
func TestTyping(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := start(t, engine, nil)
		alice := srv.Register(t, "alice", password)
		bob := srv.Register(t, "bob", password)
		carol := srv.Register(t, "carol", password)
		roomID := udRoom(t, alice, bob)
		typing := map[string]any{"typing": true, "timeout": 30000}

		tests := []struct {
			what    string
			path    string
			body    any
			status  int
			errcode string
		}{
			{"typing as someone else", typingPath(roomID, bob.UserID), typing, 403, "M_FORBIDDEN"},
			{"typing as an invalid user ID", typingPath(roomID, "nobody"), typing, 403, "M_FORBIDDEN"},
			{"typing in an unknown room", typingPath("!nope:chappe.test", alice.UserID), typing, 403, "M_FORBIDDEN"},
			{"typing in an invalid room ID", typingPath("nope", alice.UserID), typing, 403, "M_FORBIDDEN"},
			{"no typing key", typingPath(roomID, alice.UserID), map[string]any{"timeout": 1000}, 400, "M_MISSING_PARAM"},
			{"typing not a boolean", typingPath(roomID, alice.UserID), map[string]any{"typing": "yes"}, 400, "M_BAD_JSON"},
			{"a negative timeout", typingPath(roomID, alice.UserID), map[string]any{"typing": true, "timeout": -1}, 400, "M_INVALID_PARAM"},
			{"not JSON", typingPath(roomID, alice.UserID), "{", 400, "M_NOT_JSON"},
		}
		for _, tt := range tests {
			wantErr(t, tt.what, alice.Do("PUT", tt.path, tt.body), tt.status, tt.errcode)
		}
		wantErr(t, "typing in a room one is not in", carol.Do("PUT", typingPath(roomID, carol.UserID), typing), 403, "M_FORBIDDEN")

		r := udSync(t, bob, "", "")
		if got := udEvents(r, roomID, "ephemeral"); len(got) != 0 {
			t.Fatalf("initial sync ephemeral with nobody typing = %v; want nothing", got)
		}
		next := r.String("next_batch")

		// A waiting /sync wakes when someone starts typing.
		done := udSyncAsync(t, bob, next, 10*time.Second)
		time.Sleep(100 * time.Millisecond)
		alice.MustDo("PUT", typingPath(roomID, alice.UserID), typing, http.StatusOK)
		r = udWait(t, "alice starts typing", done, 5*time.Second)
		want := fmt.Sprintf(`[m.typing {"user_ids":["%s"]}]`, alice.UserID)
		if got := fmt.Sprint(udEvents(r, roomID, "ephemeral")); got != want {
			t.Fatalf("sync after alice starts typing: ephemeral = %s; want %s", got, want)
		}
		next = r.String("next_batch")

		// Saying so again changes nothing to tell.
		alice.MustDo("PUT", typingPath(roomID, alice.UserID), typing, http.StatusOK)
		r = udSync(t, bob, next, "")
		if got := udEvents(r, roomID, "ephemeral"); len(got) != 0 {
			t.Fatalf("sync after alice repeats she is typing: ephemeral = %v; want nothing new", got)
		}
		// An initial sync tells whoever is typing now.
		if got := fmt.Sprint(udEvents(udSync(t, bob, "", ""), roomID, "ephemeral")); got != want {
			t.Fatalf("initial sync while alice types: ephemeral = %s; want %s", got, want)
		}
		// Carol, not in the room, hears nothing.
		if r := udSync(t, carol, "", ""); udJoined(r, roomID) != nil {
			t.Fatalf("carol's sync shows the room: %s", r.Raw)
		}

		done = udSyncAsync(t, bob, next, 10*time.Second)
		time.Sleep(100 * time.Millisecond)
		alice.MustDo("PUT", typingPath(roomID, alice.UserID), map[string]any{"typing": false}, http.StatusOK)
		r = udWait(t, "alice stops typing", done, 5*time.Second)
		if got, want := fmt.Sprint(udEvents(r, roomID, "ephemeral")), `[m.typing {"user_ids":[]}]`; got != want {
			t.Fatalf("sync after alice stops: ephemeral = %s; want %s", got, want)
		}
		next = r.String("next_batch")

		// A short timeout ends typing by itself, and the waiting /sync
		// hears of both the start and the end.
		bob.MustDo("PUT", typingPath(roomID, bob.UserID), map[string]any{"typing": true, "timeout": 300}, http.StatusOK)
		r = udSync(t, alice, "", "")
		if got, want := fmt.Sprint(udEvents(r, roomID, "ephemeral")), fmt.Sprintf(`[m.typing {"user_ids":["%s"]}]`, bob.UserID); got != want {
			t.Fatalf("alice's sync while bob types: ephemeral = %s; want %s", got, want)
		}
		aliceNext := r.String("next_batch")
		// The long-poll (30 s) must return well before its own end.
		r = udWait(t, "bob's typing times out", udSyncAsync(t, alice, aliceNext, 30*time.Second), 5*time.Second)
		if got, want := fmt.Sprint(udEvents(r, roomID, "ephemeral")), `[m.typing {"user_ids":[]}]`; got != want {
			t.Fatalf("alice's sync after bob's timeout: ephemeral = %s; want %s", got, want)
		}
		// Bob's own sync shows it too.
		if got := fmt.Sprint(udEvents(udSync(t, bob, next, ""), roomID, "ephemeral")); got != `[m.typing {"user_ids":[]}]` {
			t.Fatalf("bob's sync after his timeout: ephemeral = %s; want the empty list", got)
		}

		// Someone who leaves while typing is no longer listed.
		bob.MustDo("PUT", typingPath(roomID, bob.UserID), typing, http.StatusOK)
		bob.MustDo("POST", v3+"/rooms/"+url.PathEscape(roomID)+"/leave", map[string]any{}, http.StatusOK)
		if got := fmt.Sprint(udEvents(udSync(t, alice, aliceNext, ""), roomID, "ephemeral")); got != `[m.typing {"user_ids":[]}]` {
			t.Fatalf("alice's sync after bob left while typing: ephemeral = %s; want the empty list", got)
		}
	})
}

// A typing token from an earlier run of the server (a lower serial than
// this run's epoch) gets every joined room's list once, empty or not: the
// typing state of that run is gone.
func TestTypingTokenOfEarlierRun(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := start(t, engine, nil)
		alice := srv.Register(t, "alice", password)
		roomID := udRoom(t, alice)
		r := udSync(t, alice, "", "")
		var pos, serial int64
		if _, err := fmt.Sscanf(r.String("next_batch"), "s%d_%d", &pos, &serial); err != nil {
			t.Fatalf("next_batch %q: %v", r.String("next_batch"), err)
		}
		old := fmt.Sprintf("s%d_%d", pos, serial-1000)
		r = udSync(t, alice, old, "")
		if got := fmt.Sprint(udEvents(r, roomID, "ephemeral")); got != `[m.typing {"user_ids":[]}]` {
			t.Fatalf("sync with an earlier run's token: ephemeral = %s; want the empty list", got)
		}
		if got := udEvents(udSync(t, alice, r.String("next_batch"), ""), roomID, "ephemeral"); len(got) != 0 {
			t.Fatalf("the following sync: ephemeral = %v; want nothing", got)
		}
	})
}
