package clientapi_test

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"chappe.eu/chappe/internal/testserver"
)

func presencePath(userID string) string {
	return v3 + "/presence/" + url.PathEscape(userID) + "/status"
}

// udPresence returns the m.presence events of a sync as "user=state[/msg]"
// strings, sorted.
func udPresence(r *testserver.Response) []string {
	sec, _ := r.Body["presence"].(map[string]any)
	evs, _ := sec["events"].([]any)
	out := []string{}
	for _, e := range evs {
		ev := e.(map[string]any)
		c, _ := ev["content"].(map[string]any)
		s := fmt.Sprintf("%s=%s", ev["sender"], c["presence"])
		if m, ok := c["status_msg"].(string); ok {
			s += "/" + m
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// TestPresence: the presence endpoints' rules, and presence in /sync for
// users who share a room — and only them ("Presence").
func TestPresence(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := start(t, engine, nil)
		alice := srv.Register(t, "alice", password)
		bob := srv.Register(t, "bob", password)
		carol := srv.Register(t, "carol", password)
		roomID := udRoom(t, alice, bob)
		udRoom(t, carol)
		a, b, c := alice.UserID, bob.UserID, carol.UserID

		// Never synced, never set: offline.
		if r := alice.MustDo("GET", presencePath(a), nil, http.StatusOK); string(r.Raw) != `{"presence":"offline"}` {
			t.Fatalf("presence before any sync = %s; want offline", r.Raw)
		}
		// A /sync (set_presence online by default) brings one online.
		udSync(t, alice, "", "")
		r := bob.MustDo("GET", presencePath(a), nil, http.StatusOK)
		if r.String("presence") != "online" || r.Body["currently_active"] != true {
			t.Fatalf("alice's presence after her sync, seen by bob = %s; want online and currently active", r.Raw)
		}
		if ago, ok := r.Body["last_active_ago"].(float64); !ok || ago < 0 || ago > 60000 {
			t.Fatalf("last_active_ago = %v; want a recent time", r.Body["last_active_ago"])
		}

		tests := []struct {
			what    string
			method  string
			path    string
			body    any
			status  int
			errcode string
		}{
			{"the presence of someone sharing no room", "GET", presencePath(c), nil, 403, "M_FORBIDDEN"},
			{"the presence of an unknown user", "GET", presencePath("@nobody:chappe.test"), nil, 403, "M_FORBIDDEN"},
			{"the presence of an invalid user ID", "GET", presencePath("nobody"), nil, 400, "M_INVALID_PARAM"},
			{"setting someone else's presence", "PUT", presencePath(b), map[string]any{"presence": "online"}, 403, "M_FORBIDDEN"},
			{"no presence key", "PUT", presencePath(a), map[string]any{"status_msg": "x"}, 400, "M_MISSING_PARAM"},
			{"an unknown presence", "PUT", presencePath(a), map[string]any{"presence": "busy"}, 400, "M_INVALID_PARAM"},
			{"presence not a string", "PUT", presencePath(a), map[string]any{"presence": 1}, 400, "M_BAD_JSON"},
			{"status_msg not a string", "PUT", presencePath(a), map[string]any{"presence": "online", "status_msg": 5}, 400, "M_BAD_JSON"},
			{"an overlong status_msg", "PUT", presencePath(a), map[string]any{"presence": "online", "status_msg": strings.Repeat("x", 1025)}, 400, "M_INVALID_PARAM"},
			{"a status_msg with NUL", "PUT", presencePath(a), `{"presence":"online","status_msg":"a\u0000b"}`, 400, "M_INVALID_PARAM"},
			{"not JSON", "PUT", presencePath(a), "{", 400, "M_NOT_JSON"},
		}
		for _, tt := range tests {
			wantErr(t, tt.what, alice.Do(tt.method, tt.path, tt.body), tt.status, tt.errcode)
		}
		wantErr(t, "alice's presence seen by carol", carol.Do("GET", presencePath(a), nil), 403, "M_FORBIDDEN")

		// Bob's initial sync: his own presence and alice's, not carol's
		// (online too, but sharing no room with him).
		udSync(t, carol, "", "")
		r = udSync(t, bob, "", "")
		if got, want := fmt.Sprint(udPresence(r)), fmt.Sprintf("[%s=online %s=online]", a, b); got != want {
			t.Fatalf("bob's initial sync presence = %s; want %s", got, want)
		}
		if got, want := fmt.Sprint(udPresence(udSync(t, carol, "", ""))), fmt.Sprintf("[%s=online]", c); got != want {
			t.Fatalf("carol's initial sync presence = %s; want only her own %s", got, want)
		}
		next := r.String("next_batch")

		// A change wakes bob's waiting /sync, which gets it once.
		done := udSyncAsync(t, bob, next, 10*time.Second)
		time.Sleep(100 * time.Millisecond)
		alice.MustDo("PUT", presencePath(a), map[string]any{"presence": "unavailable", "status_msg": "lunch"}, http.StatusOK)
		r = udWait(t, "alice's presence changes", done, 5*time.Second)
		if got, want := fmt.Sprint(udPresence(r)), fmt.Sprintf("[%s=unavailable/lunch]", a); got != want {
			t.Fatalf("bob's incremental sync presence = %s; want exactly alice's change %s", got, want)
		}
		next = r.String("next_batch")
		if got := udPresence(udSync(t, bob, next, "")); len(got) != 0 {
			t.Fatalf("bob's next sync presence = %v; want nothing (no change twice)", got)
		}
		r = bob.MustDo("GET", presencePath(a), nil, http.StatusOK)
		if r.String("presence") != "unavailable" || r.String("status_msg") != "lunch" || r.Body["currently_active"] != nil {
			t.Fatalf("GET alice's presence = %s; want unavailable, lunch, no currently_active", r.Raw)
		}
		// Carol's sync never hears of it.
		if got := fmt.Sprint(udPresence(udSync(t, carol, "", ""))); strings.Contains(got, a) {
			t.Fatalf("carol's sync presence = %s; want nothing of alice", got)
		}

		// Sending a message is activity: unavailable becomes online. The
		// status message stays.
		alice.MustDo("PUT", v3+"/rooms/"+url.PathEscape(roomID)+"/send/m.room.message/t1", map[string]any{"msgtype": "m.text", "body": "back"}, http.StatusOK)
		r = udSync(t, bob, next, "")
		if got, want := fmt.Sprint(udPresence(r)), fmt.Sprintf("[%s=online/lunch]", a); got != want {
			t.Fatalf("bob's sync after alice sent a message: presence = %s; want %s", got, want)
		}
		next = r.String("next_batch")
		// Clearing the status message.
		alice.MustDo("PUT", presencePath(a), map[string]any{"presence": "online"}, http.StatusOK)
		r = udSync(t, bob, next, "")
		if got, want := fmt.Sprint(udPresence(r)), fmt.Sprintf("[%s=online]", a); got != want {
			t.Fatalf("bob's sync after alice cleared her status: presence = %s; want %s", got, want)
		}
		next = r.String("next_batch")

		// Carol joins bob's room: his next sync tells him her presence,
		// which did not change but which he has not heard of.
		carol.MustDo("POST", v3+"/join/"+url.PathEscape(roomID), map[string]any{}, http.StatusOK)
		r = udSync(t, bob, next, "")
		if got, want := fmt.Sprint(udPresence(r)), fmt.Sprintf("[%s=online]", c); got != want {
			t.Fatalf("bob's sync after carol joined: presence = %s; want %s", got, want)
		}
		if r := bob.MustDo("GET", presencePath(c), nil, http.StatusOK); r.String("presence") != "online" {
			t.Fatalf("carol's presence seen by bob once they share a room = %s; want online", r.Raw)
		}
	})
}

// TestSetPresence: /sync's set_presence: offline leaves presence alone,
// unavailable sets it, online (the default) brings an offline user online.
func TestSetPresence(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := start(t, engine, nil)
		alice := srv.Register(t, "alice", password)
		own := func() string {
			t.Helper()
			return alice.MustDo("GET", presencePath(alice.UserID), nil, http.StatusOK).String("presence")
		}
		udSync(t, alice, "", "set_presence=offline")
		if got := own(); got != "offline" {
			t.Fatalf("after a sync with set_presence=offline: %s; want offline", got)
		}
		udSync(t, alice, "", "set_presence=unavailable")
		if got := own(); got != "unavailable" {
			t.Fatalf("after a sync with set_presence=unavailable: %s; want unavailable", got)
		}
		// An unavailable user stays so by syncing; only activity or an
		// explicit change brings them back.
		udSync(t, alice, "", "")
		if got := own(); got != "unavailable" {
			t.Fatalf("after a plain sync while unavailable: %s; want unavailable", got)
		}
		alice.MustDo("PUT", presencePath(alice.UserID), map[string]any{"presence": "offline"}, http.StatusOK)
		udSync(t, alice, "", "")
		if got := own(); got != "online" {
			t.Fatalf("after a plain sync while offline: %s; want online", got)
		}
		wantErr(t, "set_presence=away", alice.Do("GET", v3+"/sync?set_presence=away", nil), 400, "M_INVALID_PARAM")
	})
}
