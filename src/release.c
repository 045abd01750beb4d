/*
 * release.c
 *	  Ending and steering attempts: batchintory_release and
 *	  batchintory_heartbeat (fenced by the attempt number), the retry delay,
 *	  batchintory_requeue and batchintory_rewind.
 */
#include "postgres.h"

#include "batchintory.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(batchintory_release);
PG_FUNCTION_INFO_V1(batchintory_heartbeat);
PG_FUNCTION_INFO_V1(batchintory_retry_delay);
PG_FUNCTION_INFO_V1(batchintory_requeue);
PG_FUNCTION_INFO_V1(batchintory_rewind);

/*
 * The job of batch $1 and whether role $3 may use it: the first part of
 * release and heartbeat, which then change the batch only if it is allowed
 * and the attempt $2 is current and processing (checked again on the latest
 * version of the row, which the UPDATE locks).  Each table is reached by
 * its key from a parameter, never through a join clause: a generic plan
 * made while the inventory's statistics were those of an empty table could
 * otherwise walk a whole index to match the rows up.
 */
#define CURRENT_BATCH \
	"WITH cur AS (SELECT j.name," \
	"  pg_catalog.pg_has_role($3, j.owner::pg_catalog.oid, 'USAGE') AS allowed," \
	"  j.lease, j.retry_backoff, j.owner, j.max_attempts" \
	"  FROM batchintory.job j" \
	"  WHERE j.job_id OPERATOR(pg_catalog.=) (SELECT b.job_id FROM batchintory.batch b" \
	"   WHERE b.batch_id OPERATOR(pg_catalog.=) $1))"

#define IS_CURRENT_ATTEMPT \
	" x.batch_id OPERATOR(pg_catalog.=) $1 AND c.allowed" \
	" AND" BI_IS_PROCESSING("x") \
	" AND x.attempt OPERATOR(pg_catalog.=) $2"

/*
 * Release: $4 status, $5 message, $6 result.  A failed batch with attempts
 * left waits for its retry until retry_after (NULL: failed for good); a
 * succeeded one adds to the job's done counters.
 */
static const char *const release_attempt =
CURRENT_BATCH ","
" ub AS (UPDATE batchintory.batch x SET status = $4, lease_until = NULL,"
"  retry_after = CASE WHEN $4 OPERATOR(pg_catalog.=) 'failed'"
"   AND ($2 OPERATOR(pg_catalog.-) x.requeued_after) OPERATOR(pg_catalog.<) c.max_attempts"
"   THEN pg_catalog.clock_timestamp() OPERATOR(pg_catalog.+)"
"    batchintory.retry_delay(c.retry_backoff,"
"     $2 OPERATOR(pg_catalog.-) x.requeued_after) END"
"  FROM cur c WHERE" IS_CURRENT_ATTEMPT
"  RETURNING x.batch_id, x.job_id, x.asset_count, x.weight),"
" ua AS (UPDATE batchintory.attempt a SET status = $4, message = $5, result = $6,"
"  released_at = pg_catalog.clock_timestamp()"
"  FROM ub WHERE a.batch_id OPERATOR(pg_catalog.=) $1"
"  AND a.attempt OPERATOR(pg_catalog.=) $2),"
" p AS (INSERT INTO batchintory.progress (job_id, batches, assets, weight, last_success)"
"  SELECT ub.job_id, 1, ub.asset_count, COALESCE(ub.weight, 0), pg_catalog.clock_timestamp()"
"  FROM ub WHERE $4 OPERATOR(pg_catalog.=) 'succeeded')"
" SELECT c.name, c.allowed, (SELECT pg_catalog.count(*) FROM ub),"
"  NULL::pg_catalog.timestamptz, c.owner"
" FROM cur c";

/* Heartbeat: the lease runs for the job's lease from now */
static const char *const extend_lease =
CURRENT_BATCH ","
" ub AS (UPDATE batchintory.batch x"
"  SET lease_until = pg_catalog.clock_timestamp() OPERATOR(pg_catalog.+) c.lease"
"  FROM cur c WHERE" IS_CURRENT_ATTEMPT
"  RETURNING x.batch_id, x.lease_until),"
" ua AS (UPDATE batchintory.attempt a SET lease_until = ub.lease_until"
"  FROM ub WHERE a.batch_id OPERATOR(pg_catalog.=) $1"
"  AND a.attempt OPERATOR(pg_catalog.=) $2)"
" SELECT c.name, c.allowed, (SELECT pg_catalog.count(*) FROM ub),"
"  (SELECT ub.lease_until FROM ub), c.owner"
" FROM cur c";

