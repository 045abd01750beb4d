/*
 * attempts.c
 *	  The attempt's row (its columns, how a hand-out records it, how it is
 *	  abandoned) and the verbs on the current attempt of a batch: release
 *	  it (succeeded, or failed and waiting for a retry after the backoff) or
 *	  extend its lease -- fenced by the attempt number -- and the retry delay.
 */
#include "postgres.h"

#include "inventory/tables.h"

#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/memutils.h"

PG_FUNCTION_INFO_V1(batchintory_retry_delay);

const InvColumnDef inv_attempt_columns[ATTEMPT_NCOLUMNS] = {
	[ATTEMPT_BATCH_ID] = {"batch_id", INT8OID},
	[ATTEMPT_ATTEMPT] = {"attempt", INT4OID},
	[ATTEMPT_STATUS] = {"status", TEXTOID},
	[ATTEMPT_ASSET_COUNT] = {"asset_count", INT8OID},
	[ATTEMPT_WEIGHT] = {"weight", NUMERICOID},
	[ATTEMPT_ACQUIRED_AT] = {"acquired_at", TIMESTAMPTZOID},
	[ATTEMPT_LEASE_UNTIL] = {"lease_until", TIMESTAMPTZOID},
	[ATTEMPT_RELEASED_AT] = {"released_at", TIMESTAMPTZOID},
	[ATTEMPT_WORKER] = {"worker", TEXTOID},
	[ATTEMPT_APPLICATION_NAME] = {"application_name", TEXTOID},
	[ATTEMPT_CLIENT_ADDR] = {"client_addr", INETOID},
	[ATTEMPT_BACKEND_PID] = {"backend_pid", INT4OID},
	[ATTEMPT_ACQUIRED_BY] = {"acquired_by", NAMEOID},
	[ATTEMPT_MESSAGE] = {"message", TEXTOID},
	[ATTEMPT_CONFIG] = {"config", JSONBOID},
	[ATTEMPT_RESULT] = {"result", JSONBOID},
	[ATTEMPT_JOB_ID] = {"job_id", INT4OID},
};

/* Set every column of an attempt's row to write */
static void
attempt_set(InvWriter *writer, const AttemptRow *row)
{
	inv_set(writer, ATTEMPT_BATCH_ID, Int64GetDatum(row->batch_id), false);
	inv_set(writer, ATTEMPT_ATTEMPT, Int32GetDatum(row->attempt), false);
	inv_set(writer, ATTEMPT_STATUS, inv_status_datum(row->status), false);
	inv_set(writer, ATTEMPT_ASSET_COUNT, Int64GetDatum(row->asset_count), !row->counted);
	inv_set(writer, ATTEMPT_WEIGHT, row->weight, !row->has_weight);
	inv_set(writer, ATTEMPT_ACQUIRED_AT, TimestampTzGetDatum(row->acquired_at), false);
	inv_set(writer, ATTEMPT_LEASE_UNTIL, TimestampTzGetDatum(row->lease_until), false);
	inv_set(writer, ATTEMPT_RELEASED_AT, TimestampTzGetDatum(row->released_at),
			!row->has_released);
	inv_set(writer, ATTEMPT_WORKER, row->worker, row->worker_isnull);
	inv_set(writer, ATTEMPT_APPLICATION_NAME, row->application_name,
			row->application_name_isnull);
	inv_set(writer, ATTEMPT_CLIENT_ADDR, row->client_addr, row->client_addr_isnull);
	inv_set(writer, ATTEMPT_BACKEND_PID, Int32GetDatum(row->backend_pid), false);
	inv_set(writer, ATTEMPT_ACQUIRED_BY, row->acquired_by, false);
	inv_set(writer, ATTEMPT_MESSAGE, row->message, row->message_isnull);
	inv_set(writer, ATTEMPT_CONFIG, row->config, false);
	inv_set(writer, ATTEMPT_RESULT, row->result, row->result_isnull);
	inv_set(writer, ATTEMPT_JOB_ID, Int32GetDatum(row->job_id), false);
}

