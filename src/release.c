/*
 * release.c
 *	  Ending and steering attempts: batchintory_release and
 *	  batchintory_heartbeat (fenced by the attempt number),
 *	  batchintory_requeue, batchintory_skip and batchintory_rewind.
 */
#include "postgres.h"

#include "batchintory.h"
#include "inventory/inventory.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(batchintory_release);
PG_FUNCTION_INFO_V1(batchintory_heartbeat);
PG_FUNCTION_INFO_V1(batchintory_requeue);
PG_FUNCTION_INFO_V1(batchintory_skip);
PG_FUNCTION_INFO_V1(batchintory_rewind);

/*
 * The attempt was not current and processing: say why, from the batch's
 * state now (the statement that found it so may have waited for the
 * transaction that changed it).
 */
static void
attempt_not_current(int64 batch, int32 attempt)
{
	Oid			argtypes[2] = {INT8OID, INT4OID};
	Datum		args[2] = {Int64GetDatum(batch), Int32GetDatum(attempt)};
	bool		isnull;
	int32		current;
	char	   *status;
	char	   *attempt_status;

	if (bi_exec("SELECT b.attempt, b.status, a.status, j.name FROM batchintory.batch b"
				" JOIN batchintory.job j ON j.job_id OPERATOR(pg_catalog.=) b.job_id"
				" LEFT JOIN batchintory.attempt a"
				"  ON a.batch_id OPERATOR(pg_catalog.=) b.batch_id"
				"  AND a.attempt OPERATOR(pg_catalog.=) $2"
				" WHERE b.batch_id OPERATOR(pg_catalog.=) $1",
				2, argtypes, args, NULL, SPI_OK_SELECT) == 0)
		bi_batch_not_found(batch);
	current = DatumGetInt32(bi_get(0, 1, &isnull));
	status = bi_get_text(0, 2);
	attempt_status = bi_get_text(0, 3);

	if (attempt_status == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("attempt %d of batch " INT64_FORMAT " does not exist",
						attempt, batch),
				 errdetail("The current attempt is %d.", current)));
	if (strcmp(status, "superseded") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("batch " INT64_FORMAT " was superseded", batch),
				 errdetail("Job \"%s\" was rewound; its assets are handed out again in new batches.",
						   bi_get_text(0, 4))));
	if (attempt != current)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("attempt %d of batch " INT64_FORMAT " is no longer current",
						attempt, batch),
				 errdetail("The batch was handed out again as attempt %d.", current)));
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("attempt %d of batch " INT64_FORMAT " was already released",
					attempt, batch),
			 errdetail("It ended as \"%s\".", attempt_status)));
}

/*
 * End (end != NULL) or extend the lease of attempt `attempt` of a batch
 * (bi_inventory_change_attempt); an error if it is not the batch's current
 * attempt in processing.  Returns the new lease end when extending.
 */
static TimestampTz
change_current_attempt(int64 batch, int32 attempt, const BiAttemptEnd *end)
{
	BiCall		call;
	TimestampTz lease_until = 0;
	BiAttemptChange outcome;

	bi_call_begin(&call);
	outcome = bi_inventory_change_attempt(&call, batch, attempt, end, &lease_until);
	if (outcome == ATTEMPT_NO_BATCH)
		bi_batch_not_found(batch);
	if (outcome == ATTEMPT_NOT_CURRENT)
		attempt_not_current(batch, attempt);
	bi_call_end(&call);
	return lease_until;
}

/*
 * batchintory_release(batch bigint, attempt integer, status text,
 *					   message text, result jsonb)
 *		Record how the current attempt of a batch ended: 'succeeded' or
 *		'failed' (then the batch waits for a retry after the job's backoff,
 *		doubled for each attempt since the last requeue, capped), with a
 *		message and a result (jsonb the worker reports).  Locks the batch's
 *		row.
 */
