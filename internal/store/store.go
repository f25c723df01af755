// Package store is Chappe's storage: one set of domain-shaped methods on
// *DB over two engines, SQLite (embedded default) and PostgreSQL (for
// several processes and scale). Both speak the same SQL with $N
// placeholders; where the dialects differ, the method says so. Schema
// changes are embedded, numbered migrations per engine, applied at start
// inside one transaction.
//
// Every exported method owns its transaction; whatever a method has
// returned without error is committed and durable.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Engine names a database engine.
type Engine string

const (
	SQLite   Engine = "sqlite"
	Postgres Engine = "postgres"
)

var (
	// ErrNotFound: the row asked for does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict: a row with the same unique key exists already.
	ErrConflict = errors.New("store: conflict")
)

//go:embed migrations
var migrations embed.FS

// DB is an open database of either engine.
type DB struct {
	Engine Engine
	// write serialises writers: SQLite allows one writer at a time, and a
	// single connection avoids SQLITE_BUSY storms. For PostgreSQL it is the
	// same pool as read.
	write *sql.DB
	read  *readDB
	// wstmts are the write connection's prepared statements (SQLite).
	wstmts writeStmts
	// changes is the change log of the streams /sync polls (changes.go).
	changes changeLog
	caches  caches
	indexer textIndexer // searchindex.go
	prune   pruner      // pushprune.go

	commits committer // group commit of event appends

	// OnDeviceListChange, if set, is called after a commit that deleted
	// devices of userID (logout, device deletion, deactivation) at stream
	// position pos, so that the /syncs of the users who share a room with
	// them wake up. Set it before serving.
	OnDeviceListChange func(userID string, pos int64)
}

// Open opens (creating if needed) the database: SQLite at
// dataDir/chappe.db when dsn is empty, else PostgreSQL at the postgres://
// dsn. It applies pending migrations and refuses a database whose schema
// is newer than this binary.
func Open(ctx context.Context, dsn, dataDir string) (*DB, error) {
	var db *DB
	var err error
	if dsn == "" {
		db, err = openSQLite(dataDir)
	} else {
		db, err = openPostgres(dsn)
	}
	if err != nil {
		return nil, err
	}
	if err := db.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := db.backfillSearch(ctx); err != nil { // once, after migration 0008 (store/search.go)
		db.Close()
		return nil, err
	}
	if err := db.startChangeLog(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := db.startTextIndexer(ctx); err != nil {
		db.Close()
		return nil, err
	}
	db.startPruner()
	return db, nil
}

func openSQLite(dataDir string) (*DB, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("store: data dir: %w", err)
	}
	path := filepath.Join(dataDir, "chappe.db")
	// Pragmas run on every new pooled connection. WAL lets readers run
	// beside the writer; synchronous=FULL makes every acknowledged commit
	// survive power loss, not only a process crash.
	// _txlock=immediate takes the write lock at BEGIN, so a transaction
	// never fails half-way on a lock upgrade.
	// The writer checkpoints every 4,000 WAL pages (16 MB) instead of
	// SQLite's 1,000: a message rewrites the same few hot pages (its
	// room's and its readers' index leaves), and a checkpoint copies each
	// page once however often it was rewritten, so a longer interval
	// copies less per message (messages/s +10–15%, docs/benchmarks.md).
	pragmas := "_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(ON)&_pragma=mmap_size(1073741824)"
	write, err := sql.Open("sqlite", "file:"+path+"?"+pragmas+"&_pragma=cache_size(-65536)&_pragma=wal_autocheckpoint(4000)&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	read, err := sql.Open("sqlite", "file:"+path+"?"+pragmas+"&_pragma=query_only(ON)")
	if err != nil {
		write.Close()
		return nil, err
	}
	read.SetMaxOpenConns(8)
	read.SetMaxIdleConns(8)
	read.SetConnMaxLifetime(0)
	return &DB{Engine: SQLite, write: write, read: newReadDB(read, true), wstmts: writeStmts{cache: true}}, nil
}

func openPostgres(dsn string) (*DB, error) {
	pool, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	pool.SetMaxOpenConns(32)
	pool.SetMaxIdleConns(16)
	pool.SetConnMaxIdleTime(5 * time.Minute)
	return &DB{Engine: Postgres, write: pool, read: newReadDB(pool, false)}, nil
}

// Close closes the database.
func (db *DB) Close() error {
	db.stopCommitter()
	db.stopTextIndexer()
	db.stopPruner()
	db.wstmts.close()
	err := db.write.Close()
	if db.read.DB != db.write {
		err = errors.Join(err, db.read.Close())
	}
	return err
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error { return db.read.PingContext(ctx) }

// tx runs fn in a write transaction and commits it if fn returns nil.
func (db *DB) tx(ctx context.Context, fn func(*wtx) error) error {
	sqlTx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	defer db.wstmts.prepareWanted(ctx, db.write)
	tx := &wtx{Tx: sqlTx, stmts: &db.wstmts, changes: &db.changes, caches: &db.caches}
	if err := fn(tx); err != nil {
		tx.Rollback()
		tx.settle(false)
		return err
	}
	if err := tx.flushPos(ctx); err != nil {
		tx.Rollback()
		tx.settle(false)
		return err
	}
	err = tx.Commit()
	tx.settle(err == nil)
	if err != nil {
		return fmt.Errorf("store: commit: %w", mapErr(err))
	}
	return nil
}

// mapErr turns engine-specific constraint errors into ErrConflict and
// sql.ErrNoRows into ErrNotFound; anything else passes through.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" { // unique_violation
		return ErrConflict
	}
	var sqErr *sqlite.Error
	if errors.As(err, &sqErr) {
		switch sqErr.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return ErrConflict
		}
	}
	return err
}

