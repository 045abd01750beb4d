/*
 * batches.c
 *	  The verbs on batches: hand one out (a new range, or a batch again as
 *	  its next attempt), find the batches due for a retry, give up on those
 *	  whose lease ran out on their last attempt, requeue or skip one, sort
 *	  the failed ones again when max_attempts changed, cover a range no
 *	  batch covered (verify); each counted in its job.
 */
#include "postgres.h"

#include "inventory/tables.h"

#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"

/* Record a new batch (row, but its number, which it gets here) */
static void
insert_batch(InvChange *change, BatchRow *row)
{
	InvWriter	writer;

	inv_writer_open(&writer, change, INV_BATCH);
	row->batch_id = inv_next_batch_id();
	inv_row_new(&writer);
	inv_batch_set(&writer, row);
	inv_write(&writer, change, false);
	inv_writer_close(&writer);
}

/* The lease end of a hand-out at now */
static TimestampTz
lease_end(BiJob *job, TimestampTz now)
{
	return DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
												   TimestampTzGetDatum(now),
												   job->lease));
}

/* Record attempt `attempt` of batch, handed out to who at now over range */
static void
record_attempt(InvChange *change, int64 batch, int32 attempt, BiJob *job,
			   const BiRange *range, const BiAttemptBy *who, TimestampTz now,
			   TimestampTz lease_until)
{
	AttemptRow	row = {0};

	row.batch_id = batch;
	row.job_id = job->job_id;
	row.attempt = attempt;
	row.counted = range->counted;
	row.asset_count = range->asset_count;
	row.has_weight = range->has_weight;
	row.weight = range->weight;
	row.acquired_at = now;
	row.lease_until = lease_until;
	row.worker = who->worker;
	row.worker_isnull = who->worker_isnull;
	row.acquired_by = who->caller_name;
	row.config = job->config;
	inv_attempt_insert(change, &row);
}

struct BiCuts
{
	int32		job_id;
	bool		counted;		/* something to count: */
	InvCount	count;
	bool		moved;			/* the frontier moved, to: */
	int64		frontier;
};

/* Start counting what an acquire of the job cuts */
BiCuts *
bi_inventory_cuts_begin(int32 job_id)
{
	BiCuts	   *cuts = palloc0(sizeof(BiCuts));

	cuts->job_id = job_id;
	return cuts;
}

/*
 * bi_inventory_cuts_end
 *		Count what the acquire cut in the job's row: the batches, their
 *		state, the frontier's move (folding in the releases recorded since
 *		the last one).  The caller holds the job's lock.
 */
void
bi_inventory_cuts_end(BiCuts *cuts)
{
	InvChange	change;

	if (!cuts->counted)
		return;
	inv_change_begin(&change, "batchintory_acquire()");
	inv_job_cut(&change, cuts->job_id, &cuts->count, cuts->moved ? &cuts->frontier : NULL);
	inv_change_end(&change);
}

/*
 * bi_inventory_set_frontier
 *		Move the job's frontier (a backfill whose rest of window holds no
 *		matching asset: to the window's end), at the end of the acquire.
 */
void
bi_inventory_set_frontier(BiCuts *cuts, int64 frontier)
{
	cuts->counted = true;
	cuts->moved = true;
	cuts->frontier = frontier;
}

/*
 * bi_inventory_hand_out
 *		Record a new batch of the job over range, handed out as its first
 *		attempt to who with a lease of the job's lease from now; the batch
 *		and the frontier's move to its end are counted in the job at the end
 *		of the acquire (cuts).  Returns the batch's number; *lease_until
 *		receives its lease end.  The caller holds the job's lock.
 */
int64
bi_inventory_hand_out(BiJob *job, BiCuts *cuts, const BiRange *range,
					  const BiAttemptBy *who, TimestampTz *lease_until)
{
	InvChange	change;
	BatchRow	batch = {0};
	TimestampTz now = GetCurrentTimestamp();

	inv_change_begin(&change, "batchintory_acquire()");
	batch.job_id = job->job_id;
	batch.first_id = range->first_id;
	batch.last_id = range->last_id;
	batch.counted = range->counted;
	batch.asset_count = range->asset_count;
	batch.has_weight = range->has_weight;
	batch.weight = range->weight;
	batch.ended_by = range->ended_by;
	batch.status = STATUS_PROCESSING;
	batch.attempt = 1;
	batch.has_lease = true;
	batch.lease_until = lease_end(job, now);
	batch.created_at = now;
	batch.has_cut_snapshot = range->has_cut_snapshot;
	batch.cut_snapshot = range->cut_snapshot;

	insert_batch(&change, &batch);
	record_attempt(&change, batch.batch_id, 1, job, range, who, now, batch.lease_until);
	inv_change_end(&change);

	inv_count_batch(&cuts->count, &batch, 1);
	inv_count_cut(&cuts->count, &batch, 1);
	bi_inventory_set_frontier(cuts, range->last_id);

	*lease_until = batch.lease_until;
	return batch.batch_id;
}