static void
batch_not_found(int64 batch)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("batch " INT64_FORMAT " does not exist", batch)));
}

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
		batch_not_found(batch);
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
 * Run release_attempt or extend_lease for (batch, attempt) with extra
 * parameters ($4 on), in one statement that checks who may use the job
 * before it changes anything; an error if nothing was changed.  Returns
 * the new lease end (extend_lease).
 */
static Datum
change_current_attempt(const BiCall *call, const char *sql, int64 batch,
					   int32 attempt, int nextra, Oid *extratypes,
					   Datum *extra, const char *extranulls)
{
	Oid			argtypes[6] = {INT8OID, INT4OID, OIDOID};
	Datum		args[6];
	char		nulls[7] = "   ";
	bool		isnull;
	int			i;

	args[0] = Int64GetDatum(batch);
	args[1] = Int32GetDatum(attempt);
	args[2] = ObjectIdGetDatum(call->caller);
	for (i = 0; i < nextra; i++)
	{
		argtypes[3 + i] = extratypes[i];
		args[3 + i] = extra[i];
		nulls[3 + i] = extranulls[i];
	}
	nulls[3 + nextra] = '\0';

	if (bi_exec(sql, 3 + nextra, argtypes, args, nulls, SPI_OK_SELECT) == 0)
		batch_not_found(batch);
	if (!DatumGetBool(bi_get(0, 2, &isnull)))
		bi_check_may_use(call, bi_get_text(0, 1),
						 DatumGetObjectId(bi_get(0, 5, &isnull)));
	if (bi_get_int64(0, 3, &isnull) == 0)
		attempt_not_current(batch, attempt);
	return bi_get(0, 4, &isnull);
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
	Oid			types[3] = {TEXTOID, TEXTOID, JSONBOID};
	Datum		extra[3];
	char		nulls[3] = {' ', ' ', ' '};
	const char *status;
	BiCall		call;

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
	extra[0] = PG_GETARG_DATUM(2);
	extra[1] = PG_ARGISNULL(3) ? (Datum) 0 : PG_GETARG_DATUM(3);
	nulls[1] = PG_ARGISNULL(3) ? 'n' : ' ';
	extra[2] = PG_ARGISNULL(4) ? (Datum) 0 : PG_GETARG_DATUM(4);
	nulls[2] = PG_ARGISNULL(4) ? 'n' : ' ';

	bi_call_begin(&call);
	SPI_connect();
	(void) change_current_attempt(&call, release_attempt, PG_GETARG_INT64(0),
								  PG_GETARG_INT32(1), 3, types, extra, nulls);
	SPI_finish();
	bi_call_end(&call);
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
	BiCall		call;
	TimestampTz lease_until;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("batch and attempt must not be null")));
	bi_call_begin(&call);
	SPI_connect();
	lease_until = DatumGetTimestampTz(change_current_attempt(&call, extend_lease,
															 PG_GETARG_INT64(0),
															 PG_GETARG_INT32(1),
															 0, NULL, NULL, NULL));
	SPI_finish();
	bi_call_end(&call);
	PG_RETURN_TIMESTAMPTZ(lease_until);
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
	int64		backoff = bi_interval_usecs(PG_GETARG_DATUM(0));
	int32		attempts = PG_GETARG_INT32(1);
	int64		cap = Max(backoff, BI_MAX_RETRY_DELAY_USECS);
	int64		delay = Max(backoff, 0);
	Interval   *result = palloc0(sizeof(Interval));
	int32		i;

	for (i = 1; i < attempts && delay > 0 && delay < cap; i++)
		delay = delay > cap / 2 ? cap : delay * 2;
	result->time = Min(delay, cap);
	PG_RETURN_INTERVAL_P(result);
}

/*
 * bi_batch_requeue
 *		Put a failed or succeeded batch back in line for a retry, with the
 *		job's full number of attempts again (a succeeded batch no longer
 *		counts as done); false if the batch is in neither state.  Locks the
 *		batch's row.  The caller must be connected to SPI.
 */
