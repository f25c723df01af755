package store

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"chappe.eu/chappe/internal/search"
)

// The text indexer. The text of messages, room names and topics is added
// to the search index after its event commits, by a background goroutine
// that takes many events per transaction; search results wait for it
// (flushTextIndex), so a search still finds every event stored before it.
// What must not lag stays in the event's transaction (store/search.go):
// a redaction removes its target's text, and turning encryption on
// removes the room's, at once. The indexer skips events redacted or in
// rooms encrypted by the time it reads them.

const (
	// textIndexBatch is how many events one indexing transaction reads.
	textIndexBatch = 500
	// textIndexDelay lets events gather after a wake-up, so that a busy
	// server indexes them in batches, not one per commit.
	textIndexDelay = 50 * time.Millisecond
)

type textIndexer struct {
	once sync.Once
	wake chan struct{}
	stop chan struct{}
	done chan struct{}

	mu   sync.Mutex // one indexing run at a time
	upto int64      // indexed_upto as last written; guarded by mu
}

// startTextIndexer starts the background indexer, which first catches up
// with what a previous process left unindexed.
func (db *DB) startTextIndexer(ctx context.Context) error {
	ix := &db.indexer
	if err := db.read.QueryRowContext(ctx, `SELECT indexed_upto FROM search_progress WHERE id = 1`).Scan(&ix.upto); err != nil {
		return err
	}
	ix.wake = make(chan struct{}, 1)
	ix.stop = make(chan struct{})
	ix.done = make(chan struct{})
	go db.textIndexLoop()
	db.wakeTextIndexer()
	return nil
}

// stopTextIndexer stops the indexer; what it has not indexed yet is
// indexed by the next process.
func (db *DB) stopTextIndexer() {
	ix := &db.indexer
	if ix.stop == nil {
		return
	}
	ix.once.Do(func() { close(ix.stop) })
	<-ix.done
}

// wakeTextIndexer tells the indexer that events were stored.
func (db *DB) wakeTextIndexer() {
	select {
	case db.indexer.wake <- struct{}{}:
	default:
	}
}

func (db *DB) textIndexLoop() {
	ix := &db.indexer
	defer close(ix.done)
	for {
		select {
		case <-ix.stop:
			return
		case <-ix.wake:
		}
		select {
		case <-ix.stop:
			return
		case <-time.After(textIndexDelay):
		}
		if err := db.flushTextIndex(context.Background()); err != nil {
			slog.Error("store: search indexing", "err", err)
		}
	}
}

// flushTextIndex indexes every searchable event committed so far.
func (db *DB) flushTextIndex(ctx context.Context) error {
	ix := &db.indexer
	target := db.changes.committedPos()
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for ix.upto < target {
		if err := db.indexTextBatch(ctx); err != nil {
			return err
		}
	}
	return nil
}

// indexTextBatch indexes up to textIndexBatch events after indexed_upto.
// It holds the stream counter, as every writer of events does, so that
// no redaction or encryption event commits while it works (on SQLite the
// write transaction does that by itself).
func (db *DB) indexTextBatch(ctx context.Context) error {
	ix := &db.indexer
	var upto int64
	err := db.tx(ctx, func(tx *wtx) error {
		q := `SELECT pos FROM stream_counter WHERE id = 1`
		if db.Engine == Postgres {
			q += ` FOR UPDATE`
		}
		var head int64
		if err := tx.QueryRowContext(ctx, q).Scan(&head); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT stream_pos, room_id, type, state_key, pdu FROM events
			WHERE stream_pos > $1 AND stream_pos <= $2 AND type IN ('m.room.message', 'm.room.name', 'm.room.topic')
			AND redacted_by IS NULL ORDER BY stream_pos LIMIT $3`, ix.upto, head, textIndexBatch)
		if err != nil {
			return err
		}
		evs, pos, err := scanIndexable(rows)
		if err != nil {
			return err
		}
		if err := indexTextsTx(ctx, tx, evs, pos); err != nil {
			return err
		}
		upto = head
		if len(evs) == textIndexBatch {
			upto = pos[len(pos)-1]
		}
		_, err = tx.ExecContext(ctx, `UPDATE search_progress SET indexed_upto = $1 WHERE id = 1`, upto)
		return err
	})
	if err == nil {
		ix.upto = upto // the caller holds ix.mu
	}
	return err
}

// textInsertRows is how many rows one INSERT into event_search writes.
// FTS5 writes its pending terms to disk at the end of every statement, so
// a row per statement made as many index segments as messages.
const textInsertRows = 50

// indexTextsTx indexes the text of events, those of encrypted rooms
// left out, a few statements for all of them.
func indexTextsTx(ctx context.Context, tx *wtx, evs []NewEvent, pos []int64) error {
	encrypted := map[string]bool{}
	var args []any
	flush := func() error {
		if len(args) == 0 {
			return nil
		}
		var q strings.Builder
		q.WriteString(`INSERT INTO event_search (stream_pos, room_id, body) VALUES `)
		for i := 0; i < len(args); i += 3 {
			if i > 0 {
				q.WriteByte(',')
			}
			fmt.Fprintf(&q, "($%d,$%d,$%d)", i+1, i+2, i+3)
		}
		q.WriteString(` ON CONFLICT (stream_pos) DO NOTHING`)
		_, err := tx.ExecContext(ctx, q.String(), args...)
		args = args[:0]
		return err
	}
	for i := range evs {
		e := &evs[i]
		text, ok := search.IndexText(e.Type, e.StateKey, pduContent(e.PDU))
		if !ok {
			continue
		}
		enc, known := encrypted[e.RoomID]
		if !known {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM current_state
				WHERE room_id = $1 AND type = 'm.room.encryption' AND state_key = ''`, e.RoomID).Scan(&n); err != nil {
				return err
			}
			enc = n > 0
			encrypted[e.RoomID] = enc
		}
		if enc {
			continue
		}
		args = append(args, pos[i], e.RoomID, text)
		if len(args) == 3*textInsertRows {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}
