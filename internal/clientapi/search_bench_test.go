package clientapi_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"chappe.eu/chappe/internal/config"
	"chappe.eu/chappe/internal/matrix"
	"chappe.eu/chappe/internal/room/event"
	"chappe.eu/chappe/internal/room/signing"
	"chappe.eu/chappe/internal/search"
	"chappe.eu/chappe/internal/store"
	"chappe.eu/chappe/internal/testserver"
)

// srchBenchVocabulary returns n pronounceable pseudo-words, the same every run.
func srchBenchVocabulary(n int) []string {
	r := rand.New(rand.NewPCG(1, 2))
	cons, vowels := "bcdfghjklmnprstvz", "aeiou"
	seen := map[string]bool{}
	var out []string
	for len(out) < n {
		var b strings.Builder
		for range 2 + r.IntN(3) {
			b.WriteByte(cons[r.IntN(len(cons))])
			b.WriteByte(vowels[r.IntN(len(vowels))])
		}
		if w := b.String(); !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	return out
}

// srchBenchMessages appends signed m.room.message events with the given
// bodies to a room straight through the store, a thousand per
// transaction: sending 100,000 messages over HTTP would take minutes of
// fsyncs and measure nothing about search.
func srchBenchMessages(b *testing.B, db *store.DB, server, roomID, sender string, bodies []string) {
	ctx := context.Background()
	verID, err := db.RoomVersion(ctx, roomID)
	if err != nil {
		b.Fatal(err)
	}
	v, _ := event.Version(verID)
	key, err := db.ServerSigningKey(ctx)
	if err != nil {
		b.Fatal(err)
	}
	state, err := db.CurrentStateIDs(ctx, roomID, [][2]string{{"m.room.create", ""}, {"m.room.power_levels", ""}, {"m.room.member", sender}})
	if err != nil {
		b.Fatal(err)
	}
	var authIDs []matrix.EventID
	for _, id := range state {
		authIDs = append(authIDs, matrix.EventID(id))
	}
	prev, err := db.ForwardExtremities(ctx, roomID)
	if err != nil {
		b.Fatal(err)
	}
	depth, err := db.MaxDepth(ctx, prev)
	if err != nil {
		b.Fatal(err)
	}
	var batch []store.NewEvent
	for i, body := range bodies {
		content, _ := json.Marshal(map[string]string{"msgtype": "m.text", "body": body})
		prevIDs := make([]matrix.EventID, len(prev))
		for j, p := range prev {
			prevIDs[j] = matrix.EventID(p)
		}
		depth++
		ev, err := event.Build(event.Proto{Type: "m.room.message", Sender: matrix.UserID(sender), RoomID: matrix.RoomID(roomID),
			Content: content, PrevEvents: prevIDs, AuthEvents: authIDs, Depth: depth, OriginServerTS: time.Now().UnixMilli()},
			v, matrix.ServerName(server), signing.KeyID(key.ID), key.Key)
		if err != nil {
			b.Fatal(err)
		}
		batch = append(batch, store.NewEvent{EventID: ev.EventID(), RoomID: roomID, Type: "m.room.message", Sender: sender,
			Depth: depth, OriginServerTS: ev.OriginServerTS(), PDU: ev.PDU(), PrevEvents: prev})
		prev = []string{ev.EventID()}
		if len(batch) == 1000 || i == len(bodies)-1 {
			if _, err := db.AppendEvents(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
}

// BenchmarkSearch measures POST /search over 100,000 messages in 10 rooms
// on SQLite, as a member of all of them: words drawn from a 5,000-word
// vocabulary with a Zipf distribution, 5–30 words a message, plus
// "meeting" in 1% of the messages and "quasar" in 10.
//
//	go test -run '^$' -bench BenchmarkSearch -benchtime 20x ./internal/clientapi/
func BenchmarkSearch(b *testing.B) {
	srv := testserver.Start(b, "sqlite", func(c *config.Config) { c.Rooms.EncryptPrivate = false })
	alice := srv.Register(b, "alice", password)
	vocab := srchBenchVocabulary(5000)
	r := rand.New(rand.NewPCG(3, 4))
	zipf := rand.NewZipf(rand.New(rand.NewPCG(5, 6)), 1.1, 1, uint64(len(vocab)-1))
	const rooms, perRoom = 10, 10_000
	start := time.Now()
	for room := range rooms {
		roomID := alice.MustDo("POST", v3+"/createRoom", map[string]any{"name": fmt.Sprint("room ", room)}, http.StatusOK).String("room_id")
		bodies := make([]string, perRoom)
		for i := range bodies {
			words := make([]string, 5+r.IntN(26))
			for j := range words {
				words[j] = vocab[zipf.Uint64()]
			}
			n := room*perRoom + i
			if n%100 == 7 {
				words[r.IntN(len(words))] = "meeting"
			}
			if n%10_000 == 4242 {
				words[r.IntN(len(words))] = "quasar"
			}
			bodies[i] = strings.Join(words, " ")
		}
		srchBenchMessages(b, srv.DB, srv.Config.ServerName, roomID, alice.UserID, bodies)
	}
	b.Logf("stored and indexed %d messages in %v", rooms*perRoom, time.Since(start).Round(time.Millisecond))
	for _, q := range []struct{ name, term string }{
		{"rare", "quasar"},
		{"1pct", "meeting"},
		{"common", vocab[0]},
		{"two_words", "meeting " + vocab[1]},
		{"prefix3", "mee"},
		{"phrase", `"` + vocab[0] + " " + vocab[0] + `"`},
	} {
		for _, order := range []string{"rank", "recent"} {
			b.Run(q.name+"/"+order, func(b *testing.B) {
				criteria := map[string]any{"search_term": q.term, "order_by": order}
				var count float64
				for b.Loop() {
					re := srchMust(b, alice, criteria, "")
					count = re["count"].(float64)
				}
				b.ReportMetric(count, "hits")
			})
		}
	}
	b.Run("meeting/rank/context", func(b *testing.B) {
		criteria := map[string]any{"search_term": "meeting", "event_context": map[string]any{"include_profile": true}}
		for b.Loop() {
			srchMust(b, alice, criteria, "")
		}
	})
	b.Run("meeting/recent/page5", func(b *testing.B) {
		criteria := map[string]any{"search_term": "meeting", "order_by": "recent"}
		next := ""
		for range 4 {
			next = srchMust(b, alice, criteria, next)["next_batch"].(string)
		}
		for b.Loop() {
			srchMust(b, alice, criteria, next)
		}
	})
}

// BenchmarkUserDirectory measures POST /user_directory/search among
// 100,000 users on SQLite, in two populations: everyone in one public
// room (everyone is visible to everyone), and everyone in private rooms
// of ten, with the searcher in one of them (almost nobody is visible: the
// search must skip every candidate it may not show). The users, profiles,
// memberships and directory terms are written with SQL in one
// transaction; the index is the one the server maintains.
//
//	go test -run '^$' -bench BenchmarkUserDirectory -benchtime 20x ./internal/clientapi/
func BenchmarkUserDirectory(b *testing.B) {
	for _, public := range []bool{true, false} {
		name := "private_rooms"
		if public {
			name = "public_room"
		}
		b.Run(name, func(b *testing.B) {
			srv := testserver.Start(b, "sqlite", nil)
			alice := srv.Register(b, "alice", password)
			preset := "private_chat"
			if public {
				preset = "public_chat"
			}
			roomID := alice.MustDo("POST", v3+"/createRoom", map[string]any{"preset": preset}, http.StatusOK).String("room_id")
			srchBenchDirectoryUsers(b, srv, roomID, public, 100_000)
			for _, q := range []string{"ma", "mar", "martin", "martin du", "@user4242", "zzz"} {
				b.Run(strings.ReplaceAll(q, " ", "_"), func(b *testing.B) {
					var n int
					for b.Loop() {
						r := alice.MustDo("POST", v3+"/user_directory/search", map[string]any{"search_term": q, "limit": 10}, http.StatusOK)
						n = len(r.Body["results"].([]any))
					}
					b.ReportMetric(float64(n), "results")
				})
			}
		})
	}
}

// srchBenchDirectoryUsers adds n users with display names: joined to roomID
// when public, else the first nine to roomID (with alice) and the rest in
// private rooms of ten.
func srchBenchDirectoryUsers(b *testing.B, srv *testserver.Server, roomID string, public bool, n int) {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(srv.Config.DataDir, "chappe.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	tx, err := db.Begin()
	if err != nil {
		b.Fatal(err)
	}
	first := []string{"Martin", "Marie", "Jean", "Anne", "Thomas", "Camille", "Léa", "Hugo", "Chloé", "Lucas", "Emma", "Nathan"}
	last := []string{"Dupont", "Durand", "Martin", "Bernard", "Dubois", "Moreau", "Laurent", "Simon", "Michel", "Lefèvre"}
	r := rand.New(rand.NewPCG(7, 8))
	exec := func(q string, args ...any) {
		if _, err := tx.Exec(q, args...); err != nil {
			b.Fatalf("%s: %v", q, err)
		}
	}
	for i := range n {
		uid := fmt.Sprintf("@user%d:%s", i, srv.Config.ServerName)
		name := first[r.IntN(len(first))] + " " + last[r.IntN(len(last))]
		if i%7 == 0 {
			name += " " + last[r.IntN(len(last))]
		}
		exec(`INSERT INTO accounts (user_id, created_ts) VALUES ($1, 0)`, uid)
		nameJSON, _ := json.Marshal(name)
		exec(`INSERT INTO profiles (user_id, field, value) VALUES ($1, 'displayname', $2)`, uid, string(nameJSON))
		for _, t := range search.UserTerms(uid, name) {
			exec(`INSERT INTO user_directory_terms (term, user_id) VALUES ($1, $2)`, t, uid)
		}
		room := roomID
		if !public && i >= 9 {
			room = fmt.Sprintf("!private%d:%s", i/10, srv.Config.ServerName)
		}
		exec(`INSERT INTO current_state (room_id, type, state_key, event_id, stream_pos, membership)
			VALUES ($1, 'm.room.member', $2, $3, 0, 'join')`, room, uid, fmt.Sprintf("$bench%d", i))
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
}