bool
bi_batch_requeue(int64 batch)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(batch)};
	bool		isnull;
	bool		requeued;

	bi_exec("WITH o AS (SELECT batch_id, job_id, status, asset_count, weight"
			"  FROM batchintory.batch WHERE batch_id OPERATOR(pg_catalog.=) $1 FOR UPDATE),"
			" u AS (UPDATE batchintory.batch b SET status = 'failed',"
			"  requeued_after = b.attempt, retry_after = pg_catalog.clock_timestamp() FROM o"
			"  WHERE b.batch_id OPERATOR(pg_catalog.=) o.batch_id"
			"  AND o.status OPERATOR(pg_catalog.=) ANY ('{failed,succeeded}'::pg_catalog.text[])"
			"  RETURNING b.batch_id),"
			" p AS (INSERT INTO batchintory.progress (job_id, batches, assets, weight)"
			"  SELECT o.job_id, -1, OPERATOR(pg_catalog.-) o.asset_count,"
			"   OPERATOR(pg_catalog.-) COALESCE(o.weight, 0) FROM o, u"
			"  WHERE o.status OPERATOR(pg_catalog.=) 'succeeded')"
			" SELECT (SELECT pg_catalog.count(*) FROM u)",
			1, argtypes, args, NULL, SPI_OK_SELECT);
	requeued = bi_get_int64(0, 1, &isnull) == 1;
	SPI_freetuptable(SPI_tuptable);
	return requeued;
}

/*
 * batchintory_requeue(batch bigint)
 *		Put a failed (or succeeded) batch back in line for a retry, with the
 *		job's full number of attempts again.  Locks the batch's row.
 */
Datum
batchintory_requeue(PG_FUNCTION_ARGS)
{
	int64		batch = PG_GETARG_INT64(0);
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(batch)};
	int64		first_id;
	int64		last_id;
	BiCall		call;
	char	   *status;

	bi_call_begin(&call);
	SPI_connect();
	(void) bi_job_of_batch(&call, batch, &first_id, &last_id);
	bi_exec("SELECT status FROM batchintory.batch"
			" WHERE batch_id OPERATOR(pg_catalog.=) $1 FOR UPDATE",
			1, argtypes, args, NULL, SPI_OK_SELECT);
	status = bi_get_text(0, 1);
	if (!bi_batch_requeue(batch))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot requeue batch " INT64_FORMAT " while it is %s",
						batch, status),
				 errhint("Only failed or succeeded batches can be requeued.")));
	SPI_finish();
	bi_call_end(&call);
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
	Oid			argtypes[3] = {INT4OID, INT8OID, INT8OID};
	Datum		args[3];
	char		nulls[4] = "   ";
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
	id = PG_GETARG_INT64(1);

	bi_call_begin(&call);
	SPI_connect();
	job = bi_job_open(&call, name, false);
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
	args[1] = Int64GetDatum(point);
	/* the new frontier: NULL (start over) below the smallest key */
	args[2] = Int64GetDatum(point - 1);
	nulls[2] = point == PG_INT64_MIN ? 'n' : ' ';

	bi_exec("WITH o AS (SELECT batch_id, status, asset_count, weight"
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
			" p AS (INSERT INTO batchintory.progress (job_id, batches, assets, weight)"
			"  SELECT $1, OPERATOR(pg_catalog.-) pg_catalog.count(*),"
			"   OPERATOR(pg_catalog.-) pg_catalog.sum(o.asset_count),"
			"   OPERATOR(pg_catalog.-) COALESCE(pg_catalog.sum(o.weight), 0)"
			"  FROM o WHERE o.status OPERATOR(pg_catalog.=) 'succeeded'"
			"  HAVING pg_catalog.count(*) OPERATOR(pg_catalog.>) 0),"
			" j AS (UPDATE batchintory.job SET"
			"  cut_batches = cut_batches OPERATOR(pg_catalog.-)"
			"   (SELECT pg_catalog.count(*) FROM o),"
			"  cut_assets = cut_assets OPERATOR(pg_catalog.-)"
			"   (SELECT COALESCE(pg_catalog.sum(o.asset_count), 0) FROM o)::pg_catalog.int8,"
			"  cut_weight = cut_weight OPERATOR(pg_catalog.-)"
			"   (SELECT COALESCE(pg_catalog.sum(o.weight), 0) FROM o),"
			"  frontier = CASE WHEN frontier OPERATOR(pg_catalog.>=) $2 THEN $3"
			"   ELSE frontier END"
			"  WHERE job_id OPERATOR(pg_catalog.=) $1)"
			" SELECT pg_catalog.count(*) FROM b",
			3, argtypes, args, nulls, SPI_OK_SELECT);
	superseded = bi_get_int64(0, 1, &isnull);
	SPI_finish();
	bi_call_end(&call);
	PG_RETURN_INT64(superseded);
}
