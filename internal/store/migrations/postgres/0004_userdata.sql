-- Per-user data: account data (global and per room) and presence.

-- Account data (the spec's "Client Config"): one JSON object per user,
-- room ('' for global) and type. stream_pos comes from stream_counter, so
-- an incremental /sync returns exactly the entries changed since its token.
CREATE TABLE account_data (
    user_id    TEXT NOT NULL,
    room_id    TEXT NOT NULL, -- '' for global account data
    type       TEXT NOT NULL,
    content    TEXT NOT NULL, -- compact JSON object
    stream_pos BIGINT NOT NULL,
    PRIMARY KEY (user_id, room_id, type)
);
CREATE INDEX account_data_user_pos ON account_data(user_id, stream_pos);

-- Presence of local users. state is what clients were last told; the
-- timestamps let any process derive the idle and offline transitions.
CREATE TABLE presence (
    user_id          TEXT PRIMARY KEY,
    state            TEXT NOT NULL,    -- online, unavailable or offline
    status_msg       TEXT,
    last_active_ts   BIGINT NOT NULL, -- the last pro-active action (ms)
    -- A /sync of the user may be waiting until this time (ms): until then
    -- (and a grace period after) the user counts as connected.
    sync_until_ts    BIGINT NOT NULL,
    currently_active BOOLEAN NOT NULL, -- as last told to clients
    stream_pos       BIGINT NOT NULL  -- the last change clients must hear of
);
CREATE INDEX presence_pos ON presence(stream_pos);
CREATE INDEX presence_live ON presence(state) WHERE state <> 'offline';
