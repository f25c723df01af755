package store

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
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
	err := db.tx(ctx, func(tx *sql.Tx) error {
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
