#!/usr/bin/env bash
# bench/dashboard.sh: what a dashboard sees under real load -- the shapes of
# issue 18: a burst (200,000 batches handed out by acquire(batches => 1000)
# x 200, half of them released), a job of 10^6 batches with a quarter in
# flight, 10,000 jobs; each question a dashboard asks timed at the server
# with JIT on and off, under the statistics the burst left (taken when the
# inventory was a hundredth of its size) and under fresh ones; and many
# cycles in one transaction (2,000 vs 8,000).
#
# Usage: bench/dashboard.sh [--quick] [--keep] [--reuse]
#   Runs against the server the PG* variables point at (superuser; the 10^6
#   batches are written directly, as bench/scale/setup.sql does); makes and
#   drops its own database $BENCH_DB (batchintory_dashboard).  Autovacuum
#   should be off (or slow) for "stale" to mean stale.
#   --quick: a tenth of every size (a smoke run of a minute)
#   --keep:  keep the database (for EXPLAIN, docs/operations.md)
#   --reuse: measure the database a --keep run left, without making it again
# Output: one line per question and setting: the first run in a new
# backend and the median of 5 more, in ms at the server (plpgsql EXECUTE:
# parse, plan, execute; no client, no network), and the functions its plan
# has JIT compile (EXPLAIN; 0 = none).  A first run over 60 s is cancelled
# ("> 60000"); one over 2 s is not repeated.  Figures are for comparing
# builds in one run (docs/performance.md), not absolutes.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
scale=1
keep=
reuse=
for arg in "$@"; do
	case $arg in
	--quick) scale=10 ;;
	--keep) keep=1 ;;
	--reuse) reuse=1 keep=1 ;;
	*) sed -n '2,26s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
	esac
done
db=${BENCH_DB:-batchintory_dashboard}

export PGDATABASE=$db
sql() { psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }

# setup: the database, its table, the burst, the big job and the many jobs
setup() {
psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
burst=$((200 / scale))		# acquires of 1000 batches of 5 keys
million=$((1000000 / scale))	# batches of the big job
jobs=$((10000 / scale))		# jobs on a small table

sql -f "$here/scale/setup.sql"
sql <<SQL
SET client_min_messages = warning;
-- keys 1..2 x the big job: the burst and the big job each take their own
SELECT bench_files(2 * $million);
ANALYZE files;
CREATE TABLE small (id int PRIMARY KEY);
INSERT INTO small SELECT generate_series(1, 1000);
ANALYZE small;
SELECT batchintory_register('burst', 'files', 'id', 'bytes', max_count => 5, lease => '1 day');
SELECT batchintory_register('million', 'files', 'id', 'bytes', max_count => 1, lease => '1 day');
SQL

echo "== setup: the burst ($burst x 1000 batches, half released), $million batches (a quarter in flight), $jobs jobs"
t0=$SECONDS
for i in $(seq 1 "$burst"); do
	echo "SELECT count(*) FROM batchintory_acquire('burst', batches => 1000);"
	# the statistics the burst leaves: autovacuum's, taken early
	if [ "$i" = 2 ]; then
		echo "ANALYZE batchintory.job; ANALYZE batchintory.batch; ANALYZE batchintory.attempt;"
	fi
done | sql >/dev/null
# release every other batch, 1000 to a transaction
sql -c "SELECT batch_id FROM batchintory.batch b JOIN batchintory.job j USING (job_id)
	WHERE j.name = 'burst' AND b.batch_id % 2 = 0 ORDER BY batch_id" |
	awk '{ printf "SELECT batchintory_release(%s, 1, '"'"'succeeded'"'"');\n", $1;
		if (NR % 1000 == 0) print "COMMIT; BEGIN;" } BEGIN { print "BEGIN;" } END { print "COMMIT;" }' |
	sql >/dev/null
# three quarters succeeded (written directly), a quarter handed out
sql -c "SELECT bench_grow('million', $((million * 3 / 4)), 1)" >/dev/null
for i in $(seq 1 $((million / 4000))); do
	echo "SELECT count(*) FROM batchintory_acquire('million', batches => 1000);"
done | sql >/dev/null
for i in $(seq 1 "$jobs"); do
	echo "SELECT batchintory_register('j$i', 'small', 'id', max_count => 10);"
	echo "SELECT count(*) FROM batchintory_acquire('j$i');"
done | sql >/dev/null
echo "== setup done in $((SECONDS - t0)) s"
}

