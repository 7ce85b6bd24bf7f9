-- Projections keep their field order: json, not jsonb (which sorts object
-- keys), so a projection written {"id": …, "email": …} yields data in that
-- order. A trigger refuses a malformed projection at INSERT/UPDATE time
-- with a message saying what to write, instead of walhook finding out while
-- routing.

DROP VIEW {{schema}}.subscribers_v;
ALTER TABLE {{schema}}.subscribers ALTER COLUMN projection TYPE json USING projection::json;

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

-- check_projection raises an error naming the path of the first problem in
-- p: an array of distinct, non-empty column names, or an object whose
-- values are a column name, null (the column named like the key),
-- {"const": value}, or a nested object of the same form.
CREATE FUNCTION {{schema}}.check_projection(p json, path text DEFAULT 'projection', depth int DEFAULT 0)
RETURNS void LANGUAGE plpgsql IMMUTABLE AS $fn$
DECLARE
    kind text := json_typeof(p);
    r record;
BEGIN
    IF p IS NULL OR kind = 'null' THEN
        RETURN;
    END IF;
    IF depth >= 16 THEN
        RAISE EXCEPTION '%: fields nest deeper than 16 levels; flatten the projection', path;
    END IF;
    IF kind = 'array' THEN
        IF json_array_length(p) = 0 THEN
            RAISE EXCEPTION '%: is empty; list at least one column, like ["id", "email"], or set it to NULL for every column', path;
        END IF;
        FOR r IN SELECT e, ord FROM json_array_elements(p) WITH ORDINALITY AS a(e, ord) LOOP
            IF json_typeof(r.e) <> 'string' OR r.e #>> '{}' = '' THEN
                RAISE EXCEPTION '%[%]: want a column name, got %', path, r.ord - 1, r.e;
            END IF;
        END LOOP;
        IF (SELECT count(DISTINCT e #>> '{}') FROM json_array_elements(p) e) <> json_array_length(p) THEN
            RAISE EXCEPTION '%: a column is listed twice; keep one', path;
        END IF;
        RETURN;
    END IF;
    IF kind <> 'object' THEN
        RAISE EXCEPTION '%: want an array of column names like ["id", "email"] or an object like {"id": "id", "contact": {"email": "email"}}, got %', path, p;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM json_each(p)) THEN
        RAISE EXCEPTION '%: is empty; name at least one column, or set it to NULL for every column', path;
    END IF;
    IF (SELECT count(DISTINCT key) <> count(*) FROM json_each(p)) THEN
        RAISE EXCEPTION '%: a key appears twice; keep one', path;
    END IF;
    FOR r IN SELECT key, value FROM json_each(p) LOOP
        IF r.key = '' THEN
            RAISE EXCEPTION '%: a field name is empty', path;
        END IF;
        CASE json_typeof(r.value)
        WHEN 'null' THEN NULL;
        WHEN 'string' THEN
            IF r.value #>> '{}' = '' THEN
                RAISE EXCEPTION '%.%: column name is empty', path, r.key;
            END IF;
        WHEN 'object' THEN
            IF EXISTS (SELECT 1 FROM json_each(r.value) WHERE key = 'const') THEN
                IF (SELECT count(*) FROM json_each(r.value)) <> 1 THEN
                    RAISE EXCEPTION '%.%: a constant is written {"const": value} with no other keys', path, r.key;
                END IF;
            ELSE
                PERFORM {{schema}}.check_projection(r.value, path || '.' || r.key, depth + 1);
            END IF;
        ELSE
            RAISE EXCEPTION '%.%: want a column name, {"const": value} or a nested object, got %', path, r.key, r.value;
        END CASE;
    END LOOP;
END
$fn$;

CREATE FUNCTION {{schema}}.subscriber_check_projection() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM {{schema}}.check_projection(NEW.projection);
    RETURN NEW;
END
$fn$;
CREATE TRIGGER subscriber_check_projection BEFORE INSERT OR UPDATE OF projection ON {{schema}}.subscribers
FOR EACH ROW EXECUTE FUNCTION {{schema}}.subscriber_check_projection();
