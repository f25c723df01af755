package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Group commit. Appending an event is one small transaction whose cost is
// dominated by the commit's fsync (synchronous=FULL on SQLite, WAL flush on
// PostgreSQL). Concurrent appends — sends to different rooms — are
// gathered by one committer and written in a single transaction, each in
// its own savepoint so that one failing request (a repeated transaction
// ID) fails alone. Every request still returns only after the commit that
// holds it: nothing is acknowledged before it is durable.

// maxGroup bounds how many requests one commit carries.
const maxGroup = 64

type appendReq struct {
	ctx  context.Context
	evs  []NewEvent
	pos  int64
	err  error
	done chan struct{}
}

type committer struct {
	once     sync.Once
	stopOnce sync.Once // Close may be called more than once
	reqs     chan *appendReq
	wg       sync.WaitGroup
}

func (db *DB) startCommitter() {
	db.commits.once.Do(func() {
		db.commits.reqs = make(chan *appendReq, maxGroup)
		db.commits.wg.Add(1)
		go db.commitLoop()
	})
}

// stopCommitter finishes the queued appends and stops the committer.
func (db *DB) stopCommitter() {
	if db.commits.reqs != nil {
		close(db.commits.reqs)
		db.commits.wg.Wait()
		db.commits.reqs = nil // Close may come twice (tests restart servers)
	}
}

// AppendEvents stores events accepted into their rooms, in order, in one
// transaction: each gets the next stream position; state events update
// the current state; the events become their room's forward extremities;
// a redaction marks its target. It returns the position of the last one.
//
// A transaction ID already used by the same device (a retried request)
// returns ErrConflict and stores nothing.
func (db *DB) AppendEvents(ctx context.Context, evs []NewEvent) (int64, error) {
	db.startCommitter()
	if db.commits.reqs == nil {
		return 0, errors.New("store: closed")
	}
	r := &appendReq{ctx: ctx, evs: evs, done: make(chan struct{})}
	db.commits.reqs <- r
	<-r.done // even if ctx ends: the outcome must be known before we answer
	return r.pos, r.err
}

func (db *DB) commitLoop() {
	defer db.commits.wg.Done()
	for r := range db.commits.reqs {
		group := []*appendReq{r}
	gather:
		for len(group) < maxGroup {
			select {
			case more, ok := <-db.commits.reqs:
				if !ok {
					break gather
				}
				group = append(group, more)
			default:
				break gather
			}
		}
		db.commitGroup(group)
		for _, g := range group {
			close(g.done)
		}
	}
}

// commitGroup writes a group of appends in one transaction.
func (db *DB) commitGroup(group []*appendReq) {
	// The transaction must not die with one request's context.
	ctx := context.WithoutCancel(group[0].ctx)
	fail := func(err error) {
		for _, g := range group {
			if g.err == nil {
				g.err = err
			}
		}
	}
	sqlTx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		fail(fmt.Errorf("store: begin: %w", err))
		return
	}
	defer db.wstmts.prepareWanted(ctx, db.write)
	tx := &wtx{Tx: sqlTx, stmts: &db.wstmts, changes: &db.changes}
	committed := false
	defer func() { tx.settle(committed) }()
	for _, g := range group {
		if _, err := tx.ExecContext(ctx, `SAVEPOINT append_one`); err != nil {
			tx.Rollback()
			fail(err)
			return
		}
		for i := range g.evs {
			if g.pos, g.err = appendEventTx(ctx, tx, &g.evs[i]); g.err != nil {
				break
			}
		}
		stmt := `RELEASE SAVEPOINT append_one`
		if g.err != nil {
			stmt = `ROLLBACK TO SAVEPOINT append_one`
		}
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			tx.Rollback()
			fail(err)
			return
		}
		if g.err != nil {
			if _, err := tx.ExecContext(ctx, `RELEASE SAVEPOINT append_one`); err != nil {
				tx.Rollback()
				fail(err)
				return
			}
		}
	}
	if err := tx.Commit(); err != nil {
		err = fmt.Errorf("store: commit: %w", mapErr(err))
		for _, g := range group {
			g.err = err // nothing of the group is stored
		}
		return
	}
	committed = true
	db.wakeTextIndexer()
}
