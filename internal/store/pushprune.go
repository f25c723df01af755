package store

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Old notifications are deleted in the background. Every notifying event
// stores a row per notified user, so without pruning push_actions grows
// with every message times its room's members. The spec sets no
// retention; Synapse deletes old push actions in the background too.
// Chappe keeps a month: GET /notifications lists the last 30 days.
//
// Unread counts live in unread_summary and survive the pruning. A read
// mark that later moves to an event older than the horizon counts again
// only the notifications still stored after it — the same trade Synapse
// makes when it rotates old actions into its summary.

const (
	// pushActionsKeep is how long notifications are kept.
	pushActionsKeep = 30 * 24 * time.Hour
	// pruneEvery is how often the pruner runs.
	pruneEvery = time.Hour
)

// pruneBatch is how many rows one pruning transaction looks at, so that a
// run never holds the writer for long.
var pruneBatch = 1000

type pruner struct {
	once sync.Once
	stop chan struct{}
	done chan struct{}
}

func (db *DB) startPruner() {
	db.prune.stop = make(chan struct{})
	db.prune.done = make(chan struct{})
	go func() {
		defer close(db.prune.done)
		t := time.NewTicker(pruneEvery)
		defer t.Stop()
		for {
			select {
			case <-db.prune.stop:
				return
			case <-t.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			if _, err := db.PrunePushActions(ctx, time.Now().Add(-pushActionsKeep).UnixMilli()); err != nil {
				slog.Warn("store: pruning old notifications", "err", err)
			}
			cancel()
		}
	}()
}

func (db *DB) stopPruner() {
	if db.prune.stop == nil {
		return
	}
	db.prune.once.Do(func() { close(db.prune.stop) })
	<-db.prune.done
}

// PrunePushActions deletes the notifications stored before beforeMS (ms
// since the epoch), oldest first, a batch per transaction, and returns
// how many it deleted. Rows are stored in position order, so their times
// rise with their positions, and the rows of one event share a time: each
// batch deletes every row up to the position of its last old row.
func (db *DB) PrunePushActions(ctx context.Context, beforeMS int64) (int, error) {
	deleted := 0
	for {
		rows, err := db.read.QueryContext(ctx, `SELECT stream_pos, ts FROM push_actions ORDER BY stream_pos LIMIT $1`, pruneBatch)
		if err != nil {
			return deleted, err
		}
		var upto int64 // the position of the last old row
		n, old, recent := 0, false, false
		for rows.Next() {
			var pos, ts int64
			if err := rows.Scan(&pos, &ts); err != nil {
				rows.Close()
				return deleted, err
			}
			n++
			if ts >= beforeMS {
				recent = true
				break
			}
			upto, old = pos, true
		}
		rows.Close()
		if err := rows.Err(); err != nil || !old {
			return deleted, err
		}
		err = db.tx(ctx, func(tx *wtx) error {
			res, err := tx.ExecContext(ctx, `DELETE FROM push_actions WHERE stream_pos <= $1`, upto)
			if err != nil {
				return err
			}
			k, _ := res.RowsAffected()
			deleted += int(k)
			return nil
		})
		if err != nil || recent || n < pruneBatch {
			return deleted, err
		}
	}
}
