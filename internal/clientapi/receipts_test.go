package clientapi_test

import (
	"fmt"
	"net/url"
	"testing"
)

func receiptPath(roomID, typ, eventID string) string {
	return roomPath(roomID, "/receipt/"+typ+"/"+url.PathEscape(eventID))
}

// TestReceiptErrors: bad receipt types, thread IDs, events and rooms get
// the spec's errors; a room the caller is not in answers like one that
// does not exist.
func TestReceiptErrors(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := start(t, engine, nil)
		alice := srv.Register(t, "alice", password)
		bob := srv.Register(t, "bob", password)
		roomID := pushTestRoom(t, alice)
		other := pushTestRoom(t, bob)
		ev := pushTestSend(t, alice, roomID, map[string]any{"msgtype": "m.text", "body": "hi"})
		otherEv := pushTestSend(t, bob, other, map[string]any{"msgtype": "m.text", "body": "hi"})
		tests := []struct {
			what    string
			path    string
			body    any
			status  int
			errcode string
		}{
			{"unknown receipt type", receiptPath(roomID, "m.seen", ev), map[string]any{}, 400, "M_INVALID_PARAM"},
			{"empty thread_id", receiptPath(roomID, "m.read", ev), map[string]any{"thread_id": ""}, 400, "M_INVALID_PARAM"},
			{"thread_id not a string", receiptPath(roomID, "m.read", ev), map[string]any{"thread_id": 5}, 400, "M_INVALID_PARAM"},
			{"thread_id with m.fully_read", receiptPath(roomID, "m.fully_read", ev), map[string]any{"thread_id": "main"}, 400, "M_INVALID_PARAM"},
			{"thread_id of no thread", receiptPath(roomID, "m.read", ev), map[string]any{"thread_id": "$nothread"}, 400, "M_INVALID_PARAM"},
			{"body not JSON", receiptPath(roomID, "m.read", ev), "{", 400, "M_NOT_JSON"},
			{"unknown event", receiptPath(roomID, "m.read", "$nope"), map[string]any{}, 404, "M_NOT_FOUND"},
			{"not an event ID", receiptPath(roomID, "m.read", "nope"), map[string]any{}, 404, "M_NOT_FOUND"},
			{"event of another room", receiptPath(roomID, "m.read", otherEv), map[string]any{}, 404, "M_NOT_FOUND"},
			{"room not joined", receiptPath(other, "m.read", otherEv), map[string]any{}, 403, "M_FORBIDDEN"},
			{"unknown room", receiptPath("!nope:chappe.test", "m.read", ev), map[string]any{}, 403, "M_FORBIDDEN"},
			{"bad room ID", receiptPath("nope", "m.read", ev), map[string]any{}, 403, "M_FORBIDDEN"},
			{"read_markers: not a string", roomPath(roomID, "/read_markers"), map[string]any{"m.read": 5}, 400, "M_INVALID_PARAM"},
			{"read_markers: unknown event", roomPath(roomID, "/read_markers"), map[string]any{"m.fully_read": "$nope"}, 404, "M_NOT_FOUND"},
			{"read_markers: room not joined", roomPath(other, "/read_markers"), map[string]any{"m.read": otherEv}, 403, "M_FORBIDDEN"},
			{"read_markers: room not joined, empty", roomPath(other, "/read_markers"), map[string]any{}, 403, "M_FORBIDDEN"},
		}
		for _, tt := range tests {
			wantErr(t, tt.what, alice.Do("POST", tt.path, tt.body), tt.status, tt.errcode)
		}
		alice.MustDo("POST", roomPath(roomID, "/read_markers"), map[string]any{}, 200)
		alice.MustDo("POST", roomPath(roomID, "/read_markers"), map[string]any{"m.read": "", "m.fully_read": nil, "x.other": 1}, 200)
	})
}

// TestFullyRead: m.fully_read, through /receipt and /read_markers, is
// room account data that only moves forward, and clients cannot set it
// directly.
func TestFullyRead(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := start(t, engine, nil)
		alice := srv.Register(t, "alice", password)
		roomID := pushTestRoom(t, alice)
		e1 := pushTestSend(t, alice, roomID, map[string]any{"msgtype": "m.text", "body": "1"})
		e2 := pushTestSend(t, alice, roomID, map[string]any{"msgtype": "m.text", "body": "2"})
		marker := func() string {
			t.Helper()
			r := alice.MustDo("GET", fmt.Sprintf("%s/user/%s/rooms/%s/account_data/m.fully_read", v3, url.PathEscape(alice.UserID), url.PathEscape(roomID)), nil, 200)
			return r.String("event_id")
		}
		alice.MustDo("POST", receiptPath(roomID, "m.fully_read", e1), map[string]any{}, 200)
		if got := marker(); got != e1 {
			t.Fatalf("m.fully_read = %s; want %s", got, e1)
		}
		alice.MustDo("POST", roomPath(roomID, "/read_markers"), map[string]any{"m.fully_read": e2, "m.read": e2, "m.read.private": e1}, 200)
		if got := marker(); got != e2 {
			t.Fatalf("m.fully_read after /read_markers = %s; want %s", got, e2)
		}
		alice.MustDo("POST", roomPath(roomID, "/read_markers"), map[string]any{"m.fully_read": e1}, 200)
		if got := marker(); got != e2 {
			t.Fatalf("m.fully_read moved back to %s; want it to stay at %s", got, e2)
		}
		r := alice.Do("PUT", fmt.Sprintf("%s/user/%s/rooms/%s/account_data/m.fully_read", v3, url.PathEscape(alice.UserID), url.PathEscape(roomID)), map[string]any{"event_id": e1})
		if r.Status < 400 || r.Status >= 500 {
			t.Fatalf("PUT m.fully_read as account data = %d %s; want a refusal", r.Status, r.Raw)
		}
	})
}

