/*
 * jobs.c
 *	  The job's row (and the progress rows folded into it) and the verbs on
 *	  it: create it, change its settings, drop it with everything it cut,
 *	  move its frontier, count the changes of its batches and fold in what
 *	  its releases recorded, rewind it; and what acquire and the jobs view
 *	  read of it.
 */
#include "postgres.h"

#include "inventory/tables.h"

#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgrprotos.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

const InvColumnDef inv_job_columns[JOB_NCOLUMNS] = {
	[JOB_JOB_ID] = {"job_id", INT4OID},
	[JOB_NAME] = {"name", TEXTOID},
	[JOB_OWNER] = {"owner", REGROLEOID},
	[JOB_MAX_ATTEMPTS] = {"max_attempts", INT4OID},
	[JOB_LEASE] = {"lease", INTERVALOID},
	[JOB_RETRY_BACKOFF] = {"retry_backoff", INTERVALOID},
	[JOB_FRONTIER] = {"frontier", INT8OID},
	[JOB_REVISION] = {"revision", INT8OID},
	[JOB_CUT_BATCHES] = {"cut_batches", INT8OID},
	[JOB_CUT_ASSETS] = {"cut_assets", INT8OID},
	[JOB_CUT_WEIGHT] = {"cut_weight", NUMERICOID},
	[JOB_DONE_BATCHES] = {"done_batches", INT8OID},
	[JOB_DONE_ASSETS] = {"done_assets", INT8OID},
	[JOB_DONE_WEIGHT] = {"done_weight", NUMERICOID},
	[JOB_LAST_SUCCESS] = {"last_success", TIMESTAMPTZOID},
	[JOB_PROCESSING_BATCHES] = {"processing_batches", INT8OID},
	[JOB_RETRY_BATCHES] = {"retry_batches", INT8OID},
	[JOB_FAILED_BATCHES] = {"failed_batches", INT8OID},
	[JOB_FAILED_ASSETS] = {"failed_assets", INT8OID},
	[JOB_FAILED_WEIGHT] = {"failed_weight", NUMERICOID},
	[JOB_SKIPPED_BATCHES] = {"skipped_batches", INT8OID},
	[JOB_ON_FAILURE] = {"on_failure", TEXTOID},
	[JOB_SOURCE] = {"source", REGCLASSOID},
	[JOB_ID_COLUMN] = {"id_column", NAMEOID},
	[JOB_LATE_COMMIT_GUARD] = {"late_commit_guard", BOOLOID},
};

const InvColumnDef inv_progress_columns[PROGRESS_NCOLUMNS] = {
	[PROGRESS_JOB_ID] = {"job_id", INT4OID},
	[PROGRESS_BATCHES] = {"batches", INT8OID},
	[PROGRESS_ASSETS] = {"assets", INT8OID},
	[PROGRESS_WEIGHT] = {"weight", NUMERICOID},
	[PROGRESS_LAST_SUCCESS] = {"last_success", TIMESTAMPTZOID},
	[PROGRESS_PROCESSING_BATCHES] = {"processing_batches", INT8OID},
	[PROGRESS_RETRY_BATCHES] = {"retry_batches", INT8OID},
	[PROGRESS_FAILED_BATCHES] = {"failed_batches", INT8OID},
	[PROGRESS_FAILED_ASSETS] = {"failed_assets", INT8OID},
	[PROGRESS_FAILED_WEIGHT] = {"failed_weight", NUMERICOID},
	[PROGRESS_SKIPPED_BATCHES] = {"skipped_batches", INT8OID},
	[PROGRESS_BACKEND] = {"backend", INT4OID},
};

/* The columns of a job's counters by state (InvCount), in either table */
static const int job_counts[N_COUNTS] = {
	[COUNT_DONE] = JOB_DONE_BATCHES,
	[COUNT_DONE_ASSETS] = JOB_DONE_ASSETS,
	[COUNT_PROCESSING] = JOB_PROCESSING_BATCHES,
	[COUNT_RETRY] = JOB_RETRY_BATCHES,
	[COUNT_FAILED] = JOB_FAILED_BATCHES,
	[COUNT_FAILED_ASSETS] = JOB_FAILED_ASSETS,
	[COUNT_SKIPPED] = JOB_SKIPPED_BATCHES,
};
static const int job_weights[N_WEIGHTS] = {
	[WEIGHT_DONE] = JOB_DONE_WEIGHT,
	[WEIGHT_FAILED] = JOB_FAILED_WEIGHT,
};
static const int progress_counts[N_COUNTS] = {
	[COUNT_DONE] = PROGRESS_BATCHES,
	[COUNT_DONE_ASSETS] = PROGRESS_ASSETS,
	[COUNT_PROCESSING] = PROGRESS_PROCESSING_BATCHES,
	[COUNT_RETRY] = PROGRESS_RETRY_BATCHES,
	[COUNT_FAILED] = PROGRESS_FAILED_BATCHES,
	[COUNT_FAILED_ASSETS] = PROGRESS_FAILED_ASSETS,
	[COUNT_SKIPPED] = PROGRESS_SKIPPED_BATCHES,
};
static const int progress_weights[N_WEIGHTS] = {
	[WEIGHT_DONE] = PROGRESS_WEIGHT,
	[WEIGHT_FAILED] = PROGRESS_FAILED_WEIGHT,
};

