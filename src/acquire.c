/*
 * acquire.c
 *	  Handing out work: batchintory_acquire (retries first, then new batches
 *	  cut after the frontier) and batchintory_peek (the same, nothing taken).
 */
#include "postgres.h"

#include "batchintory.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"

PG_FUNCTION_INFO_V1(batchintory_acquire);
PG_FUNCTION_INFO_V1(batchintory_peek);

/* columns of the result of acquire and peek */
enum
{
	R_BATCH,
	R_ATTEMPT,
	R_JOB,
	R_FIRST_ID,
	R_LAST_ID,
	R_ASSET_COUNT,
	R_WEIGHT,
	R_ENDED_BY,
	R_LEASE_UNTIL,
	R_CONFIG,
	N_RESULT
};

/*
 * The batches of job $1 that may be handed out again at time $2 (now, as a
 * parameter: an index condition cannot compare with a volatile function):
 * failed ones with attempts left whose backoff has passed (through the
 * partial index batch_job_retry, in key order), and abandoned ones -- in
 * processing past their lease -- with attempts left.
 *
 * The expired leases are found first, as a materialized CTE: a range of
 * batch_job_leased, few rows; their batches are then looked up by key.
 * Ordered and limited directly, or joined, a generic plan (which cannot
 * tell how few leases ran out) could walk every batch of the job instead.
 */
#define RETRY_EXPIRED \
	" expired AS MATERIALIZED (SELECT x.batch_id, x.first_id," \
	"  (x.attempt OPERATOR(pg_catalog.-) x.requeued_after) OPERATOR(pg_catalog.<)" \
	"   (SELECT m.max_attempts FROM batchintory.job m" \
	"    WHERE m.job_id OPERATOR(pg_catalog.=) $1) AS retryable" \
	"  FROM batchintory.batch x WHERE x.job_id OPERATOR(pg_catalog.=) $1" \
	"  AND x.status OPERATOR(pg_catalog.=) 'processing'" \
	"  AND x.lease_until OPERATOR(pg_catalog.<) $2),"
/*
 * The batches of expired that are (retryable) or are not, as they still
 * are (in processing, past their lease): looked up by their keys, a
 * condition on the primary key whatever the plan thinks of expired's size
 */
#define EXPIRED_BATCH(b, retryable) \
	" FROM batchintory.batch " b \
	" WHERE " b ".batch_id OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT e.batch_id" \
	"  FROM expired e WHERE " retryable "))" \
	" AND" BI_IS_PROCESSING(b) \
	" AND " b ".lease_until OPERATOR(pg_catalog.<) $2"
#define RETRY_COLUMNS \
	"SELECT c.batch_id, c.first_id, c.last_id, c.attempt, c.status," \
	"  c.ended_by, c.asset_count, c.weight"
#define RETRY_FAILED \
	RETRY_COLUMNS " FROM batchintory.batch c" \
	" WHERE c.job_id OPERATOR(pg_catalog.=) $1" \
	" AND c.status OPERATOR(pg_catalog.=) 'failed' AND c.retry_after IS NOT NULL" \
	" AND c.retry_after OPERATOR(pg_catalog.<=) $2"
#define RETRY_ABANDONED \
	RETRY_COLUMNS EXPIRED_BATCH("c", "e.retryable")

/*
 * The oldest of them as the CTE "retry", after expired and the CTEs rf and
 * ra that lock the oldest of each kind (lock is "" or a locking clause;
 * after narrows both: "" or a further condition on c)
 */
#define RETRY_CTES(after, lock) \
	RETRY_EXPIRED \
	" rf AS (" RETRY_FAILED after " ORDER BY c.first_id LIMIT 1" lock ")," \
	" ra AS (" RETRY_ABANDONED after " ORDER BY c.first_id LIMIT 1" lock ")," \
	" retry AS (SELECT * FROM (SELECT * FROM rf UNION ALL SELECT * FROM ra) u" \
	"  ORDER BY u.first_id LIMIT 1)"
#define RETRY_LOCK " FOR UPDATE OF c SKIP LOCKED"