/*
 * The client's address as inet_client_addr() gives it (NULL: a local
 * socket), worked out once per backend: it cannot change.
 */
static Datum
client_addr(bool *isnull)
{
	static bool known = false;
	static bool addr_isnull;
	static Datum addr;

	if (!known)
	{
		LOCAL_FCINFO(fcinfo, 0);
		MemoryContext oldcontext = MemoryContextSwitchTo(TopMemoryContext);

		InitFunctionCallInfoData(*fcinfo, NULL, 0, InvalidOid, NULL, NULL);
		addr = inet_client_addr(fcinfo);
		addr_isnull = fcinfo->isnull;
		MemoryContextSwitchTo(oldcontext);
		known = true;
	}
	*isnull = addr_isnull;
	return addr;
}

/*
 * inv_attempt_insert
 *		Record an attempt handed out now (row: its batch, number, assets,
 *		times, worker, caller and config), in processing, from this
 *		backend: its application name, client address and process id.
 */
void
inv_attempt_insert(InvChange *change, const AttemptRow *row)
{
	const char *application = GetConfigOption("application_name", false, false);
	AttemptRow	full = *row;
	InvWriter	writer;

	full.status = STATUS_PROCESSING;
	full.application_name_isnull = application == NULL || application[0] == '\0';
	if (!full.application_name_isnull)
		full.application_name = CStringGetTextDatum(application);
	full.client_addr = client_addr(&full.client_addr_isnull);
	full.backend_pid = MyProcPid;
	full.message_isnull = true;
	full.result_isnull = true;

	inv_writer_open(&writer, change, INV_ATTEMPT);
	inv_row_new(&writer);
	attempt_set(&writer, &full);
	inv_write(&writer, change, false);
	inv_writer_close(&writer);
}

/*
 * Lock attempt `attempt` of batch and start its new version; false if it
 * is not there
 */
static bool
lock_attempt(InvWriter *writer, InvChange *change, int64 batch, int32 attempt)
{
	ScanKeyData keys[2];

	inv_key(&keys[0], INDEX_ATTEMPT_PKEY, 1, BTEqualStrategyNumber, Int64GetDatum(batch));
	inv_key(&keys[1], INDEX_ATTEMPT_PKEY, 2, BTEqualStrategyNumber, Int32GetDatum(attempt));
	if (!inv_lock_row(writer, change, INDEX_ATTEMPT_PKEY, keys, 2))
		return false;
	inv_row_from_found(writer);
	return true;
}

/*
 * inv_attempt_abandon
 *		End attempt `attempt` of batch as abandoned, with message, if it is
 *		still processing (its lease ran out)
 */
void
inv_attempt_abandon(InvChange *change, int64 batch, int32 attempt, const char *message)
{
	InvWriter	writer;
	bool		isnull;

	inv_writer_open(&writer, change, INV_ATTEMPT);
	if (lock_attempt(&writer, change, batch, attempt) &&
		inv_status(inv_found(&writer, ATTEMPT_STATUS, &isnull)) == STATUS_PROCESSING)
	{
		inv_set(&writer, ATTEMPT_STATUS, inv_status_datum(STATUS_ABANDONED), false);
		inv_set(&writer, ATTEMPT_MESSAGE, CStringGetTextDatum(message), false);
		inv_write(&writer, change, true);
	}
	inv_writer_close(&writer);
}


/* The delay of batchintory.retry_delay, in microseconds */
int64
bi_retry_delay_usecs(int64 backoff, int32 attempts)
{
	int64		cap = Max(backoff, BI_MAX_RETRY_DELAY_USECS);
	int64		delay = Max(backoff, 0);
	int32		i;

	for (i = 1; i < attempts && delay > 0 && delay < cap; i++)
		delay = delay > cap / 2 ? cap : delay * 2;
	return Min(delay, cap);
}

