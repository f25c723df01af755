package store

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// SigningKey is one of the server's ed25519 signing keys.
type SigningKey struct {
	ID  string // "ed25519:<version>"
	Key ed25519.PrivateKey
}

// ServerSigningKey returns the server's current signing key, creating one
// the first time. The key is in the database so that every process of the
// server signs with the same key and a restart keeps it.
func (db *DB) ServerSigningKey(ctx context.Context) (SigningKey, error) {
	var k SigningKey
	err := db.tx(ctx, func(tx *wtx) error {
		var seed []byte
		err := tx.QueryRowContext(ctx, `SELECT key_id, seed FROM server_keys ORDER BY created_ts DESC, key_id LIMIT 1`).Scan(&k.ID, &seed)
		if err == sql.ErrNoRows {
			seed = make([]byte, ed25519.SeedSize)
			rand.Read(seed)
			ver := make([]byte, 4)
			rand.Read(ver)
			k.ID = "ed25519:" + base64.RawURLEncoding.EncodeToString(ver)
			_, err = tx.ExecContext(ctx, `INSERT INTO server_keys (key_id, seed, created_ts) VALUES ($1, $2, $3)`, k.ID, seed, nowMS())
		}
		if err != nil {
			return err
		}
		k.Key = ed25519.NewKeyFromSeed(seed)
		return nil
	})
	return k, err
}

// End-to-end encryption keys of devices (spec: "Key management API").
// The store keeps what devices upload as canonical JSON and never looks
// inside beyond what it is told; the e2ee package validates.

// Errors of UploadKeys.
var (
	// ErrIdentityChanged: the device already has different identity keys.
	ErrIdentityChanged = errors.New("store: a device's identity keys cannot change")
	// ErrKeyExists: a one-time key with the same ID and other contents is
	// waiting to be claimed.
	ErrKeyExists = errors.New("store: a different one-time key with that ID exists")
)

// OneTimeKey is a one-time or fallback key as uploaded.
type OneTimeKey struct {
	Algorithm string // "signed_curve25519"
	KeyID     string // the part after "algorithm:"
	JSON      []byte // the key object (or JSON string), canonical
}

// KeysUpload is what one /keys/upload stores for one device.
type KeysUpload struct {
	UserID, DeviceID string
	DeviceKeys       []byte // canonical signed device keys without unsigned; nil: none
	Identity         []byte // canonical JSON of DeviceKeys' "keys"
	OneTimeKeys      []OneTimeKey
	FallbackKeys     []OneTimeKey // at most one per algorithm
}

// UploadKeys stores a device's keys in one transaction. Device keys whose
// identity differs from the stored one are refused (ErrIdentityChanged),
// as is a one-time key ID reused with other contents (ErrKeyExists); the
// same key uploaded again is accepted and ignored. A fallback key replaces
// the algorithm's previous one and is unused again, unless it is the same
// key (a retried upload must not make a used key look fresh).
//
// pos is the device list change the upload made (new or different device
// keys), 0 if none.
func (db *DB) UploadKeys(ctx context.Context, up KeysUpload) (pos int64, err error) {
	err = db.tx(ctx, func(tx *wtx) error {
		pos, err = uploadKeysTx(ctx, tx, up)
		return err
	})
	return pos, err
}

func uploadKeysTx(ctx context.Context, tx *wtx, up KeysUpload) (pos int64, err error) {
	if len(up.OneTimeKeys) > 0 || len(up.FallbackKeys) > 0 {
		tx.touch(keyDeviceKeys(up.UserID, up.DeviceID))
	}
	if up.DeviceKeys != nil {
		if pos, err = putDeviceKeysTx(ctx, tx, up); err != nil {
			return 0, err
		}
	}
	for _, k := range up.OneTimeKeys {
		res, err := tx.ExecContext(ctx, `INSERT INTO e2e_one_time_keys (user_id, device_id, algorithm, key_id, key_json)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, device_id, algorithm, key_id) DO NOTHING`,
			up.UserID, up.DeviceID, k.Algorithm, k.KeyID, string(k.JSON))
		if err != nil {
			return 0, err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			continue
		}
		var old string
		if err := tx.QueryRowContext(ctx, `SELECT key_json FROM e2e_one_time_keys
			WHERE user_id = $1 AND device_id = $2 AND algorithm = $3 AND key_id = $4`,
			up.UserID, up.DeviceID, k.Algorithm, k.KeyID).Scan(&old); err != nil {
			return 0, err
		}
		if old != string(k.JSON) {
			return 0, fmt.Errorf("%w: %s:%s", ErrKeyExists, k.Algorithm, k.KeyID)
		}
	}
	for _, k := range up.FallbackKeys {
		// A different key, or none before: stored as unused. The same key
		// again: left as it is, used or not.
		if _, err := tx.ExecContext(ctx, `INSERT INTO e2e_fallback_keys (user_id, device_id, algorithm, key_id, key_json, used)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (user_id, device_id, algorithm) DO UPDATE
			SET key_id = excluded.key_id, key_json = excluded.key_json, used = excluded.used
			WHERE e2e_fallback_keys.key_json <> excluded.key_json OR e2e_fallback_keys.key_id <> excluded.key_id`,
			up.UserID, up.DeviceID, k.Algorithm, k.KeyID, string(k.JSON), false); err != nil {
			return 0, err
		}
	}
	return pos, nil
}