Datum
batchintory_release(PG_FUNCTION_ARGS)
{
	BiAttemptEnd end;
	const char *status;

	bi_check_nargs(fcinfo, 5);
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("batch, attempt and status must not be null")));
	status = text_to_cstring(PG_GETARG_TEXT_PP(2));
	if (strcmp(status, "succeeded") != 0 && strcmp(status, "failed") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid status \"%s\"", status),
				 errhint("A batch is released as \"succeeded\" or \"failed\".")));
	end.succeeded = strcmp(status, "succeeded") == 0;
	end.message_isnull = PG_ARGISNULL(3);
	end.message = end.message_isnull ? (Datum) 0 : PG_GETARG_DATUM(3);
	end.result_isnull = PG_ARGISNULL(4);
	end.result = end.result_isnull ? (Datum) 0 : PG_GETARG_DATUM(4);

	(void) change_current_attempt(PG_GETARG_INT64(0), PG_GETARG_INT32(1), &end);
	PG_RETURN_VOID();
}

/*
 * batchintory_heartbeat(batch bigint, attempt integer) RETURNS timestamptz
 *		Extend the lease of the current attempt by the job's lease from now;
 *		returns the new lease end.  Locks the batch's row.
 */
Datum
batchintory_heartbeat(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("batch and attempt must not be null")));
	PG_RETURN_TIMESTAMPTZ(change_current_attempt(PG_GETARG_INT64(0),
												 PG_GETARG_INT32(1), NULL));
}

/*
 * Change a batch with verb (bi_inventory_requeue, bi_inventory_skip), which
 * tells whether the batch was in a state it applies to; if it was not, an
 * error naming the state it is in (doing: the verb's name; hint: which
 * batches it applies to).  Who may use the batch's job is checked first.
 */
static void
change_batch(int64 batch, bool (*verb) (int64), const char *doing, const char *hint)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(batch)};
	int64		first_id;
	int64		last_id;
	BiCall		call;

	bi_call_begin(&call);
	(void) bi_job_of_batch(&call, batch, &first_id, &last_id);
	if (!verb(batch))
	{
		/* gone if its job was dropped meanwhile; else say what it is */
		if (bi_exec("SELECT pg_catalog.concat_ws(' ', status, CASE WHEN retry_after"
					"  IS NOT NULL THEN 'with attempts left' END)"
					" FROM batchintory.batch WHERE batch_id OPERATOR(pg_catalog.=) $1",
					1, argtypes, args, NULL, SPI_OK_SELECT) == 0)
			bi_batch_not_found(batch);
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot %s batch " INT64_FORMAT " while it is %s",
						doing, batch, bi_get_text(0, 1)),
				 errhint("%s", hint)));
	}
	bi_call_end(&call);
}

/*
 * batchintory_requeue(batch bigint)
 *		Put a failed, skipped or succeeded batch back in line for a retry,
 *		with the job's full number of attempts again.  Locks the batch's
 *		row.
 */
Datum
batchintory_requeue(PG_FUNCTION_ARGS)
{
	change_batch(PG_GETARG_INT64(0), bi_inventory_requeue, "requeue",
				 "Only failed, skipped or succeeded batches can be requeued.");
	PG_RETURN_VOID();
}

/*
 * batchintory_skip(batch bigint)
 *		Leave out a batch failed for good: it becomes skipped, a hole that
 *		the views and verify show, and no longer stops a job whose
 *		on_failure is 'halt'.  batchintory_requeue takes it back.  Locks the
 *		batch's row.
 */
Datum
batchintory_skip(PG_FUNCTION_ARGS)
{
	change_batch(PG_GETARG_INT64(0), bi_inventory_skip, "skip",
				 "Only batches failed for good (no attempt left) can be skipped.");
	PG_RETURN_VOID();
}

#define LIVE_FROM \
	" FROM batchintory.batch WHERE job_id OPERATOR(pg_catalog.=) $1" \
	" AND status OPERATOR(pg_catalog.<>) 'superseded'" \
	" AND last_id OPERATOR(pg_catalog.>=) $2"

/*
 * Lock the rows of the live batches of a job from key from_id on.  With
 * wait, wait for the transactions that hold them; otherwise lock what is
 * free and return false if another transaction holds one of them.
 */
