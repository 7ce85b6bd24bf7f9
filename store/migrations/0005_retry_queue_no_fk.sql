-- Parking is on the hot path while an endpoint is down (every event for
-- it becomes a retry_queue row), and the foreign key from
-- retry_queue.subscription_id to subscriptions cost about a third of the
-- server's time per parked row: one RI trigger per row taking FOR KEY
-- SHARE on the subscription. Parking already joins subscriptions (events
-- of a missing subscription are dropped), so the key only has to keep
-- its other promise: deleting a subscription deletes its queued rows. A
-- statement-level trigger does that once per DELETE. A row parked by a
-- transaction that raced the delete (it read the subscription before the
-- delete committed) is removed by the retry worker's periodic sweep
-- (DB.dropOrphanRetryRows); until then it is never claimed, since
-- claiming joins subscriptions too.

ALTER TABLE {{schema}}.retry_queue DROP CONSTRAINT retry_queue_subscription_id_fkey;

CREATE FUNCTION {{schema}}.subscriptions_deleted() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    DELETE FROM {{schema}}.retry_queue q USING gone WHERE q.subscription_id = gone.id;
    RETURN NULL;
END
$fn$;
CREATE TRIGGER subscriptions_deleted AFTER DELETE ON {{schema}}.subscriptions
REFERENCING OLD TABLE AS gone
FOR EACH STATEMENT EXECUTE FUNCTION {{schema}}.subscriptions_deleted();
