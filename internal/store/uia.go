package store

import (
	"context"
	"encoding/json"
)

// UIASession is a user-interactive authentication session. It lives in the
// database, not in memory, so that any Chappe process can continue it.
type UIASession struct {
	ID        string
	UserID    string // empty for registration
	Action    string // what it authorises, e.g. "register", "delete_devices"
	Completed []string
	Token     string // the registration token, once validated
	CreatedTS int64
}

// CreateUIASession stores a new session.
func (db *DB) CreateUIASession(ctx context.Context, s UIASession) error {
	return db.tx(ctx, func(tx *wtx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO uia_sessions (session_id, user_id, action, created_ts) VALUES ($1, $2, $3, $4)`,
			s.ID, s.UserID, s.Action, nowMS())
		return mapErr(err)
	})
}

// UIASessionByID returns a session or ErrNotFound.
func (db *DB) UIASessionByID(ctx context.Context, id string) (UIASession, error) {
	s := UIASession{ID: id}
	var completed string
	err := db.write.QueryRowContext(ctx, `SELECT user_id, action, completed, token, created_ts FROM uia_sessions WHERE session_id = $1`, id).
		Scan(&s.UserID, &s.Action, &completed, &s.Token, &s.CreatedTS)
	if err != nil {
		return s, mapErr(err)
	}
	err = json.Unmarshal([]byte(completed), &s.Completed)
	return s, err
}

// CompleteUIAStage records a completed stage (and the registration token it
// validated, if any).
func (db *DB) CompleteUIAStage(ctx context.Context, id, stage, token string) error {
	return db.tx(ctx, func(tx *wtx) error {
		var completed string
		if err := tx.QueryRowContext(ctx, `SELECT completed FROM uia_sessions WHERE session_id = $1`, id).Scan(&completed); err != nil {
			return mapErr(err)
		}
		var stages []string
		if err := json.Unmarshal([]byte(completed), &stages); err != nil {
			return err
		}
		for _, s := range stages {
			if s == stage {
				return nil
			}
		}
		data, _ := json.Marshal(append(stages, stage))
		q := `UPDATE uia_sessions SET completed = $1 WHERE session_id = $2`
		args := []any{string(data), id}
		if token != "" {
			q = `UPDATE uia_sessions SET completed = $1, token = $3 WHERE session_id = $2`
			args = append(args, token)
		}
		_, err := tx.ExecContext(ctx, q, args...)
		return err
	})
}

// DeleteUIASession removes a finished session, and old ones (older than
// maxAgeMS) while at it.
func (db *DB) DeleteUIASession(ctx context.Context, id string, maxAgeMS int64) error {
	return db.tx(ctx, func(tx *wtx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM uia_sessions WHERE session_id = $1 OR created_ts < $2`, id, nowMS()-maxAgeMS)
		return err
	})
}
