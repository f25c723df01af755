package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"chappe.eu/chappe/internal/search"
	"chappe.eu/chappe/internal/store"
	"chappe.eu/chappe/internal/testserver"
)

var searchEventN int

// searchEvent is an event for the store alone: the store does not check
// PDUs, it keeps them and reads their content.
func searchEvent(room, typ string, stateKey *string, sender, content, membership string) store.NewEvent {
	searchEventN++
	pdu, _ := json.Marshal(map[string]any{"type": typ, "content": json.RawMessage(content)})
	return store.NewEvent{EventID: fmt.Sprintf("$search%d", searchEventN), RoomID: room, Type: typ, StateKey: stateKey,
		Sender: sender, PDU: pdu, Membership: membership}
}

func strp(s string) *string { return &s }

// searchRoom creates a public room of alice's with bob in it and messages.
func searchRoom(t *testing.T, db *store.DB, room string, bodies ...string) []string {
	t.Helper()
	ctx := context.Background()
	if _, err := db.CreateRoom(ctx, store.NewRoom{RoomID: room, Version: "10", Creator: "@alice:x"}, []store.NewEvent{
		searchEvent(room, "m.room.create", strp(""), "@alice:x", `{}`, ""),
		searchEvent(room, "m.room.member", strp("@alice:x"), "@alice:x", `{"membership":"join"}`, "join"),
		searchEvent(room, "m.room.join_rules", strp(""), "@alice:x", `{"join_rule":"public"}`, ""),
		searchEvent(room, "m.room.member", strp("@bob:x"), "@bob:x", `{"membership":"join"}`, "join"),
	}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, b := range bodies {
		content, _ := json.Marshal(map[string]string{"body": b})
		e := searchEvent(room, "m.room.message", nil, "@alice:x", string(content), "")
		if _, err := db.AppendEvents(ctx, []store.NewEvent{e}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.EventID)
	}
	return ids
}

func searchScope(t *testing.T, db *store.DB, userID string) []store.SearchRoom {
	t.Helper()
	scope, err := db.SearchScope(context.Background(), userID)
	if err != nil {
		t.Fatal(err)
	}
	return scope
}

func searchIDs(t *testing.T, db *store.DB, s store.EventSearch) []string {
	t.Helper()
	hits, err := db.SearchEvents(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{}
	for _, h := range hits {
		ids = append(ids, h.EventID)
	}
	return ids
}

// TestSearchBackfill: events and users stored before migration 0008 are
// indexed when the store next opens, once; redacted events are not.
func TestSearchBackfill(t *testing.T) {
	ctx := context.Background()
	for _, engine := range testserver.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			dsn, dir := testserver.NewDatabase(t, engine), t.TempDir()
			db := open(t, dsn, dir)
			for _, u := range []string{"@alice:x", "@bob:x"} {
				if err := db.CreateAccount(ctx, store.Account{UserID: u}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := db.SetProfileField(ctx, "@bob:x", "displayname", json.RawMessage(`"Bobby Tables"`), 1<<16); err != nil {
				t.Fatal(err)
			}
			ids := searchRoom(t, db, "!r:x", "plum one", "plum two", "plum three")
			redaction := searchEvent("!r:x", "m.room.redaction", nil, "@alice:x", `{}`, "")
			redaction.Redacts = ids[1]
			if _, err := db.AppendEvents(ctx, []store.NewEvent{redaction}); err != nil {
				t.Fatal(err)
			}
			for i, id := range ids {
				if indexed, err := db.SearchIndexedForTest(ctx, id); err != nil || indexed != (i != 1) {
					t.Errorf("message %d indexed = %v, %v; want %v (the redacted one leaves the index)", i, indexed, err, i != 1)
				}
			}
			q, _ := search.Parse("plum")
			s := store.EventSearch{Scope: searchScope(t, db, "@alice:x"), Query: q, Types: []string{"m.room.message"}, Upto: 1 << 40, Limit: 10}
			want := []string{ids[2], ids[0]}
			if got := searchIDs(t, db, s); !reflect.DeepEqual(got, want) {
				t.Fatalf("search as written = %v; want %v", got, want)
			}
			if err := db.ForgetSearchIndexForTest(ctx); err != nil {
				t.Fatal(err)
			}
			if got := searchIDs(t, db, s); len(got) != 0 {
				t.Fatalf("search of an emptied index = %v; want nothing", got)
			}
			db.Close()

			db = open(t, dsn, dir)
			defer db.Close()
			if got := searchIDs(t, db, s); !reflect.DeepEqual(got, want) {
				t.Errorf("search after the backfill = %v; want %v", got, want)
			}
			users, _, err := db.SearchUserDirectory(ctx, "@carol:x", search.DirectoryPrefixes("tab"), 10)
			if err != nil || len(users) != 1 || users[0].UserID != "@bob:x" || users[0].DisplayName != "Bobby Tables" {
				t.Errorf("directory search after the backfill = %v, %v; want bob, found through the public room", users, err)
			}
		})
	}
}

// TestSearchEventsPaging: ranks tie, and paging by (rank, position) still
// returns every hit once; Upto keeps later events out.
func TestSearchEventsPaging(t *testing.T) {
	ctx := context.Background()
	for _, engine := range testserver.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			db := open(t, testserver.NewDatabase(t, engine), t.TempDir())
			defer db.Close()
			var bodies []string
			for i := range 30 {
				bodies = append(bodies, fmt.Sprintf("fig %s", []string{"a", "fig", "b c d e f g h i j k"}[i%3]))
			}
			ids := searchRoom(t, db, "!p:x", bodies...)
			upto, err := db.StreamPos(ctx)
			if err != nil {
				t.Fatal(err)
			}
			searchRoom(t, db, "!later:x", "fig after the search began")
			q, _ := search.Parse("fig")
			for _, byRank := range []bool{true, false} {
				s := store.EventSearch{Scope: searchScope(t, db, "@bob:x"), Query: q, Types: []string{"m.room.message"}, Upto: upto, ByRank: byRank, Limit: 7}
				seen := map[string]bool{}
				var last float64 = 1e9
				for page := 0; ; page++ {
					hits, err := db.SearchEvents(ctx, s)
					if err != nil {
						t.Fatal(err)
					}
					for _, h := range hits {
						if seen[h.EventID] {
							t.Errorf("byRank=%v: %s returned twice", byRank, h.EventID)
						}
						seen[h.EventID] = true
						if byRank && h.Rank > last {
							t.Errorf("byRank: rank %v after %v", h.Rank, last)
						}
						last = h.Rank
					}
					if len(hits) < s.Limit {
						break
					}
					s.After = &store.SearchCursor{Rank: hits[len(hits)-1].Rank, Pos: hits[len(hits)-1].Pos}
				}
				if len(seen) != len(ids) {
					t.Errorf("byRank=%v: paging returned %d hits; want %d", byRank, len(seen), len(ids))
				}
				n, err := db.CountSearchEvents(ctx, s)
				if err != nil || n != len(ids) {
					t.Errorf("CountSearchEvents = %d, %v; want %d", n, err, len(ids))
				}
			}
		})
	}
}