/*
 * Under the job's lock: give up on abandoned batches that used their last
 * attempt (they become failed, visible, re-queued only by hand; rows locked
 * by a release in progress are skipped), take the oldest retry candidate,
 * and read the job's row -- one statement.
 */
static const char *const job_state_locked =
"WITH" RETRY_CTES("", RETRY_LOCK) ","
" exhausted AS (SELECT x.batch_id" EXPIRED_BATCH("x", "NOT e.retryable")
"  FOR UPDATE OF x SKIP LOCKED),"
" failed AS (UPDATE batchintory.batch f SET status = 'failed', lease_until = NULL"
"  WHERE f.batch_id OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT e.batch_id FROM exhausted e))"
"  RETURNING f.batch_id, f.attempt),"
" abandoned AS (UPDATE batchintory.attempt a SET status = 'abandoned',"
"  message = 'lease ran out on the last attempt'"
"  WHERE a.batch_id OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT f.batch_id FROM failed f))"
"  AND (a.batch_id, a.attempt) IN (SELECT f.batch_id, f.attempt FROM failed f))"
" SELECT j.revision, j.name, j.owner, j.frontier, r.*"
" FROM batchintory.job j LEFT JOIN retry r ON true"
" WHERE j.job_id OPERATOR(pg_catalog.=) $1";

/* The same for peek: nothing changed, nothing locked */
static const char *const job_state_peek =
"WITH" RETRY_CTES("", "")
" SELECT j.revision, j.name, j.owner, j.frontier, r.*"
" FROM batchintory.job j LEFT JOIN retry r ON true"
" WHERE j.job_id OPERATOR(pg_catalog.=) $1";

/* columns of job_state_locked and job_state_peek, and of "retry" from S_BATCH_ID */
enum
{
	S_REVISION = 1,
	S_NAME,
	S_OWNER,
	S_FRONTIER,
	S_BATCH_ID,
	S_FIRST_ID,
	S_LAST_ID,
	S_ATTEMPT,
	S_STATUS,
	S_ENDED_BY,
	S_ASSET_COUNT,
	S_WEIGHT
};

/*
 * Parameters of take_batch_again: $1 job, $2 batch, $3 attempt, $4
 * asset_count, $5 weight, $6 lease, $7 worker, $8 config, $9 the caller's
 * name, $10 and $11 the count and weight the batch had before.
 */
#define N_RECORD_ARGS 11

#define INSERT_ATTEMPT_FROM_B \
	" INSERT INTO batchintory.attempt (batch_id, attempt, status, asset_count," \
	"  weight, lease_until, worker, application_name, client_addr, backend_pid," \
	"  acquired_by, config)" \
	" SELECT b.batch_id, b.attempt, 'processing', b.asset_count, b.weight," \
	"  b.lease_until, $7," \
	"  NULLIF(pg_catalog.current_setting('application_name'), '')," \
	"  pg_catalog.inet_client_addr(), pg_catalog.pg_backend_pid(), $9, $8" \
	" FROM b RETURNING batch_id, lease_until"

#define BATCH_RETURNING " RETURNING batch_id, attempt, asset_count, weight, lease_until"

/*
 * A batch taken again: the abandoned attempt (if it was abandoned) marked,
 * the batch recounted and leased, the job's counters corrected, the new
 * attempt recorded.
 */
static const char *const take_batch_again =
"WITH prev AS (UPDATE batchintory.attempt SET status = 'abandoned',"
"  message = 'lease ran out'"
"  WHERE batch_id OPERATOR(pg_catalog.=) $2"
"  AND attempt OPERATOR(pg_catalog.=) ($3 OPERATOR(pg_catalog.-) 1)"
"  AND status OPERATOR(pg_catalog.=) 'processing'),"
" b AS (UPDATE batchintory.batch SET status = 'processing',"
"  attempt = $3, asset_count = $4, weight = $5, retry_after = NULL,"
"  lease_until = pg_catalog.clock_timestamp() OPERATOR(pg_catalog.+) $6"
"  WHERE batch_id OPERATOR(pg_catalog.=) $2"
BATCH_RETURNING "),"
" j AS (UPDATE batchintory.job SET"
"  cut_assets = cut_assets OPERATOR(pg_catalog.+) $4 OPERATOR(pg_catalog.-) $10,"
"  cut_weight = cut_weight OPERATOR(pg_catalog.+) COALESCE($5, 0)"
"   OPERATOR(pg_catalog.-) COALESCE($11, 0)"
"  WHERE job_id OPERATOR(pg_catalog.=) $1)"
INSERT_ATTEMPT_FROM_B;