/*
 * batchintory.retry_delay(backoff interval, attempts integer) RETURNS interval
 *		How long a failed batch waits for its retry: backoff doubled for each
 *		attempt after the first since the last requeue, at most the larger of
 *		backoff and BI_MAX_RETRY_DELAY_USECS (24 hours).  Never overflows.
 */
Datum
batchintory_retry_delay(PG_FUNCTION_ARGS)
{
	Interval   *result = palloc0(sizeof(Interval));

	result->time = bi_retry_delay_usecs(bi_interval_usecs(PG_GETARG_DATUM(0)),
										PG_GETARG_INT32(1));
	PG_RETURN_INTERVAL_P(result);
}

/* What of a job's row a release or heartbeat needs */
typedef struct JobTerms
{
	int32		max_attempts;
	Datum		retry_backoff;	/* interval */
	Datum		lease;			/* interval */
} JobTerms;

/*
 * The job of the batch, read under the change's snapshot; checks that the
 * caller may use it.  false if the batch is not there.
 */
static bool
batch_job_terms(const BiCall *call, InvChange *change, Relation batch_rel,
				int64 batch, JobTerms *terms)
{
	Relation	job_rel = inv_table_open(INV_JOB, AccessShareLock);
	TupleTableSlot *job = table_slot_create(job_rel, NULL);
	ScanKeyData key;
	InvProbe	probe;
	bool		isnull;
	int32		job_id;

	inv_key(&key, INDEX_BATCH_PKEY, 1, BTEqualStrategyNumber, Int64GetDatum(batch));
	inv_probe_begin(&probe, INDEX_BATCH_PKEY, batch_rel, change->snapshot, &key, 1);
	if (!inv_probe_next(&probe))
	{
		inv_probe_end(&probe);
		ExecDropSingleTupleTableSlot(job);
		table_close(job_rel, NoLock);
		return false;
	}
	job_id = DatumGetInt32(inv_get(INV_BATCH, probe.slot, BATCH_JOB_ID, &isnull));
	inv_probe_end(&probe);

	if (!inv_job_find(job_rel, change->snapshot, job_id, job))
		elog(ERROR, "job of batch " INT64_FORMAT " does not exist", batch);
	bi_check_may_use(call,
					 TextDatumGetCString(inv_get(INV_JOB, job, JOB_NAME, &isnull)),
					 DatumGetObjectId(inv_get(INV_JOB, job, JOB_OWNER, &isnull)));
	terms->max_attempts = DatumGetInt32(inv_get(INV_JOB, job, JOB_MAX_ATTEMPTS, &isnull));
	terms->retry_backoff = datumCopy(inv_get(INV_JOB, job, JOB_RETRY_BACKOFF, &isnull),
									 false, sizeof(Interval));
	terms->lease = datumCopy(inv_get(INV_JOB, job, JOB_LEASE, &isnull),
							 false, sizeof(Interval));
	ExecDropSingleTupleTableSlot(job);
	table_close(job_rel, NoLock);
	return true;
}

/*
 * bi_inventory_change_attempt
 *		End (end != NULL: succeeded or failed, with its message and result)
 *		or extend the lease of (end == NULL) attempt `attempt` of batch
 *		`batch`, if that is the batch's current attempt and still
 *		processing.  The caller must be allowed to use the batch's job,
 *		checked before anything is locked or changed.  Ending it releases
 *		the batch: succeeded, or
 *		failed and waiting for its retry until the job's backoff (doubled
 *		for each attempt since the last requeue) ran out, or failed for good
 *		with no attempt left, counted in the job (inv_job_count).  Extending
 *		it leases the batch for the job's lease from now, into *lease_until.
 *		Locks the batch's row.
 */
