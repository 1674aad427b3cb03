-- duet schema, version 1. Applied once, inside the migration transaction.
-- Times are timestamptz; ids are UUIDs (users) and the 16-hex room ids the
-- protocol shows. There are no foreign keys: rows arrive through a
-- write-behind queue in any batch order, and erasing a user is done
-- explicitly (store/postgres/writer.rs), not by cascades.

CREATE TABLE users (
    id           uuid PRIMARY KEY,
    -- First 128 bits of SHA-256(token); the token itself is never stored.
    token_hash   bytea NOT NULL UNIQUE,
    nickname     text NOT NULL,
    mood         text NOT NULL,
    avatar       text NOT NULL,
    interests    text[] NOT NULL,
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    -- SHA-256(salt || address), truncated: which registrations came from
    -- one address, without keeping the address.
    ip_hash      bytea
);

CREATE TABLE rooms (
    id         text PRIMARY KEY,
    user_a     uuid NOT NULL,
    user_b     uuid NOT NULL,
    mood       text NOT NULL,
    started_at timestamptz NOT NULL,
    ended_at   timestamptz,
    end_reason text
);
CREATE INDEX rooms_by_user_a ON rooms (user_a);
CREATE INDEX rooms_by_user_b ON rooms (user_b);
CREATE INDEX rooms_open ON rooms (started_at) WHERE ended_at IS NULL;

CREATE TABLE messages (
    room_id text NOT NULL,
    seq     bigint NOT NULL,
    sender  uuid NOT NULL,
    sent_at timestamptz NOT NULL,
    length  integer NOT NULL,
    -- Only with --store-messages; NULL otherwise.
    text    text,
    PRIMARY KEY (room_id, seq)
);
CREATE INDEX messages_by_sender ON messages (sender);

CREATE TABLE reports (
    id          text PRIMARY KEY,
    room_id     text NOT NULL,
    reporter_id uuid NOT NULL,
    reported_id uuid NOT NULL,
    reason      text NOT NULL,
    details     text NOT NULL,
    created_at  timestamptz NOT NULL,
    -- [{from, text, sentAt}], the room's last messages when reported.
    transcript  jsonb NOT NULL
);
CREATE INDEX reports_newest ON reports (created_at DESC);
CREATE INDEX reports_by_reported ON reports (reported_id, created_at);
CREATE INDEX reports_by_reporter ON reports (reporter_id);

CREATE TABLE bans (
    user_id uuid PRIMARY KEY,
    until   timestamptz NOT NULL,
    reason  text NOT NULL,
    by_whom text NOT NULL
);

-- Per-deployment secrets, made here once.
CREATE TABLE settings (
    name  text PRIMARY KEY,
    value text NOT NULL
);
INSERT INTO settings (name, value) VALUES ('ip_salt', gen_random_uuid()::text);
