/*
 * release.c
 *	  Ending and steering attempts: batchintory_release, batchintory_heartbeat
 *	  (both fenced by the attempt number), batchintory_requeue and
 *	  batchintory_rewind.
 */
#include "postgres.h"

#include "batchintory.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(batchintory_release);
PG_FUNCTION_INFO_V1(batchintory_heartbeat);
PG_FUNCTION_INFO_V1(batchintory_requeue);
PG_FUNCTION_INFO_V1(batchintory_rewind);

static void
batch_not_found(int64 batch)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("batch " INT64_FORMAT " does not exist", batch)));
}

/*
 * lock_current_attempt
 *		Lock batch's row and check that attempt is its current attempt and
 *		still processing: the fencing token of release and heartbeat.
 *		Leaves the job's name, lease and retry backoff in SPI_tuptable.
 *
 * Three primary-key lookups rather than one join, so that the plans stay
 * index scans whatever the inventory's statistics say.
 */
static void
lock_current_attempt(int64 batch, int32 attempt)
{
	Oid			argtypes[2] = {INT8OID, INT4OID};
	Datum		args[2] = {Int64GetDatum(batch), Int32GetDatum(attempt)};
	Oid			jobtype[1] = {INT4OID};
	Datum		jobarg[1];
	bool		isnull;
	int32		current;
	char	   *status;
	char	   *attempt_status = NULL;

	if (bi_exec("SELECT attempt, status, job_id FROM batchintory.batch"
				" WHERE batch_id OPERATOR(pg_catalog.=) $1 FOR UPDATE",
				1, argtypes, args, NULL, SPI_OK_SELECT) == 0)
		batch_not_found(batch);
	current = DatumGetInt32(bi_get(0, 1, &isnull));
	status = bi_get_text(0, 2);
	jobarg[0] = bi_get(0, 3, &isnull);

	if (bi_exec("SELECT status FROM batchintory.attempt"
				" WHERE batch_id OPERATOR(pg_catalog.=) $1"
				" AND attempt OPERATOR(pg_catalog.=) $2",
				2, argtypes, args, NULL, SPI_OK_SELECT) == 1)
		attempt_status = bi_get_text(0, 1);

	bi_exec("SELECT name, lease, retry_backoff FROM batchintory.job"
			" WHERE job_id OPERATOR(pg_catalog.=) $1",
			1, jobtype, jobarg, NULL, SPI_OK_SELECT);

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
						   bi_get_text(0, 1))));
	if (attempt != current)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("attempt %d of batch " INT64_FORMAT " is no longer current",
						attempt, batch),
				 errdetail("The batch was handed out again as attempt %d.", current)));
	if (strcmp(attempt_status, "processing") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("attempt %d of batch " INT64_FORMAT " was already released",
						attempt, batch),
				 errdetail("It ended as \"%s\".", attempt_status)));
}

/*
 * batchintory_release(batch bigint, attempt integer, status text,
 *					   message text)
 *		Record how the current attempt of a batch ended: 'succeeded' or
 *		'failed' (then the batch waits for a retry after the job's backoff,
 *		doubled for each attempt made).  Locks the batch's row.
 */
Datum
batchintory_release(PG_FUNCTION_ARGS)
{
	int64		batch;
	int32		attempt;
	char	   *status;
	Oid			argtypes[5] = {INT8OID, INT4OID, TEXTOID, TEXTOID, INTERVALOID};
	Datum		args[5];
	char		nulls[5] = "     ";
	bool		isnull;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("batch, attempt and status must not be null")));
	batch = PG_GETARG_INT64(0);
	attempt = PG_GETARG_INT32(1);
	status = text_to_cstring(PG_GETARG_TEXT_PP(2));
	if (strcmp(status, "succeeded") != 0 && strcmp(status, "failed") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid status \"%s\"", status),
				 errhint("A batch is released as \"succeeded\" or \"failed\".")));

	SPI_connect();
	lock_current_attempt(batch, attempt);
	args[0] = Int64GetDatum(batch);
	args[1] = Int32GetDatum(attempt);
	args[2] = PG_GETARG_DATUM(2);
	args[3] = PG_ARGISNULL(3) ? (Datum) 0 : PG_GETARG_DATUM(3);
	nulls[3] = PG_ARGISNULL(3) ? 'n' : ' ';
	args[4] = bi_get(0, 3, &isnull);
	bi_exec("WITH a AS (UPDATE batchintory.attempt SET status = $3, message = $4,"
			"  released_at = pg_catalog.clock_timestamp()"
			"  WHERE batch_id OPERATOR(pg_catalog.=) $1"
			"  AND attempt OPERATOR(pg_catalog.=) $2)"
			" UPDATE batchintory.batch SET status = $3, lease_until = NULL,"
			" retry_after = CASE WHEN $3 OPERATOR(pg_catalog.=) 'failed'"
			"  THEN pg_catalog.clock_timestamp() OPERATOR(pg_catalog.+)"
			"   ($5 OPERATOR(pg_catalog.*) pg_catalog.power(2, $2 OPERATOR(pg_catalog.-) 1)) END"
			" WHERE batch_id OPERATOR(pg_catalog.=) $1",
			5, argtypes, args, nulls, SPI_OK_UPDATE);
	SPI_finish();
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
	Oid			argtypes[3] = {INT8OID, INT4OID, INTERVALOID};
	Datum		args[3];
	bool		isnull;
	Datum		lease_until;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("batch and attempt must not be null")));
	args[0] = PG_GETARG_DATUM(0);
	args[1] = PG_GETARG_DATUM(1);

	SPI_connect();
	lock_current_attempt(PG_GETARG_INT64(0), PG_GETARG_INT32(1));
	args[2] = bi_get(0, 2, &isnull);
	bi_exec("WITH b AS (UPDATE batchintory.batch"
			"  SET lease_until = pg_catalog.clock_timestamp() OPERATOR(pg_catalog.+) $3"
			"  WHERE batch_id OPERATOR(pg_catalog.=) $1 RETURNING lease_until)"
			" UPDATE batchintory.attempt a SET lease_until = b.lease_until FROM b"
			" WHERE a.batch_id OPERATOR(pg_catalog.=) $1"
			" AND a.attempt OPERATOR(pg_catalog.=) $2 RETURNING a.lease_until",
			3, argtypes, args, NULL, SPI_OK_UPDATE_RETURNING);
	lease_until = bi_get(0, 1, &isnull);
	SPI_finish();
	PG_RETURN_DATUM(lease_until);
}

