package store

import (
	"context"
	"errors"
)

// Cross-signing keys and the signatures uploaded with
// /keys/signatures/upload (spec: "Cross-signing").

// CrossSigningKey is one of a user's cross-signing keys.
type CrossSigningKey struct {
	Type      string // "master", "self_signing" or "user_signing"
	PublicKey string // unpadded base64 ed25519
	JSON      []byte // canonical, as uploaded
}

// ErrKeysChanged: the cross-signing keys are no longer those the caller
// based its decision on.
var ErrKeysChanged = errors.New("store: cross-signing keys changed meanwhile")

// CrossSigningKeys returns the users' cross-signing keys, by user and type.
func (db *DB) CrossSigningKeys(ctx context.Context, userIDs []string) (map[string]map[string]CrossSigningKey, error) {
	out := map[string]map[string]CrossSigningKey{}
	err := inChunks(userIDs, 1, func(ph string, args []any) error {
		rows, err := db.read.QueryContext(ctx, `SELECT user_id, key_type, public_key, key_json FROM e2e_cross_signing_keys
			WHERE user_id IN (`+ph+`)`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var u, js string
			var k CrossSigningKey
			if err := rows.Scan(&u, &k.Type, &k.PublicKey, &js); err != nil {
				return err
			}
			k.JSON = []byte(js)
			if out[u] == nil {
				out[u] = map[string]CrossSigningKey{}
			}
			out[u][k.Type] = k
		}
		return rows.Err()
	})
	return out, err
}

// SetCrossSigningKeys stores the user's new cross-signing keys, replacing
// those of the same types, and records a device list change. The
// signatures made by a replaced key and those made on it go with it.
//
// expect, if not nil, is the user's keys (type to public key) the caller
// decided on, for instance that no user-interactive authentication was
// needed; if they changed meanwhile, nothing is stored and the error is
// ErrKeysChanged.
func (db *DB) SetCrossSigningKeys(ctx context.Context, userID string, keys []CrossSigningKey, expect map[string]string) (pos int64, err error) {
	err = db.tx(ctx, func(tx *wtx) error {
		rows, err := tx.QueryContext(ctx, `SELECT key_type, public_key FROM e2e_cross_signing_keys WHERE user_id = $1`, userID)
		if err != nil {
			return err
		}
		current := map[string]string{}
		for rows.Next() {
			var t, pub string
			if err := rows.Scan(&t, &pub); err != nil {
				rows.Close()
				return err
			}
			current[t] = pub
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if expect != nil && !sameStrings(expect, current) {
			return ErrKeysChanged
		}
		for _, k := range keys {
			if old, ok := current[k.Type]; ok && old != k.PublicKey {
				if _, err := tx.ExecContext(ctx, `DELETE FROM e2e_signatures WHERE (signer_user = $1 AND signer_key = $2)
					OR (target_user = $1 AND target_key = $3)`, userID, "ed25519:"+old, old); err != nil {
					return err
				}
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO e2e_cross_signing_keys (user_id, key_type, public_key, key_json)
				VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, key_type) DO UPDATE
				SET public_key = excluded.public_key, key_json = excluded.key_json`, userID, k.Type, k.PublicKey, string(k.JSON)); err != nil {
				return err
			}
		}
		pos, err = recordDeviceListChangeTx(ctx, tx, userID, "")
		return err
	})
	return pos, err
}

func sameStrings(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// Signature is one signature of a device's or a cross-signing key.
type Signature struct {
	TargetUser string
	TargetKey  string // a device ID or a cross-signing public key
	SignerUser string
	SignerKey  string // "ed25519:<device ID or public key>"
	Signature  string // unpadded base64
}

// Signatures returns the uploaded signatures of the users' keys.
func (db *DB) Signatures(ctx context.Context, userIDs []string) ([]Signature, error) {
	var out []Signature
	err := inChunks(userIDs, 1, func(ph string, args []any) error {
		rows, err := db.read.QueryContext(ctx, `SELECT target_user, target_key, signer_user, signer_key, signature
			FROM e2e_signatures WHERE target_user IN (`+ph+`)`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var s Signature
			if err := rows.Scan(&s.TargetUser, &s.TargetKey, &s.SignerUser, &s.SignerKey, &s.Signature); err != nil {
				return err
			}
			out = append(out, s)
		}
		return rows.Err()
	})
	return out, err
}

// DeviceListChange names whose device list changed, and for whom ("" for
// everyone sharing a room with them).
type DeviceListChange struct {
	UserID, Viewer string
}

// AddSignatures stores signatures (replacing one by the same key on the
// same target) and records the device list changes they make, in one
// transaction. It returns the position of the last change.
func (db *DB) AddSignatures(ctx context.Context, sigs []Signature, changes []DeviceListChange) (pos int64, err error) {
	err = db.tx(ctx, func(tx *wtx) error {
		for _, s := range sigs {
			if _, err := tx.ExecContext(ctx, `INSERT INTO e2e_signatures (target_user, target_key, signer_user, signer_key, signature)
				VALUES ($1, $2, $3, $4, $5) ON CONFLICT (target_user, target_key, signer_user, signer_key) DO UPDATE
				SET signature = excluded.signature`, s.TargetUser, s.TargetKey, s.SignerUser, s.SignerKey, s.Signature); err != nil {
				return err
			}
		}
		for _, c := range changes {
			if pos, err = recordDeviceListChangeTx(ctx, tx, c.UserID, c.Viewer); err != nil {
				return err
			}
		}
		return nil
	})
	return pos, err
}
