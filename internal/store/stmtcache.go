package store

import (
	"context"
	"database/sql"
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