/* Lock the row of a batch for a change (the caller checks it is there) */
static bool
lock_batch(InvWriter *writer, InvChange *change, int64 batch)
{
	ScanKeyData key;

	inv_key(&key, INDEX_BATCH_PKEY, 1, BTEqualStrategyNumber, Int64GetDatum(batch));
	return inv_lock_row(writer, change, INDEX_BATCH_PKEY, &key, 1);
}

/*
 * bi_inventory_hand_out_again
 *		Hand out a batch due for a retry (failed, or abandoned: its previous
 *		attempt, if still processing, becomes abandoned) as its next
 *		attempt over range (its assets counted again, in the job at the end
 *		of the acquire: cuts), leased for the job's lease from now.  Returns
 *		the lease's end.  The caller holds the job's lock and the batch's
 *		row.
 */
TimestampTz
bi_inventory_hand_out_again(BiJob *job, BiCuts *cuts, const BiRetry *retry,
							const BiRange *range, const BiAttemptBy *who)
{
	InvChange	change;
	InvWriter	writer;
	BatchRow	old;
	BatchRow	new;
	TimestampTz now = GetCurrentTimestamp();

	inv_change_begin(&change, "batchintory_acquire()");
	inv_attempt_abandon(&change, retry->batch_id, retry->attempt, "lease ran out");

	inv_writer_open(&writer, &change, INV_BATCH);
	if (!lock_batch(&writer, &change, retry->batch_id))
		elog(ERROR, "batch " INT64_FORMAT " does not exist", retry->batch_id);
	inv_batch_from_slot(writer.found, &old);
	new = old;
	new.status = STATUS_PROCESSING;
	new.attempt = retry->attempt + 1;
	new.counted = range->counted;
	new.asset_count = range->asset_count;
	new.has_weight = range->has_weight;
	new.weight = range->weight;
	new.has_retry = false;
	new.has_lease = true;
	new.lease_until = lease_end(job, now);
	new.has_cut_snapshot = range->has_cut_snapshot;
	new.cut_snapshot = range->cut_snapshot;
	new.has_late_rows = false;	/* a new cut: it sees them */
	inv_row_from_found(&writer);
	inv_batch_set(&writer, &new);
	inv_write(&writer, &change, true);
	inv_writer_close(&writer);

	record_attempt(&change, retry->batch_id, new.attempt, job, range, who, now,
				   new.lease_until);
	inv_change_end(&change);

	/* its assets counted again */
	cuts->counted = true;
	inv_count_batch(&cuts->count, &old, -1);
	inv_count_cut(&cuts->count, &old, -1);
	inv_count_batch(&cuts->count, &new, 1);
	inv_count_cut(&cuts->count, &new, 1);
	return new.lease_until;
}

/*
 * The batches of job $1 that may be handed out again at time $2 (now, as a
 * parameter: an index condition cannot compare with a volatile function):
 * failed ones with attempts left whose backoff has passed (through the
 * partial index batch_job_retry, in key order), and abandoned ones -- in
 * processing past their lease -- with attempts left ($3, the job's
 * max_attempts).  The expired leases are found first, as a materialized CTE:
 * a range of batch_job_leased, few rows; their batches are then looked up by
 * key.  Ordered and limited directly, or joined, a generic plan (which
 * cannot tell how few leases ran out) could walk every batch of the job.
 * The oldest of each kind is locked (lock: "" or a locking clause), after
 * key $4 with after; "retry" is the oldest of both.
 */
