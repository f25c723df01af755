package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"chappe.eu/chappe/internal/store"
	"chappe.eu/chappe/internal/testserver"
)

// TestCachedReadsFollowWrites: the reads the store caches (caches.go)
// answer with every write made before them: members joining and leaving,
// push rules, ignore lists, presence, redactions and memberships.
func TestCachedReadsFollowWrites(t *testing.T) {
	ctx := context.Background()
	for _, engine := range testserver.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			db := open(t, testserver.NewDatabase(t, engine), t.TempDir())
			defer db.Close()
			const room = "!r:x"
			n := 0
			member := func(user, membership string) {
				t.Helper()
				n++
				if _, err := db.AppendEvents(ctx, []store.NewEvent{{EventID: fmt.Sprintf("$m%d", n), RoomID: room, Type: "m.room.member",
					StateKey: &user, Sender: user, Membership: membership, PDU: []byte(`{}`)}}); err != nil {
					t.Fatal(err)
				}
			}
			members := func() string {
				t.Helper()
				ms, err := db.JoinedMembersRules(ctx, room)
				if err != nil {
					t.Fatal(err)
				}
				out := map[string]string{}
				for _, m := range ms {
					out[m.UserID] = fmt.Sprintf("rules@%v ignores:%s", m.RulesPos > 0, m.IgnoredList)
				}
				return fmt.Sprint(out)
			}
			if _, err := db.CreateRoom(ctx, store.NewRoom{RoomID: room, Version: "11", Creator: "@a:x"}, nil); err != nil {
				t.Fatal(err)
			}
			member("@a:x", "join")
			if got, want := members(), "map[@a:x:rules@false ignores:]"; got != want {
				t.Fatalf("members = %s; want %s", got, want)
			}
			member("@b:x", "join")
			if got, want := members(), "map[@a:x:rules@false ignores: @b:x:rules@false ignores:]"; got != want {
				t.Fatalf("after b joined: members = %s; want %s", got, want)
			}
			if _, err := db.UpdatePushRules(ctx, "@a:x", func([]byte) ([]byte, error) { return []byte(`{}`), nil }); err != nil {
				t.Fatal(err)
			}
			if _, err := db.SetAccountData(ctx, "@b:x", "", store.IgnoredUsersType, json.RawMessage(`{"ignored_users":{"@a:x":{}}}`)); err != nil {
				t.Fatal(err)
			}
			if got, want := members(), `map[@a:x:rules@true ignores: @b:x:rules@false ignores:{"ignored_users":{"@a:x":{}}}]`; got != want {
				t.Fatalf("after a push rule and an ignore list: members = %s; want %s", got, want)
			}
			if ig, err := db.IgnoredUsers(ctx, "@b:x"); err != nil || !ig["@a:x"] {
				t.Fatalf("IgnoredUsers(b) = %v, %v; want a", ig, err)
			}
			member("@b:x", "leave")
			if got, want := members(), "map[@a:x:rules@true ignores:]"; got != want {
				t.Fatalf("after b left: members = %s; want %s", got, want)
			}
			if rs, err := db.UserRooms(ctx, "@b:x"); err != nil || len(rs) != 1 || rs[0].Membership != "leave" {
				t.Fatalf("UserRooms(b) = %+v, %v; want the room, left", rs, err)
			}
			if err := db.ForgetRoom(ctx, "@b:x", room); err != nil {
				t.Fatal(err)
			}
			if f, err := db.ForgottenRooms(ctx, "@b:x"); err != nil || !f[room] {
				t.Fatalf("ForgottenRooms(b) = %v, %v; want the room", f, err)
			}

			for _, state := range []string{"online", "unavailable"} {
				if _, _, err := db.UpdatePresence(ctx, "@a:x", func(p *store.Presence) store.PresenceChange {
					p.State = state
					return store.PresenceNotify
				}); err != nil {
					t.Fatal(err)
				}
				if p, err := db.PresenceOf(ctx, "@a:x"); err != nil || p.State != state {
					t.Fatalf("PresenceOf(a) = %+v, %v; want %s", p, err, state)
				}
			}

			msg := store.NewEvent{EventID: "$msg", RoomID: room, Type: "m.room.message", Sender: "@a:x", PDU: []byte(`{}`)}
			if _, err := db.AppendEvents(ctx, []store.NewEvent{msg}); err != nil {
				t.Fatal(err)
			}
			if r, err := db.RedactionsOf(ctx, []string{"$msg"}); err != nil || len(r) != 0 {
				t.Fatalf("RedactionsOf before the redaction = %v, %v", r, err)
			}
			if _, err := db.AppendEvents(ctx, []store.NewEvent{{EventID: "$red", RoomID: room, Type: "m.room.redaction",
				Sender: "@a:x", Redacts: "$msg", PDU: []byte(`{}`)}}); err != nil {
				t.Fatal(err)
			}
			if r, err := db.RedactionsOf(ctx, []string{"$msg"}); err != nil || r["$msg"] != "$red" {
				t.Fatalf("RedactionsOf after the redaction = %v, %v; want $red", r, err)
			}
		})
	}
}