/* What one call of acquire or peek works with */
typedef struct Acquisition
{
	ReturnSetInfo *rsinfo;
	BiJob	   *job;
	bool		take;			/* acquire (true) or peek */
	int32		batches;		/* batches wanted */
	BiLimits	limits;
	BiAttemptBy by;				/* acquire: who takes the batches */
	bool		has_retry;		/* a retry candidate in row 0 of SPI_tuptable */
	int			handed;			/* batches found so far */
	int64		last_retry;		/* first key of the last retry served */
	/* the newest key new batches may reach, once computed */
	bool		guard_done;
	BiGuard		guard;
	int64		limit;
} Acquisition;

static void
emit_batch(Acquisition *acq, bool has_batch, int64 batch, int32 attempt,
		   BiRange *range, bool has_lease, Datum lease_until)
{
	Datum		values[N_RESULT];
	bool		nulls[N_RESULT] = {0};

	values[R_BATCH] = Int64GetDatum(batch);
	values[R_ATTEMPT] = Int32GetDatum(attempt);
	nulls[R_BATCH] = nulls[R_ATTEMPT] = !has_batch;
	values[R_JOB] = CStringGetTextDatum(acq->job->name);
	values[R_FIRST_ID] = Int64GetDatum(range->first_id);
	values[R_LAST_ID] = Int64GetDatum(range->last_id);
	values[R_ASSET_COUNT] = Int64GetDatum(range->asset_count);
	values[R_WEIGHT] = range->weight;
	nulls[R_WEIGHT] = !range->has_weight;
	values[R_ENDED_BY] = CStringGetTextDatum(range->ended_by);
	values[R_LEASE_UNTIL] = lease_until;
	nulls[R_LEASE_UNTIL] = !has_lease;
	values[R_CONFIG] = acq->job->config;
	tuplestore_putvalues(acq->rsinfo->setResult, acq->rsinfo->setDesc,
						 values, nulls);
	acq->handed++;
}

/*
 * Record attempt number attempt of a batch taken again (take_batch_again)
 * and return its row in the result.
 */
static void
record_attempt(Acquisition *acq, int64 batch, int32 attempt, BiRange *range,
			   int64 old_count, Datum old_weight, bool old_weight_isnull)
{
	static Oid	argtypes[N_RECORD_ARGS] = {INT4OID, INT8OID, INT4OID, INT8OID,
	NUMERICOID, INTERVALOID, TEXTOID, JSONBOID, NAMEOID, INT8OID, NUMERICOID};
	Datum		args[N_RECORD_ARGS];
	char		nulls[N_RECORD_ARGS + 1];
	bool		isnull;

	memset(nulls, ' ', N_RECORD_ARGS);
	nulls[N_RECORD_ARGS] = '\0';
	args[0] = Int32GetDatum(acq->job->job_id);
	args[1] = Int64GetDatum(batch);
	args[2] = Int32GetDatum(attempt);
	args[3] = Int64GetDatum(range->asset_count);
	args[4] = range->weight;
	nulls[4] = range->has_weight ? ' ' : 'n';
	args[5] = acq->job->lease;
	args[6] = acq->by.worker;
	nulls[6] = acq->by.worker_isnull ? 'n' : ' ';
	args[7] = acq->job->config;
	args[8] = acq->by.caller_name;
	args[9] = Int64GetDatum(old_count);
	args[10] = old_weight;
	nulls[10] = old_weight_isnull ? 'n' : ' ';
	bi_exec(take_batch_again, N_RECORD_ARGS, argtypes, args, nulls,
			SPI_OK_INSERT_RETURNING);
	emit_batch(acq, true, bi_get_int64(0, 1, &isnull), attempt, range,
			   true, bi_get(0, 2, &isnull));
}

