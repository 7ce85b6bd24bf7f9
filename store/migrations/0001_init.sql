-- walhook's own state. {{schema}} is replaced by the quoted schema name.
--
-- subscribers, subscriptions and control carry configuration and are in the
-- publication (REPLICA IDENTITY FULL), so changes reach walhook through the
-- WAL at an exact point of the stream. Counters live in subscriber_stats and
-- subscription_stats, and the delivery log and retry queue in their own
-- tables: none of these is ever published, so walhook's own bookkeeping never
-- feeds back into its stream.

CREATE TABLE {{schema}}.subscribers (
    id                          bigserial PRIMARY KEY,
    name                        text NOT NULL UNIQUE CHECK (name <> ''),
    description                 text NOT NULL DEFAULT '',
    table_name                  text NOT NULL CHECK (position('.' IN table_name) > 1),
    target_url                  text NOT NULL CHECK (target_url ~* '^https?://'),
    projection                  jsonb,
    secrets                     text[] NOT NULL DEFAULT '{}',
    headers                     jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(headers) = 'object'),
    max_retries                 integer NOT NULL DEFAULT 3 CHECK (max_retries >= 0),
    retry_delay_ms              bigint NOT NULL DEFAULT 60000 CHECK (retry_delay_ms > 0),
    timeout_ms                  bigint NOT NULL DEFAULT 30000 CHECK (timeout_ms > 0),
    auto_disable_after_failures integer NOT NULL DEFAULT 10 CHECK (auto_disable_after_failures >= 0),
    batch_size                  integer NOT NULL DEFAULT 1 CHECK (batch_size >= 1),
    unordered                   boolean NOT NULL DEFAULT false,
    is_active                   boolean NOT NULL DEFAULT true,
    config_managed              boolean NOT NULL DEFAULT false,
    disabled_reason             text,
    auto_disabled_at            timestamptz,
    created_at                  timestamptz NOT NULL DEFAULT now(),
    updated_at                  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX subscribers_table_name ON {{schema}}.subscribers (table_name);

CREATE TABLE {{schema}}.subscriptions (
    id              bigserial PRIMARY KEY,
    subscriber_id   bigint NOT NULL REFERENCES {{schema}}.subscribers (id) ON DELETE CASCADE,
    event_name      text NOT NULL CHECK (event_name <> ''),
    custom_endpoint text NOT NULL DEFAULT '',
    is_active       boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (subscriber_id, event_name)
);

CREATE TABLE {{schema}}.subscriber_stats (
    subscriber_id         bigint PRIMARY KEY REFERENCES {{schema}}.subscribers (id) ON DELETE CASCADE,
    total_deliveries      bigint NOT NULL DEFAULT 0,
    successful_deliveries bigint NOT NULL DEFAULT 0,
    failed_deliveries     bigint NOT NULL DEFAULT 0,
    consecutive_failures  integer NOT NULL DEFAULT 0,
    last_success_at       timestamptz,
    last_failure_at       timestamptz
);

CREATE TABLE {{schema}}.subscription_stats (
    subscription_id       bigint PRIMARY KEY REFERENCES {{schema}}.subscriptions (id) ON DELETE CASCADE,
    total_deliveries      bigint NOT NULL DEFAULT 0,
    successful_deliveries bigint NOT NULL DEFAULT 0,
    failed_deliveries     bigint NOT NULL DEFAULT 0,
    consecutive_failures  integer NOT NULL DEFAULT 0,
    last_success_at       timestamptz,
    last_failure_at       timestamptz,
    last_response_status  integer
);

CREATE TABLE {{schema}}.delivery_log (
    id                   bigserial PRIMARY KEY,
    subscription_id      bigint,
    subscriber_id        bigint,
    event_id             text NOT NULL,
    event_name           text NOT NULL,
    table_name           text NOT NULL,
    attempt_number       integer NOT NULL,
    request_payload      text,
    response_status      integer,
    response_body        text,
    delivery_duration_ms integer NOT NULL DEFAULT 0,
    error_message        text,
    created_at           timestamptz NOT NULL DEFAULT now()
);
-- The log is append-only and written at delivery rate: BRIN serves time
-- ranges (retention, stats) at a fraction of a btree's write cost; listings
-- go newest first by id.
CREATE INDEX delivery_log_created_at ON {{schema}}.delivery_log USING brin (created_at);
CREATE INDEX delivery_log_subscription ON {{schema}}.delivery_log (subscription_id, id);

CREATE SEQUENCE {{schema}}.retry_queue_seq;

CREATE TABLE {{schema}}.retry_queue (
    id              bigserial PRIMARY KEY,
    event_id        text NOT NULL,
    subscription_id bigint NOT NULL REFERENCES {{schema}}.subscriptions (id) ON DELETE CASCADE,
    subscriber_id   bigint NOT NULL,
    event_name      text NOT NULL,
    table_name      text NOT NULL,
    order_key       text NOT NULL DEFAULT '',
    seq             bigint NOT NULL DEFAULT nextval('{{schema}}.retry_queue_seq'),
    payload         bytea NOT NULL,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'held', 'failed', 'disabled')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    last_status     integer,
    locked_by       text,
    locked_until    timestamptz,
    commit_time     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (event_id, subscription_id)
);
CREATE INDEX retry_queue_due ON {{schema}}.retry_queue (next_attempt_at) WHERE status = 'pending';
CREATE INDEX retry_queue_key ON {{schema}}.retry_queue (subscription_id, order_key, seq);
CREATE INDEX retry_queue_held ON {{schema}}.retry_queue (id) WHERE status = 'held';

CREATE TABLE {{schema}}.control (
    id         integer PRIMARY KEY CHECK (id = 1),
    paused     boolean NOT NULL DEFAULT false,
    mode       text NOT NULL DEFAULT 'skip' CHECK (mode IN ('skip', 'hold')),
    updated_at timestamptz NOT NULL DEFAULT now(),
    updated_by text NOT NULL DEFAULT ''
);
INSERT INTO {{schema}}.control (id) VALUES (1);

-- Re-enabling a subscriber (is_active false -> true, by walhook or by plain
-- SQL) clears its auto-disable, resets its failure streaks and releases the
-- events held for it while it was auto-disabled.
CREATE FUNCTION {{schema}}.subscriber_reenabled() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    IF NEW.is_active AND NOT OLD.is_active THEN
        NEW.auto_disabled_at := NULL;
        NEW.disabled_reason := NULL;
        UPDATE {{schema}}.retry_queue SET status = 'pending', next_attempt_at = now(), updated_at = now()
        WHERE subscriber_id = NEW.id AND status = 'disabled';
        UPDATE {{schema}}.subscriber_stats SET consecutive_failures = 0 WHERE subscriber_id = NEW.id;
        UPDATE {{schema}}.subscription_stats st SET consecutive_failures = 0
        FROM {{schema}}.subscriptions s
        WHERE s.id = st.subscription_id AND s.subscriber_id = NEW.id;
    END IF;
    RETURN NEW;
END
$fn$;
CREATE TRIGGER subscriber_reenabled BEFORE UPDATE OF is_active ON {{schema}}.subscribers
FOR EACH ROW EXECUTE FUNCTION {{schema}}.subscriber_reenabled();

ALTER TABLE {{schema}}.subscribers REPLICA IDENTITY FULL;
ALTER TABLE {{schema}}.subscriptions REPLICA IDENTITY FULL;
ALTER TABLE {{schema}}.control REPLICA IDENTITY FULL;