/* Add value, or its negative (sign -1), to a numeric sum ((Datum) 0: none) */
static void
add_weight(Datum *sum, Datum value, int sign)
{
	if (sign < 0)
		value = DirectFunctionCall1(numeric_uminus, value);
	*sum = *sum == (Datum) 0 ? datumCopy(value, false, -1) : bi_numeric_add(*sum, value);
}

/*
 * inv_count_batch
 *		Count batch in its state (its status, whether a failed one waits for
 *		a retry, its assets and weight) into count: sign 1 adds it, -1
 *		takes it out.  A change of state is the old row taken out and the
 *		new one added.
 */
void
inv_count_batch(InvCount *count, const BatchRow *batch, int sign)
{
	switch (batch->status)
	{
		case STATUS_PROCESSING:
			count->n[COUNT_PROCESSING] += sign;
			break;
		case STATUS_SUCCEEDED:
			count->n[COUNT_DONE] += sign;
			count->n[COUNT_DONE_ASSETS] += sign * batch->asset_count;
			if (batch->has_weight)
				add_weight(&count->weight[WEIGHT_DONE], batch->weight, sign);
			break;
		case STATUS_FAILED:
			if (batch->has_retry)
			{
				count->n[COUNT_RETRY] += sign;
				break;
			}
			count->n[COUNT_FAILED] += sign;
			count->n[COUNT_FAILED_ASSETS] += sign * batch->asset_count;
			if (batch->has_weight)
				add_weight(&count->weight[WEIGHT_FAILED], batch->weight, sign);
			break;
		case STATUS_SKIPPED:
			count->n[COUNT_SKIPPED] += sign;
			break;
		case STATUS_SUPERSEDED:
		case STATUS_ABANDONED:
			break;
	}
}

/* Count batch as cut (sign 1) or no longer (-1): its assets and weight */
void
inv_count_cut(InvCount *count, const BatchRow *batch, int sign)
{
	count->cut_batches += sign;
	count->cut_assets += sign * batch->asset_count;
	if (batch->has_weight)
		add_weight(&count->cut_weight, batch->weight, sign);
}

/* Add count's counters by state to a row of table (cols, weights) */
static void
add_counts(InvWriter *writer, const int *cols, const int *weights,
		   const InvCount *count)
{
	int			i;

	for (i = 0; i < N_COUNTS; i++)
		if (count->n[i] != 0)
			inv_add_int8(writer, cols[i], count->n[i]);
	for (i = 0; i < N_WEIGHTS; i++)
		if (count->weight[i] != (Datum) 0)
			inv_add_numeric(writer, weights[i], count->weight[i]);
}

/* Read the counters by state of a row of table in slot into count (added) */
static void
read_counts(InvTable table, TupleTableSlot *slot, const int *cols,
			const int *weights, InvCount *count)
{
	bool		isnull;
	int			i;

	for (i = 0; i < N_COUNTS; i++)
		count->n[i] += DatumGetInt64(inv_get(table, slot, cols[i], &isnull));
	for (i = 0; i < N_WEIGHTS; i++)
		add_weight(&count->weight[i], inv_get(table, slot, weights[i], &isnull), 1);
}

/* Keep the later of the last success in a row being written and success */
static void
keep_last_success(InvWriter *writer, int column, Datum success)
{
	bool		isnull;
	Datum		last = inv_next(writer, column, &isnull);

	if (isnull || DatumGetTimestampTz(success) > DatumGetTimestampTz(last))
		inv_set(writer, column, success, false);
}

/* The OID of the table batchintory.job (the jobs' inventory) */
Oid
bi_inventory_job_table(void)
{
	Relation	rel = inv_table_open(INV_JOB, AccessShareLock);
	Oid			relid = RelationGetRelid(rel);

	table_close(rel, AccessShareLock);
	return relid;
}

/*
 * May a batch of the job be handed out again at now: is there a batch in
 * processing whose lease ran out (batch_job_leased) or a failed batch whose
 * retry is due (batch_job_retry, checked row by row)?  Batches that a
 * transaction still in progress changed count as they were: a false "yes"
 * only sends acquire down its slower path.
 */
static bool
job_may_retry(Relation batch, Snapshot snapshot, int32 job_id, TimestampTz now)
{
	ScanKeyData keys[2];
	InvProbe	probe;
	bool		found;

	inv_key(&keys[0], INDEX_BATCH_JOB_LEASED, 1, BTEqualStrategyNumber,
			Int32GetDatum(job_id));
	inv_key(&keys[1], INDEX_BATCH_JOB_LEASED, 2, BTLessStrategyNumber,
			TimestampTzGetDatum(now));
	inv_probe_begin(&probe, INDEX_BATCH_JOB_LEASED, batch, snapshot, keys, 2);
	found = inv_probe_next(&probe);
	inv_probe_end(&probe);
	if (found)
		return true;

	inv_probe_begin(&probe, INDEX_BATCH_JOB_RETRY, batch, snapshot, keys, 1);
	while (!found && inv_probe_next(&probe))
	{
		bool		isnull;
		Datum		due = inv_get(INV_BATCH, probe.slot, BATCH_RETRY_AFTER, &isnull);

		found = isnull || DatumGetTimestampTz(due) <= now;
	}
	inv_probe_end(&probe);
	return found;
}

/*
 * The job's first batch in index, a partial index on (job_id, first_id)
 * (with last, its last one), as snapshot sees it: its number, keys and
 * attempt into *row; false if there is none
 */