/*
 * batch_requeue
 *		Put a failed or succeeded batch back in line for a retry, with the
 *		job's full number of attempts again; false if the batch is in neither
 *		state (being processed, or superseded).  The caller must be connected
 *		to SPI.
 */
bool
batch_requeue(int64 batch)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(batch)};

	return bi_exec("UPDATE batchintory.batch SET status = 'failed',"
				   " requeued_after = attempt, retry_after = NULL"
				   " WHERE batch_id OPERATOR(pg_catalog.=) $1"
				   " AND status IN ('failed', 'succeeded')",
				   1, argtypes, args, NULL, SPI_OK_UPDATE) == 1;
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
	char	   *status;

	SPI_connect();
	if (bi_exec("SELECT status FROM batchintory.batch"
				" WHERE batch_id OPERATOR(pg_catalog.=) $1 FOR UPDATE",
				1, argtypes, args, NULL, SPI_OK_SELECT) == 0)
		batch_not_found(batch);
	status = bi_get_text(0, 1);
	if (strcmp(status, "processing") == 0 || strcmp(status, "superseded") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot requeue batch " INT64_FORMAT " while it is %s",
						batch, status),
				 errhint("Only failed or succeeded batches can be requeued.")));
	(void) batch_requeue(batch);
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * batchintory_rewind(job text, id bigint) RETURNS bigint
 *		Move a job back so that the asset with key id and every later one
 *		are handed out again: the batches from the one that contains id
 *		onwards are superseded (kept, marked so; attempts still processing
 *		become superseded) and the frontier goes back to just before them.
 *		Returns the number of batches superseded.  Takes the job's lock.
 */
Datum
batchintory_rewind(PG_FUNCTION_ARGS)
{
	BatchintoryJob *job;
	int64		id;
	int64		point;
	int64		superseded;
	Oid			argtypes[2] = {INT4OID, INT8OID};
	Datum		args[2];
	bool		isnull;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("job and id must not be null")));
	id = PG_GETARG_INT64(1);

	SPI_connect();
	job = job_load(text_to_cstring(PG_GETARG_TEXT_PP(0)), true);
	if (job->has_lower_bound && id < job->lower_bound)
		id = job->lower_bound;
	args[0] = Int32GetDatum(job->job_id);
	args[1] = Int64GetDatum(id);

	/* start of the live batch containing id, if any */
	point = id;
	if (bi_exec("SELECT first_id FROM batchintory.batch"
				" WHERE job_id OPERATOR(pg_catalog.=) $1 AND status <> 'superseded'"
				" AND first_id OPERATOR(pg_catalog.<=) $2"
				" AND last_id OPERATOR(pg_catalog.>=) $2",
				2, argtypes, args, NULL, SPI_OK_SELECT) > 0)
		point = bi_get_int64(0, 1, &isnull);
	args[1] = Int64GetDatum(point);

	bi_exec("WITH b AS (UPDATE batchintory.batch"
			"  SET status = 'superseded', lease_until = NULL"
			"  WHERE job_id OPERATOR(pg_catalog.=) $1 AND status <> 'superseded'"
			"  AND first_id OPERATOR(pg_catalog.>=) $2"
			"  RETURNING batch_id, attempt),"
			" a AS (UPDATE batchintory.attempt a SET status = 'superseded',"
			"  released_at = pg_catalog.clock_timestamp()"
			"  FROM b WHERE a.batch_id OPERATOR(pg_catalog.=) b.batch_id"
			"  AND a.attempt OPERATOR(pg_catalog.=) b.attempt"
			"  AND a.status = 'processing')"
			" SELECT pg_catalog.count(*) FROM b",
			2, argtypes, args, NULL, SPI_OK_SELECT);
	superseded = bi_get_int64(0, 1, &isnull);

	if (job->has_frontier && job->frontier >= point)
		bi_exec("UPDATE batchintory.job SET frontier = $2 OPERATOR(pg_catalog.-) 1"
				" WHERE job_id OPERATOR(pg_catalog.=) $1",
				2, argtypes, args, NULL, SPI_OK_UPDATE);
	SPI_finish();
	PG_RETURN_INT64(superseded);
}