// putDeviceKeysTx stores device keys; pos is the device list change, 0 if
// the same keys were stored already.
func putDeviceKeysTx(ctx context.Context, tx *wtx, up KeysUpload) (pos int64, err error) {
	var oldJSON, oldIdentity string
	err = tx.QueryRowContext(ctx, `SELECT key_json, identity FROM e2e_device_keys WHERE user_id = $1 AND device_id = $2`,
		up.UserID, up.DeviceID).Scan(&oldJSON, &oldIdentity)
	switch {
	case err == sql.ErrNoRows:
		_, err = tx.ExecContext(ctx, `INSERT INTO e2e_device_keys (user_id, device_id, key_json, identity) VALUES ($1, $2, $3, $4)`,
			up.UserID, up.DeviceID, string(up.DeviceKeys), string(up.Identity))
	case err != nil:
		return 0, err
	case oldIdentity != string(up.Identity):
		return 0, ErrIdentityChanged
	case oldJSON == string(up.DeviceKeys):
		return 0, nil // unchanged: nobody needs to hear of it
	default:
		_, err = tx.ExecContext(ctx, `UPDATE e2e_device_keys SET key_json = $1 WHERE user_id = $2 AND device_id = $3`,
			string(up.DeviceKeys), up.UserID, up.DeviceID)
	}
	if err != nil {
		return 0, err
	}
	return recordDeviceListChangeTx(ctx, tx, up.UserID, "")
}

// OneTimeKeyCounts returns, per algorithm, how many one-time keys of the
// device wait to be claimed.
func (db *DB) OneTimeKeyCounts(ctx context.Context, userID, deviceID string) (map[string]int, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT algorithm, COUNT(*) FROM e2e_one_time_keys
		WHERE user_id = $1 AND device_id = $2 GROUP BY algorithm`, userID, deviceID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var alg string
		var n int
		if err := rows.Scan(&alg, &n); err != nil {
			return nil, err
		}
		out[alg] = n
	}
	return out, rows.Err()
}

// DeviceKeyCounts returns, in one query, what every /sync tells a device
// of its keys: OneTimeKeyCounts, and the algorithms for which the device
// has a fallback key that no claim has handed out yet.
//
// The result is cached until the device's keys change (changes.go); it is
// shared, and callers must not modify it.
func (db *DB) DeviceKeyCounts(ctx context.Context, userID, deviceID string) (otks map[string]int, fallbacks []string, err error) {
	c, err := cachedQuery(db, &db.caches.deviceKeys, keyDeviceKeys(userID, deviceID), func() (deviceKeyCounts, error) {
		otks, fallbacks, err := db.deviceKeyCounts(ctx, userID, deviceID)
		return deviceKeyCounts{otks, fallbacks}, err
	})
	return c.otks, c.fallbacks, err
}

func (db *DB) deviceKeyCounts(ctx context.Context, userID, deviceID string) (otks map[string]int, fallbacks []string, err error) {
	rows, err := db.read.QueryContext(ctx, `SELECT 0, algorithm, COUNT(*) FROM e2e_one_time_keys
			WHERE user_id = $1 AND device_id = $2 GROUP BY algorithm
		UNION ALL
		SELECT 1, algorithm, 0 FROM e2e_fallback_keys WHERE user_id = $1 AND device_id = $2 AND used = $3`, userID, deviceID, false)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	otks = map[string]int{}
	for rows.Next() {
		var fallback, n int
		var alg string
		if err := rows.Scan(&fallback, &alg, &n); err != nil {
			return nil, nil, err
		}
		if fallback == 1 {
			fallbacks = append(fallbacks, alg)
		} else {
			otks[alg] = n
		}
	}
	slices.Sort(fallbacks)
	return otks, fallbacks, rows.Err()
}

// KeyClaim asks for one key of a device.
type KeyClaim struct {
	UserID, DeviceID, Algorithm string
}

// ClaimedKey is a key handed out by ClaimKeys.
type ClaimedKey struct {
	KeyClaim
	KeyID    string // the part after "algorithm:"
	JSON     []byte
	Fallback bool
}

// ClaimKeys hands out, for each claim, the device's oldest one-time key of
// the algorithm, or else its fallback key (then marked used); claims that
// find neither are left out of the result.
//
// Every one-time key is handed out at most once, also to concurrent
// claims: the key is deleted by the statement that returns it. On
// PostgreSQL a concurrent claim that picked the same row finds it gone
// once the other commits, gets no row, and tries the next key.
func (db *DB) ClaimKeys(ctx context.Context, claims []KeyClaim) ([]ClaimedKey, error) {
	// One order for every claimer: two requests claiming the same devices
	// then wait for each other's rows in the same order and never deadlock.
	claims = slices.Clone(claims)
	slices.SortFunc(claims, func(a, b KeyClaim) int {
		return cmp.Or(strings.Compare(a.UserID, b.UserID), strings.Compare(a.DeviceID, b.DeviceID), strings.Compare(a.Algorithm, b.Algorithm))
	})
	var out []ClaimedKey
	err := db.tx(ctx, func(tx *wtx) error {
		out = out[:0]
		for _, c := range claims {
			tx.touch(keyDeviceKeys(c.UserID, c.DeviceID))
			k, ok, err := claimOneTimeKeyTx(ctx, tx, c)
			if err != nil {
				return err
			}
			if !ok {
				var keyID, js string
				err := tx.QueryRowContext(ctx, `UPDATE e2e_fallback_keys SET used = $4
					WHERE user_id = $1 AND device_id = $2 AND algorithm = $3 RETURNING key_id, key_json`,
					c.UserID, c.DeviceID, c.Algorithm, true).Scan(&keyID, &js)
				if err == sql.ErrNoRows {
					continue
				}
				if err != nil {
					return err
				}
				k, ok = ClaimedKey{KeyClaim: c, KeyID: keyID, JSON: []byte(js), Fallback: true}, true
			}
			out = append(out, k)
		}
		return nil
	})
	return out, err
}

func claimOneTimeKeyTx(ctx context.Context, tx *wtx, c KeyClaim) (ClaimedKey, bool, error) {
	for {
		var keyID, js string
		err := tx.QueryRowContext(ctx, `DELETE FROM e2e_one_time_keys WHERE id = (
			SELECT id FROM e2e_one_time_keys WHERE user_id = $1 AND device_id = $2 AND algorithm = $3 ORDER BY id LIMIT 1)
			RETURNING key_id, key_json`, c.UserID, c.DeviceID, c.Algorithm).Scan(&keyID, &js)
		if err == nil {
			return ClaimedKey{KeyClaim: c, KeyID: keyID, JSON: []byte(js)}, true, nil
		}
		if err != sql.ErrNoRows {
			return ClaimedKey{}, false, err
		}
		// Either there is no key left, or a concurrent claim took the one
		// this statement picked: try again while keys remain.
		var left int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM e2e_one_time_keys
			WHERE user_id = $1 AND device_id = $2 AND algorithm = $3 LIMIT 1) k`, c.UserID, c.DeviceID, c.Algorithm).Scan(&left); err != nil {
			return ClaimedKey{}, false, err
		}
		if left == 0 {
			return ClaimedKey{}, false, nil
		}
	}
}

