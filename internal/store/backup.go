package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Server-side key backups (spec: "Server-side key backups"). Versions are
// numbered per user from 1 and never reused; the current version is the
// newest one not deleted, and only it takes new keys.

// BackupVersion describes one backup version.
type BackupVersion struct {
	Version   int64
	Algorithm string
	AuthData  []byte // JSON object
	ETag      int64  // changes whenever the version's keys change
	Count     int64  // keys stored
}

// WrongVersionError: keys were written to a version that is not the
// current one. Current is 0 when the user has no backup.
type WrongVersionError struct{ Current int64 }

func (e *WrongVersionError) Error() string {
	return "store: not the current backup version (current: " + strconv.FormatInt(e.Current, 10) + ")"
}

// CreateBackupVersion creates a backup version, which becomes current.
func (db *DB) CreateBackupVersion(ctx context.Context, userID, algorithm string, authData []byte) (version int64, err error) {
	err = db.tx(ctx, func(tx *wtx) error {
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) + 1 FROM e2e_backup_versions WHERE user_id = $1`,
			userID).Scan(&version); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO e2e_backup_versions (user_id, version, algorithm, auth_data, etag, deleted)
			VALUES ($1, $2, $3, $4, 0, $5)`, userID, version, algorithm, string(authData), false)
		return err
	})
	return version, err
}

// Backup returns a version (0: the current one), or ErrNotFound.
func (db *DB) Backup(ctx context.Context, userID string, version int64) (BackupVersion, error) {
	return backupTx(ctx, db.read, userID, version)
}

// querier is what *sql.DB and *wtx share.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func backupTx(ctx context.Context, q querier, userID string, version int64) (BackupVersion, error) {
	var v BackupVersion
	var auth string
	query := `SELECT version, algorithm, auth_data, etag FROM e2e_backup_versions
		WHERE user_id = $1 AND deleted = $2 AND version = $3`
	args := []any{userID, false, version}
	if version == 0 {
		query = `SELECT version, algorithm, auth_data, etag FROM e2e_backup_versions
			WHERE user_id = $1 AND deleted = $2 ORDER BY version DESC LIMIT 1`
		args = args[:2]
	}
	if err := q.QueryRowContext(ctx, query, args...).Scan(&v.Version, &v.Algorithm, &auth, &v.ETag); err != nil {
		return v, mapErr(err)
	}
	v.AuthData = []byte(auth)
	err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM e2e_backup_keys WHERE user_id = $1 AND version = $2`,
		userID, v.Version).Scan(&v.Count)
	return v, err
}

// UpdateBackupVersion replaces a version's auth_data; ErrNotFound if the
// version does not exist.
func (db *DB) UpdateBackupVersion(ctx context.Context, userID string, version int64, authData []byte) error {
	return db.tx(ctx, func(tx *wtx) error {
		res, err := tx.ExecContext(ctx, `UPDATE e2e_backup_versions SET auth_data = $1 WHERE user_id = $2 AND version = $3 AND deleted = $4`,
			string(authData), userID, version, false)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return nil
	})
}

// DeleteBackupVersion deletes a version and its keys (0: the current
// one); ErrNotFound if there is no such version.
func (db *DB) DeleteBackupVersion(ctx context.Context, userID string, version int64) error {
	return db.tx(ctx, func(tx *wtx) error {
		if version == 0 {
			err := tx.QueryRowContext(ctx, `SELECT version FROM e2e_backup_versions WHERE user_id = $1 AND deleted = $2
				ORDER BY version DESC LIMIT 1`, userID, false).Scan(&version)
			if err != nil {
				return mapErr(err)
			}
		}
		res, err := tx.ExecContext(ctx, `UPDATE e2e_backup_versions SET deleted = $1, auth_data = '{}' WHERE user_id = $2 AND version = $3 AND deleted = $4`,
			true, userID, version, false)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM e2e_backup_keys WHERE user_id = $1 AND version = $2`, userID, version)
		return err
	})
}

