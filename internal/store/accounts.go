package store

import (
	"context"
	"fmt"
)

// Account is a local user account.
type Account struct {
	UserID       string
	PasswordHash string // empty: no password login
	IsAdmin      bool
	Deactivated  bool
	CreatedTS    int64
}

// CreateAccount creates an account; ErrConflict if the user ID is taken
// (also by a deactivated account: user IDs are never reused).
func (db *DB) CreateAccount(ctx context.Context, a Account) error {
	return db.tx(ctx, func(tx *wtx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO accounts (user_id, password_hash, is_admin, created_ts) VALUES ($1, $2, $3, $4)`,
			a.UserID, a.PasswordHash, a.IsAdmin, nowMS())
		return mapErr(err)
	})
}

// Account returns the account of userID, or ErrNotFound.
func (db *DB) Account(ctx context.Context, userID string) (Account, error) {
	a := Account{UserID: userID}
	err := db.read.QueryRowContext(ctx, `SELECT password_hash, is_admin, deactivated, created_ts FROM accounts WHERE user_id = $1`,
		userID).Scan(&a.PasswordHash, &a.IsAdmin, &a.Deactivated, &a.CreatedTS)
	return a, mapErr(err)
}

// AccountExists reports whether the user ID is taken.
func (db *DB) AccountExists(ctx context.Context, userID string) (bool, error) {
	_, err := db.Account(ctx, userID)
	if err == ErrNotFound {
		return false, nil
	}
	return err == nil, err
}

// SetPassword replaces the password hash. If keepDevice is not nil, every
// other device of the user is deleted with its tokens (the spec's
// logout_devices); the device keepDevice stays.
func (db *DB) SetPassword(ctx context.Context, userID, hash string, keepDevice *string) error {
	defer db.deviceListsChanged(ctx, userID) // a spurious wake-up if none was deleted is harmless
	return db.tx(ctx, func(tx *wtx) error {
		res, err := tx.ExecContext(ctx, `UPDATE accounts SET password_hash = $1 WHERE user_id = $2`, hash, userID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		if keepDevice != nil {
			return deleteDevicesTx(ctx, tx, userID, func(id string) bool { return id != *keepDevice })
		}
		return nil
	})
}

// SetAdmin grants or revokes server administration.
func (db *DB) SetAdmin(ctx context.Context, userID string, admin bool) error {
	return db.tx(ctx, func(tx *wtx) error {
		res, err := tx.ExecContext(ctx, `UPDATE accounts SET is_admin = $1 WHERE user_id = $2`, admin, userID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return nil
	})
}

// Deactivate deactivates an account for good: its password and every
// device and token are removed, and its display name and avatar erased
// (as Synapse does), but the user ID stays taken.
func (db *DB) Deactivate(ctx context.Context, userID string) error {
	defer db.deviceListsChanged(ctx, userID)
	return db.tx(ctx, func(tx *wtx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE accounts SET deactivated = TRUE, password_hash = '' WHERE user_id = $1`, userID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM profiles WHERE user_id = $1`, userID); err != nil {
			return err
		}
		return deleteDevicesTx(ctx, tx, userID, nil)
	})
}

// deleteDevicesTx deletes the user's devices for which keep returns false
// (all when keep is nil), with their tokens.
func deleteDevicesTx(ctx context.Context, tx *wtx, userID string, del func(deviceID string) bool) error {
	rows, err := tx.QueryContext(ctx, `SELECT device_id FROM devices WHERE user_id = $1`, userID)
	if err != nil {
		return err
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		if del == nil || del(id) {
			ids = append(ids, id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, id := range ids {
		if err := deleteDeviceTx(ctx, tx, userID, id); err != nil {
			return fmt.Errorf("store: delete device: %w", err)
		}
	}
	return nil
}
