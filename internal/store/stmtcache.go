package store

import (
	"context"
	"database/sql"
	"strings"
	"sync"
	"sync/atomic"
)

// readDB is the pool that read-only queries go through. On SQLite it keeps
// each query prepared: modernc's SQLite parses every statement again on
// every call, and parsing was the largest single cost of a /sync (about a
// sixth of its CPU). pgx caches prepared statements itself, so on
// PostgreSQL the cache is off.
type readDB struct {
	*sql.DB
	cache bool

	mu    sync.Mutex // guards stmts on insert; reads go through the sync.Map
	stmts sync.Map   // query string -> *sql.Stmt
	count atomic.Int64
}

// maxStmts bounds the cache: queries built with a variable number of
// placeholders (IN lists) come in many shapes; past the bound they run
// unprepared.
const maxStmts = 2000

func newReadDB(db *sql.DB, cache bool) *readDB { return &readDB{DB: db, cache: cache} }

func (r *readDB) stmt(ctx context.Context, query string) *sql.Stmt {
	if !r.cache {
		return nil
	}
	if st, ok := r.stmts.Load(query); ok {
		return st.(*sql.Stmt)
	}
	if r.count.Load() >= maxStmts {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if st, ok := r.stmts.Load(query); ok {
		return st.(*sql.Stmt)
	}
	st, err := r.DB.PrepareContext(ctx, query)
	if err != nil {
		return nil // let the unprepared call report the error
	}
	r.stmts.Store(query, st)
	r.count.Add(1)
	return st
}

// QueryContext runs a query, prepared once where the cache is on.
func (r *readDB) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := r.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return r.DB.QueryContext(ctx, query, args...)
}

// QueryRowContext runs a query for one row, prepared once where the cache
// is on.
func (r *readDB) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := r.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return r.DB.QueryRowContext(ctx, query, args...)
}

// Close closes the cached statements and the pool.
func (r *readDB) Close() error {
	r.stmts.Range(func(_, st any) bool {
		st.(*sql.Stmt).Close()
		return true
	})
	return r.DB.Close()
}

// wtx is a write transaction. On SQLite its statements are prepared once
// too, on the single write connection. A statement can't be prepared on
// that connection while the transaction holds it, so a query the cache
// doesn't know yet runs unprepared and is prepared after the commit
// (prepareWanted); database/sql then reuses the prepared statement in
// every later transaction on the connection.
type wtx struct {
	*sql.Tx
	stmts *writeStmts

	changes *changeLog
	touched []string // keys of the change log this transaction changes
	caches  *caches
	notes   txNotes // for the caches, at the commit
	pos     int64   // the last stream position it took
	// firstPos is the first position it took (tx.pos goes back when a
	// savepoint is rolled back; this does not).
	firstPos int64
	// posDirty: positions after the first were counted in memory, and the
	// counter row must be set to pos before the commit (flushPos).
	posDirty bool
}

// flushPos writes the last position the transaction took to the counter
// row; call it before committing.
func (tx *wtx) flushPos(ctx context.Context) error {
	if !tx.posDirty {
		return nil
	}
	_, err := tx.ExecContext(ctx, `UPDATE stream_counter SET pos = $1 WHERE id = 1`, tx.pos)
	tx.posDirty = false
	return err
}

type writeStmts struct {
	cache bool

	mu     sync.Mutex
	stmts  map[string]*sql.Stmt
	wanted map[string]bool
}

func (w *writeStmts) lookup(query string) *sql.Stmt {
	if !w.cache {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	st := w.stmts[query]
	if st == nil && len(w.stmts)+len(w.wanted) < maxStmts {
		if w.wanted == nil {
			w.wanted = map[string]bool{}
		}
		w.wanted[query] = true
	}
	return st
}

// prepareWanted prepares the queries transactions ran unprepared; it is
// called when no transaction holds the write connection.
func (w *writeStmts) prepareWanted(ctx context.Context, db *sql.DB) {
	if !w.cache {
		return
	}
	w.mu.Lock()
	wanted := w.wanted
	w.wanted = nil
	w.mu.Unlock()
	for query := range wanted {
		st, err := db.PrepareContext(ctx, query)
		if err != nil {
			continue // the unprepared runs report it
		}
		w.mu.Lock()
		if w.stmts == nil {
			w.stmts = map[string]*sql.Stmt{}
		}
		if w.stmts[query] == nil {
			w.stmts[query] = st
			st = nil
		}
		w.mu.Unlock()
		if st != nil {
			st.Close()
		}
	}
}

func (w *writeStmts) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, st := range w.stmts {
		st.Close()
	}
	w.stmts = nil
}

// ExecContext runs a statement in the transaction, prepared once where the
// cache is on.
func (tx *wtx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if changesSessions(query) {
		tx.touch(keySessions)
	}
	if st := tx.stmts.lookup(query); st != nil {
		return tx.Tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return tx.Tx.ExecContext(ctx, query, args...)
}

// QueryContext runs a query in the transaction, prepared once where the
// cache is on.
func (tx *wtx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if changesSessions(query) {
		tx.touch(keySessions)
	}
	if st := tx.stmts.lookup(query); st != nil {
		return tx.Tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return tx.Tx.QueryContext(ctx, query, args...)
}

// QueryRowContext runs a query for one row in the transaction, prepared
// once where the cache is on.
func (tx *wtx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if changesSessions(query) {
		tx.touch(keySessions)
	}
	if st := tx.stmts.lookup(query); st != nil {
		return tx.Tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return tx.Tx.QueryRowContext(ctx, query, args...)
}

// changesSessions reports whether a statement may change what
// SessionByToken reads: every update or deletion of an access token or an
// account invalidates the cached sessions. New tokens need not: a token
// that was not found is not cached.
func changesSessions(query string) bool {
	return strings.Contains(query, "UPDATE access_tokens") || strings.Contains(query, "DELETE FROM access_tokens") ||
		strings.Contains(query, "UPDATE accounts") || strings.Contains(query, "DELETE FROM accounts")
}