// BackupKey is one room key in a backup.
type BackupKey struct {
	RoomID, SessionID string
	FirstMessageIndex int64
	ForwardedCount    int64
	IsVerified        bool
	SessionData       []byte // JSON object
}

// PutBackupKeys stores keys in the user's current backup version, which
// must be version (else *WrongVersionError; ErrNotFound if the user has
// no backup version at all). A key replaces the stored key of the same
// session only if it is better by the spec's rules: verified over not,
// then the lower first_message_index, then the lower forwarded_count.
// It returns the version's etag and key count afterwards.
func (db *DB) PutBackupKeys(ctx context.Context, userID string, version int64, keys []BackupKey) (etag, count int64, err error) {
	err = db.tx(ctx, func(tx *wtx) error {
		if err := checkCurrentBackupTx(ctx, tx, userID, version); err != nil {
			return err
		}
		// Rows share the user and version ($1, $2) and carry six parameters
		// each, 32 rows to a statement prepared once: modernc's SQLite
		// resolves $N names linearly, so large statements cost the square
		// of their parameters.
		var full *sql.Stmt
		defer func() {
			if full != nil {
				full.Close()
			}
		}()
		changed := int64(0)
		for start := 0; start < len(keys); start += backupBatch {
			chunk := keys[start:min(start+backupBatch, len(keys))]
			args := make([]any, 2, 2+len(chunk)*6)
			args[0], args[1] = userID, version
			for _, k := range chunk {
				args = append(args, k.RoomID, k.SessionID, k.FirstMessageIndex, k.ForwardedCount, k.IsVerified, string(k.SessionData))
			}
			var res sql.Result
			var err error
			if len(chunk) == backupBatch {
				if full == nil {
					if full, err = tx.PrepareContext(ctx, backupInsert(backupBatch)); err != nil {
						return err
					}
				}
				res, err = full.ExecContext(ctx, args...)
			} else {
				res, err = tx.ExecContext(ctx, backupInsert(len(chunk)), args...)
			}
			if err != nil {
				return err
			}
			n, _ := res.RowsAffected()
			changed += n
		}
		if changed > 0 {
			if _, err := tx.ExecContext(ctx, `UPDATE e2e_backup_versions SET etag = etag + 1 WHERE user_id = $1 AND version = $2`,
				userID, version); err != nil {
				return err
			}
		}
		return etagAndCountTx(ctx, tx, userID, version, &etag, &count)
	})
	return etag, count, err
}

const backupBatch = 32

// backupInsert is the upsert of n backup keys; a key replaces the stored
// one only if it is better (see PutBackupKeys).
func backupInsert(n int) string {
	var q strings.Builder
	q.WriteString(`INSERT INTO e2e_backup_keys (user_id, version, room_id, session_id, first_message_index,
		forwarded_count, is_verified, session_data) VALUES `)
	for i := range n {
		if i > 0 {
			q.WriteByte(',')
		}
		p := 3 + i*6
		fmt.Fprintf(&q, "($1, $2, $%d, $%d, $%d, $%d, $%d, $%d)", p, p+1, p+2, p+3, p+4, p+5)
	}
	q.WriteString(` ON CONFLICT (user_id, version, room_id, session_id) DO UPDATE SET
		first_message_index = excluded.first_message_index, forwarded_count = excluded.forwarded_count,
		is_verified = excluded.is_verified, session_data = excluded.session_data
		WHERE excluded.is_verified > e2e_backup_keys.is_verified
		OR (excluded.is_verified = e2e_backup_keys.is_verified AND (
			excluded.first_message_index < e2e_backup_keys.first_message_index
			OR (excluded.first_message_index = e2e_backup_keys.first_message_index
				AND excluded.forwarded_count < e2e_backup_keys.forwarded_count)))`)
	return q.String()
}

