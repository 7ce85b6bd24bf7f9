-- The demo application's table. REPLICA IDENTITY FULL lets walhook send
-- previous values and `changed` on updates.
CREATE TABLE users (
	id         bigserial PRIMARY KEY,
	name       text NOT NULL,
	email      text NOT NULL,
	updated_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE users REPLICA IDENTITY FULL;
-- walhook's role only needs REPLICATION plus rights on the tables it reads.
ALTER ROLE app REPLICATION;