static bool
end_batch(Relation batch, Snapshot snapshot, InvIndex index, int32 job_id,
		  bool last, BatchRow *row)
{
	ScanKeyData key;
	InvProbe	probe;
	bool		found;

	inv_key(&key, index, 1, BTEqualStrategyNumber, Int32GetDatum(job_id));
	inv_probe_begin(&probe, index, batch, snapshot, &key, 1);
	found = last ? inv_probe_last(&probe) : inv_probe_next(&probe);
	if (found)
	{
		bool		isnull;

		row->batch_id = DatumGetInt64(inv_get(INV_BATCH, probe.slot, BATCH_BATCH_ID, &isnull));
		row->first_id = DatumGetInt64(inv_get(INV_BATCH, probe.slot, BATCH_FIRST_ID, &isnull));
		row->last_id = DatumGetInt64(inv_get(INV_BATCH, probe.slot, BATCH_LAST_ID, &isnull));
		row->attempt = DatumGetInt32(inv_get(INV_BATCH, probe.slot, BATCH_ATTEMPT, &isnull));
	}
	inv_probe_end(&probe);
	return found;
}

/* The job's oldest batch failed for good (batch_job_failed), or 0 */
static int64
job_halted_by(Relation batch, Snapshot snapshot, int32 job_id)
{
	BatchRow	row;

	return end_batch(batch, snapshot, INDEX_BATCH_JOB_FAILED, job_id, false, &row) ?
		row.batch_id : 0;
}

/*
 * inv_job_find
 *		The job's row as snapshot sees it, into slot: the version this
 *		transaction wrote last, found again by its TID, else through
 *		job_pkey.  false if it is gone.
 */
bool
inv_job_find(Relation job, Snapshot snapshot, int32 job_id, TupleTableSlot *slot)
{
	ScanKeyData key;
	InvProbe	probe;
	bool		found;

	if (inv_recall(INV_JOB, job_id, job, snapshot, slot))
		return true;
	inv_key(&key, INDEX_JOB_PKEY, 1, BTEqualStrategyNumber, Int32GetDatum(job_id));
	inv_probe_begin(&probe, INDEX_JOB_PKEY, job, snapshot, &key, 1);
	found = inv_probe_next(&probe);
	if (found)
		ExecCopySlot(slot, probe.slot);
	inv_probe_end(&probe);
	return found;
}

/*
 * bi_inventory_job_state
 *		The job's row as a statement starting now would see it (revision,
 *		name, owner and frontier into *state); false if it is gone.
 *		*may_retry says whether a batch of the job may be due for another
 *		attempt at now (see job_may_retry): then the caller looks for it.
 *		With halts (the job's on_failure is 'halt'), state->halted_by is
 *		its oldest batch failed for good, which stops it (0: none).
 */
bool
bi_inventory_job_state(int32 job_id, TimestampTz now, bool halts,
					   BiJobState *state, bool *may_retry)
{
	Relation	job = inv_table_open(INV_JOB, AccessShareLock);
	Relation	batch = inv_table_open(INV_BATCH, AccessShareLock);
	Snapshot	snapshot = inv_statement_snapshot();
	TupleTableSlot *slot = table_slot_create(job, NULL);
	bool		found = inv_job_find(job, snapshot, job_id, slot);

	if (found)
	{
		bool		isnull;

		state->revision = DatumGetInt64(inv_get(INV_JOB, slot, JOB_REVISION, &isnull));
		state->name = TextDatumGetCString(inv_get(INV_JOB, slot, JOB_NAME, &isnull));
		state->owner = DatumGetObjectId(inv_get(INV_JOB, slot, JOB_OWNER, &isnull));
		state->frontier = DatumGetInt64(inv_get(INV_JOB, slot, JOB_FRONTIER, &isnull));
		state->has_frontier = !isnull;
		state->halted_by = halts ? job_halted_by(batch, snapshot, job_id) : 0;
		*may_retry = job_may_retry(batch, snapshot, job_id, now);
	}
	ExecDropSingleTupleTableSlot(slot);

	UnregisterSnapshot(snapshot);
	table_close(batch, NoLock);
	table_close(job, NoLock);
	return found;
}

/*
 * The batches of the job in processing whose lease ran out by now, through
 * batch_job_leased: a range of it that ends at now, so that this costs
 * O(abandoned batches) -- few, as acquire hands them out first.  Those with
 * attempts left (max_attempts) are also counted in *retryable.
 */
static int64
count_abandoned(Relation batch, Snapshot snapshot, int32 job_id, TimestampTz now,
				int32 max_attempts, int64 *retryable)
{
	ScanKeyData keys[2];
	InvProbe	probe;
	int64		abandoned = 0;

	*retryable = 0;
	inv_key(&keys[0], INDEX_BATCH_JOB_LEASED, 1, BTEqualStrategyNumber,
			Int32GetDatum(job_id));
	inv_key(&keys[1], INDEX_BATCH_JOB_LEASED, 2, BTLessStrategyNumber,
			TimestampTzGetDatum(now));
	inv_probe_begin(&probe, INDEX_BATCH_JOB_LEASED, batch, snapshot, keys, 2);
	while (inv_probe_next(&probe))
	{
		bool		isnull;
		int32		attempt = DatumGetInt32(inv_get(INV_BATCH, probe.slot, BATCH_ATTEMPT,
													&isnull));
		int32		requeued_after = DatumGetInt32(inv_get(INV_BATCH, probe.slot,
														   BATCH_REQUEUED_AFTER, &isnull));

		abandoned++;
		if (attempt - requeued_after < max_attempts)
			(*retryable)++;
	}
	inv_probe_end(&probe);
	return abandoned;
}