// SchemaVersion is the newest migration this binary knows.
func SchemaVersion() int {
	ms, _ := loadMigrations(SQLite)
	return ms[len(ms)-1].version
}

type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations returns the engine's migrations in ascending order.
// Numbers must be unique but need not be contiguous, so that work in
// parallel can reserve numbers; each is applied once, in order.
func loadMigrations(engine Engine) ([]migration, error) {
	dir := "migrations/" + string(engine)
	entries, err := fs.ReadDir(migrations, dir)
	if err != nil {
		return nil, err
	}
	var ms []migration
	seen := map[int]string{}
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v < 1 || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("store: bad migration file name %q", e.Name())
		}
		if other, dup := seen[v]; dup {
			return nil, fmt.Errorf("store: migrations %s and %s share a number", other, e.Name())
		}
		seen[v] = e.Name()
		body, err := fs.ReadFile(migrations, dir+"/"+e.Name())
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// migrate applies pending migrations in one transaction. On PostgreSQL an
// advisory lock keeps several starting processes from racing. A database
// that holds a migration this binary does not know was written by a newer
// Chappe, and is refused.
func (db *DB) migrate(ctx context.Context) error {
	ms, err := loadMigrations(db.Engine)
	if err != nil {
		return err
	}
	known := map[int]bool{}
	for _, m := range ms {
		known[m.version] = true
	}
	return db.tx(ctx, func(tx *wtx) error {
		if db.Engine == Postgres {
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7204853)`); err != nil {
				return fmt.Errorf("store: migration lock: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version INTEGER PRIMARY KEY, applied_ts BIGINT NOT NULL)`); err != nil {
			return fmt.Errorf("store: %w", err)
		}
		rows, err := tx.QueryContext(ctx, `SELECT version FROM schema_migrations`)
		if err != nil {
			return fmt.Errorf("store: %w", err)
		}
		applied := map[int]bool{}
		for rows.Next() {
			var v int
			if err := rows.Scan(&v); err != nil {
				rows.Close()
				return err
			}
			applied[v] = true
		}
		rows.Close()
		for v := range applied {
			if !known[v] {
				return fmt.Errorf("store: the database has schema migration %d, which this binary does not know: it was written by a newer Chappe", v)
			}
		}
		for _, m := range ms {
			if applied[m.version] {
				continue
			}
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return fmt.Errorf("store: migration %s: %w", m.name, err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_ts) VALUES ($1, $2)`,
				m.version, time.Now().UnixMilli()); err != nil {
				return fmt.Errorf("store: migration %s: %w", m.name, err)
			}
		}
		return nil
	})
}

func nowMS() int64 { return time.Now().UnixMilli() }
