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
		group := db.commitGroup(db.gather([]*appendReq{r}))
		for _, g := range group {
			close(g.done)
		}
	}
}

// gather adds the appends waiting in the queue to the group, up to
// maxGroup.
func (db *DB) gather(group []*appendReq) []*appendReq {
	for len(group) < maxGroup {
		select {
		case more, ok := <-db.commits.reqs:
			if !ok {
				return group
			}
			group = append(group, more)
		default:
			return group
		}
	}
	return group
}

// commitGroup writes a group of appends in one transaction. It first
// tries without savepoints, which cost two statements a request: nearly
// every append succeeds. If one fails (a repeated transaction ID), the
// transaction is rolled back and the group written again with a
// savepoint per request, so that the failing one fails alone.
//
// The group grows while it is written: appends that arrive while the
// transaction runs join it before the commit, instead of waiting for the
// next one. It returns the group as committed.
func (db *DB) commitGroup(group []*appendReq) []*appendReq {
	group, retry := db.appendGroup(group, false)
	if retry {
		for _, g := range group {
			g.pos, g.err = 0, nil
		}
		db.appendGroup(group, true)
	}
	return group
}

// appendGroup writes the group in one transaction, each request in its
// own savepoint if savepoints is set. Without savepoints, a request that
// fails rolls everything back and appendGroup asks for a retry (unless
// the request is alone: then its failure is the group's); the group then
// grows from the queue as it is written (the retry writes it as it is).
func (db *DB) appendGroup(group []*appendReq, savepoints bool) (_ []*appendReq, retry bool) {
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
		return group, false
	}
	defer db.wstmts.prepareWanted(ctx, db.write)
	tx := &wtx{Tx: sqlTx, stmts: &db.wstmts, changes: &db.changes, caches: &db.caches}
	committed := false
	defer func() { tx.settle(committed) }()
	exec := func(stmt string) bool {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			tx.Rollback()
			fail(err)
			return false
		}
		return true
	}
	for i := 0; i < len(group); i++ {
		g := group[i]
		if savepoints && !exec(`SAVEPOINT append_one`) {
			return group, false
		}
		// A rolled back savepoint gives back its positions and what it
		// stored for the caches.
		posBefore, dirtyBefore := tx.pos, tx.posDirty
		notes := tx.notes.mark()
		for j := range g.evs {
			if g.pos, g.err = appendEventTx(ctx, tx, &g.evs[j]); g.err != nil {
				break
			}
		}
		switch {
		case g.err != nil && !savepoints:
			tx.Rollback()
			return group, len(group) > 1
		case g.err != nil:
			if !exec(`ROLLBACK TO SAVEPOINT append_one`) || !exec(`RELEASE SAVEPOINT append_one`) {
				return group, false
			}
			tx.pos, tx.posDirty = posBefore, dirtyBefore
			tx.notes.rollback(notes)
		case savepoints:
			if !exec(`RELEASE SAVEPOINT append_one`) {
				return group, false
			}
		}
		if i == len(group)-1 && !savepoints {
			group = db.gather(group)
		}
	}
	err = tx.flushPos(ctx)
	if err == nil {
		err = tx.Commit()
	} else {
		tx.Rollback()
	}
	if err != nil {
		err = fmt.Errorf("store: commit: %w", mapErr(err))
		for _, g := range group {
			g.err = err // nothing of the group is stored
		}
		return group, false
	}
	committed = true
	db.caches.newEvents(tx.notes.appended)
	db.wakeTextIndexer()
	return group, false
}