/* The message of the attempt of batch, or NULL */
static char *
attempt_message(Snapshot snapshot, int64 batch, int32 attempt)
{
	Relation	rel = inv_table_open(INV_ATTEMPT, AccessShareLock);
	ScanKeyData keys[2];
	InvProbe	probe;
	char	   *message = NULL;

	inv_key(&keys[0], INDEX_ATTEMPT_PKEY, 1, BTEqualStrategyNumber, Int64GetDatum(batch));
	inv_key(&keys[1], INDEX_ATTEMPT_PKEY, 2, BTEqualStrategyNumber, Int32GetDatum(attempt));
	inv_probe_begin(&probe, INDEX_ATTEMPT_PKEY, rel, snapshot, keys, 2);
	if (inv_probe_next(&probe))
	{
		bool		isnull;
		Datum		value = inv_get(INV_ATTEMPT, probe.slot, ATTEMPT_MESSAGE, &isnull);

		if (!isnull)
			message = TextDatumGetCString(value);
	}
	inv_probe_end(&probe);
	table_close(rel, NoLock);
	return message;
}

/*
 * The live batches of the job that verify found late rows in, and their
 * number: batch_job_late holds only those (none, for most jobs)
 */
static void
count_late(Relation batch, Snapshot snapshot, int32 job_id, BiJobFigures *figures)
{
	ScanKeyData key;
	InvProbe	probe;
	bool		isnull;

	inv_key(&key, INDEX_BATCH_JOB_LATE, 1, BTEqualStrategyNumber, Int32GetDatum(job_id));
	inv_probe_begin(&probe, INDEX_BATCH_JOB_LATE, batch, snapshot, &key, 1);
	while (inv_probe_next(&probe))
	{
		figures->late_batches++;
		figures->late_rows += DatumGetInt64(inv_get(INV_BATCH, probe.slot, BATCH_LATE_ROWS,
													 &isnull));
	}
	inv_probe_end(&probe);
}

/*
 * bi_inventory_job_figures
 *		What the jobs view shows of a job as snapshot sees it, into
 *		*figures: its counters (its row's and its progress rows') and what
 *		probes of its partial indexes find -- the batches abandoned by now,
 *		its oldest batch not done, its batches failed for good -- in time
 *		independent of the number of its batches but for the abandoned
 *		ones.  false if the job is gone.
 */
bool
bi_inventory_job_figures(int32 job_id, Snapshot snapshot, TimestampTz now,
						 BiJobFigures *figures)
{
	Relation	job = inv_table_open(INV_JOB, AccessShareLock);
	Relation	batch = inv_table_open(INV_BATCH, AccessShareLock);
	Relation	progress = inv_table_open(INV_PROGRESS, AccessShareLock);
	TupleTableSlot *slot = table_slot_create(job, NULL);
	InvCount	count = {0};
	ScanKeyData key;
	InvProbe	probe;
	BatchRow	row = {0};
	bool		isnull;
	bool		halts;
	bool		guarded;
	int32		max_attempts;

	memset(figures, 0, sizeof(BiJobFigures));
	if (!inv_job_find(job, snapshot, job_id, slot))
	{
		ExecDropSingleTupleTableSlot(slot);
		table_close(progress, NoLock);
		table_close(batch, NoLock);
		table_close(job, NoLock);
		return false;
	}
	figures->job_id = job_id;
	figures->name = TextDatumGetCString(inv_get(INV_JOB, slot, JOB_NAME, &isnull));
	figures->owner = DatumGetObjectId(inv_get(INV_JOB, slot, JOB_OWNER, &isnull));
	figures->revision = DatumGetInt64(inv_get(INV_JOB, slot, JOB_REVISION, &isnull));
	figures->source = DatumGetObjectId(inv_get(INV_JOB, slot, JOB_SOURCE, &isnull));
	figures->id_column = pstrdup(NameStr(*DatumGetName(inv_get(INV_JOB, slot, JOB_ID_COLUMN,
																 &isnull))));
	figures->frontier = DatumGetInt64(inv_get(INV_JOB, slot, JOB_FRONTIER, &isnull));
	figures->has_frontier = !isnull;
	max_attempts = DatumGetInt32(inv_get(INV_JOB, slot, JOB_MAX_ATTEMPTS, &isnull));
	halts = strcmp(TextDatumGetCString(inv_get(INV_JOB, slot, JOB_ON_FAILURE, &isnull)),
				   "halt") == 0;
	guarded = DatumGetBool(inv_get(INV_JOB, slot, JOB_LATE_COMMIT_GUARD, &isnull));
	figures->cut_assets = DatumGetInt64(inv_get(INV_JOB, slot, JOB_CUT_ASSETS, &isnull));
	figures->cut_weight = datumCopy(inv_get(INV_JOB, slot, JOB_CUT_WEIGHT, &isnull),
									false, -1);
	figures->last_success = DatumGetTimestampTz(inv_get(INV_JOB, slot, JOB_LAST_SUCCESS,
														&isnull));
	figures->has_success = !isnull;
	read_counts(INV_JOB, slot, job_counts, job_weights, &count);
	ExecDropSingleTupleTableSlot(slot);

	/* the changes recorded since the last fold: a row or two per backend */
	inv_key(&key, INDEX_PROGRESS_JOB, 1, BTEqualStrategyNumber, Int32GetDatum(job_id));
	inv_probe_begin(&probe, INDEX_PROGRESS_JOB, progress, snapshot, &key, 1);
	while (inv_probe_next(&probe))
	{
		Datum		success = inv_get(INV_PROGRESS, probe.slot, PROGRESS_LAST_SUCCESS,
									  &isnull);

		read_counts(INV_PROGRESS, probe.slot, progress_counts, progress_weights, &count);
		if (!isnull && (!figures->has_success ||
						DatumGetTimestampTz(success) > figures->last_success))
		{
			figures->last_success = DatumGetTimestampTz(success);
			figures->has_success = true;
		}
	}
	inv_probe_end(&probe);

	figures->succeeded = count.n[COUNT_DONE];
	figures->processed = count.n[COUNT_DONE_ASSETS];
	figures->retry_pending = count.n[COUNT_RETRY];
	figures->failed = count.n[COUNT_FAILED];
	figures->failed_assets = count.n[COUNT_FAILED_ASSETS];
	figures->failed_weight = count.weight[WEIGHT_FAILED];
	figures->skipped = count.n[COUNT_SKIPPED];
	/* with the guard, no row commits into a batch after its cut */
	if (!guarded)
		count_late(batch, snapshot, job_id, figures);

	/* the counters say where a probe can find nothing: an idle job costs none */
	if (count.n[COUNT_PROCESSING] > 0)
		figures->abandoned = count_abandoned(batch, snapshot, job_id, now, max_attempts,
											 &figures->abandoned_retryable);
	figures->in_flight = count.n[COUNT_PROCESSING] - figures->abandoned;
	if (count.n[COUNT_PROCESSING] + figures->retry_pending + figures->failed > 0)
	{
		figures->has_oldest_open = end_batch(batch, snapshot, INDEX_BATCH_JOB_OPEN, job_id,
											 false, &row);
		figures->oldest_open = row.first_id;
	}
	figures->has_failed_keys = figures->failed > 0 &&
		end_batch(batch, snapshot, INDEX_BATCH_JOB_FAILED, job_id, false, &row);
	if (figures->has_failed_keys)
	{
		figures->failed_first = row.first_id;
		if (halts)
		{
			figures->halted_by = row.batch_id;
			figures->halted_last = row.last_id;
			figures->halt_reason = attempt_message(snapshot, row.batch_id, row.attempt);
		}
		(void) end_batch(batch, snapshot, INDEX_BATCH_JOB_FAILED, job_id, true, &row);
		figures->failed_last = row.last_id;
	}

	table_close(progress, NoLock);
	table_close(batch, NoLock);
	table_close(job, NoLock);
	return true;
}

