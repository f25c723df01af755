package store

import (
	"context"
)

// RegistrationToken is a token that allows registration when the server's
// registration mode is "token" (spec: m.login.registration_token). The
// shape follows Synapse's admin API.
type RegistrationToken struct {
	Token       string `json:"token"`
	UsesAllowed *int64 `json:"uses_allowed"`
	Pending     int64  `json:"pending"`
	Completed   int64  `json:"completed"`
	ExpiryTime  *int64 `json:"expiry_time"`
}

// Valid reports whether the token may start one more registration at now.
func (t RegistrationToken) Valid(now int64) bool {
	if t.ExpiryTime != nil && *t.ExpiryTime <= now {
		return false
	}
	return t.UsesAllowed == nil || t.Pending+t.Completed < *t.UsesAllowed
}

const regTokenCols = `token, uses_allowed, pending, completed, expiry_ts`

func scanRegToken(row interface{ Scan(...any) error }) (RegistrationToken, error) {
	var t RegistrationToken
	err := row.Scan(&t.Token, &t.UsesAllowed, &t.Pending, &t.Completed, &t.ExpiryTime)
	return t, mapErr(err)
}

// CreateRegistrationToken stores a new token; ErrConflict if it exists.
func (db *DB) CreateRegistrationToken(ctx context.Context, t RegistrationToken) error {
	return db.tx(ctx, func(tx *wtx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO registration_tokens (token, uses_allowed, expiry_ts) VALUES ($1, $2, $3)`,
			t.Token, t.UsesAllowed, t.ExpiryTime)
		return mapErr(err)
	})
}

// RegistrationTokenByValue returns a token or ErrNotFound.
func (db *DB) RegistrationTokenByValue(ctx context.Context, token string) (RegistrationToken, error) {
	return scanRegToken(db.read.QueryRowContext(ctx, `SELECT `+regTokenCols+` FROM registration_tokens WHERE token = $1`, token))
}

// RegistrationTokens lists all tokens.
func (db *DB) RegistrationTokens(ctx context.Context) ([]RegistrationToken, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+regTokenCols+` FROM registration_tokens ORDER BY token`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	ts := []RegistrationToken{}
	for rows.Next() {
		t, err := scanRegToken(rows)
		if err != nil {
			return nil, err
		}
		ts = append(ts, t)
	}
	return ts, rows.Err()
}

// UpdateRegistrationToken sets uses_allowed and expiry_time.
func (db *DB) UpdateRegistrationToken(ctx context.Context, t RegistrationToken) error {
	return db.tx(ctx, func(tx *wtx) error {
		res, err := tx.ExecContext(ctx, `UPDATE registration_tokens SET uses_allowed = $1, expiry_ts = $2 WHERE token = $3`,
			t.UsesAllowed, t.ExpiryTime, t.Token)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return nil
	})
}

// DeleteRegistrationToken removes a token; ErrNotFound if absent.
func (db *DB) DeleteRegistrationToken(ctx context.Context, token string) error {
	return db.tx(ctx, func(tx *wtx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM registration_tokens WHERE token = $1`, token)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return nil
	})
}

// ReserveRegistrationToken counts one pending use of a valid token; ok is
// false if the token is unknown, expired or used up. Checked and counted
// in one transaction, so concurrent registrations cannot overdraw it.
func (db *DB) ReserveRegistrationToken(ctx context.Context, token string) (ok bool, err error) {
	err = db.tx(ctx, func(tx *wtx) error {
		q := `SELECT ` + regTokenCols + ` FROM registration_tokens WHERE token = $1`
		if db.Engine == Postgres {
			q += ` FOR UPDATE`
		}
		t, err := scanRegToken(tx.QueryRowContext(ctx, q, token))
		if err == ErrNotFound {
			return nil
		}
		if err != nil || !t.Valid(nowMS()) {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE registration_tokens SET pending = pending + 1 WHERE token = $1`, token)
		ok = err == nil
		return err
	})
	return ok, err
}

// CompleteRegistrationToken turns one pending use into a completed one.
func (db *DB) CompleteRegistrationToken(ctx context.Context, token string) error {
	return db.tx(ctx, func(tx *wtx) error {
		_, err := tx.ExecContext(ctx, `UPDATE registration_tokens SET pending = CASE WHEN pending > 0 THEN pending - 1 ELSE 0 END,
			completed = completed + 1 WHERE token = $1`, token)
		return err
	})
}

// AddNonce stores a shared-secret registration nonce.
func (db *DB) AddNonce(ctx context.Context, nonce string) error {
	return db.tx(ctx, func(tx *wtx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO shared_secret_nonces (nonce, created_ts) VALUES ($1, $2)`, nonce, nowMS())
		return mapErr(err)
	})
}

// UseNonce consumes a nonce younger than maxAgeMS; ok is false if it is
// unknown, used or too old. Old nonces are swept at the same time.
func (db *DB) UseNonce(ctx context.Context, nonce string, maxAgeMS int64) (ok bool, err error) {
	err = db.tx(ctx, func(tx *wtx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM shared_secret_nonces WHERE nonce = $1 AND created_ts >= $2`, nonce, nowMS()-maxAgeMS)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		ok = n == 1
		_, err = tx.ExecContext(ctx, `DELETE FROM shared_secret_nonces WHERE created_ts < $1`, nowMS()-maxAgeMS)
		return err
	})
	return ok, err
}
