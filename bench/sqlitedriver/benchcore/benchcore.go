// Package benchcore holds the driver-independent part of the SQLite driver
// benchmark: the homeserver-like schema, the fixtures and the benchmark and
// check bodies. Each driver gets its own test package (../modernc, ../mattn,
// ../ncruces) because mattn and ncruces both register the database/sql name
// "sqlite3" and cannot live in one binary.
package benchcore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Driver describes one candidate.
type Driver struct {
	// Name is used in the benchmark names.
	Name string
	// Open opens a pool on the database file at path. sync is "NORMAL" or
	// "FULL". Every pooled connection must come up with journal_mode=WAL,
	// busy_timeout=5000, foreign_keys=ON and the given synchronous level,
	// set through the DSN.
	Open func(path, sync string) (*sql.DB, error)
}

const schema = `
CREATE TABLE IF NOT EXISTS rooms (
	room_id TEXT PRIMARY KEY
);
CREATE TABLE IF NOT EXISTS events (
	stream_pos INTEGER PRIMARY KEY,
	event_id   TEXT NOT NULL UNIQUE,
	room_id    TEXT NOT NULL REFERENCES rooms(room_id),
	json       BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS events_room_pos ON events(room_id, stream_pos);
CREATE TABLE IF NOT EXISTS access_tokens (
	token_hash BLOB PRIMARY KEY,
	user_id    TEXT NOT NULL,
	device_id  TEXT NOT NULL
) WITHOUT ROWID;
`

const (
	insertEventSQL = `INSERT INTO events (event_id, room_id, json) VALUES (?, ?, ?)`
	tokenSQL       = `SELECT user_id, device_id FROM access_tokens WHERE token_hash = ?`
	latestSQL      = `SELECT stream_pos, event_id, json FROM events WHERE room_id = ? ORDER BY stream_pos DESC LIMIT 50`

	fixtureRooms        = 50
	fixtureEventsPerRom = 1000 // 50k events, ~55 MB
	fixtureTokens       = 100_000
)

// EventJSON is a ~1 KB Matrix-like event body.
var EventJSON = func() []byte {
	var sb strings.Builder
	sb.WriteString(`{"type":"m.room.message","sender":"@alice:chappe.eu","origin_server_ts":1764355200000,"content":{"msgtype":"m.text","body":"`)
	for sb.Len() < 980 {
		sb.WriteString("lorem ipsum dolor sit amet ")
	}
	sb.WriteString(`"},"unsigned":{"age":1234}}`)
	return []byte(sb.String())
}()

func roomID(i int) string { return fmt.Sprintf("!room%03d:chappe.eu", i) }

// TokenHash returns the 32-byte key of the i-th access token.
func TokenHash(i int) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(i))
	h := sha256.Sum256(b[:])
	return h[:]
}

var eventSeq atomic.Int64

func nextEventID() string { return fmt.Sprintf("$ev%d:chappe.eu", eventSeq.Add(1)) }

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// openWriter opens the single-connection write pool (the pattern a
// homeserver would use for SQLite: one writer, many readers).
func openWriter(tb testing.TB, d Driver, path, sync string) *sql.DB {
	db, err := d.Open(path, sync)
	must(tb, err)
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	return db
}

func openReader(tb testing.TB, d Driver, path string) *sql.DB {
	db, err := d.Open(path, "NORMAL")
	must(tb, err)
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	db.SetConnMaxLifetime(0)
	return db
}

func createSchema(tb testing.TB, db *sql.DB) {
	_, err := db.Exec(schema)
	must(tb, err)
	tx, err := db.Begin()
	must(tb, err)
	for i := range fixtureRooms {
		_, err := tx.Exec(`INSERT OR IGNORE INTO rooms (room_id) VALUES (?)`, roomID(i))
		must(tb, err)
	}
	must(tb, tx.Commit())
}

// fixture is a populated database shared by the read benchmarks of one
// test binary (one driver).
type fixture struct {
	path   string
	writer *sql.DB
	reader *sql.DB
}

var (
	fixOnce sync.Once
	fix     *fixture
	fixErr  error
	fixDir  string
)

// SetFixtureDir must be called from TestMain with a temp directory that
// outlives all benchmarks.
func SetFixtureDir(dir string) { fixDir = dir }