BiAttemptChange
bi_inventory_change_attempt(const BiCall *call, int64 batch, int32 attempt,
							const BiAttemptEnd *end, TimestampTz *lease_until)
{
	InvChange	change;
	InvWriter	batch_row;
	InvWriter	attempt_row;
	ScanKeyData keys[2];
	TimestampTz now = GetCurrentTimestamp();
	BatchRow	found;
	BatchRow	released;
	InvCount	count = {0};
	JobTerms	terms;
	BiStatus	status = end == NULL ? STATUS_PROCESSING :
		end->succeeded ? STATUS_SUCCEEDED : STATUS_FAILED;

	inv_change_begin(&change, end ? "batchintory_release()" : "batchintory_heartbeat()");
	inv_writer_open(&batch_row, &change, INV_BATCH);

	/* the batch's job, and whether the caller may use it */
	if (!batch_job_terms(call, &change, batch_row.rel, batch, &terms))
	{
		inv_writer_close(&batch_row);
		inv_change_end(&change);
		return ATTEMPT_NO_BATCH;
	}

	/* the batch as it is now, locked: is the attempt current? */
	inv_key(&keys[0], INDEX_BATCH_PKEY, 1, BTEqualStrategyNumber, Int64GetDatum(batch));
	if (!inv_lock_row(&batch_row, &change, INDEX_BATCH_PKEY, keys, 1))
	{
		inv_writer_close(&batch_row);
		inv_change_end(&change);
		return ATTEMPT_NO_BATCH;
	}
	inv_batch_from_slot(batch_row.found, &found);
	if (found.status != STATUS_PROCESSING || found.attempt != attempt)
	{
		inv_writer_close(&batch_row);
		inv_change_end(&change);
		return ATTEMPT_NOT_CURRENT;
	}

	inv_row_from_found(&batch_row);
	if (end == NULL)
	{
		*lease_until = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
															   TimestampTzGetDatum(now),
															   terms.lease));
		inv_set(&batch_row, BATCH_LEASE_UNTIL, TimestampTzGetDatum(*lease_until), false);
	}
	else
	{
		int32		since_requeue = attempt - found.requeued_after;

		released = found;
		released.status = status;
		released.has_lease = false;
		released.has_retry = !end->succeeded && since_requeue < terms.max_attempts;
		released.retry_after = now +
			bi_retry_delay_usecs(bi_interval_usecs(terms.retry_backoff), since_requeue);
		inv_set(&batch_row, BATCH_STATUS, inv_status_datum(status), false);
		inv_set(&batch_row, BATCH_LEASE_UNTIL, (Datum) 0, true);
		inv_set(&batch_row, BATCH_RETRY_AFTER, TimestampTzGetDatum(released.retry_after),
				!released.has_retry);
		inv_count_batch(&count, &found, -1);
		inv_count_batch(&count, &released, 1);
		count.has_success = end->succeeded;
		count.success = now;
	}
	inv_write(&batch_row, &change, true);
	inv_writer_close(&batch_row);

	inv_writer_open(&attempt_row, &change, INV_ATTEMPT);
	inv_key(&keys[0], INDEX_ATTEMPT_PKEY, 1, BTEqualStrategyNumber, Int64GetDatum(batch));
	inv_key(&keys[1], INDEX_ATTEMPT_PKEY, 2, BTEqualStrategyNumber, Int32GetDatum(attempt));
	if (inv_lock_row(&attempt_row, &change, INDEX_ATTEMPT_PKEY, keys, 2))
	{
		inv_row_from_found(&attempt_row);
		if (end == NULL)
			inv_set(&attempt_row, ATTEMPT_LEASE_UNTIL, TimestampTzGetDatum(*lease_until),
					false);
		else
		{
			inv_set(&attempt_row, ATTEMPT_STATUS, inv_status_datum(status), false);
			inv_set(&attempt_row, ATTEMPT_MESSAGE, end->message, end->message_isnull);
			inv_set(&attempt_row, ATTEMPT_RESULT, end->result, end->result_isnull);
			inv_set(&attempt_row, ATTEMPT_RELEASED_AT, TimestampTzGetDatum(now), false);
		}
		inv_write(&attempt_row, &change, true);
	}
	inv_writer_close(&attempt_row);

	if (end != NULL)
		inv_job_count(&change, found.job_id, &count);
	inv_change_end(&change);
	return ATTEMPT_CHANGED;
}
