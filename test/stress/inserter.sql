-- pgbench script of a writer: draw a key and commit it 5 ms later, so that
-- keys often commit out of order (the late-commit guard's case)
\set w random(1, 100)
BEGIN;
INSERT INTO assets (bytes) VALUES (:w);
\sleep 5 ms
COMMIT;