/*
 * Fold the job's progress rows (changes of its counters that releases,
 * requeues and skips recorded) into its row, which the caller started with
 * inv_row_from_found, and delete them; the rows of transactions still in
 * progress are left for the next time.
 */
static void
fold_progress(InvChange *change, InvWriter *job, int32 job_id)
{
	static const StrategyNumber others[] = {BTLessStrategyNumber, BTGreaterStrategyNumber};
	bool		own = inv_wrote(INV_PROGRESS, job_id);
	Relation	progress = inv_table_open(INV_PROGRESS, RowExclusiveLock);
	int			i;

	/*
	 * Every row, or the other backends' if this transaction wrote its own:
	 * the versions it left of that row are not walked, and the row stays
	 * for the next transaction to fold
	 */
	for (i = 0; i < (own ? (int) lengthof(others) : 1); i++)
	{
		ScanKeyData keys[2];
		InvProbe	probe;

		inv_key(&keys[0], INDEX_PROGRESS_JOB, 1, BTEqualStrategyNumber, Int32GetDatum(job_id));
		inv_key(&keys[1], INDEX_PROGRESS_JOB, 2, others[i], Int32GetDatum(BI_MY_PROC_NUMBER));
		inv_probe_begin(&probe, INDEX_PROGRESS_JOB, progress, change->snapshot, keys,
						own ? 2 : 1);
		while (inv_probe_next(&probe))
		{
			InvCount	count = {0};
			bool		isnull;
			Datum		success;

			/* deleted as the snapshot sees it, unless it changed meanwhile */
			if (!inv_delete_seen(progress, change, probe.slot))
				continue;
			read_counts(INV_PROGRESS, probe.slot, progress_counts, progress_weights, &count);
			add_counts(job, job_counts, job_weights, &count);
			success = inv_get(INV_PROGRESS, probe.slot, PROGRESS_LAST_SUCCESS, &isnull);
			if (!isnull)
				keep_last_success(job, JOB_LAST_SUCCESS, success);
		}
		inv_probe_end(&probe);
	}
	table_close(progress, NoLock);
}

/* Find and lock the job's row for an update; an error if it is gone */
static void
lock_job(InvWriter *job, InvChange *change, int32 job_id)
{
	ScanKeyData key;

	inv_key(&key, INDEX_JOB_PKEY, 1, BTEqualStrategyNumber, Int32GetDatum(job_id));
	if (!inv_lock_recalled(job, change, job_id, false) &&
		!inv_lock_row(job, change, INDEX_JOB_PKEY, &key, 1))
		elog(ERROR, "job %d does not exist", job_id);
	inv_row_from_found(job);
}

/* Write the job's row started by lock_job, remembered for the next change */
static void
write_job(InvWriter *job, InvChange *change, int32 job_id)
{
	inv_write(job, change, true);
	inv_remember(job, job_id);
}

/*
 * inv_job_count
 *		Count a change of the state of the job's batches (count: no batch
 *		cut) in this backend's progress row of the job -- the one it wrote
 *		last, or one no other transaction holds, else a new one -- for a new
 *		batch to fold into the job's row.  Waits for no row and writes no
 *		row another backend writes: releases do not wait for each other or
 *		for acquire, and many in one transaction cost O(1) each.
 */
