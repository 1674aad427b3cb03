-- duet schema, version 3 (issue 14): `rooms` and `messages` are partitioned
-- by UTC day on their time column, so retention drops whole partitions
-- (no DELETE scans) and the hot table's indexes stay one day small.
--
-- Primary keys include the partition key, as PostgreSQL requires:
-- rooms (id, started_at): a room's end event carries its started_at, so the
-- upsert of the end finds the row; messages (room_id, seq, sent_at): a
-- retried batch cannot store a message twice, and erasure finds a room's
-- messages by its leading room_id. `messages_by_sender` is gone: erasure
-- reaches a user's messages through the user's rooms (a sender is always a
-- member), so the hot table carries only its key.
--
-- A DEFAULT partition takes rows whose day has no partition (clock skew,
-- a server starting at midnight): they are never refused. The writer
-- creates partitions ahead (store/postgres/partitions.rs) and moves such
-- rows into a day's partition when it creates it.
--
-- Existing rows are kept: the old tables are renamed, a partition is made
-- for every day they cover, the rows are copied and the old tables dropped,
-- all inside the migration's transaction.

ALTER TABLE rooms RENAME TO rooms_v2;
ALTER TABLE rooms_v2 RENAME CONSTRAINT rooms_pkey TO rooms_v2_pkey;
DROP INDEX rooms_by_user_a, rooms_by_user_b, rooms_open;
ALTER TABLE messages RENAME TO messages_v2;
ALTER TABLE messages_v2 RENAME CONSTRAINT messages_pkey TO messages_v2_pkey;
DROP INDEX messages_by_sender;

CREATE TABLE rooms (
    id         text NOT NULL,
    user_a     uuid NOT NULL,
    user_b     uuid NOT NULL,
    mood       text NOT NULL,
    started_at timestamptz NOT NULL,
    ended_at   timestamptz,
    end_reason text,
    PRIMARY KEY (id, started_at)
) PARTITION BY RANGE (started_at);
-- Erasure: a user's rooms.
CREATE INDEX rooms_by_user_a ON rooms (user_a);
CREATE INDEX rooms_by_user_b ON rooms (user_b);
-- Start-up: close the rooms a crash left open.
CREATE INDEX rooms_open ON rooms (started_at) WHERE ended_at IS NULL;
CREATE TABLE rooms_default PARTITION OF rooms DEFAULT;

CREATE TABLE messages (
    room_id text NOT NULL,
    seq     bigint NOT NULL,
    sender  uuid NOT NULL,
    sent_at timestamptz NOT NULL,
    length  integer NOT NULL,
    -- Only with --store-messages; NULL otherwise.
    text    text,
    PRIMARY KEY (room_id, seq, sent_at)
) PARTITION BY RANGE (sent_at);
CREATE TABLE messages_default PARTITION OF messages DEFAULT;

-- One partition per UTC day of the existing rows, named as the writer
-- names them: <table>_YYYYMMDD, [day 00:00 UTC, next day 00:00 UTC).
DO $$
DECLARE
    d date;
    t text;
BEGIN
    FOR d IN
        SELECT (started_at AT TIME ZONE 'UTC')::date FROM rooms_v2
        UNION
        SELECT (sent_at AT TIME ZONE 'UTC')::date FROM messages_v2
    LOOP
        FOREACH t IN ARRAY ARRAY['rooms', 'messages'] LOOP
            EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                           t || '_' || to_char(d, 'YYYYMMDD'), t,
                           to_char(d, 'YYYY-MM-DD') || ' 00:00:00+00',
                           to_char(d + 1, 'YYYY-MM-DD') || ' 00:00:00+00');
        END LOOP;
    END LOOP;
END
$$;

INSERT INTO rooms (id, user_a, user_b, mood, started_at, ended_at, end_reason)
    SELECT id, user_a, user_b, mood, started_at, ended_at, end_reason FROM rooms_v2;
INSERT INTO messages (room_id, seq, sender, sent_at, length, text)
    SELECT room_id, seq, sender, sent_at, length, text FROM messages_v2;
DROP TABLE rooms_v2, messages_v2;