/*
 * Hand out (or, for peek, show) the retry candidate in row 0 of the last
 * result (columns from S_BATCH_ID on): its range counted again, as a new
 * attempt.
 */
static void
serve_retry(Acquisition *acq)
{
	BiLimits	no_limits = {0};
	BiRange		range;
	bool		isnull;
	int64		batch = bi_get_int64(0, S_BATCH_ID, &isnull);
	int32		attempt = DatumGetInt32(bi_get(0, S_ATTEMPT, &isnull)) + 1;
	int64		old_count = bi_get_int64(0, S_ASSET_COUNT, &isnull);
	bool		old_weight_isnull;
	Datum		old_weight = bi_get_copy(0, S_WEIGHT, &old_weight_isnull);
	int64		first_id = bi_get_int64(0, S_FIRST_ID, &isnull);
	int64		last_id = bi_get_int64(0, S_LAST_ID, &isnull);
	const char *ended_by = bi_get_text(0, S_ENDED_BY);

	if (!bi_scan_range(acq->job, first_id, last_id, false, &no_limits, false, &range))
		range.asset_count = 0;	/* its assets were deleted: an empty batch */
	range.first_id = first_id;
	range.last_id = last_id;
	range.ended_by = ended_by;
	acq->last_retry = first_id;

	if (!acq->take)
		emit_batch(acq, true, batch, attempt, &range, false, (Datum) 0);
	else
		record_attempt(acq, batch, attempt, &range, old_count, old_weight,
					   old_weight_isnull);
}

/* Hand out the next retry candidate after the first; false if none */
static bool
next_retry(Acquisition *acq)
{
	Oid			argtypes[3] = {INT4OID, TIMESTAMPTZOID, INT8OID};
	Datum		args[3] = {Int32GetDatum(acq->job->job_id),
		TimestampTzGetDatum(GetCurrentTimestamp()),
	Int64GetDatum(acq->last_retry)};

	/*
	 * the candidate's columns where serve_retry expects them; only after
	 * the one served last, so that a batch whose short lease ran out during
	 * this call is not handed out twice by it
	 */
	if (bi_exec("WITH" RETRY_CTES(" AND c.first_id OPERATOR(pg_catalog.>) $3",
								  RETRY_LOCK)
				" SELECT NULL, NULL, NULL, NULL, r.* FROM retry r",
				3, argtypes, args, NULL, SPI_OK_SELECT) == 0)
		return false;
	serve_retry(acq);
	return true;
}

static void
set_frontier(BiJob *job, int64 frontier)
{
	Oid			argtypes[2] = {INT4OID, INT8OID};
	Datum		args[2] = {Int32GetDatum(job->job_id), Int64GetDatum(frontier)};

	bi_exec("UPDATE batchintory.job SET frontier = $2"
			" WHERE job_id OPERATOR(pg_catalog.=) $1",
			2, argtypes, args, NULL, SPI_OK_UPDATE);
	job->frontier = frontier;
	job->has_frontier = true;
}

/* Has the job no new work left for good (a backfill cut to its end)? */
static bool
window_done(BiJob *job)
{
	return (job->has_frontier && job->frontier == PG_INT64_MAX) ||
		(job->has_upper_bound && bi_next_start(job) > job->upper_bound);
}

/*
 * Is a batch of the job due for a retry, as far as a look without the job's
 * lock can tell?  (A BiGuardDefer: an acquire of one batch serves it rather
 * than wait for the table's writers first.)
 */
static bool
retry_due(void *arg)
{
	Acquisition *acq = (Acquisition *) arg;
	BiJobState	state;
	bool		may_retry;

	return bi_inventory_job_state(acq->job->job_id, GetCurrentTimestamp(),
								  &state, &may_retry) && may_retry;
}

