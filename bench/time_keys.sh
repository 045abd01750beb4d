#!/usr/bin/env bash
# bench/time_keys.sh: acquire + release on a job keyed by timestamptz
# against one keyed by bigint, over tables of the same size (10^6 rows, a
# btree on the key, batches of 100), in one run: microseconds per cycle in
# rounds that alternate, and their ratio (issue 20: "as fast as an integer
# job of the same size").  Both jobs run without the late-commit guard (a
# time key has no sequence).
#
# Usage: bench/time_keys.sh [--rows N] [--cycles N]   (the server of the PG*
#        variables, superuser; makes and drops database $BENCH_DB).  Each job
#        takes 3 x N + 500 batches of 100 rows: --rows must hold them.
set -euo pipefail
rows=1000000
cycles=2000
while [ $# -gt 0 ]; do
	case $1 in
	--rows) rows=${2:?}; shift ;;
	--cycles) cycles=${2:?}; shift ;;
	*) sed -n 's/^# \{0,1\}//; 2,10p' "$0" >&2; exit 2 ;;
	esac
	shift
done
db=${BENCH_DB:-batchintory_time_keys}
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
psql -X -q -v ON_ERROR_STOP=1 -d "$db" <<SQL
SET client_min_messages = warning;
CREATE EXTENSION batchintory;
CREATE TABLE ints (id bigserial PRIMARY KEY, bytes bigint);
INSERT INTO ints (bytes) SELECT 1 FROM generate_series(1, $rows);
CREATE TABLE times (t timestamptz NOT NULL, bytes bigint);
INSERT INTO times SELECT '2026-01-01'::timestamptz + g * interval '1 ms', 1
FROM generate_series(1, $rows) g;
CREATE INDEX ON times (t);
VACUUM ANALYZE ints, times;
SELECT batchintory_register('ints', 'ints', 'id', max_count => 100, late_commit_guard => false);
SELECT batchintory_register('times', 'times', 't', max_count => 100, late_commit_guard => false);
-- cycles(job, n): microseconds per acquire + release, n in one call
CREATE FUNCTION cycles(j text, n int) RETURNS numeric LANGUAGE plpgsql AS \$\$
DECLARE
	b record;
	t timestamptz := clock_timestamp();
BEGIN
	FOR i IN 1..n LOOP
		SELECT * INTO b FROM batchintory_acquire(j);
		PERFORM batchintory_release(b.batch, b.attempt, 'succeeded');
	END LOOP;
	RETURN round(extract(epoch FROM clock_timestamp() - t)::numeric * 1e6 / n, 1);
END \$\$;
SELECT cycles('ints', 500), cycles('times', 500);	-- warm up
\pset footer off
SELECT r AS round, i AS bigint_us, t AS timestamptz_us, round(t / i, 2) AS ratio
FROM generate_series(1, 3) r,
	LATERAL (SELECT cycles('ints', $cycles + r - r) AS i,
		cycles('times', $cycles + r - r) AS t) c;	-- again each round
SQL
psql -X -q -d postgres -c "DROP DATABASE $db"