func getFixture(b *testing.B, d Driver) *fixture {
	fixOnce.Do(func() {
		start := time.Now()
		f := &fixture{path: filepath.Join(fixDir, "fixture.db")}
		f.writer = openWriter(b, d, f.path, "NORMAL")
		createSchema(b, f.writer)
		// events: 100-row batches
		stmt, err := f.writer.Prepare(insertEventSQL)
		if err != nil {
			fixErr = err
			return
		}
		for r := range fixtureRooms {
			for base := 0; base < fixtureEventsPerRom; base += 100 {
				tx, err := f.writer.Begin()
				if err != nil {
					fixErr = err
					return
				}
				ts := tx.Stmt(stmt)
				for range 100 {
					if _, err := ts.Exec(nextEventID(), roomID(r), EventJSON); err != nil {
						fixErr = err
						return
					}
				}
				if err := tx.Commit(); err != nil {
					fixErr = err
					return
				}
			}
		}
		tx, err := f.writer.Begin()
		if err != nil {
			fixErr = err
			return
		}
		for i := range fixtureTokens {
			if _, err := tx.Exec(`INSERT INTO access_tokens (token_hash, user_id, device_id) VALUES (?, ?, ?)`,
				TokenHash(i), fmt.Sprintf("@user%d:chappe.eu", i), fmt.Sprintf("DEV%06d", i)); err != nil {
				fixErr = err
				return
			}
		}
		if err := tx.Commit(); err != nil {
			fixErr = err
			return
		}
		if _, err := f.writer.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			fixErr = err
			return
		}
		if _, err := f.writer.Exec(`ANALYZE`); err != nil {
			fixErr = err
			return
		}
		f.reader = openReader(b, d, f.path)
		b.Logf("%s: fixture (%d events, %d tokens) built in %v", d.Name, fixtureRooms*fixtureEventsPerRom, fixtureTokens, time.Since(start))
		fix = f
	})
	if fixErr != nil {
		b.Fatal(fixErr)
	}
	if fix == nil {
		b.Fatal("fixture failed")
	}
	return fix
}

// RunAll runs every benchmark as sub-benchmarks of b, under
// "driver=NAME/..." so that benchstat can put the drivers in columns
// (-col /driver).
func RunAll(b *testing.B, d Driver) {
	b.Run("driver="+d.Name, func(b *testing.B) { runAll(b, d) })
}

func runAll(b *testing.B, d Driver) {
	b.Run("InsertSingle/sync=NORMAL", func(b *testing.B) { benchInsertSingle(b, d, "NORMAL") })
	b.Run("InsertSingle/sync=FULL", func(b *testing.B) { benchInsertSingle(b, d, "FULL") })
	b.Run("InsertBatch100/sync=NORMAL", func(b *testing.B) { benchInsertBatch(b, d, "NORMAL") })
	b.Run("PointSelect/serial", func(b *testing.B) { benchPointSelect(b, d, false) })
	b.Run("PointSelect/parallel", func(b *testing.B) { benchPointSelect(b, d, true) })
	b.Run("RangeScan50/serial", func(b *testing.B) { benchRangeScan(b, d, false) })
	b.Run("RangeScan50/parallel", func(b *testing.B) { benchRangeScan(b, d, true) })
	b.Run("ReadersWithWriter", func(b *testing.B) { benchReadersWithWriter(b, d) })
}

// benchInsertSingle: one event append per transaction (BEGIN; INSERT; COMMIT).
func benchInsertSingle(b *testing.B, d Driver, sync string) {
	path := filepath.Join(b.TempDir(), "insert.db")
	db := openWriter(b, d, path, sync)
	defer db.Close()
	createSchema(b, db)
	stmt, err := db.Prepare(insertEventSQL)
	must(b, err)
	defer stmt.Close()
	room := roomID(0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tx, err := db.Begin()
		must(b, err)
		if _, err := tx.Stmt(stmt).Exec(nextEventID(), room, EventJSON); err != nil {
			b.Fatal(err)
		}
		must(b, tx.Commit())
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
}

// benchInsertBatch: 100 event rows per transaction. One op = one batch.
func benchInsertBatch(b *testing.B, d Driver, sync string) {
	path := filepath.Join(b.TempDir(), "batch.db")
	db := openWriter(b, d, path, sync)
	defer db.Close()
	createSchema(b, db)
	stmt, err := db.Prepare(insertEventSQL)
	must(b, err)
	defer stmt.Close()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tx, err := db.Begin()
		must(b, err)
		ts := tx.Stmt(stmt)
		room := roomID(i % fixtureRooms)
		for range 100 {
			if _, err := ts.Exec(nextEventID(), room, EventJSON); err != nil {
				b.Fatal(err)
			}
		}
		must(b, tx.Commit())
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "rows/s")
}

