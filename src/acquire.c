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
 * Batches of a job that may be handed out again, oldest range first: failed
 * ones with attempts left whose backoff has passed, and abandoned ones (in
 * processing past their lease) with attempts left.  $1 job, $2 max_attempts.
 */
#define RETRY_CANDIDATES \
	"SELECT batch_id, first_id, last_id, attempt, status, ended_by" \
	" FROM batchintory.batch" \
	" WHERE job_id OPERATOR(pg_catalog.=) $1" \
	" AND status IN ('processing', 'failed')" \
	" AND (attempt OPERATOR(pg_catalog.-) requeued_after) OPERATOR(pg_catalog.<) $2" \
	" AND CASE status WHEN 'failed' THEN retry_after IS NULL" \
	"   OR retry_after OPERATOR(pg_catalog.<=) pg_catalog.clock_timestamp()" \
	"  ELSE lease_until OPERATOR(pg_catalog.<) pg_catalog.clock_timestamp() END" \
	" ORDER BY first_id LIMIT 1"

static void
emit_batch(ReturnSetInfo *rsinfo, BatchintoryJob *job, bool has_batch,
		   int64 batch, int32 attempt, BatchRange *range,
		   bool has_lease, Datum lease_until)
{
	Datum		values[N_RESULT];
	bool		nulls[N_RESULT] = {0};

	values[R_BATCH] = Int64GetDatum(batch);
	values[R_ATTEMPT] = Int32GetDatum(attempt);
	nulls[R_BATCH] = nulls[R_ATTEMPT] = !has_batch;
	values[R_JOB] = CStringGetTextDatum(job->name);
	values[R_FIRST_ID] = Int64GetDatum(range->first_id);
	values[R_LAST_ID] = Int64GetDatum(range->last_id);
	values[R_ASSET_COUNT] = Int64GetDatum(range->asset_count);
	values[R_WEIGHT] = range->weight;
	nulls[R_WEIGHT] = !range->has_weight;
	values[R_ENDED_BY] = CStringGetTextDatum(range->ended_by);
	values[R_LEASE_UNTIL] = lease_until;
	nulls[R_LEASE_UNTIL] = !has_lease;
	values[R_CONFIG] = job->config;
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * Record an attempt: the CTE b (a new batch inserted, or a batch taken
 * again) yields the batch's row, and the attempt is inserted from it with
 * who took it.  Parameters: $1 job_id (new) or batch_id (again), $2 attempt,
 * $3 asset_count, $4 weight, $5 lease, $6 worker, $7 config, $8 first_id,
 * $9 last_id, $10 ended_by.
 */
#define INSERT_ATTEMPT_FROM_B \
	" INSERT INTO batchintory.attempt (batch_id, attempt, status, asset_count," \
	"  weight, lease_until, worker, application_name, client_addr, backend_pid," \
	"  config)" \
	" SELECT b.batch_id, b.attempt, 'processing', b.asset_count, b.weight," \
	"  b.lease_until, $6," \
	"  NULLIF(pg_catalog.current_setting('application_name'), '')," \
	"  pg_catalog.inet_client_addr(), pg_catalog.pg_backend_pid(), $7" \
	" FROM b RETURNING batch_id, lease_until"

#define BATCH_RETURNING " RETURNING batch_id, attempt, asset_count, weight, lease_until"

static const char *const insert_new_batch =
"WITH b AS (INSERT INTO batchintory.batch (job_id, first_id, last_id,"
"  asset_count, weight, ended_by, status, attempt, lease_until)"
"  VALUES ($1, $8, $9, $3, $4, $10, 'processing', $2,"
"  pg_catalog.clock_timestamp() OPERATOR(pg_catalog.+) $5)"
BATCH_RETURNING ")"
INSERT_ATTEMPT_FROM_B;

static const char *const take_batch_again =
"WITH b AS (UPDATE batchintory.batch SET status = 'processing',"
"  attempt = $2, asset_count = $3, weight = $4, retry_after = NULL,"
"  lease_until = pg_catalog.clock_timestamp() OPERATOR(pg_catalog.+) $5"
"  WHERE batch_id OPERATOR(pg_catalog.=) $1"
BATCH_RETURNING ")"
INSERT_ATTEMPT_FROM_B;

/*
 * Record attempt number attempt of a batch (sql: insert_new_batch with key
 * the job's id, or take_batch_again with key the batch's id) and return the
 * row for acquire's result.
 */
static void
record_attempt(ReturnSetInfo *rsinfo, BatchintoryJob *job, const char *sql,
			   int64 key, int32 attempt, BatchRange *range,
			   Datum worker, bool worker_isnull)
{
	Oid			argtypes[10] = {INT8OID, INT4OID, INT8OID, NUMERICOID,
		INTERVALOID, TEXTOID, JSONBOID, INT8OID, INT8OID, TEXTOID};
	Datum		args[10];
	char		nulls[10] = "          ";
	bool		isnull;

	args[0] = Int64GetDatum(key);
	args[1] = Int32GetDatum(attempt);
	args[2] = Int64GetDatum(range->asset_count);
	args[3] = range->weight;
	nulls[3] = range->has_weight ? ' ' : 'n';
	args[4] = job->lease;
	args[5] = worker;
	nulls[5] = worker_isnull ? 'n' : ' ';
	args[6] = job->config;
	args[7] = Int64GetDatum(range->first_id);
	args[8] = Int64GetDatum(range->last_id);
	args[9] = CStringGetTextDatum(range->ended_by);
	bi_exec(sql, 10, argtypes, args, nulls, SPI_OK_INSERT_RETURNING);
	emit_batch(rsinfo, job, true, bi_get_int64(0, 1, &isnull), attempt, range,
			   true, bi_get(0, 2, &isnull));
}

/*
 * Give up on abandoned batches that used their last attempt: they become
 * failed (visible, re-queued only by hand) and the attempt abandoned.  A
 * batch whose row is locked is being released or heartbeated by a live
 * transaction: it is skipped, not waited for (see next_retry).  The batches
 * are found first, then changed one by one through their primary keys, so
 * that no plan joins the whole inventory.
 */
static void
fail_exhausted(BatchintoryJob *job)
{
	Oid			argtypes[2] = {INT4OID, INT4OID};
	Datum		args[2] = {Int32GetDatum(job->job_id),
	Int32GetDatum(job->max_attempts)};
	SPITupleTable *exhausted;
	uint64		count;
	uint64		row;

	count = bi_exec("SELECT batch_id, attempt FROM batchintory.batch"
					" WHERE job_id OPERATOR(pg_catalog.=) $1 AND status = 'processing'"
					" AND lease_until OPERATOR(pg_catalog.<) pg_catalog.clock_timestamp()"
					" AND (attempt OPERATOR(pg_catalog.-) requeued_after) OPERATOR(pg_catalog.>=) $2"
					" FOR UPDATE SKIP LOCKED",
					2, argtypes, args, NULL, SPI_OK_SELECT);
	exhausted = SPI_tuptable;
	for (row = 0; row < count; row++)
	{
		Oid			types[2] = {INT8OID, INT4OID};
		Datum		values[2];
		bool		isnull;

		values[0] = SPI_getbinval(exhausted->vals[row], exhausted->tupdesc, 1, &isnull);
		values[1] = SPI_getbinval(exhausted->vals[row], exhausted->tupdesc, 2, &isnull);
		bi_exec("WITH b AS (UPDATE batchintory.batch"
				"  SET status = 'failed', lease_until = NULL"
				"  WHERE batch_id OPERATOR(pg_catalog.=) $1)"
				" UPDATE batchintory.attempt SET status = 'abandoned',"
				"  message = 'lease ran out on the last attempt'"
				" WHERE batch_id OPERATOR(pg_catalog.=) $1"
				" AND attempt OPERATOR(pg_catalog.=) $2",
				2, types, values, NULL, SPI_OK_UPDATE);
	}
	SPI_freetuptable(exhausted);
}

/*
 * Find the oldest batch waiting for a retry; with take, lock it, count its
 * range again and hand it out as a new attempt.  Returns false if none.
 *
 * With take, a batch whose row another transaction holds locked (a release,
 * heartbeat or requeue in progress) is skipped rather than waited for: that
 * transaction may be a worker that releases its batch and then acquires the
 * next one, waiting for the job lock we hold, and waiting for its row would
 * be a deadlock.
 */
static bool
next_retry(ReturnSetInfo *rsinfo, BatchintoryJob *job, bool take,
		   Datum worker, bool worker_isnull)
{
	Oid			argtypes[2] = {INT4OID, INT4OID};
	Datum		args[2] = {Int32GetDatum(job->job_id),
	Int32GetDatum(job->max_attempts)};
	BatchRange	range;
	bool		isnull;
	int64		batch;
	int32		attempt;
	bool		abandoned;

	if (bi_exec(take ? RETRY_CANDIDATES " FOR UPDATE SKIP LOCKED" : RETRY_CANDIDATES,
				2, argtypes, args, NULL, SPI_OK_SELECT) == 0)
		return false;

	batch = bi_get_int64(0, 1, &isnull);
	range.first_id = bi_get_int64(0, 2, &isnull);
	range.last_id = bi_get_int64(0, 3, &isnull);
	attempt = DatumGetInt32(bi_get(0, 4, &isnull)) + 1;
	abandoned = strcmp(bi_get_text(0, 5), "processing") == 0;
	range.ended_by = bi_get_text(0, 6);

	range_stats(job, range.first_id, range.last_id, &range, NULL);

	if (!take)
	{
		emit_batch(rsinfo, job, true, batch, attempt, &range, false, (Datum) 0);
		return true;
	}

	if (abandoned)
	{
		Oid			types[2] = {INT8OID, INT4OID};
		Datum		values[2] = {Int64GetDatum(batch), Int32GetDatum(attempt - 1)};

		bi_exec("UPDATE batchintory.attempt SET status = 'abandoned',"
				" message = 'lease ran out'"
				" WHERE batch_id OPERATOR(pg_catalog.=) $1"
				" AND attempt OPERATOR(pg_catalog.=) $2",
				2, types, values, NULL, SPI_OK_UPDATE);
	}
	record_attempt(rsinfo, job, take_batch_again, batch, attempt, &range,
				   worker, worker_isnull);
	return true;
}

static void
set_frontier(BatchintoryJob *job, int64 frontier)
{
	Oid			argtypes[2] = {INT4OID, INT8OID};
	Datum		args[2] = {Int32GetDatum(job->job_id), Int64GetDatum(frontier)};

	bi_exec("UPDATE batchintory.job SET frontier = $2"
			" WHERE job_id OPERATOR(pg_catalog.=) $1",
			2, argtypes, args, NULL, SPI_OK_UPDATE);
	job->frontier = frontier;
	job->has_frontier = true;
}

/*
 * Cut up to wanted new batches after the frontier.  With take, wait for
 * late commits first, record the batches and move the frontier; a backfill
 * whose rest of window holds no matching asset moves its frontier to the
 * window's end.  Returns the number of batches found.
 */
static int
next_new_batches(ReturnSetInfo *rsinfo, BatchintoryJob *job, bool take,
				 BatchLimits *limits, int wanted, Datum worker,
				 bool worker_isnull)
{
	int64		start = next_start(job);
	int64		limit;
	bool		window_end;
	BatchRange	range;
	int			found = 0;

	if (job->has_frontier && job->frontier == PG_INT64_MAX)
		return 0;
	if (job->has_upper_bound && start > job->upper_bound)
		return 0;
	if (!guard_cut_limit(job, take, &limit))
		return 0;
	window_end = job->has_upper_bound && limit == job->upper_bound;

	while (found < wanted)
	{
		if (!cut_range(job, start, limit, window_end, limits, &range))
		{
			if (take && window_end && start <= limit)
				set_frontier(job, limit);
			break;
		}
		if (take)
		{
			record_attempt(rsinfo, job, insert_new_batch, job->job_id, 1,
						   &range, worker, worker_isnull);
			set_frontier(job, range.last_id);
		}
		else
			emit_batch(rsinfo, job, false, 0, 0, &range, false, (Datum) 0);
		found++;
		if (range.last_id == PG_INT64_MAX)
			break;
		start = range.last_id + 1;
	}
	return found;
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
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	BatchintoryJob *job;
	BatchLimits limits;
	Datum		limit_args[2] = {PG_GETARG_DATUM(1), PG_GETARG_DATUM(2)};
	bool		limit_nulls[2] = {PG_ARGISNULL(1), PG_ARGISNULL(2)};
	Datum		worker = PG_ARGISNULL(3) ? (Datum) 0 : PG_GETARG_DATUM(3);
	int32		batches = PG_ARGISNULL(4) ? 1 : PG_GETARG_INT32(4);
	int			handed = 0;

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

	bi_materialize(fcinfo);
	SPI_connect();
	job = job_from_arg(fcinfo, true);
	limits = limits_for(job, limit_args, limit_nulls);

	fail_exhausted(job);
	while (handed < batches &&
		   next_retry(rsinfo, job, true, worker, PG_ARGISNULL(3)))
		handed++;
	if (handed < batches)
		next_new_batches(rsinfo, job, true, &limits, batches - handed,
						 worker, PG_ARGISNULL(3));
	SPI_finish();
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
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	BatchintoryJob *job;
	BatchLimits limits;
	Datum		limit_args[2] = {PG_GETARG_DATUM(1), PG_GETARG_DATUM(2)};
	bool		limit_nulls[2] = {PG_ARGISNULL(1), PG_ARGISNULL(2)};


	bi_materialize(fcinfo);
	SPI_connect();
	job = job_from_arg(fcinfo, false);
	limits = limits_for(job, limit_args, limit_nulls);
	if (!next_retry(rsinfo, job, false, (Datum) 0, true))
		next_new_batches(rsinfo, job, false, &limits, 1, (Datum) 0, true);
	SPI_finish();
	return (Datum) 0;
}
