package store

import (
	"context"
	"database/sql"
)

// Dehydrated devices (MSC3814): at most one per user, a device without
// tokens that receives to-device messages (room keys) while every device
// of the user is offline, for a later login to rehydrate.

// DehydratedDevice is a user's dehydrated device.
type DehydratedDevice struct {
	DeviceID   string
	DeviceData []byte // JSON object, opaque to the server
}

// ErrDeviceInUse: the device ID names a device with tokens, which cannot
// become a dehydrated device.
var ErrDeviceInUse = ErrConflict

// PutDehydratedDevice replaces the user's dehydrated device (deleting the
// previous one with everything it had) by a new device with its keys, in
// one transaction. A device ID already used by a device that logged in is
// refused with ErrDeviceInUse. It returns the position of the last
// device list change.
func (db *DB) PutDehydratedDevice(ctx context.Context, userID string, d DehydratedDevice, displayName *string, keys KeysUpload) (pos int64, err error) {
	err = db.tx(ctx, func(tx *wtx) error {
		var old string
		err := tx.QueryRowContext(ctx, `SELECT device_id FROM e2e_dehydrated_devices WHERE user_id = $1`, userID).Scan(&old)
		if err != nil && err != sql.ErrNoRows {
			return err
		}
		if old != "" {
			if err := deleteDeviceTx(ctx, tx, userID, old); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO devices (user_id, device_id, display_name, created_ts) VALUES ($1, $2, $3, $4)
			ON CONFLICT (user_id, device_id) DO NOTHING`, userID, d.DeviceID, displayName, nowMS())
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrDeviceInUse
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO e2e_dehydrated_devices (user_id, device_id, device_data) VALUES ($1, $2, $3)`,
			userID, d.DeviceID, string(d.DeviceData)); err != nil {
			return err
		}
		keys.UserID, keys.DeviceID = userID, d.DeviceID
		pos, err = uploadKeysTx(ctx, tx, keys)
		return err
	})
	return pos, err
}

// DehydratedDevice returns the user's dehydrated device, or ErrNotFound.
func (db *DB) DehydratedDevice(ctx context.Context, userID string) (DehydratedDevice, error) {
	var d DehydratedDevice
	var data string
	err := db.read.QueryRowContext(ctx, `SELECT device_id, device_data FROM e2e_dehydrated_devices WHERE user_id = $1`, userID).
		Scan(&d.DeviceID, &data)
	d.DeviceData = []byte(data)
	return d, mapErr(err)
}

// DeleteDehydratedDevice deletes the user's dehydrated device and returns
// its ID, or ErrNotFound.
func (db *DB) DeleteDehydratedDevice(ctx context.Context, userID string) (string, error) {
	var id string
	err := db.tx(ctx, func(tx *wtx) error {
		if err := tx.QueryRowContext(ctx, `SELECT device_id FROM e2e_dehydrated_devices WHERE user_id = $1`, userID).Scan(&id); err != nil {
			return mapErr(err)
		}
		return deleteDeviceTx(ctx, tx, userID, id)
	})
	if err == nil {
		db.deviceListsChanged(ctx, userID)
	}
	return id, err
}