// benchPointSelect: access-token lookup by 32-byte hash, prepared statement.
func benchPointSelect(b *testing.B, d Driver, parallel bool) {
	f := getFixture(b, d)
	stmt, err := f.reader.Prepare(tokenSQL)
	must(b, err)
	defer stmt.Close()
	keys := make([][]byte, 4096)
	for i := range keys {
		keys[i] = TokenHash(rand.IntN(fixtureTokens))
	}
	b.ReportAllocs()
	b.ResetTimer()
	if !parallel {
		for i := 0; i < b.N; i++ {
			must(b, lookupToken(stmt, keys[i%len(keys)]))
		}
		return
	}
	b.RunParallel(func(pb *testing.PB) {
		i := rand.IntN(len(keys))
		for pb.Next() {
			if err := lookupToken(stmt, keys[i%len(keys)]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

func lookupToken(stmt *sql.Stmt, k []byte) error {
	var user, device string
	return stmt.QueryRow(k).Scan(&user, &device)
}

func scanLatest(stmt *sql.Stmt, room string) error {
	rows, err := stmt.Query(room)
	if err != nil {
		return err
	}
	defer rows.Close()
	var (
		pos  int64
		id   string
		body []byte
		n    int
	)
	for rows.Next() {
		if err := rows.Scan(&pos, &id, &body); err != nil {
			return err
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if n != 50 {
		return fmt.Errorf("got %d rows, want 50", n)
	}
	return nil
}

// benchRangeScan: latest 50 events of a room by stream position.
func benchRangeScan(b *testing.B, d Driver, parallel bool) {
	f := getFixture(b, d)
	stmt, err := f.reader.Prepare(latestSQL)
	must(b, err)
	defer stmt.Close()
	b.ReportAllocs()
	b.ResetTimer()
	if !parallel {
		for i := 0; i < b.N; i++ {
			must(b, scanLatest(stmt, roomID(i%fixtureRooms)))
		}
		return
	}
	b.RunParallel(func(pb *testing.PB) {
		i := rand.IntN(fixtureRooms)
		for pb.Next() {
			if err := scanLatest(stmt, roomID(i%fixtureRooms)); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

// benchReadersWithWriter: parallel readers (half token lookups, half
// latest-50 scans) while one background goroutine appends events, one
// commit each, as fast as it can. ns/op is per read; writes/s is the
// writer's throughput meanwhile.
func benchReadersWithWriter(b *testing.B, d Driver) {
	f := getFixture(b, d)
	tok, err := f.reader.Prepare(tokenSQL)
	must(b, err)
	defer tok.Close()
	latest, err := f.reader.Prepare(latestSQL)
	must(b, err)
	defer latest.Close()
	ins, err := f.writer.Prepare(insertEventSQL)
	must(b, err)
	defer ins.Close()

	ctx, cancel := context.WithCancel(context.Background())
	var writes atomic.Int64
	var werr atomic.Value
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ctx.Err() == nil; i++ {
			tx, err := f.writer.Begin()
			if err == nil {
				_, err = tx.Stmt(ins).Exec(nextEventID(), roomID(i%fixtureRooms), EventJSON)
				if err == nil {
					err = tx.Commit()
				} else {
					tx.Rollback()
				}
			}
			if err != nil {
				werr.Store(err)
				return
			}
			writes.Add(1)
		}
	}()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := rand.IntN(1 << 20)
		for pb.Next() {
			var err error
			if i%2 == 0 {
				err = lookupToken(tok, TokenHash(i%fixtureTokens))
			} else {
				err = scanLatest(latest, roomID(i%fixtureRooms))
			}
			if err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
	b.StopTimer()
	cancel()
	<-done
	if e := werr.Load(); e != nil {
		b.Fatal(e)
	}
	b.ReportMetric(float64(writes.Load())/b.Elapsed().Seconds(), "writes/s")
}
