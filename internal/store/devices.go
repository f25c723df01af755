package store

import (
	"context"
)

// Device is one login of a user.
type Device struct {
	UserID      string
	DeviceID    string
	DisplayName *string
	CreatedTS   int64
	LastSeenTS  int64
	LastSeenIP  string
}

// NewLogin describes a login: the device to create or take over and the
// token hashes to issue for it.
type NewLogin struct {
	UserID      string
	DeviceID    string
	DisplayName *string // for a new device only
	AccessHash  []byte
	ExpiresTS   int64  // 0: the access token never expires
	RefreshHash []byte // nil: no refresh token
}

// CreateLogin creates the device, or takes over an existing device of the
// same user and ID, whose earlier tokens are then revoked (spec: "the
// server will invalidate any access token previously associated with the
// device"), and stores the new tokens.
func (db *DB) CreateLogin(ctx context.Context, l NewLogin) error {
	return db.tx(ctx, func(tx *wtx) error {
		now := nowMS()
		res, err := tx.ExecContext(ctx, `INSERT INTO devices (user_id, device_id, display_name, created_ts) VALUES ($1, $2, $3, $4)
			ON CONFLICT (user_id, device_id) DO NOTHING`, l.UserID, l.DeviceID, l.DisplayName, now)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			if err := revokeDeviceTokensTx(ctx, tx, l.UserID, l.DeviceID); err != nil {
				return err
			}
		}
		return insertTokensTx(ctx, tx, l.UserID, l.DeviceID, l.AccessHash, l.ExpiresTS, l.RefreshHash, nil)
	})
}

func revokeDeviceTokensTx(ctx context.Context, tx *wtx, userID, deviceID string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM access_tokens WHERE user_id = $1 AND device_id = $2`, userID, deviceID); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM refresh_tokens WHERE user_id = $1 AND device_id = $2`, userID, deviceID)
	return err
}

func insertTokensTx(ctx context.Context, tx *wtx, userID, deviceID string, accessHash []byte, expiresTS int64, refreshHash, replaces []byte) error {
	now := nowMS()
	if _, err := tx.ExecContext(ctx, `INSERT INTO access_tokens (token_hash, user_id, device_id, created_ts, expires_ts, replaces_refresh)
		VALUES ($1, $2, $3, $4, $5, $6)`, accessHash, userID, deviceID, now, expiresTS, replaces); err != nil {
		return mapErr(err)
	}
	if refreshHash != nil {
		if _, err := tx.ExecContext(ctx, `INSERT INTO refresh_tokens (token_hash, user_id, device_id, created_ts, replaces_refresh)
			VALUES ($1, $2, $3, $4, $5)`, refreshHash, userID, deviceID, now, replaces); err != nil {
			return mapErr(err)
		}
	}
	return nil
}

// Devices lists the user's devices.
func (db *DB) Devices(ctx context.Context, userID string) ([]Device, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT device_id, display_name, created_ts, last_seen_ts, last_seen_ip
		FROM devices WHERE user_id = $1 ORDER BY device_id`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ds []Device
	for rows.Next() {
		d := Device{UserID: userID}
		if err := rows.Scan(&d.DeviceID, &d.DisplayName, &d.CreatedTS, &d.LastSeenTS, &d.LastSeenIP); err != nil {
			return nil, err
		}
		ds = append(ds, d)
	}
	return ds, rows.Err()
}

// Device returns one device, or ErrNotFound.
func (db *DB) Device(ctx context.Context, userID, deviceID string) (Device, error) {
	d := Device{UserID: userID, DeviceID: deviceID}
	err := db.read.QueryRowContext(ctx, `SELECT display_name, created_ts, last_seen_ts, last_seen_ip
		FROM devices WHERE user_id = $1 AND device_id = $2`, userID, deviceID).
		Scan(&d.DisplayName, &d.CreatedTS, &d.LastSeenTS, &d.LastSeenIP)
	return d, mapErr(err)
}

// SetDeviceDisplayName renames a device; ErrNotFound if it does not exist.
func (db *DB) SetDeviceDisplayName(ctx context.Context, userID, deviceID, name string) error {
	return db.tx(ctx, func(tx *wtx) error {
		res, err := tx.ExecContext(ctx, `UPDATE devices SET display_name = $1 WHERE user_id = $2 AND device_id = $3`, name, userID, deviceID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return nil
	})
}

// TouchDevice records that the device was seen now from ip.
func (db *DB) TouchDevice(ctx context.Context, userID, deviceID, ip string, ts int64) error {
	return db.tx(ctx, func(tx *wtx) error {
		_, err := tx.ExecContext(ctx, `UPDATE devices SET last_seen_ts = $1, last_seen_ip = $2 WHERE user_id = $3 AND device_id = $4`,
			ts, ip, userID, deviceID)
		return err
	})
}

// DeleteDevices deletes the given devices of the user and their tokens;
// unknown device IDs are ignored, as the spec asks of /delete_devices.
func (db *DB) DeleteDevices(ctx context.Context, userID string, deviceIDs []string) error {
	err := db.tx(ctx, func(tx *wtx) error {
		for _, id := range deviceIDs {
			if err := deleteDeviceTx(ctx, tx, userID, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		db.deviceListsChanged(ctx, userID)
	}
	return err
}

// deleteDeviceTx is the one place that removes a device: everything that
// belongs to a device (tokens, end-to-end keys, to-device messages) goes
// with it here, and its user's device list changes.
func deleteDeviceTx(ctx context.Context, tx *wtx, userID, deviceID string) error {
	if err := revokeDeviceTokensTx(ctx, tx, userID, deviceID); err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM devices WHERE user_id = $1 AND device_id = $2`, userID, deviceID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil
	}
	return deleteDeviceE2ETx(ctx, tx, userID, deviceID)
}
