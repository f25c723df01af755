package store

import (
	"context"
)

// Session is what an access token stands for.
type Session struct {
	UserID      string
	DeviceID    string
	ExpiresTS   int64 // 0: never
	IsAdmin     bool
	Deactivated bool
	// replacesRefresh is the refresh token to revoke on this token's
	// first use.
	replacesRefresh []byte
}

// SessionByToken returns the session of an access token hash, or
// ErrNotFound. The first use of a token issued by a refresh revokes the
// refresh token it replaced (spec: "The old refresh token remains valid
// until the new access token or refresh token is used").
//
// Sessions are cached until any token or account changes (changes.go).
func (db *DB) SessionByToken(ctx context.Context, hash []byte) (Session, error) {
	s, err := cachedQuery(db, &db.caches.sessions, string(hash), func() (Session, error) {
		var s Session
		err := db.read.QueryRowContext(ctx, `SELECT t.user_id, t.device_id, t.expires_ts, t.replaces_refresh, a.is_admin, a.deactivated
			FROM access_tokens t JOIN accounts a ON a.user_id = t.user_id WHERE t.token_hash = $1`, hash).
			Scan(&s.UserID, &s.DeviceID, &s.ExpiresTS, &s.replacesRefresh, &s.IsAdmin, &s.Deactivated)
		return s, mapErr(err)
	}, keySessions)
	if err != nil {
		return s, err
	}
	if s.replacesRefresh != nil {
		err = db.tx(ctx, func(tx *wtx) error {
			if _, err := tx.ExecContext(ctx, `DELETE FROM refresh_tokens WHERE token_hash = $1`, s.replacesRefresh); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `UPDATE access_tokens SET replaces_refresh = NULL WHERE token_hash = $1`, hash)
			return err
		})
	}
	return s, err
}

// DeleteAccessToken revokes one access token (logout keeps nothing else:
// the caller deletes the device).
func (db *DB) DeleteAccessToken(ctx context.Context, hash []byte) error {
	return db.tx(ctx, func(tx *wtx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM access_tokens WHERE token_hash = $1`, hash)
		return err
	})
}

// Refresh exchanges a refresh token for a new access token (and a new
// refresh token). It returns the device the tokens belong to, or
// ErrNotFound for an unknown or revoked refresh token. The old refresh
// token and access tokens stay valid until one of the new tokens is used.
func (db *DB) Refresh(ctx context.Context, oldRefresh, newAccess []byte, expiresTS int64, newRefresh []byte) (userID, deviceID string, err error) {
	err = db.tx(ctx, func(tx *wtx) error {
		var replaces []byte
		err := tx.QueryRowContext(ctx, `SELECT user_id, device_id, replaces_refresh FROM refresh_tokens WHERE token_hash = $1`, oldRefresh).
			Scan(&userID, &deviceID, &replaces)
		if err != nil {
			return mapErr(err)
		}
		if replaces != nil {
			// This refresh token is in use: its predecessor is done.
			if _, err := tx.ExecContext(ctx, `DELETE FROM refresh_tokens WHERE token_hash = $1`, replaces); err != nil {
				return err
			}
		}
		// Earlier access tokens of this refresh token's generation are
		// superseded once the new pair exists; they expire on their own.
		return insertTokensTx(ctx, tx, userID, deviceID, newAccess, expiresTS, newRefresh, oldRefresh)
	})
	return userID, deviceID, err
}