void
inv_job_count(InvChange *change, int32 job_id, const InvCount *count)
{
	InvWriter	progress;
	bool		found;
	int			i;

	inv_writer_open(&progress, change, INV_PROGRESS);
	found = inv_lock_recalled(&progress, change, job_id, true);
	if (!found)
	{
		ScanKeyData keys[2];
		InvProbe	probe;

		inv_key(&keys[0], INDEX_PROGRESS_JOB, 1, BTEqualStrategyNumber,
				Int32GetDatum(job_id));
		inv_key(&keys[1], INDEX_PROGRESS_JOB, 2, BTEqualStrategyNumber,
				Int32GetDatum(BI_MY_PROC_NUMBER));
		inv_probe_begin(&probe, INDEX_PROGRESS_JOB, progress.rel, change->snapshot,
						keys, 2);
		while (!found && inv_probe_next(&probe))
		{
			ItemPointerData tid = probe.slot->tts_tid;

			found = inv_lock_tid(&progress, change, &tid, true);
		}
		inv_probe_end(&probe);
	}
	if (found)
		inv_row_from_found(&progress);
	else
	{
		inv_row_new(&progress);
		inv_set(&progress, PROGRESS_JOB_ID, Int32GetDatum(job_id), false);
		inv_set(&progress, PROGRESS_BACKEND, Int32GetDatum(BI_MY_PROC_NUMBER), false);
		for (i = 0; i < N_COUNTS; i++)
			inv_set(&progress, progress_counts[i], Int64GetDatum(0), false);
		for (i = 0; i < N_WEIGHTS; i++)
			inv_set(&progress, progress_weights[i], bi_numeric_from_int64(0), false);
	}
	add_counts(&progress, progress_counts, progress_weights, count);
	if (count->has_success)
		keep_last_success(&progress, PROGRESS_LAST_SUCCESS,
						  TimestampTzGetDatum(count->success));
	inv_write(&progress, change, found);
	inv_remember(&progress, job_id);
	inv_writer_close(&progress);
}

/*
 * inv_job_cut
 *		Count batches cut (new ones, or ones cut again: count's cut_*) and
 *		the change of their state in the job's row.  With frontier, the
 *		frontier moves there (the end of a new batch, or of a window) and
 *		the progress rows recorded since the last time are folded in.  The
 *		caller holds the job's lock.
 */
void
inv_job_cut(InvChange *change, int32 job_id, const InvCount *count,
			const int64 *frontier)
{
	InvWriter	job;

	inv_writer_open(&job, change, INV_JOB);
	lock_job(&job, change, job_id);
	if (frontier != NULL)
		inv_set(&job, JOB_FRONTIER, Int64GetDatum(*frontier), false);
	inv_add_int8(&job, JOB_CUT_BATCHES, count->cut_batches);
	inv_add_int8(&job, JOB_CUT_ASSETS, count->cut_assets);
	if (count->cut_weight != (Datum) 0)
		inv_add_numeric(&job, JOB_CUT_WEIGHT, count->cut_weight);
	add_counts(&job, job_counts, job_weights, count);
	if (frontier != NULL)
		fold_progress(change, &job, job_id);
	write_job(&job, change, job_id);
	inv_writer_close(&job);
}

/* a job's row as statement parameters: settings, owner, command's search_path, name or id */
#define N_JOB_ARGS (N_SETTINGS + 3)

/*
 * The job's settings as statement parameters $1.. in bi_settings order,
 * then the owner ($N+1), the command's search_path ($N+2) and the name or
 * the job's id ($N+3, left to the caller); the filter stored as its
 * deparse
 */
static void
settings_args(const BiSettings *s, Oid *types, Datum *values, char *nulls)
{
	int			i;

	for (i = 0; i < N_SETTINGS; i++)
	{
		types[i] = bi_setting_column_type((BiSetting) i);
		values[i] = s->values[i];
		nulls[i] = s->isnull[i] ? 'n' : ' ';
	}
	if (s->filter_deparse != NULL)
		values[S_FILTER] = CStringGetTextDatum(s->filter_deparse);
	types[N_SETTINGS] = OIDOID;
	values[N_SETTINGS] = ObjectIdGetDatum(s->owner);
	nulls[N_SETTINGS] = ' ';
	types[N_SETTINGS + 1] = TEXTOID;
	values[N_SETTINGS + 1] = s->command_search_path ?
		CStringGetTextDatum(s->command_search_path) : (Datum) 0;
	nulls[N_SETTINGS + 1] = s->command_search_path ? ' ' : 'n';
	nulls[N_SETTINGS + 2] = ' ';
	nulls[N_SETTINGS + 3] = '\0';
}

/* The job's settings' columns, as a list for a statement */
static const char *
settings_columns(void)
{
	static char *columns = NULL;

	if (columns == NULL)
	{
		StringInfoData list;
		int			i;

		initStringInfo(&list);
		for (i = 0; i < N_SETTINGS; i++)
			appendStringInfo(&list, "%s%s", i > 0 ? ", " : "", bi_settings[i].name);
		columns = MemoryContextStrdup(TopMemoryContext, list.data);
		pfree(list.data);
	}
	return columns;
}

/* $from, $from+1, ... $to */
static char *
parameters(int from, int to)
{
	StringInfoData list;
	int			i;

	initStringInfo(&list);
	for (i = from; i <= to; i++)
		appendStringInfo(&list, "%s$%d", i > from ? ", " : "", i);
	return list.data;
}