/*
 * The newest key new batches may reach, waiting for late commits if taking;
 * with may_defer, not yet if writers are running and a retry is due
 * (guard_done stays false: the next call, under the job's lock, waits).
 */
static void
compute_limit(Acquisition *acq, bool may_defer)
{
	acq->guard = bi_guard_limit(acq->job, acq->take, &acq->limit,
								may_defer ? retry_due : NULL, acq);
	acq->guard_done = acq->guard != GUARD_DEFERRED;
}

/*
 * Cut up to wanted new batches after the frontier.  With take, record the
 * batches and move the frontier; a backfill whose rest of window holds no
 * matching asset moves its frontier to the window's end.
 */
static void
serve_new_batches(Acquisition *acq, int wanted)
{
	BiJob	   *job = acq->job;
	int64		start = bi_next_start(job);
	bool		window_end;
	BiRange		range;
	int			found = 0;

	if (window_done(job))
		return;
	if (!acq->guard_done)
		compute_limit(acq, false);
	if (acq->guard != GUARD_LIMIT)
	{
		if (acq->guard == GUARD_NO_KEY && acq->take && acq->handed == 0)
			bi_guard_no_new_work(job, 0, false);
		return;
	}
	window_end = job->has_upper_bound && acq->limit == job->upper_bound;

	while (found < wanted)
	{
		if (!bi_scan_range(job, start, acq->limit, window_end, &acq->limits,
						   false, &range))
		{
			if (acq->take && window_end && start <= acq->limit)
				set_frontier(job, acq->limit);
			else if (acq->take && acq->handed == 0)
				bi_guard_no_new_work(job, acq->limit, true);
			break;
		}
		if (acq->take)
		{
			TimestampTz lease_until;
			int64		batch = bi_inventory_new_batch(job, &range, &acq->by,
													   &lease_until);

			emit_batch(acq, true, batch, 1, &range, true,
					   TimestampTzGetDatum(lease_until));
			job->frontier = range.last_id;
			job->has_frontier = true;
		}
		else
			emit_batch(acq, false, 0, 0, &range, false, (Datum) 0);
		found++;
		if (range.last_id == PG_INT64_MAX)
			break;
		start = range.last_id + 1;
	}
}

/*
 * Read the job's state (under its lock with take).  Returns false if the
 * job's row no longer is the cached job's (dropped, renamed, changed): the
 * caller loads it again.  When a batch may be due for a retry, the batches
 * are read with SQL (job_state_locked, job_state_peek), which leaves the
 * oldest retry candidate, if any, in row 0 of SPI_tuptable (has_retry).
 */
static bool
read_job_state(Acquisition *acq)
{
	Oid			argtypes[2] = {INT4OID, TIMESTAMPTZOID};
	TimestampTz now = GetCurrentTimestamp();
	Datum		args[2] = {Int32GetDatum(acq->job->job_id),
	TimestampTzGetDatum(now)};
	BiJobState	state;
	bool		may_retry;
	bool		isnull;

	acq->has_retry = false;
	if (!bi_inventory_job_state(acq->job->job_id, now, &state, &may_retry))
		return false;
	if (may_retry)
	{
		if (bi_exec(acq->take ? job_state_locked : job_state_peek, 2, argtypes,
					args, NULL, SPI_OK_SELECT) == 0)
			return false;
		state.revision = bi_get_int64(0, S_REVISION, &isnull);
		state.name = bi_get_text(0, S_NAME);
		state.owner = DatumGetObjectId(bi_get(0, S_OWNER, &isnull));
		state.frontier = bi_get_int64(0, S_FRONTIER, &isnull);
		state.has_frontier = !isnull;
		bi_get(0, S_BATCH_ID, &isnull);
		acq->has_retry = !isnull;
	}
	if (!bi_job_apply_row(acq->job, state.revision, state.name, state.owner))
		return false;
	acq->job->frontier = state.frontier;
	acq->job->has_frontier = state.has_frontier;
	return true;
}