# the questions, one per line: name|query
questions() {
	cat <<'Q'
jobs view, one job (10^6 batches)|SELECT * FROM batchintory.jobs WHERE job = 'million'
jobs view, the burst|SELECT * FROM batchintory.jobs WHERE job = 'burst'
jobs view, every job|SELECT * FROM batchintory.jobs
backlog estimate (10^6)|SELECT * FROM batchintory_backlog('million', exact => false)
backlog exact (10^6)|SELECT * FROM batchintory_backlog('million', exact => true)
backlog estimate (burst)|SELECT * FROM batchintory_backlog('burst', exact => false)
20 newest batches of a job|SELECT * FROM batchintory.batches WHERE job = 'million' ORDER BY first_id DESC LIMIT 20
20 newest batches, by job_id|SELECT * FROM batchintory.batches WHERE job_id = 2 ORDER BY first_id DESC LIMIT 20
20 newest attempts of a job|SELECT * FROM batchintory.attempts WHERE job = 'million' ORDER BY acquired_at DESC LIMIT 20
20 newest batches (function)|SELECT * FROM batchintory_newest_batches('million')
20 newest attempts (function)|SELECT * FROM batchintory_newest_attempts('million')
20 oldest open batches of a job|SELECT * FROM batchintory.batches WHERE job = 'burst' AND status IN ('processing', 'failed') ORDER BY first_id LIMIT 20
failed batches of a job|SELECT * FROM batchintory.batches WHERE job = 'burst' AND status = 'failed'
attempts of a worker|SELECT * FROM batchintory.attempts WHERE worker = 'nobody' LIMIT 20
batches between two times|SELECT * FROM batchintory.batches WHERE created_at BETWEEN now() - interval '1 minute' AND now() - interval '59 seconds'
a job's attempts between two times|SELECT * FROM batchintory.attempts WHERE job = 'million' AND acquired_at BETWEEN now() - interval '1 minute' AND now() - interval '59 seconds'
Q
}

measure() {	# $1: stale or fresh
	for jit in on off; do
		questions | while IFS='|' read -r name q; do
			qq=${q//\'/\'\'}
			first=$(sql -c "SET jit = $jit" -c "SET statement_timeout = '60s'" \
				-c "SELECT bench_ms('$qq', 1)" 2>/dev/null) || first='> 60000'
			rest=-
			if [ "${first%%.*}" -lt 2000 ] 2>/dev/null; then
				rest=$(sql -c "SET jit = $jit" -c "SELECT bench_ms('$qq', 1)" \
					-c "SELECT bench_ms('$qq', 5)" | tail -n 1)
			fi
			fns=$(sql -c "SET jit = $jit" -c "SELECT bench_jit('$qq')")
			printf '%-6s jit %-3s %-34s first %9s ms  then %9s ms  jit functions %s\n' \
				"$1" "$jit" "$name" "$first" "$rest" "$fns"
		done
	done
}

[ -n "$reuse" ] || setup
sql <<SQL
SET client_min_messages = warning;
-- bench_ms(query, runs): the median of runs executions of query, in ms
CREATE OR REPLACE FUNCTION bench_ms(q text, runs int) RETURNS numeric LANGUAGE plpgsql AS \$\$
DECLARE
	t timestamptz;
	ms numeric[] := '{}';
BEGIN
	FOR i IN 1..runs LOOP
		t := clock_timestamp();
		EXECUTE q;
		ms := ms || (extract(epoch FROM clock_timestamp() - t) * 1000)::numeric;
	END LOOP;
	RETURN (SELECT round(percentile_disc(0.5) WITHIN GROUP (ORDER BY m), 2) FROM unnest(ms) m);
END \$\$;
-- bench_jit(query): the functions query's plan has JIT compile (0: none)
CREATE OR REPLACE FUNCTION bench_jit(q text) RETURNS int LANGUAGE plpgsql AS \$\$
DECLARE
	plan json;
BEGIN
	EXECUTE 'EXPLAIN (FORMAT JSON) ' || q INTO plan;
	RETURN coalesce((plan->0->'JIT'->>'Functions')::int, 0);
END \$\$;
SQL
measure stale
sql -c "ANALYZE"
measure fresh

echo "== cycles (acquire + release) in one transaction"
for n in 2000 8000; do
	sql -c "SELECT batchintory_drop(name) FROM batchintory.job WHERE name = 'cycles$n'" \
		-c "SELECT batchintory_register('cycles$n', 'files', 'id', max_count => 1)" >/dev/null
	ms=$(sql -c "SELECT bench_ms(\$q\$DO \$d\$DECLARE b record; BEGIN FOR i IN 1..$n LOOP
		SELECT * INTO b FROM batchintory_acquire('cycles$n');
		PERFORM batchintory_release(b.batch, b.attempt, 'succeeded'); END LOOP; END \$d\$\$q\$, 1)")
	echo "cycles $n: $ms ms"
done

[ -n "$keep" ] || psql -X -q -d postgres -c "DROP DATABASE $db"
