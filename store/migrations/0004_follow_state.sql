-- The copy of subscribers, subscriptions and the control row that walhook
-- routes from, saved per replication slot at every commit of the stream
-- that changed them.
-- lsn is the stream position the copy belongs to: every transaction that
-- ends at or before it is applied, none after.
-- When walhook restarts behind later changes to those tables, it starts
-- from the copy saved before the slot's position instead of the tables'
-- latest state, so each change (and each pause or resume) still takes
-- effect exactly where it is in the stream. Never published; walhook keeps
-- the newest rows per slot.

-- json, not jsonb: a projection inside must keep its field order.
CREATE TABLE {{schema}}.follow_state (
    slot_name     text NOT NULL,
    lsn           pg_lsn NOT NULL,
    subscribers   json NOT NULL,
    subscriptions json NOT NULL,
    control       json NOT NULL,
    saved_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (slot_name, lsn)
);