/* Store the job's analyzed filter (none: its row deleted) */
static void
store_filter(int32 job_id, const char *filter_expr)
{
	Oid			types[2] = {INT4OID, TEXTOID};
	Datum		args[2] = {Int32GetDatum(job_id), (Datum) 0};

	bi_exec("DELETE FROM batchintory.job_filter WHERE job_id OPERATOR(pg_catalog.=) $1",
			1, types, args, NULL, SPI_OK_DELETE);
	if (filter_expr == NULL)
		return;
	args[1] = CStringGetTextDatum(filter_expr);
	bi_exec("INSERT INTO batchintory.job_filter (job_id, expr) VALUES ($1, $2)",
			2, types, args, NULL, SPI_OK_INSERT);
}

/*
 * bi_inventory_job_create
 *		A new job named name with settings s; returns its id, or 0 if a job
 *		of that name exists (one registered meanwhile, and committed, wins:
 *		the insert waits for it).
 */
int32
bi_inventory_job_create(const char *name, const BiSettings *s)
{
	Oid			types[N_JOB_ARGS];
	Datum		values[N_JOB_ARGS];
	char		nulls[N_JOB_ARGS + 1];
	bool		isnull;
	int32		job_id;

	inv_check_writable(INV_JOB);
	settings_args(s, types, values, nulls);
	types[N_JOB_ARGS - 1] = TEXTOID;
	values[N_JOB_ARGS - 1] = CStringGetTextDatum(name);
	if (bi_exec(psprintf("INSERT INTO batchintory.job (%s, owner, command_search_path, name)"
						 " VALUES (%s) ON CONFLICT (name) DO NOTHING RETURNING job_id",
						 settings_columns(), parameters(1, N_JOB_ARGS)),
				N_JOB_ARGS, types, values, nulls, SPI_OK_INSERT_RETURNING) == 0)
		return 0;
	job_id = DatumGetInt32(bi_get(0, 1, &isnull));
	store_filter(job_id, s->filter_expr);
	return job_id;
}

/*
 * bi_inventory_job_change
 *		Store a job's new settings (and owner); its revision moves on, so
 *		that every backend reads the job again.  The caller holds the job's
 *		lock.
 */
void
bi_inventory_job_change(int32 job_id, const BiSettings *s)
{
	Oid			types[N_JOB_ARGS];
	Datum		values[N_JOB_ARGS];
	char		nulls[N_JOB_ARGS + 1];

	inv_check_writable(INV_JOB);
	settings_args(s, types, values, nulls);
	types[N_JOB_ARGS - 1] = INT4OID;
	values[N_JOB_ARGS - 1] = Int32GetDatum(job_id);
	bi_exec(psprintf("UPDATE batchintory.job SET (%s, owner, command_search_path, revision) ="
					 " (%s, revision OPERATOR(pg_catalog.+) 1)"
					 " WHERE job_id OPERATOR(pg_catalog.=) $%d",
					 settings_columns(), parameters(1, N_JOB_ARGS - 1), N_JOB_ARGS),
			N_JOB_ARGS, types, values, nulls, SPI_OK_UPDATE);
	store_filter(job_id, s->filter_expr);
}

/*
 * bi_inventory_job_set_filter
 *		Store a job's filter (its deparse and analyzed expression), nothing
 *		else changed; its revision moves on.  The caller holds the job's
 *		lock.  For update scripts (batchintory.analyze_filter): it touches
 *		only columns every version since 0.2.0 has, and does not resolve
 *		the inventory's columns (an update halfway may lack the newest).
 */
void
bi_inventory_job_set_filter(int32 job_id, const char *deparse, const char *expr)
{
	Oid			types[2] = {INT4OID, TEXTOID};
	Datum		args[2] = {Int32GetDatum(job_id), CStringGetTextDatum(deparse)};

	bi_exec("UPDATE batchintory.job SET filter = $2, revision = revision OPERATOR(pg_catalog.+) 1"
			" WHERE job_id OPERATOR(pg_catalog.=) $1",
			2, types, args, NULL, SPI_OK_UPDATE);
	store_filter(job_id, expr);
}

/* A statement that writes every table of the inventory is about to run */
static void
check_every_table_writable(void)
{
	int			table;

	for (table = 0; table < INV_NTABLES; table++)
		inv_check_writable((InvTable) table);
}

/*
 * bi_inventory_job_drop
 *		Delete a job with its batches, attempts, progress rows and filter.
 *		The caller holds the job's lock and its batches' rows.
 */
void
bi_inventory_job_drop(int32 job_id)
{
	Oid			types[1] = {INT4OID};
	Datum		args[1] = {Int32GetDatum(job_id)};

	check_every_table_writable();
	bi_exec("WITH b AS (DELETE FROM batchintory.batch"
			"  WHERE job_id OPERATOR(pg_catalog.=) $1 RETURNING batch_id),"
			" a AS (DELETE FROM batchintory.attempt a USING b"
			"  WHERE a.batch_id OPERATOR(pg_catalog.=) b.batch_id),"
			" p AS (DELETE FROM batchintory.progress WHERE job_id OPERATOR(pg_catalog.=) $1),"
			" f AS (DELETE FROM batchintory.job_filter WHERE job_id OPERATOR(pg_catalog.=) $1)"
			" DELETE FROM batchintory.job WHERE job_id OPERATOR(pg_catalog.=) $1",
			1, types, args, NULL, SPI_OK_DELETE);
}