#define RETRY_CANDIDATES(after, lock) \
	"WITH expired AS MATERIALIZED (SELECT x.batch_id," \
	"  (x.attempt OPERATOR(pg_catalog.-) x.requeued_after) OPERATOR(pg_catalog.<) $3" \
	"   AS retryable" \
	"  FROM batchintory.batch x WHERE x.job_id OPERATOR(pg_catalog.=) $1" \
	"  AND x.status OPERATOR(pg_catalog.=) 'processing'" \
	"  AND x.lease_until OPERATOR(pg_catalog.<) $2)," \
	" rf AS (" RETRY_COLUMNS " FROM batchintory.batch c" \
	"  WHERE c.job_id OPERATOR(pg_catalog.=) $1" \
	"  AND c.status OPERATOR(pg_catalog.=) 'failed' AND c.retry_after IS NOT NULL" \
	"  AND c.retry_after OPERATOR(pg_catalog.<=) $2" after \
	"  ORDER BY c.first_id LIMIT 1" lock ")," \
	" ra AS (" RETRY_COLUMNS " FROM batchintory.batch c" \
	"  WHERE c.batch_id OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT e.batch_id" \
	"   FROM expired e WHERE e.retryable))" \
	"  AND" BI_IS_PROCESSING("c") \
	"  AND c.lease_until OPERATOR(pg_catalog.<) $2" after \
	"  ORDER BY c.first_id LIMIT 1" lock ")" \
	" SELECT * FROM (SELECT * FROM rf UNION ALL SELECT * FROM ra) u" \
	" ORDER BY u.first_id LIMIT 1"
#define RETRY_COLUMNS \
	"SELECT c.batch_id, c.first_id, c.last_id, c.attempt, c.ended_by," \
	"  c.asset_count, c.weight"
#define RETRY_LOCK " FOR UPDATE OF c SKIP LOCKED"
#define RETRY_AFTER " AND c.first_id OPERATOR(pg_catalog.>) $4"

/*
 * bi_inventory_next_retry
 *		The oldest batch of the job due for a retry at now (after key after,
 *		with has_after), into *retry; false if there is none.  With lock,
 *		its row is locked (rows other acquirers or releases hold are
 *		skipped); without, nothing is locked (peek).  Only reads.
 */
bool
bi_inventory_next_retry(BiJob *job, TimestampTz now, bool lock, bool has_after,
						int64 after, BiRetry *retry)
{
	Oid			types[4] = {INT4OID, TIMESTAMPTZOID, INT4OID, INT8OID};
	Datum		args[4] = {Int32GetDatum(job->job_id), TimestampTzGetDatum(now),
	Int32GetDatum(job->max_attempts), Int64GetDatum(after)};
	const char *sql;
	bool		isnull;

	if (lock)
		sql = has_after ? RETRY_CANDIDATES(RETRY_AFTER, RETRY_LOCK) :
			RETRY_CANDIDATES("", RETRY_LOCK);
	else
		sql = has_after ? RETRY_CANDIDATES(RETRY_AFTER, "") :
			RETRY_CANDIDATES("", "");
	if (bi_exec(sql, has_after ? 4 : 3, types, args, NULL, SPI_OK_SELECT) == 0)
		return false;
	retry->batch_id = bi_get_int64(0, 1, &isnull);
	retry->first_id = bi_get_int64(0, 2, &isnull);
	retry->last_id = bi_get_int64(0, 3, &isnull);
	retry->attempt = DatumGetInt32(bi_get(0, 4, &isnull));
	retry->ended_by = bi_get_text(0, 5);
	retry->asset_count = bi_get_int64(0, 6, &isnull);
	retry->weight = bi_get_copy(0, 7, &isnull);
	retry->has_weight = !isnull;
	return true;
}

/*
 * bi_inventory_give_up_exhausted
 *		The job's batches in processing whose lease ran out by now on their
 *		last attempt become failed for good (visible, requeued only by
 *		hand), their attempts abandoned.  Rows a release in progress holds
 *		are skipped.  The caller holds the job's lock.
 */