/*
 * Find the job and read its state: for acquire, the late-commit guard waits
 * before the job's lock is taken (so one slow writer does not queue every
 * acquirer behind the lock), then the state is read under the lock.  An
 * acquire of one batch does not wait when a retry is due: it serves the
 * retry, and waits under the lock only if another acquirer took it
 * meanwhile.  A job changed or dropped and registered again meanwhile is
 * loaded again and its lock taken anew.
 */
static void
open_job(Acquisition *acq, const BiCall *call, const char *name,
		 Datum *limit_args, bool *limit_nulls)
{
	acq->job = bi_job_cached(call, name);
	for (;;)
	{
		acq->limits = bi_limits_for(acq->job, limit_args, limit_nulls);
		acq->guard_done = false;
		if (acq->take && !window_done(acq->job))
			compute_limit(acq, acq->batches == 1);
		if (acq->take)
			bi_job_lock(acq->job->job_id);
		if (read_job_state(acq))
			return;
		acq->job = bi_job_reload(acq->job->job_id);
		if (acq->job == NULL || strcmp(acq->job->name, name) != 0)
			acq->job = bi_job_cached(call, name);
		bi_check_may_use(call, name, acq->job->owner);
	}
}

/* Common part of acquire and peek */
static void
acquire_or_peek(FunctionCallInfo fcinfo, bool take, int32 batches)
{
	const char *name = bi_text_arg(fcinfo, 0, "job name");
	Datum		limit_args[2] = {PG_GETARG_DATUM(1), PG_GETARG_DATUM(2)};
	bool		limit_nulls[2] = {PG_ARGISNULL(1), PG_ARGISNULL(2)};
	Acquisition acq = {0};
	BiCall		call;

	acq.rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	acq.take = take;
	acq.batches = batches;
	bi_materialize(fcinfo);
	bi_call_begin(&call);

	if (take)
	{
		acq.by.worker_isnull = PG_ARGISNULL(3);
		acq.by.worker = acq.by.worker_isnull ? (Datum) 0 : PG_GETARG_DATUM(3);
		acq.by.caller_name = DirectFunctionCall1(namein,
											  CStringGetDatum(GetUserNameFromId(call.caller, false)));
	}
	open_job(&acq, &call, name, limit_args, limit_nulls);

	/* retries first: the one read with the job's state, then the next ones */
	if (acq.has_retry)
	{
		serve_retry(&acq);
		while (take && acq.handed < batches && next_retry(&acq))
			;
	}
	if (acq.handed < batches)
		serve_new_batches(&acq, batches - acq.handed);

	bi_call_end(&call);
}

/*
 * batchintory_acquire(job text, max_count bigint, max_weight numeric,
 *					   worker text, batches integer)
 *		Hand out up to `batches` batches of a job: batches waiting for a
 *		retry first (oldest range first), then new ones cut after the
 *		frontier.  NULL limits take the job's.  Takes the job's lock until
 *		the end of the transaction; needs READ COMMITTED, since batches that
 *		other acquirers committed while we waited for the lock, and rows
 *		that late writers committed, must be visible.
 */
Datum
batchintory_acquire(PG_FUNCTION_ARGS)
{
	int32		batches = PG_ARGISNULL(4) ? 1 : PG_GETARG_INT32(4);

	if (batches < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("batches must be at least 1")));
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot acquire a batch in a %s transaction",
						IsolationIsSerializable() ? "SERIALIZABLE" : "REPEATABLE READ"),
				 errdetail("Batches other workers committed meanwhile would stay invisible to this transaction's snapshot."),
				 errhint("Call batchintory_acquire() in a READ COMMITTED transaction.")));
	acquire_or_peek(fcinfo, true, batches);
	return (Datum) 0;
}

/*
 * batchintory_peek(job text, max_count bigint, max_weight numeric)
 *		The batch acquire would hand out now, without taking it, locking or
 *		waiting for late commits.  batch and attempt are NULL for new work.
 */
Datum
batchintory_peek(PG_FUNCTION_ARGS)
{
	acquire_or_peek(fcinfo, false, 1);
	return (Datum) 0;
}