/*
 * bi_inventory_rewind
 *		Supersede the job's live batches from key point on (kept, marked so;
 *		their attempts still processing become superseded), take them out
 *		of its counters, and move its frontier to frontier (has_frontier
 *		false: before the first key) if it was at or after point.  Returns
 *		how many batches were superseded.  The caller holds the job's lock
 *		and those batches' rows.
 */
int64
bi_inventory_rewind(int32 job_id, int64 point, bool has_frontier, int64 frontier)
{
	Oid			types[3] = {INT4OID, INT8OID, INT8OID};
	Datum		args[3] = {Int32GetDatum(job_id), Int64GetDatum(point),
	Int64GetDatum(frontier)};
	char		nulls[4] = {' ', ' ', has_frontier ? ' ' : 'n', '\0'};
	bool		isnull;

	check_every_table_writable();
	bi_exec("WITH o AS (SELECT batch_id, status, retry_after, asset_count, weight"
			"  FROM batchintory.batch WHERE job_id OPERATOR(pg_catalog.=) $1"
			"  AND status OPERATOR(pg_catalog.<>) 'superseded'"
			"  AND first_id OPERATOR(pg_catalog.>=) $2),"
			" b AS (UPDATE batchintory.batch x SET status = 'superseded', lease_until = NULL"
			"  WHERE x.batch_id OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT o.batch_id FROM o))"
			"  RETURNING x.batch_id, x.attempt),"
			" a AS (UPDATE batchintory.attempt a SET status = 'superseded',"
			"  released_at = pg_catalog.clock_timestamp()"
			"  WHERE a.batch_id OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT b.batch_id FROM b))"
			"  AND (a.batch_id, a.attempt) IN (SELECT b.batch_id, b.attempt FROM b)"
			"  AND a.status OPERATOR(pg_catalog.=) 'processing'),"
			" c AS (SELECT pg_catalog.count(*) AS cut,"
			"  COALESCE(pg_catalog.sum(o.asset_count), 0)::pg_catalog.int8 AS cut_assets,"
			"  COALESCE(pg_catalog.sum(o.weight), 0) AS cut_weight,"
			"  pg_catalog.count(*) FILTER (WHERE o.status OPERATOR(pg_catalog.=) 'succeeded') AS done,"
			"  COALESCE(pg_catalog.sum(o.asset_count) FILTER"
			"   (WHERE o.status OPERATOR(pg_catalog.=) 'succeeded'), 0)::pg_catalog.int8 AS done_assets,"
			"  COALESCE(pg_catalog.sum(o.weight) FILTER"
			"   (WHERE o.status OPERATOR(pg_catalog.=) 'succeeded'), 0) AS done_weight,"
			"  pg_catalog.count(*) FILTER"
			"   (WHERE o.status OPERATOR(pg_catalog.=) 'processing') AS processing,"
			"  pg_catalog.count(*) FILTER (WHERE o.status OPERATOR(pg_catalog.=) 'failed'"
			"   AND o.retry_after IS NOT NULL) AS retry,"
			"  pg_catalog.count(*) FILTER (WHERE o.status OPERATOR(pg_catalog.=) 'failed'"
			"   AND o.retry_after IS NULL) AS failed,"
			"  COALESCE(pg_catalog.sum(o.asset_count) FILTER (WHERE o.status"
			"   OPERATOR(pg_catalog.=) 'failed' AND o.retry_after IS NULL), 0)::pg_catalog.int8"
			"   AS failed_assets,"
			"  COALESCE(pg_catalog.sum(o.weight) FILTER (WHERE o.status"
			"   OPERATOR(pg_catalog.=) 'failed' AND o.retry_after IS NULL), 0) AS failed_weight,"
			"  pg_catalog.count(*) FILTER"
			"   (WHERE o.status OPERATOR(pg_catalog.=) 'skipped') AS skipped FROM o),"
			" j AS (UPDATE batchintory.job t SET"
			"  cut_batches = t.cut_batches OPERATOR(pg_catalog.-) c.cut,"
			"  cut_assets = t.cut_assets OPERATOR(pg_catalog.-) c.cut_assets,"
			"  cut_weight = t.cut_weight OPERATOR(pg_catalog.-) c.cut_weight,"
			"  done_batches = t.done_batches OPERATOR(pg_catalog.-) c.done,"
			"  done_assets = t.done_assets OPERATOR(pg_catalog.-) c.done_assets,"
			"  done_weight = t.done_weight OPERATOR(pg_catalog.-) c.done_weight,"
			"  processing_batches = t.processing_batches OPERATOR(pg_catalog.-) c.processing,"
			"  retry_batches = t.retry_batches OPERATOR(pg_catalog.-) c.retry,"
			"  failed_batches = t.failed_batches OPERATOR(pg_catalog.-) c.failed,"
			"  failed_assets = t.failed_assets OPERATOR(pg_catalog.-) c.failed_assets,"
			"  failed_weight = t.failed_weight OPERATOR(pg_catalog.-) c.failed_weight,"
			"  skipped_batches = t.skipped_batches OPERATOR(pg_catalog.-) c.skipped,"
			"  frontier = CASE WHEN t.frontier OPERATOR(pg_catalog.>=) $2 THEN $3"
			"   ELSE t.frontier END"
			"  FROM c WHERE t.job_id OPERATOR(pg_catalog.=) $1)"
			" SELECT pg_catalog.count(*) FROM b",
			3, types, args, nulls, SPI_OK_SELECT);
	return bi_get_int64(0, 1, &isnull);
}