// TestSearchUserDirectoryPlans: both plans of a directory search (from the
// findable users, from the term index) find the same users.
func TestSearchUserDirectoryPlans(t *testing.T) {
	ctx := context.Background()
	for _, engine := range testserver.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			db := open(t, testserver.NewDatabase(t, engine), t.TempDir())
			defer db.Close()
			names := map[string]string{"@alice:x": "Alice", "@bob:x": "Bob Martin", "@carol:x": "Carol Martinez",
				"@dave:x": "Dave Martin", "@erin:x": "Erin", "@frank:x": "Frank Marte"}
			for u, name := range names {
				if err := db.CreateAccount(ctx, store.Account{UserID: u}); err != nil {
					t.Fatal(err)
				}
				nameJSON, _ := json.Marshal(name)
				if _, err := db.SetProfileField(ctx, u, "displayname", nameJSON, 1<<16); err != nil {
					t.Fatal(err)
				}
			}
			// searchRoom puts alice and bob in a public room.
			searchRoom(t, db, "!public:x")
			member := func(room, user string) store.NewEvent {
				return searchEvent(room, "m.room.member", strp(user), user, `{"membership":"join"}`, "join")
			}
			for room, users := range map[string][]string{"!ac:x": {"@alice:x", "@carol:x"}, "!de:x": {"@dave:x", "@erin:x"}} {
				evs := []store.NewEvent{searchEvent(room, "m.room.create", strp(""), users[0], `{}`, "")}
				for _, u := range users {
					evs = append(evs, member(room, u))
				}
				if _, err := db.CreateRoom(ctx, store.NewRoom{RoomID: room, Version: "10", Creator: users[0]}, evs); err != nil {
					t.Fatal(err)
				}
			}
			// frank was in the public room and left.
			if _, err := db.AppendEvents(ctx, []store.NewEvent{member("!public:x", "@frank:x"),
				searchEvent("!public:x", "m.room.member", strp("@frank:x"), "@frank:x", `{"membership":"leave"}`, "leave")}); err != nil {
				t.Fatal(err)
			}
			for _, tt := range []struct {
				who, term string
				want      []string
			}{
				{"@alice:x", "mar", []string{"@bob:x", "@carol:x"}},
				{"@alice:x", "martin", []string{"@bob:x", "@carol:x"}},
				{"@alice:x", "bob mar", []string{"@bob:x"}},
				{"@erin:x", "mar", []string{"@bob:x", "@dave:x"}},
				{"@erin:x", "carol", nil},
				{"@nobody:x", "a", []string{"@alice:x"}},
				{"@alice:x", "frank", nil},
			} {
				for _, visibleCap := range []int{10_000, 0} {
					old := store.SetDirectoryVisibleCapForTest(visibleCap)
					users, limited, err := db.SearchUserDirectory(ctx, tt.who, search.DirectoryPrefixes(tt.term), 10)
					store.SetDirectoryVisibleCapForTest(old)
					var got []string
					for _, u := range users {
						got = append(got, u.UserID)
					}
					if err != nil || limited || !reflect.DeepEqual(got, tt.want) {
						t.Errorf("cap %d: %s searches %q: %v, %v, %v; want %v", visibleCap, tt.who, tt.term, got, limited, err, tt.want)
					}
				}
			}
		})
	}
}