// DeviceKeys is one device's uploaded identity keys.
type DeviceKeys struct {
	UserID, DeviceID string
	JSON             []byte
	DisplayName      *string
}

// DevicesKeys returns the device keys of the users' devices (of all their
// devices that uploaded keys), ordered by user and device.
func (db *DB) DevicesKeys(ctx context.Context, userIDs []string) ([]DeviceKeys, error) {
	var out []DeviceKeys
	err := inChunks(userIDs, 1, func(ph string, args []any) error {
		rows, err := db.read.QueryContext(ctx, `SELECT k.user_id, k.device_id, k.key_json, d.display_name
			FROM e2e_device_keys k JOIN devices d ON d.user_id = k.user_id AND d.device_id = k.device_id
			WHERE k.user_id IN (`+ph+`) ORDER BY k.user_id, k.device_id`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var k DeviceKeys
			var js string
			if err := rows.Scan(&k.UserID, &k.DeviceID, &js, &k.DisplayName); err != nil {
				return err
			}
			k.JSON = []byte(js)
			out = append(out, k)
		}
		return rows.Err()
	})
	return out, err
}

// inChunks calls fn for runs of at most 500 values, with the placeholders
// ($first, $first+1, …) and arguments for an IN list; chunks keep the
// parameter count under SQLite's limit.
func inChunks(values []string, first int, fn func(placeholders string, args []any) error) error {
	for start := 0; start < len(values); start += 500 {
		chunk := values[start:min(start+500, len(values))]
		var ph strings.Builder
		args := make([]any, len(chunk))
		for i, v := range chunk {
			if i > 0 {
				ph.WriteByte(',')
			}
			ph.WriteString("$" + strconv.Itoa(first+i))
			args[i] = v
		}
		if err := fn(ph.String(), args); err != nil {
			return err
		}
	}
	return nil
}

// DeviceKeysOf returns one device's stored device keys, or ErrNotFound.
func (db *DB) DeviceKeysOf(ctx context.Context, userID, deviceID string) ([]byte, error) {
	var js string
	err := db.read.QueryRowContext(ctx, `SELECT key_json FROM e2e_device_keys WHERE user_id = $1 AND device_id = $2`,
		userID, deviceID).Scan(&js)
	return []byte(js), mapErr(err)
}