static bool
lock_batches_from(int32 job_id, int64 from_id, bool wait)
{
	Oid			argtypes[2] = {INT4OID, INT8OID};
	Datum		args[2] = {Int32GetDatum(job_id), Int64GetDatum(from_id)};
	bool		isnull;

	if (wait)
	{
		bi_exec("SELECT" LIVE_FROM " ORDER BY first_id FOR UPDATE", 2, argtypes,
				args, NULL, SPI_OK_SELECT);
		return true;
	}
	bi_exec("WITH l AS (SELECT batch_id" LIVE_FROM " FOR UPDATE SKIP LOCKED)"
			" SELECT (SELECT pg_catalog.count(*) FROM l)"
			"  OPERATOR(pg_catalog.=) (SELECT pg_catalog.count(*)" LIVE_FROM ")",
			2, argtypes, args, NULL, SPI_OK_SELECT);
	return DatumGetBool(bi_get(0, 1, &isnull));
}

/* how often rewind and drop let go of the job's lock to wait for batches */
#define LOCK_BATCHES_TRIES 20

/*
 * bi_job_open_with_batches
 *		The job named name, under its lock, with the rows of its live
 *		batches from key from_id on locked too (rewind and drop change
 *		them).  The rows are waited for before the job's lock is taken,
 *		never while holding it: a worker that releases a batch and then
 *		acquires in one transaction holds a batch row and waits for the
 *		job's lock.  Rewinds and drops of the job wait for each other first
 *		(BI_LOCK_CHANGE).  Batches cut meanwhile and held by a release in
 *		progress make it let go of the job's lock and wait again; after
 *		LOCK_BATCHES_TRIES rounds it gives up with an error that asks to
 *		try again.
 */
BiJob *
bi_job_open_with_batches(const BiCall *call, const char *name, int64 from_id)
{
	int			tries;

	for (tries = 0;; tries++)
	{
		BiJob	   *job = bi_job_open(call, name, false);
		int32		job_id = job->job_id;

		bi_job_lock_changes(job_id);
		(void) lock_batches_from(job_id, from_id, true);
		job = bi_job_open(call, name, true);
		if (lock_batches_from(job->job_id, from_id, false))
			return job;
		if (tries == LOCK_BATCHES_TRIES)
			ereport(ERROR,
					(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
					 errmsg("could not lock the batches of job \"%s\"", name),
					 errdetail("Workers kept releasing batches cut meanwhile."),
					 errhint("Try again.")));
		bi_job_unlock(job->job_id);
	}
}

/*
 * batchintory_rewind(job text, id bigint) RETURNS bigint
 *		Move a job back so that the asset with key id and every later one
 *		are handed out again: the batches from the one that contains id
 *		onwards are superseded (kept, marked so; attempts still processing
 *		become superseded) and the frontier goes back to just before them.
 *		Returns the number of batches superseded.  Locks those batches'
 *		rows and the job (bi_job_open_with_batches).
 */
Datum
batchintory_rewind(PG_FUNCTION_ARGS)
{
	const char *name = bi_text_arg(fcinfo, 0, "job name");
	Oid			argtypes[2] = {INT4OID, INT8OID};
	Datum		args[2];
	BiCall		call;
	BiJob	   *job;
	int64		id;
	int64		point;
	bool		isnull;
	int64		superseded;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("id must not be null")));
	bi_call_begin(&call);
	job = bi_job_open(&call, name, false);
	id = bi_job_key_arg(fcinfo, 1, job);
	if (job->has_lower_bound && id < job->lower_bound)
		id = job->lower_bound;
	job = bi_job_open_with_batches(&call, name, id);
	if (job->has_lower_bound && id < job->lower_bound)
		id = job->lower_bound;

	/* start of the live batch containing id, if any */
	args[0] = Int32GetDatum(job->job_id);
	args[1] = Int64GetDatum(id);
	point = id;
	if (bi_exec("SELECT first_id FROM batchintory.batch"
				" WHERE job_id OPERATOR(pg_catalog.=) $1"
				" AND status OPERATOR(pg_catalog.<>) 'superseded'"
				" AND first_id OPERATOR(pg_catalog.<=) $2"
				" AND last_id OPERATOR(pg_catalog.>=) $2",
				2, argtypes, args, NULL, SPI_OK_SELECT) > 0)
		point = bi_get_int64(0, 1, &isnull);
	/* the new frontier: none (start over) below the smallest key */
	superseded = bi_inventory_rewind(job->job_id, point, point != PG_INT64_MIN,
									 point - 1);
	bi_call_end(&call);
	PG_RETURN_INT64(superseded);
}
