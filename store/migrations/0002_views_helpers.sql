-- Derived values (the reference models' properties) as views, and the SQL
-- helpers an application calls inside its own transactions.

CREATE VIEW {{schema}}.subscribers_v AS
SELECT sb.*,
       coalesce(st.total_deliveries, 0)      AS total_deliveries,
       coalesce(st.successful_deliveries, 0) AS successful_deliveries,
       coalesce(st.failed_deliveries, 0)     AS failed_deliveries,
       coalesce(st.consecutive_failures, 0)  AS consecutive_failures,
       st.last_success_at,
       st.last_failure_at,
       CASE WHEN coalesce(st.total_deliveries, 0) = 0 THEN NULL
            ELSE round(100.0 * st.successful_deliveries / st.total_deliveries, 2)
       END AS success_rate,
       CASE
           WHEN NOT sb.is_active AND sb.auto_disabled_at IS NULL THEN 'inactive'
           WHEN NOT sb.is_active THEN 'critical'
           WHEN coalesce(st.consecutive_failures, 0) >= 5 THEN 'critical'
           WHEN coalesce(st.total_deliveries, 0) >= 10
                AND 100.0 * st.successful_deliveries / st.total_deliveries < 50 THEN 'critical'
           WHEN coalesce(st.consecutive_failures, 0) > 0 THEN 'warning'
           WHEN coalesce(st.total_deliveries, 0) > 0
                AND 100.0 * st.successful_deliveries / st.total_deliveries < 95 THEN 'warning'
           ELSE 'healthy'
       END AS health
FROM {{schema}}.subscribers sb
LEFT JOIN {{schema}}.subscriber_stats st ON st.subscriber_id = sb.id;

CREATE VIEW {{schema}}.subscriptions_v AS
SELECT s.*,
       sb.name       AS subscriber_name,
       sb.table_name AS table_name,
       CASE
           WHEN s.custom_endpoint = '' THEN sb.target_url
           WHEN s.custom_endpoint ~* '^https?://' THEN s.custom_endpoint
           ELSE rtrim(sb.target_url, '/') || '/' || ltrim(s.custom_endpoint, '/')
       END AS endpoint,
       coalesce(st.total_deliveries, 0)      AS total_deliveries,
       coalesce(st.successful_deliveries, 0) AS successful_deliveries,
       coalesce(st.failed_deliveries, 0)     AS failed_deliveries,
       coalesce(st.consecutive_failures, 0)  AS consecutive_failures,
       st.last_success_at,
       st.last_failure_at,
       st.last_response_status,
       CASE WHEN coalesce(st.total_deliveries, 0) = 0 THEN NULL
            ELSE round(100.0 * st.successful_deliveries / st.total_deliveries, 2)
       END AS success_rate
FROM {{schema}}.subscriptions s
JOIN {{schema}}.subscribers sb ON sb.id = s.subscriber_id
LEFT JOIN {{schema}}.subscription_stats st ON st.subscription_id = s.id;

CREATE VIEW {{schema}}.delivery_log_v AS
SELECT l.*,
       coalesce(l.response_status BETWEEN 200 AND 299, false) AS is_success,
       coalesce(l.response_status BETWEEN 400 AND 499, false) AS is_client_error,
       coalesce(l.response_status BETWEEN 500 AND 599, false) AS is_server_error
FROM {{schema}}.delivery_log l;

-- send_webhook emits a custom event inside the caller's transaction; it is
-- delivered only if that transaction commits. data, when given, is used as
-- the row's data if walhook can neither find the row's change in the same
-- transaction nor read the row by key.
CREATE FUNCTION {{schema}}.send_webhook(
    table_name text, key jsonb, event text,
    context jsonb DEFAULT '{}', data jsonb DEFAULT NULL
) RETURNS pg_lsn
LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
    msg jsonb;
BEGIN
    IF table_name IS NULL OR position('.' IN table_name) < 2 THEN
        RAISE EXCEPTION 'send_webhook: table must be schema-qualified, like ''public.orders'' (got %)', coalesce(table_name, 'NULL');
    END IF;
    IF key IS NULL OR jsonb_typeof(key) <> 'object' THEN
        RAISE EXCEPTION 'send_webhook: key must be a JSON object naming the primary key columns, like ''{"id": 456}'' (got %)', coalesce(key::text, 'NULL');
    END IF;
    IF event IS NULL OR event = '' THEN
        RAISE EXCEPTION 'send_webhook: event must be a non-empty event name, like ''paid''';
    END IF;
    IF context IS NOT NULL AND jsonb_typeof(context) <> 'object' THEN
        RAISE EXCEPTION 'send_webhook: context must be a JSON object (got %)', context::text;
    END IF;
    msg := jsonb_build_object('event', event, 'table', table_name, 'key', key,
                              'context', coalesce(context, '{}'::jsonb));
    IF data IS NOT NULL THEN
        msg := msg || jsonb_build_object('data', data);
    END IF;
    RETURN pg_logical_emit_message(true, 'walhook', msg::text);
END
$fn$;

-- disable_webhooks makes walhook skip every change of the caller's
-- transaction (the disable_webhooks() context manager).
CREATE FUNCTION {{schema}}.disable_webhooks() RETURNS pg_lsn
LANGUAGE sql VOLATILE AS $fn$
    SELECT pg_logical_emit_message(true, 'walhook', 'skip')
$fn$;