void
bi_inventory_give_up_exhausted(BiJob *job, TimestampTz now)
{
	InvChange	change;
	InvWriter	writer;
	ScanKeyData keys[2];
	InvProbe	probe;
	List	   *exhausted = NIL;
	ListCell   *lc;
	InvCount	count = {0};

	inv_change_begin(&change, "batchintory_acquire()");
	inv_writer_open(&writer, &change, INV_BATCH);

	/* the expired leases (batch_job_leased) on a last attempt */
	inv_key(&keys[0], INDEX_BATCH_JOB_LEASED, 1, BTEqualStrategyNumber,
			Int32GetDatum(job->job_id));
	inv_key(&keys[1], INDEX_BATCH_JOB_LEASED, 2, BTLessStrategyNumber,
			TimestampTzGetDatum(now));
	inv_probe_begin(&probe, INDEX_BATCH_JOB_LEASED, writer.rel, change.snapshot, keys, 2);
	while (inv_probe_next(&probe))
	{
		BatchRow	batch;

		inv_batch_from_slot(probe.slot, &batch);
		if (batch.attempt - batch.requeued_after >= job->max_attempts)
		{
			ItemPointer tid = palloc(sizeof(ItemPointerData));

			*tid = probe.slot->tts_tid;
			exhausted = lappend(exhausted, tid);
		}
	}
	inv_probe_end(&probe);

	/* each, locked and looked at again, unless a release holds it */
	foreach(lc, exhausted)
	{
		BatchRow	batch;
		BatchRow	failed;

		if (!inv_lock_tid(&writer, &change, (ItemPointer) lfirst(lc), true))
			continue;
		inv_batch_from_slot(writer.found, &batch);
		if (batch.status != STATUS_PROCESSING || !batch.has_lease ||
			batch.lease_until >= now ||
			batch.attempt - batch.requeued_after < job->max_attempts)
			continue;
		failed = batch;
		failed.status = STATUS_FAILED;
		failed.has_lease = false;
		inv_row_from_found(&writer);
		inv_batch_set(&writer, &failed);
		inv_write(&writer, &change, true);
		inv_attempt_abandon(&change, batch.batch_id, batch.attempt,
							"lease ran out on the last attempt");
		inv_count_batch(&count, &batch, -1);
		inv_count_batch(&count, &failed, 1);
	}
	inv_writer_close(&writer);
	if (exhausted != NIL)
		inv_job_count(&change, job->job_id, &count);
	inv_change_end(&change);
}

/*
 * Change the batch found and locked (row, as read) to status; with retry,
 * back in line for a retry due now, with the job's full number of attempts
 * again.  Counted in its job.
 */
static void
change_batch(InvWriter *writer, InvChange *change, const BatchRow *row,
			 BiStatus status, bool retry)
{
	BatchRow	new = *row;
	InvCount	count = {0};

	new.status = status;
	if (retry)
	{
		new.requeued_after = row->attempt;
		new.has_retry = true;
		new.retry_after = GetCurrentTimestamp();
	}
	inv_row_from_found(writer);
	inv_batch_set(writer, &new);
	inv_write(writer, change, true);
	inv_count_batch(&count, row, -1);
	inv_count_batch(&count, &new, 1);
	inv_job_count(change, row->job_id, &count);
}

/*
 * bi_inventory_requeue
 *		Put a failed, skipped or succeeded batch back in line for a retry,
 *		with the job's full number of attempts again (a succeeded batch no
 *		longer counts as done); false if the batch is in none of these
 *		states (or gone).
 *		Locks the batch's row.
 */
bool
bi_inventory_requeue(int64 batch)
{
	InvChange	change;
	InvWriter	writer;
	BatchRow	row;
	bool		requeued = false;

	inv_change_begin(&change, "batchintory_requeue()");
	inv_writer_open(&writer, &change, INV_BATCH);
	if (lock_batch(&writer, &change, batch))
	{
		inv_batch_from_slot(writer.found, &row);
		requeued = row.status == STATUS_FAILED || row.status == STATUS_SUCCEEDED ||
			row.status == STATUS_SKIPPED;
	}
	if (requeued)
		change_batch(&writer, &change, &row, STATUS_FAILED, true);
	inv_writer_close(&writer);
	inv_change_end(&change);
	return requeued;
}

/*
 * bi_inventory_note_late
 *		Record what verify found of a succeeded batch: late_rows rows came
 *		into it after its cut (0: none, the record cleared).  Locks the
 *		batch's row; writes nothing when the record is the same.
 */
void
bi_inventory_note_late(int64 batch, int64 late_rows)
{
	InvChange	change;
	InvWriter	writer;
	BatchRow	row;

	inv_change_begin(&change, "batchintory_verify()");
	inv_writer_open(&writer, &change, INV_BATCH);
	if (lock_batch(&writer, &change, batch))
	{
		inv_batch_from_slot(writer.found, &row);
		if (row.has_late_rows != (late_rows > 0) ||
			(late_rows > 0 && row.late_rows != late_rows))
		{
			row.has_late_rows = late_rows > 0;
			row.late_rows = late_rows;
			inv_row_from_found(&writer);
			inv_batch_set(&writer, &row);
			inv_write(&writer, &change, true);
		}
	}
	inv_writer_close(&writer);
	inv_change_end(&change);
}

