package push_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"chappe.eu/chappe/internal/push"
	"chappe.eu/chappe/internal/store"
	"chappe.eu/chappe/internal/testserver"
)

// bigRoom opens a database holding one room with n joined members, every
// tenth of whom has their own rules (a keyword and a muted room). It
// writes the rows directly: registering and joining n users through the
// API would take minutes.
func bigRoom(b *testing.B, engine string, n int) (*store.DB, string) {
	b.Helper()
	ctx := context.Background()
	dsn, dir := testserver.NewDatabase(b, engine), b.TempDir()
	db, err := store.Open(ctx, dsn, dir)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	driver, src := "pgx", dsn
	if engine == "sqlite" {
		driver, src = "sqlite", "file:"+filepath.Join(dir, "chappe.db")
	}
	raw, err := sql.Open(driver, src)
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	const roomID = "!big:bench.test"
	tx, err := raw.Begin()
	if err != nil {
		b.Fatal(err)
	}
	if _, err := tx.Exec(`INSERT INTO rooms (room_id, version, creator, created_ts) VALUES ($1, '11', '@u0:bench.test', 0)`, roomID); err != nil {
		b.Fatal(err)
	}
	u := &push.UserRules{}
	pattern := "lunch"
	highlight := []json.RawMessage{json.RawMessage(`"notify"`), json.RawMessage(`{"set_tweak":"highlight"}`)}
	if err := u.Put(push.Rule{Kind: push.Content, RuleID: "lunch", Pattern: &pattern, Actions: highlight}, "", ""); err != nil {
		b.Fatal(err)
	}
	if err := u.Put(push.Rule{Kind: push.Room, RuleID: "!muted:bench.test"}, "", ""); err != nil {
		b.Fatal(err)
	}
	doc, _ := u.Encode()
	for i := range n {
		user := fmt.Sprintf("@u%d:bench.test", i)
		if _, err := tx.Exec(`INSERT INTO current_state (room_id, type, state_key, event_id, stream_pos, membership)
			VALUES ($1, 'm.room.member', $2, $3, 1, 'join')`, roomID, user, fmt.Sprintf("$m%d", i)); err != nil {
			b.Fatal(err)
		}
		if i%10 == 5 {
			if _, err := tx.Exec(`INSERT INTO push_rules (user_id, rules, stream_pos) VALUES ($1, $2, 1)`, user, string(doc)); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	return db, roomID
}

// cpuTime is this process's user and system CPU time so far. The test
// machine is shared, so wall time per operation says little; CPU time per
// operation (the work done in this process: Go and, for SQLite, the
// database) is reported beside it.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, start time.Duration, ops int) {
	b.ReportMetric(float64(cpuTime()-start)/float64(time.Millisecond)/float64(ops), "cpu-ms/op")
}

const benchMessage = `{"type":"m.room.message","room_id":"!big:bench.test","sender":"@u0:bench.test",
	"content":{"msgtype":"m.text","body":"is it time for lunch yet?","m.mentions":{"user_ids":["@u7:bench.test"]}}}`

// BenchmarkEvaluateBigRoom: evaluating a message for every member of a
// room of 10,000 (one query for the members and their rules' versions,
// compiled rules from the cache).
func BenchmarkEvaluateBigRoom(b *testing.B) {
	for _, engine := range testserver.Engines(b) {
		b.Run(engine, func(b *testing.B) {
			db, _ := bigRoom(b, engine, 10_000)
			ev := push.NewEvaluator(db, "bench.test")
			e, err := push.ParseEvent([]byte(benchMessage))
			if err != nil {
				b.Fatal(err)
			}
			in := push.Input{Event: e, Sender: "@u0:bench.test",
				Room: push.RoomContext{NotificationLevel: func(string) int64 { return 50 }}}
			ctx := context.Background()
			var actions []store.PushAction
			if actions, err = ev.Evaluate(ctx, in); err != nil { // fills the cache
				b.Fatal(err)
			}
			cpu, ops := cpuTime(), 0
			for b.Loop() {
				ops++
				if actions, err = ev.Evaluate(ctx, in); err != nil {
					b.Fatal(err)
				}
			}
			reportCPU(b, cpu, ops)
			if len(actions) != 9_999 {
				b.Fatalf("%d users notified; want 9999", len(actions))
			}
			high := 0
			for _, a := range actions {
				if a.Highlight {
					high++
				}
			}
			if high != 1_001 { // @u7 (mentioned) and the 1,000 users with the keyword rule
				b.Fatalf("%d highlights; want 1001", high)
			}
		})
	}
}

// BenchmarkStorePushActions: storing an event with the notifications of
// 10,000 members, in the event's transaction.
func BenchmarkStorePushActions(b *testing.B) {
	for _, engine := range testserver.Engines(b) {
		b.Run(engine, func(b *testing.B) {
			db, roomID := bigRoom(b, engine, 1)
			actions := make([]store.PushAction, 10_000)
			for i := range actions {
				actions[i] = store.PushAction{UserID: fmt.Sprintf("@u%d:bench.test", i), Actions: []byte(`["notify"]`)}
			}
			ctx := context.Background()
			n := 0
			cpu := cpuTime()
			for b.Loop() {
				n++
				_, err := db.AppendEvents(ctx, []store.NewEvent{{EventID: fmt.Sprintf("$e%d", n), RoomID: roomID,
					Type: "m.room.message", Sender: "@u0:bench.test", PDU: []byte(`{}`),
					Push: &store.PushOutcome{ThreadID: "main", Actions: actions, SenderRead: true}}})
				if err != nil {
					b.Fatal(err)
				}
			}
			reportCPU(b, cpu, n)
		})
	}
}

// BenchmarkCompiledEvaluate: one user's evaluation of one event with the
// default rules, the inner loop of a big room.
func BenchmarkCompiledEvaluate(b *testing.B) {
	c := push.Compile(push.Defaults("@alice:bench.test"))
	e, err := push.ParseEvent([]byte(benchMessage))
	if err != nil {
		b.Fatal(err)
	}
	room := &push.RoomContext{MemberCount: 10, NotificationLevel: func(string) int64 { return 50 }}
	for b.Loop() {
		if !c.Evaluate(e, room, "@alice:bench.test", nil).Notify {
			b.Fatal("no notification")
		}
	}
}