func checkCurrentBackupTx(ctx context.Context, tx *wtx, userID string, version int64) error {
	var current int64
	err := tx.QueryRowContext(ctx, `SELECT version FROM e2e_backup_versions WHERE user_id = $1 AND deleted = $2
		ORDER BY version DESC LIMIT 1`, userID, false).Scan(&current)
	if err == sql.ErrNoRows {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	if current != version {
		return &WrongVersionError{Current: current}
	}
	return nil
}

func etagAndCountTx(ctx context.Context, tx *wtx, userID string, version int64, etag, count *int64) error {
	if err := tx.QueryRowContext(ctx, `SELECT etag FROM e2e_backup_versions WHERE user_id = $1 AND version = $2`,
		userID, version).Scan(etag); err != nil {
		return err
	}
	return tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM e2e_backup_keys WHERE user_id = $1 AND version = $2`,
		userID, version).Scan(count)
}

// BackupKeys returns the keys of a backup version (which must exist, else
// ErrNotFound): all of them, a room's (sessionID empty) or one session's.
func (db *DB) BackupKeys(ctx context.Context, userID string, version int64, roomID, sessionID string) ([]BackupKey, error) {
	var exists int
	if err := db.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM e2e_backup_versions WHERE user_id = $1 AND version = $2 AND deleted = $3`,
		userID, version, false).Scan(&exists); err != nil {
		return nil, err
	}
	if exists == 0 {
		return nil, ErrNotFound
	}
	q := `SELECT room_id, session_id, first_message_index, forwarded_count, is_verified, session_data FROM e2e_backup_keys
		WHERE user_id = $1 AND version = $2`
	args := []any{userID, version}
	if roomID != "" {
		q += ` AND room_id = $3`
		args = append(args, roomID)
		if sessionID != "" {
			q += ` AND session_id = $4`
			args = append(args, sessionID)
		}
	}
	rows, err := db.read.QueryContext(ctx, q+` ORDER BY room_id, session_id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []BackupKey
	for rows.Next() {
		var k BackupKey
		var data string
		if err := rows.Scan(&k.RoomID, &k.SessionID, &k.FirstMessageIndex, &k.ForwardedCount, &k.IsVerified, &data); err != nil {
			return nil, err
		}
		k.SessionData = []byte(data)
		out = append(out, k)
	}
	return out, rows.Err()
}

// DeleteBackupKeys deletes keys of a backup version (ErrNotFound if it
// does not exist): all, a room's (sessionID empty) or one session's. It
// returns the etag and count afterwards.
func (db *DB) DeleteBackupKeys(ctx context.Context, userID string, version int64, roomID, sessionID string) (etag, count int64, err error) {
	err = db.tx(ctx, func(tx *wtx) error {
		var exists int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM e2e_backup_versions WHERE user_id = $1 AND version = $2 AND deleted = $3`,
			userID, version, false).Scan(&exists); err != nil {
			return err
		}
		if exists == 0 {
			return ErrNotFound
		}
		q := `DELETE FROM e2e_backup_keys WHERE user_id = $1 AND version = $2`
		args := []any{userID, version}
		if roomID != "" {
			q += ` AND room_id = $3`
			args = append(args, roomID)
			if sessionID != "" {
				q += ` AND session_id = $4`
				args = append(args, sessionID)
			}
		}
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n > 0 {
			if _, err := tx.ExecContext(ctx, `UPDATE e2e_backup_versions SET etag = etag + 1 WHERE user_id = $1 AND version = $2`,
				userID, version); err != nil {
				return err
			}
		}
		return etagAndCountTx(ctx, tx, userID, version, &etag, &count)
	})
	return etag, count, err
}

// IsWrongVersion reports whether err is a *WrongVersionError and returns it.
func IsWrongVersion(err error) (*WrongVersionError, bool) {
	var w *WrongVersionError
	ok := errors.As(err, &w)
	return w, ok
}
