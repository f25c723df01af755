-- Accounts, devices, tokens and everything the foundation needs.
CREATE TABLE accounts (
    user_id       TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL DEFAULT '',
    is_admin      BOOLEAN NOT NULL DEFAULT FALSE,
    deactivated   BOOLEAN NOT NULL DEFAULT FALSE,
    created_ts    BIGINT NOT NULL
);

CREATE TABLE devices (
    user_id      TEXT NOT NULL REFERENCES accounts(user_id),
    device_id    TEXT NOT NULL,
    display_name TEXT,
    created_ts   BIGINT NOT NULL,
    last_seen_ts BIGINT NOT NULL DEFAULT 0,
    last_seen_ip TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (user_id, device_id)
);

-- Tokens are stored as SHA-256 hashes: a database leak does not leak sessions.
CREATE TABLE access_tokens (
    token_hash   BYTEA PRIMARY KEY,
    user_id      TEXT NOT NULL,
    device_id    TEXT NOT NULL,
    created_ts   BIGINT NOT NULL,
    expires_ts   BIGINT NOT NULL DEFAULT 0, -- 0: never
    -- The refresh token this one replaced; revoked on this token's first use.
    replaces_refresh BYTEA,
    FOREIGN KEY (user_id, device_id) REFERENCES devices(user_id, device_id) ON DELETE CASCADE
);
CREATE INDEX access_tokens_device ON access_tokens(user_id, device_id);

CREATE TABLE refresh_tokens (
    token_hash   BYTEA PRIMARY KEY,
    user_id      TEXT NOT NULL,
    device_id    TEXT NOT NULL,
    created_ts   BIGINT NOT NULL,
    -- The refresh token this one replaced; revoked on this token's first use.
    replaces_refresh BYTEA,
    FOREIGN KEY (user_id, device_id) REFERENCES devices(user_id, device_id) ON DELETE CASCADE
);
CREATE INDEX refresh_tokens_device ON refresh_tokens(user_id, device_id);

CREATE TABLE profiles (
    user_id TEXT NOT NULL REFERENCES accounts(user_id),
    field   TEXT NOT NULL,
    value   TEXT NOT NULL, -- JSON
    PRIMARY KEY (user_id, field)
);

CREATE TABLE uia_sessions (
    session_id TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL DEFAULT '',
    action     TEXT NOT NULL, -- what the session authorises, e.g. "register"
    completed  TEXT NOT NULL DEFAULT '[]', -- JSON list of stage types
    token      TEXT NOT NULL DEFAULT '',   -- registration token being used
    created_ts BIGINT NOT NULL
);

CREATE TABLE registration_tokens (
    token        TEXT PRIMARY KEY,
    uses_allowed BIGINT, -- NULL: unlimited
    pending      BIGINT NOT NULL DEFAULT 0,
    completed    BIGINT NOT NULL DEFAULT 0,
    expiry_ts    BIGINT -- NULL: never
);

CREATE TABLE shared_secret_nonces (
    nonce      TEXT PRIMARY KEY,
    created_ts BIGINT NOT NULL
);
