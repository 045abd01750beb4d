#!/usr/bin/env bash
# The batch command of the demo, for `batchintory run JOB -- process_batch.sh`:
# "processes" the files of the batch that batchintory run passes in the
# BATCHINTORY_* environment variables, by storing one row per file in
# demo.processed.  batchintory run releases the batch by our exit status,
# after our own commit, so a retry may see our rows: ON CONFLICT makes the
# command idempotent.
set -euo pipefail

psql -X -q -v ON_ERROR_STOP=1 -v job="$BATCHINTORY_JOB" \
	-v batch="$BATCHINTORY_BATCH" -v attempt="$BATCHINTORY_ATTEMPT" <<'SQL'
INSERT INTO demo.processed (job, file_id, batch, attempt, worker)
	SELECT :'job', id, :batch, :attempt, 'batchintory run'
	FROM batchintory_assets(:batch) AS id
	ON CONFLICT (job, file_id) DO UPDATE
	SET batch = excluded.batch, attempt = excluded.attempt, worker = excluded.worker;
SQL
