-- End-to-end encryption: what the server carries for the clients' Olm and
-- Megolm machinery. It never holds a private key or plaintext.

-- A device's identity keys, as uploaded and signed by the device (stored
-- without "unsigned"). Its ed25519 and curve25519 keys never change once
-- uploaded: a new identity needs a new device.
CREATE TABLE e2e_device_keys (
    user_id   TEXT NOT NULL,
    device_id TEXT NOT NULL,
    key_json  TEXT NOT NULL,
    identity  TEXT NOT NULL, -- canonical JSON of key_json's "keys"
    PRIMARY KEY (user_id, device_id)
);

-- One-time keys waiting to be claimed. A claim deletes the row it hands
-- out (DELETE … RETURNING), so no key is ever given twice; id orders the
-- keys by upload, and claims take the oldest.
CREATE TABLE e2e_one_time_keys (
    id        INTEGER PRIMARY KEY,
    user_id   TEXT NOT NULL,
    device_id TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    key_id    TEXT NOT NULL,
    key_json  TEXT NOT NULL,
    UNIQUE (user_id, device_id, algorithm, key_id)
);
CREATE INDEX e2e_one_time_keys_claim ON e2e_one_time_keys(user_id, device_id, algorithm, id);

-- At most one fallback key per device and algorithm; claimed when the
-- one-time keys run out, and then marked used but kept.
CREATE TABLE e2e_fallback_keys (
    user_id   TEXT NOT NULL,
    device_id TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    key_id    TEXT NOT NULL,
    key_json  TEXT NOT NULL,
    used      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, device_id, algorithm)
);

-- Cross-signing keys: master, self_signing, user_signing.
CREATE TABLE e2e_cross_signing_keys (
    user_id    TEXT NOT NULL,
    key_type   TEXT NOT NULL,
    public_key TEXT NOT NULL, -- unpadded base64 ed25519
    key_json   TEXT NOT NULL,
    PRIMARY KEY (user_id, key_type)
);

-- Signatures uploaded with /keys/signatures/upload, merged into the keys
-- they sign when /keys/query serves them. target_key is a device ID or a
-- cross-signing public key.
CREATE TABLE e2e_signatures (
    target_user TEXT NOT NULL,
    target_key  TEXT NOT NULL,
    signer_user TEXT NOT NULL,
    signer_key  TEXT NOT NULL, -- "ed25519:<device ID or public key>"
    signature   TEXT NOT NULL,
    PRIMARY KEY (target_user, target_key, signer_user, signer_key)
);

-- Device list changes, at positions of the global stream: user_id's
-- devices or keys changed. viewer is empty when everyone who shares a room
-- with user_id is concerned, else the one user concerned (a signature they
-- made on someone else's key).
CREATE TABLE e2e_device_list_changes (
    stream_pos INTEGER NOT NULL,
    user_id    TEXT NOT NULL,
    viewer     TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (stream_pos, user_id, viewer)
);

-- To-device messages waiting for their device, at positions of the global
-- stream; deleted once a /sync token acknowledges them.
CREATE TABLE e2e_to_device (
    user_id    TEXT NOT NULL,
    device_id  TEXT NOT NULL,
    stream_pos INTEGER NOT NULL,
    sender     TEXT NOT NULL,
    type       TEXT NOT NULL,
    content    TEXT NOT NULL,
    PRIMARY KEY (user_id, device_id, stream_pos)
);

-- Transaction IDs of PUT /sendToDevice, so that a retried request sends
-- nothing twice.
CREATE TABLE e2e_to_device_txns (
    user_id    TEXT NOT NULL,
    device_id  TEXT NOT NULL,
    txn_id     TEXT NOT NULL,
    created_ts INTEGER NOT NULL,
    PRIMARY KEY (user_id, device_id, txn_id)
);

-- Server-side key backup versions. Deleted versions keep their row so
-- that a version number is never reused.
CREATE TABLE e2e_backup_versions (
    user_id   TEXT NOT NULL,
    version   INTEGER NOT NULL,
    algorithm TEXT NOT NULL,
    auth_data TEXT NOT NULL,
    etag      INTEGER NOT NULL DEFAULT 0,
    deleted   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, version)
);

-- The encrypted room keys of a backup version.
CREATE TABLE e2e_backup_keys (
    user_id             TEXT NOT NULL,
    version             INTEGER NOT NULL,
    room_id             TEXT NOT NULL,
    session_id          TEXT NOT NULL,
    first_message_index INTEGER NOT NULL,
    forwarded_count     INTEGER NOT NULL,
    is_verified         INTEGER NOT NULL,
    session_data        TEXT NOT NULL,
    PRIMARY KEY (user_id, version, room_id, session_id)
);

-- Each user's dehydrated device (MSC3814); the device itself is a row of
-- devices without tokens.
CREATE TABLE e2e_dehydrated_devices (
    user_id     TEXT PRIMARY KEY,
    device_id   TEXT NOT NULL,
    device_data TEXT NOT NULL
);
