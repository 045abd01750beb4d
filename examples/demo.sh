#!/usr/bin/env bash
# batchintory demo: a metadata table of a few thousand files, an incremental
# job and a backfill job, concurrent workers, a retry, a daily report on
# calendar windows, and a final check that every file was processed exactly
# once.
#
#   examples/demo.sh          as root: installs what is missing (Debian
#                             packages, the extension from this repository),
#                             runs the demo in a throwaway cluster
#                             (pg_virtualenv) and deletes it afterwards
#   examples/demo.sh --here   runs the demo against the server that the PG*
#                             environment variables point at (batchintory
#                             must be installed there); replaces its schema
#                             "demo" and the jobs csv_ingest, parquet_backfill,
#                             daily_report
set -euo pipefail

self=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
top=$(dirname "$(dirname "$self")")

# ---------------------------------------------------------------------------
# Outside the cluster: install what is missing, start a throwaway cluster,
# run this script again inside it with --here.
# ---------------------------------------------------------------------------
if [ "${1:-}" != --here ]; then
	log=$(mktemp -t batchintory-demo.XXXXXX)
	fail() { echo "demo: $1 (log: $log)" >&2; tail -n 30 "$log" >&2; exit 1; }

	# the newest installed server, the one pg_virtualenv starts
	pg_config=$(ls -v /usr/lib/postgresql/*/bin/pg_config 2>/dev/null | tail -n 1)
	[ -n "$pg_config" ] || { echo "demo: no PostgreSQL server installed (apt-get install postgresql)" >&2; exit 1; }
	version=$("$pg_config" --version | sed 's/^PostgreSQL \([0-9]*\).*/\1/')
	installed="$("$pg_config" --sharedir)/extension/batchintory.control"

	if [ "$(id -u)" = 0 ]; then
		need=()
		# server headers (PGXS itself ships with the client package)
		[ -f "$("$pg_config" --includedir-server)/postgres.h" ] ||
			need+=("postgresql-server-dev-$version")
		[ -f "$("$pg_config" --includedir)/libpq-fe.h" ] || need+=(libpq-dev)
		command -v make >/dev/null && command -v gcc >/dev/null || need+=(make gcc)
		if [ ${#need[@]} -gt 0 ]; then
			echo "Installing ${need[*]} (apt-get) ..."
			export DEBIAN_FRONTEND=noninteractive
			{ apt-get update -qq && apt-get install -y -qq "${need[@]}"; } >>"$log" 2>&1 ||
				fail "apt-get install failed"
		fi
		# build as the owner of the tree (no root-owned files left in a
		# clone), a no-op when up to date; install when the installed
		# copy differs
		owner=$(stat -c %U "$top")
		runuser -u "$owner" -- make -s -C "$top" PG_CONFIG="$pg_config" >>"$log" 2>&1 ||
			fail "build failed"
		stale=
		for f in "$top"/batchintory.so "$top"/batchintory.control "$top"/batchintory--*.sql; do
			case $f in
			*.so) cmp -s "$f" "$("$pg_config" --pkglibdir)/${f##*/}" || stale=1 ;;
			*) cmp -s "$f" "$("$pg_config" --sharedir)/extension/${f##*/}" || stale=1 ;;
			esac
		done
		if [ -n "$stale" ]; then
			echo "Installing batchintory from $top (make install) ..."
			make -s -C "$top" PG_CONFIG="$pg_config" install >>"$log" 2>&1 || fail "make install failed"
		fi
	elif [ ! -f "$installed" ]; then
		echo "demo: batchintory is not installed; run this script as root (sudo) to install it" >&2
		exit 1
	fi

	# -t: the cluster lives in a temporary directory, even as root.  Its own
	# messages go to the log; the demo writes to our stdout (fd 3).
	echo "Starting a throwaway PostgreSQL $version server (pg_virtualenv) ..."
	exec 3>&1
	pg_virtualenv -t -v "$version" bash -c 'exec bash "$0" --here >&3 2>&3' "$self" >>"$log" 2>&1 ||
		fail "the demo failed"
	rm -f "$log"
	echo
	echo "Done; the throwaway server is gone. Every SQL call is in $self."
	exit 0
fi

# ---------------------------------------------------------------------------
# Inside: the demo itself, against the server in PG*.
# ---------------------------------------------------------------------------
export PGAPPNAME=batchintory-demo

# the command-line client is installed next to the server's programs
if ! command -v batchintory >/dev/null; then
	for dir in $(pg_config --bindir 2>/dev/null) /usr/lib/postgresql/*/bin; do
		[ -x "$dir/batchintory" ] && PATH=$dir:$PATH && break
	done
	command -v batchintory >/dev/null ||
		{ echo "demo: the batchintory command is not installed (make install)" >&2; exit 1; }
fi

# q: run SQL quietly, one unaligned line per row, fields separated by |
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }
# run: run SQL for its effect only (void results print empty lines)
run() { q "$@" >/dev/null; }

section() { printf '\n== %s\n' "$1"; }

# show_and_run SQL: print a statement, indented, then run it
show_and_run() {
	printf '%s\n' "$1" | sed 's/^/  /'
	run -c "$1"
}

# process JOB BATCH ATTEMPT WORKER: the "work" on a batch: one row per file
# of the batch (batchintory_assets lists their ids).  It stores what it did
# and releases the batch in ONE transaction, so results are kept exactly
# when the batch counts as succeeded.
process() {
	run -v job="$1" -v batch="$2" -v attempt="$3" -v worker="$4" <<-'SQL'
	BEGIN;
	INSERT INTO demo.processed (job, file_id, batch, attempt, worker)
		SELECT :'job', id, :batch, :attempt, :'worker'
		FROM batchintory_assets(:batch) AS id;
	SELECT batchintory_release(:batch, :attempt, 'succeeded');
	COMMIT;
	SQL
}

# backlog JOB: what the job has not processed yet, in one line
backlog() {
	q -v job="$1" <<-'SQL'
	SELECT format('  backlog of %s: %s files, %s, ids %s..%s', :'job',
		asset_count, demo.size(weight), first_id, last_id)
	FROM batchintory_backlog(:'job');
	SQL
}

echo "batchintory demo"
echo "================"
echo "batchintory hands out work over a metadata table in batches: consecutive"
echo "ranges of ids, never overlapping, never skipping, each attempt recorded."

section "1. The metadata table"
run <<-'SQL'
	SET client_min_messages = warning;
	CREATE EXTENSION IF NOT EXISTS batchintory;
	SELECT batchintory_drop(name) FROM batchintory.job
		WHERE name IN ('csv_ingest', 'parquet_backfill', 'daily_report');
	DROP SCHEMA IF EXISTS demo CASCADE;
	CREATE SCHEMA demo;

	-- one row per file of a data lake: the files themselves are never read
	CREATE TABLE demo.files (
		id bigserial PRIMARY KEY,
		path text NOT NULL,
		bytes bigint NOT NULL,
		kind text NOT NULL,
		created_at timestamptz NOT NULL
	);

	-- what the demo's workers did: one row per file and job (a file
	-- processed twice by a job would break the primary key)
	CREATE TABLE demo.processed (
		job text,
		file_id bigint,
		batch bigint NOT NULL,
		attempt integer NOT NULL,
		worker text NOT NULL,
		PRIMARY KEY (job, file_id)
	);

	-- add_files(n): n more files; every third one is parquet, the rest
	-- csv; ids 1201..1260 are large exports (5-10 MB), the others 20-420 kB
	CREATE FUNCTION demo.add_files(n integer) RETURNS void LANGUAGE sql AS $$
		INSERT INTO demo.files (path, bytes, kind, created_at)
		SELECT format('s3://lake/%s/%s.%s', to_char(t, 'YYYY-MM-DD'), i, k),
			CASE WHEN i BETWEEN 1201 AND 1260
				THEN 5000000 + i * 7919 % 5000000
				ELSE 20000 + i * 7919 % 400000 END,
			k, t
		FROM (SELECT i,
				CASE WHEN i % 3 = 0 THEN 'parquet' ELSE 'csv' END AS k,
				timestamptz '2026-01-01' + i * interval '30 minutes' AS t
			FROM generate_series(
				(SELECT coalesce(max(id), 0) + 1 FROM demo.files),
				(SELECT coalesce(max(id), 0) + n FROM demo.files)) AS i) AS f;
	$$;
	SELECT demo.add_files(4000);

	-- sizes for people: 27 kB, 12.3 MB, 1.4 GB
	CREATE FUNCTION demo.size(bytes numeric) RETURNS text LANGUAGE sql AS $$
		SELECT CASE WHEN bytes < 1e6 THEN round(bytes / 1e3) || ' kB'
			WHEN bytes < 1e9 THEN round(bytes / 1e6, 1) || ' MB'
			ELSE round(bytes / 1e9, 1) || ' GB' END
	$$;
SQL
q <<-'SQL'
	SELECT format('demo.files: %s files (ids %s..%s), %s csv and %s parquet, %s in all',
		count(*), min(id), max(id), count(*) FILTER (WHERE kind = 'csv'),
		count(*) FILTER (WHERE kind = 'parquet'), demo.size(sum(bytes)))
	FROM demo.files;
	SELECT format('e.g. file %s: %s, %s', id, path, demo.size(bytes))
	FROM demo.files WHERE id IN (1, 1233) ORDER BY id;
SQL
echo "batchintory only reads this table (ids, kind, bytes), never the files."

# ---------------------------------------------------------------------------
section "2. Incremental job csv_ingest: every csv file, old and new"
show_and_run "SELECT batchintory_register('csv_ingest', 'demo.files', 'id',
    weight_column => 'bytes', filter => \$\$kind = 'csv'\$\$,
    max_count => 500, max_weight => 200000000);"
echo "No upper bound: new files join the job from run to run. A run loops:"
echo "  SELECT * FROM batchintory_acquire('csv_ingest');   -- a batch, or no rows"
echo "  SELECT * FROM batchintory_assets(batch);           -- the ids of its files"
echo "  ... process them (here: store one row per file in demo.processed)"
echo "  and, in the same transaction:"
echo "  SELECT batchintory_release(batch, attempt, 'succeeded');"
echo "\"ended by\" tells what closed the batch: max_count, max_weight, the end of"
echo "the window, or no_more_assets (it reached the newest file)."

# run_incremental: one run of the csv job, batch after batch until no work
run_incremental() {
	local row batch attempt first last count size ended
	while :; do
		row=$(q <<-'SQL'
			SELECT batch, attempt, first_id, last_id, asset_count,
				demo.size(weight), ended_by
			FROM batchintory_acquire('csv_ingest', worker => 'ingest');
		SQL
		)
		if [ -z "$row" ]; then
			echo "  acquire: no rows - nothing new, the run ends"
			return
		fi
		IFS='|' read -r batch attempt first last count size ended <<<"$row"
		process csv_ingest "$batch" "$attempt" ingest
		printf '  batch %-3s ids %4s..%-4s  %3s csv files, %8s, ended by %-14s -> succeeded\n' \
			"$batch" "$first" "$last" "$count" "$size" "$ended"
	done
}

echo "run 1 (the job's first run takes everything there is):"
run_incremental
echo "300 new files arrive:"
run -c "SELECT demo.add_files(300)"
q -c "SELECT format('  ids %s..%s, %s of them csv', min(id), max(id),
		count(*) FILTER (WHERE kind = 'csv'))
	FROM demo.files WHERE id > 4000"
backlog csv_ingest
echo "run 2 (takes only what is new):"
run_incremental
echo "run 3:"
run_incremental

# ---------------------------------------------------------------------------
section "3. Backfill job parquet_backfill: parquet files 1..4000, 4 workers"
show_and_run "SELECT batchintory_register('parquet_backfill', 'demo.files', 'id',
    weight_column => 'bytes', filter => \$\$kind = 'parquet'\$\$,
    upper_bound => 4000, max_count => 50, config => '{\"schema_version\": 2}');"
echo "upper_bound makes it a backfill: a fixed set of files, ids up to 4000"
echo "(the new files 4001.. are not part of it)."
echo "Each worker loops: acquire a batch, process it, release it. File 1233"
echo "is unreadable the first time (a simulated failure), so the batch that"
echo "holds it fails once and is handed out again as attempt 2."

# worker N: acquire, process, release until acquire returns no rows
worker() {
	local name="worker-$1" done=0 row batch attempt first last count size ended
	export PGAPPNAME="demo-$name"
	while :; do
		row=$(q -v name="$name" <<-'SQL'
			SELECT batch, attempt, first_id, last_id, asset_count,
				demo.size(weight), ended_by
			FROM batchintory_acquire('parquet_backfill', worker => :'name');
		SQL
		)
		if [ -z "$row" ]; then
			echo "  $name: no work left, stops ($done batches done)"
			return
		fi
		IFS='|' read -r batch attempt first last count size ended <<<"$row"
		sleep 0.1		# reading and converting the files
		if [ "$attempt" = 1 ] && [ "$first" -le 1233 ] && [ "$last" -ge 1233 ]; then
			run -v batch="$batch" -v attempt="$attempt" <<-'SQL'
				SELECT batchintory_release(:batch, :attempt, 'failed',
					'file 1233: checksum mismatch');
			SQL
			printf '  %s: batch %-3s ids %4s..%-4s  %2s parquet files, %8s, attempt %s -> FAILED (file 1233: checksum mismatch)\n' \
				"$name" "$batch" "$first" "$last" "$count" "$size" "$attempt"
			continue
		fi
		process parquet_backfill "$batch" "$attempt" "$name"
		done=$((done + 1))
		printf '  %s: batch %-3s ids %4s..%-4s  %2s parquet files, %8s, attempt %s -> succeeded\n' \
			"$name" "$batch" "$first" "$last" "$count" "$size" "$attempt"
	done
}

backlog parquet_backfill
pids=()
for n in 1 2 3 4; do
	worker "$n" &
	pids+=($!)
done
failed=0
for pid in "${pids[@]}"; do
	wait "$pid" || failed=1
done
[ "$failed" = 0 ] || { echo "demo: a worker failed" >&2; exit 1; }

# ---------------------------------------------------------------------------
section "4. From the shell: the batchintory command"
echo "120 more files arrive. A cron job would process them with"
echo "  batchintory run csv_ingest --max-count 40 -- examples/process_batch.sh"
echo "which acquires a batch, runs the command with the batch in BATCHINTORY_*"
echo "environment variables, releases the batch by the command's exit status,"
echo "and repeats until no work is left:"
run -c "SELECT demo.add_files(120)"
batchintory run csv_ingest --max-count 40 --worker cron -- \
	"$(dirname "$self")/process_batch.sh" | sed 's/^/  /'
echo "Where every job stands (batchintory jobs):"
batchintory jobs | sed 's/^/  /'

section "5. Calendar windows: a daily report"
echo "A key may be a time. Job daily_report is keyed by created_at and cut by"
echo "window_size => '1 day': each batch is one complete day (days counted in"
echo "window_time_zone), handed out once the day is over. Its stored command"
echo "sums each day into demo.daily; on pg_cron, schedule => '5 0 * * *' would"
echo "run it every night. Here it runs once:"
run <<-'SQL'
	CREATE INDEX ON demo.files (created_at);
	CREATE TABLE demo.daily (day date PRIMARY KEY, files bigint, bytes numeric);
SQL
show_and_run "SELECT batchintory_register('daily_report', 'demo.files', 'created_at',
    window_size => '1 day', window_time_zone => 'UTC', late_commit_guard => false,
    command => \$\$INSERT INTO demo.daily
        SELECT (\$1 AT TIME ZONE 'UTC')::date, count(*), sum(bytes)
        FROM demo.files WHERE created_at BETWEEN \$1 AND \$2\$\$)"
run -c "CALL batchintory_run('daily_report')"
q <<-'SQL'
	SELECT format('  %s: %s files, %s', day, files, demo.size(bytes))
	FROM demo.daily ORDER BY day LIMIT 3;
	SELECT format('  ... %s days in all; the same as GROUP BY day over demo.files: %s',
		count(*), CASE WHEN NOT EXISTS (
			SELECT (created_at AT TIME ZONE 'UTC')::date, count(*), sum(bytes)
			FROM demo.files GROUP BY 1
			EXCEPT SELECT day, files, bytes FROM demo.daily)
			AND NOT EXISTS (
			SELECT day, files, bytes FROM demo.daily
			EXCEPT SELECT (created_at AT TIME ZONE 'UTC')::date, count(*), sum(bytes)
			FROM demo.files GROUP BY 1) THEN 'yes' ELSE 'NO' END)
	FROM demo.daily;
SQL

section "6. What the inventory recorded"
echo "The view batchintory.jobs sums up each job; batchintory.batch holds one"
echo "row per batch, batchintory.attempt one per attempt:"
q <<-'SQL'
	-- per job: progress, and whether consecutive ranges touch
	WITH b AS (
		SELECT b.job_id, b.attempt, b.first_id, b.last_id,
			lag(b.last_id) OVER (PARTITION BY b.job_id ORDER BY b.first_id)
				AS prev_last
		FROM batchintory.batch b
	)
	SELECT format(E'  %-17s %-11s %s%s files processed%s in %s batches (%s attempts), %s\n  %29s ranges %s..%s %s',
		s.job, s.kind, s.processed, ' of ' || s.total,
		' (' || s.progress_pct || ' %)', s.succeeded,
		sum(b.attempt),
		CASE WHEN s.failed + s.in_flight + s.retry_pending = 0
			THEN 'all succeeded' ELSE 'NOT ALL SUCCEEDED' END,
		'', min(b.first_id), max(b.last_id),
		CASE WHEN bool_and(b.prev_last IS NULL OR b.first_id = b.prev_last + 1)
			THEN 'follow each other: no gap, no overlap'
			ELSE 'have GAPS OR OVERLAPS' END)
	FROM batchintory.jobs s
	JOIN batchintory.job j ON j.name = s.job
	JOIN b ON b.job_id = j.job_id
	WHERE s.job IN ('csv_ingest', 'parquet_backfill')
	GROUP BY s.job, s.kind, s.processed, s.total, s.progress_pct, s.succeeded,
		s.failed, s.in_flight, s.retry_pending
	ORDER BY s.job;
SQL

echo
echo "Which batch processed file 1233 for the backfill? Every attempt is kept:"
echo "  SELECT * FROM batchintory_lookup('parquet_backfill', 1233);"
q <<-'SQL'
	SELECT format('  batch %s (ids %s..%s) attempt %s by %s: %s%s, config %s',
		batch, first_id, last_id, attempt, worker, status,
		' (' || message || ')', config)
	FROM batchintory_lookup('parquet_backfill', 1233);
SQL

echo
echo "Was every file processed exactly once? Files each job had to process,"
echo "how many succeeded batches cover each, and the results the workers stored:"
q <<-'SQL'
	WITH expected AS (
		SELECT 'csv_ingest' AS job, id FROM demo.files WHERE kind = 'csv'
		UNION ALL
		SELECT 'parquet_backfill', id FROM demo.files
			WHERE kind = 'parquet' AND id <= 4000
	), covered AS (
		SELECT e.job, e.id,
			(SELECT count(*) FROM batchintory.batch b
				JOIN batchintory.job j USING (job_id)
				WHERE j.name = e.job AND b.status = 'succeeded'
				AND e.id BETWEEN b.first_id AND b.last_id) AS batches,
			p.file_id IS NOT NULL AS stored
		FROM expected e
		LEFT JOIN demo.processed p ON p.job = e.job AND p.file_id = e.id
	), per_job AS (
		SELECT job, count(*) AS files,
			count(*) FILTER (WHERE batches = 1) AS once,
			count(*) FILTER (WHERE batches = 0) AS never,
			count(*) FILTER (WHERE batches > 1) AS twice,
			count(*) FILTER (WHERE stored) AS stored,
			(SELECT count(*) FROM demo.processed p
				WHERE p.job = c.job AND NOT EXISTS (SELECT FROM expected e
					WHERE e.job = p.job AND e.id = p.file_id)) AS stray
		FROM covered c GROUP BY job
	)
	SELECT line FROM (
		SELECT 0 AS n, '  job               files  in 1 batch  in none  in 2+  results  stray results' AS line
		UNION ALL
		SELECT 1, format('  %-16s %6s %11s %8s %6s %8s %14s',
			job, files, once, never, twice, stored, stray)
		FROM per_job
		UNION ALL
		SELECT 2, 'every file was processed exactly once: '
			|| CASE WHEN bool_and(files = once AND files = stored AND stray = 0)
				THEN 'yes' ELSE 'NO' END
		FROM per_job
	) AS report ORDER BY n, line;
SQL
q -c "SELECT format('(the %s parquet files after id 4000 lie outside the backfill''s window: untouched)',
		count(*)) FROM demo.files WHERE kind = 'parquet' AND id > 4000"