// TestTextIndexerAfterCommit: message text is indexed after its commit,
// by the background indexer or, at the latest, by the next search; what a
// redaction or encryption removed in the meantime is never indexed, and a
// restart indexes what the previous process left.
func TestTextIndexerAfterCommit(t *testing.T) {
	ctx := context.Background()
	for _, engine := range testserver.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			dsn, dir := testserver.NewDatabase(t, engine), t.TempDir()
			db := open(t, dsn, dir)
			ids := searchRoom(t, db, "!a:x", "first words", "second words")
			redaction := searchEvent("!a:x", "m.room.redaction", nil, "@alice:x", `{}`, "")
			redaction.Redacts = ids[0]
			if _, err := db.AppendEvents(ctx, []store.NewEvent{redaction}); err != nil {
				t.Fatal(err)
			}
			secret := searchRoom(t, db, "!b:x", "soon encrypted")
			if _, err := db.AppendEvents(ctx, []store.NewEvent{
				searchEvent("!b:x", "m.room.encryption", strp(""), "@alice:x", `{"algorithm":"m.megolm.v1.aes-sha2"}`, ""),
			}); err != nil {
				t.Fatal(err)
			}
			db.Close() // most likely before the indexer's first run
			db = open(t, dsn, dir)
			defer db.Close()
			for id, want := range map[string]bool{ids[0]: false, ids[1]: true, secret[0]: false} {
				if got, err := db.SearchIndexedForTest(ctx, id); err != nil || got != want {
					t.Errorf("indexed(%s) = %v, %v; want %v", id, got, err, want)
				}
			}
			// The background indexer catches up without a search.
			later := searchRoom(t, db, "!c:x", "indexed in the background")
			deadline := time.Now().Add(10 * time.Second)
			for !db.SearchIndexedWithoutFlushForTest(ctx, later[0]) {
				if time.Now().After(deadline) {
					t.Fatal("the background indexer never indexed the message")
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}