/*
 * bi_inventory_skip
 *		Leave out a batch failed for good: it becomes skipped (a hole the
 *		views and verify show), and no longer stops a job whose on_failure
 *		is 'halt'.  false if the batch is not failed for good (or gone).
 *		Locks the batch's row.
 */
bool
bi_inventory_skip(int64 batch)
{
	InvChange	change;
	InvWriter	writer;
	BatchRow	row;
	bool		skipped = false;

	inv_change_begin(&change, "batchintory_skip()");
	inv_writer_open(&writer, &change, INV_BATCH);
	if (lock_batch(&writer, &change, batch))
	{
		inv_batch_from_slot(writer.found, &row);
		skipped = row.status == STATUS_FAILED && !row.has_retry;
	}
	if (skipped)
		change_batch(&writer, &change, &row, STATUS_SKIPPED, false);
	inv_writer_close(&writer);
	inv_change_end(&change);
	return skipped;
}

/*
 * bi_inventory_cover
 *		A new batch over [range->first_id, last], which no batch covered,
 *		with the range's assets, waiting to be handed out like a retry
 *		(attempt 0, failed, due now; ended_by 'verify'), counted in the
 *		job's counters.  Returns its number.  The caller holds the job's
 *		lock.
 */
int64
bi_inventory_cover(int32 job_id, const BiRange *range, int64 last)
{
	InvChange	change;
	BatchRow	batch = {0};
	InvCount	count = {0};
	TimestampTz now = GetCurrentTimestamp();

	inv_change_begin(&change, "batchintory_verify()");
	batch.job_id = job_id;
	batch.first_id = range->first_id;
	batch.last_id = last;
	batch.counted = range->counted;
	batch.asset_count = range->asset_count;
	batch.has_weight = range->has_weight;
	batch.weight = range->weight;
	batch.ended_by = "verify";
	batch.status = STATUS_FAILED;
	batch.attempt = 0;
	batch.has_retry = true;
	batch.retry_after = now;
	batch.created_at = now;

	insert_batch(&change, &batch);

	/* a batch cut, without moving the frontier */
	inv_count_batch(&count, &batch, 1);
	inv_count_cut(&count, &batch, 1);
	inv_job_cut(&change, job_id, &count, NULL);
	inv_change_end(&change);
	return batch.batch_id;
}

/*
 * bi_inventory_reset_retries
 *		max_attempts changed: the job's failed batches with attempts left
 *		(now) wait for a retry (at once, those that were failed for good),
 *		the others are failed for good.  Waits for the rows releases hold.
 *		The caller holds the job's lock.
 */
void
bi_inventory_reset_retries(int32 job_id, int32 max_attempts)
{
	static const InvIndex failed[] = {INDEX_BATCH_JOB_RETRY, INDEX_BATCH_JOB_FAILED};
	InvChange	change;
	InvWriter	writer;
	InvCount	count = {0};
	List	   *tids = NIL;
	ListCell   *lc;
	int			i;

	inv_change_begin(&change, "batchintory_alter()");
	inv_writer_open(&writer, &change, INV_BATCH);
	for (i = 0; i < (int) lengthof(failed); i++)
	{
		ScanKeyData key;
		InvProbe	probe;

		inv_key(&key, failed[i], 1, BTEqualStrategyNumber, Int32GetDatum(job_id));
		inv_probe_begin(&probe, failed[i], writer.rel, change.snapshot, &key, 1);
		while (inv_probe_next(&probe))
		{
			ItemPointer tid = palloc(sizeof(ItemPointerData));

			*tid = probe.slot->tts_tid;
			tids = lappend(tids, tid);
		}
		inv_probe_end(&probe);
	}
	foreach(lc, tids)
	{
		BatchRow	row;
		BatchRow	new;

		if (!inv_lock_tid(&writer, &change, (ItemPointer) lfirst(lc), false))
			continue;
		inv_batch_from_slot(writer.found, &row);
		new = row;
		new.has_retry = row.attempt - row.requeued_after < max_attempts;
		if (row.status != STATUS_FAILED || new.has_retry == row.has_retry)
			continue;
		new.retry_after = GetCurrentTimestamp();
		inv_row_from_found(&writer);
		inv_batch_set(&writer, &new);
		inv_write(&writer, &change, true);
		inv_count_batch(&count, &row, -1);
		inv_count_batch(&count, &new, 1);
	}
	inv_writer_close(&writer);
	inv_job_count(&change, job_id, &count);
	inv_change_end(&change);
}