// TestNotifications: GET /notifications lists what notified the user,
// newest first, with read flags, only=highlight and pagination.
func TestNotifications(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := start(t, engine, nil)
		alice := srv.Register(t, "alice", password)
		bob := srv.Register(t, "bob", password)
		roomID := pushTestRoom(t, alice, bob, srv.Register(t, "carol", password))
		e1 := pushTestSend(t, bob, roomID, map[string]any{"msgtype": "m.text", "body": "one"})
		e2 := pushTestSend(t, bob, roomID, map[string]any{"msgtype": "m.text", "body": "two",
			"m.mentions": map[string]any{"user_ids": []string{alice.UserID}}})
		pushTestSend(t, bob, roomID, map[string]any{"msgtype": "m.notice", "body": "quiet"})
		e4 := pushTestSend(t, bob, roomID, map[string]any{"msgtype": "m.text", "body": "four"})
		alice.MustDo("POST", receiptPath(roomID, "m.read", e2), map[string]any{}, 200)

		type note struct {
			id   string
			read bool
			high bool
		}
		list := func(query string) ([]note, string) {
			t.Helper()
			r := alice.MustDo("GET", v3+"/notifications"+query, nil, 200)
			var out []note
			for _, n := range r.Body["notifications"].([]any) {
				m := n.(map[string]any)
				ev := m["event"].(map[string]any)
				if _, has := ev["room_id"]; has || m["room_id"] != roomID || m["ts"] == nil {
					t.Fatalf("notification %v: want room_id beside the event, not in it, and ts", m)
				}
				high := false
				for _, a := range m["actions"].([]any) {
					if tw, ok := a.(map[string]any); ok && tw["set_tweak"] == "highlight" {
						high = true
					}
				}
				out = append(out, note{id: ev["event_id"].(string), read: m["read"].(bool), high: high})
			}
			return out, r.String("next_token")
		}
		got, next := list("")
		want := []note{{id: e4}, {id: e2, read: true, high: true}, {id: e1, read: true}}
		if fmt.Sprint(got) != fmt.Sprint(want) || next != "" {
			t.Fatalf("notifications = %v next %q; want %v and no next_token", got, next, want)
		}
		got, next = list("?limit=2")
		if fmt.Sprint(got) != fmt.Sprint(want[:2]) || next == "" {
			t.Fatalf("first page = %v next %q; want %v and a next_token", got, next, want[:2])
		}
		got, _ = list("?limit=2&from=" + next)
		if fmt.Sprint(got) != fmt.Sprint(want[2:]) {
			t.Fatalf("second page = %v; want %v", got, want[2:])
		}
		got, _ = list("?only=highlight")
		if fmt.Sprint(got) != fmt.Sprint(want[1:2]) {
			t.Fatalf("only=highlight = %v; want %v", got, want[1:2])
		}
		if got, _ := list("?limit=0"); len(got) != 0 {
			t.Fatalf("limit=0 = %v", got)
		}
		// bob sent them all: he has none.
		if r := bob.MustDo("GET", v3+"/notifications", nil, 200); len(r.Body["notifications"].([]any)) != 0 {
			t.Fatalf("bob's notifications = %s", r.Raw)
		}
		// History visibility applies: an invite notifies (.m.rule.invite_for_me)
		// but is listed only where the invitee may see it ("invited").
		dave := srv.Register(t, "dave", password)
		for _, vis := range []string{"shared", "invited"} {
			r := bob.MustDo("POST", v3+"/createRoom", map[string]any{"preset": "private_chat", "initial_state": []any{
				map[string]any{"type": "m.room.history_visibility", "state_key": "", "content": map[string]any{"history_visibility": vis}}}}, 200)
			bob.MustDo("POST", roomPath(r.String("room_id"), "/invite"), map[string]any{"user_id": dave.UserID}, 200)
			got := dave.MustDo("GET", v3+"/notifications", nil, 200).Body["notifications"].([]any)
			want := map[string]int{"shared": 0, "invited": 1}[vis]
			if len(got) != want {
				t.Fatalf("with history_visibility %s, dave's notifications = %v; want %d", vis, got, want)
			}
		}
		// An invite made by createRoom notifies too.
		bob.MustDo("POST", v3+"/createRoom", map[string]any{"preset": "private_chat", "invite": []string{dave.UserID}, "initial_state": []any{
			map[string]any{"type": "m.room.history_visibility", "state_key": "", "content": map[string]any{"history_visibility": "invited"}}}}, 200)
		if got := dave.MustDo("GET", v3+"/notifications", nil, 200).Body["notifications"].([]any); len(got) != 2 {
			t.Fatalf("after an invite at createRoom, dave's notifications = %v; want 2", got)
		}
		wantErr(t, "from=abc", alice.Do("GET", v3+"/notifications?from=abc", nil), 400, "M_INVALID_PARAM")
		wantErr(t, "limit=-1", alice.Do("GET", v3+"/notifications?limit=-1", nil), 400, "M_INVALID_PARAM")
	})
}
