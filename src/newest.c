/*
 * newest.c
 *	  A job's newest batches and attempts, as a dashboard polls them: the
 *	  rows of the views, read through the inventory's indexes in O(count).
 */
#include "postgres.h"

#include "batchintory.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"

PG_FUNCTION_INFO_V1(batchintory_newest_batches);
PG_FUNCTION_INFO_V1(batchintory_newest_attempts);

/*
 * What "the newest" means for a view.  A security barrier view is planned
 * as a subquery of its own, so ORDER BY ... LIMIT on it sorts every row the
 * conditions let through.  Instead, bound_sql (run as the extension, kept
 * plan) finds the oldest key or time among the job's $2 newest rows through
 * an index; rows_sql reads the view from that bound on (as the caller, so
 * the view decides what it may see), a range that its index serves: both
 * O(count), plus the rows that share the bound.
 */
typedef struct Newest
{
	const char *bound_sql;		/* $1 job_id, $2 count: one value or NULL */
	Oid			bound_type;
	const char *rows_sql;		/* $1 job_id, $2 the bound, $3 count */
} Newest;

static const Newest newest_batches = {
	"SELECT pg_catalog.min(n.first_id) FROM (SELECT b.first_id"
	" FROM batchintory.batch b WHERE b.job_id OPERATOR(pg_catalog.=) $1"
	" ORDER BY b.first_id DESC LIMIT $2) n",
	INT8OID,
	"SELECT v.* FROM batchintory.batches v"
	" WHERE v.job_id OPERATOR(pg_catalog.=) $1 AND v.first_id OPERATOR(pg_catalog.>=) $2"
	" ORDER BY v.first_id DESC, v.batch DESC LIMIT $3"
};

static const Newest newest_attempts = {
	"SELECT pg_catalog.min(n.acquired_at) FROM (SELECT a.acquired_at"
	" FROM batchintory.attempt a WHERE a.job_id OPERATOR(pg_catalog.=) $1"
	" ORDER BY a.acquired_at DESC LIMIT $2) n",
	TIMESTAMPTZOID,
	"SELECT v.* FROM batchintory.attempts v"
	" WHERE v.job_id OPERATOR(pg_catalog.=) $1 AND v.acquired_at OPERATOR(pg_catalog.>=) $2"
	" ORDER BY v.acquired_at DESC, v.batch DESC, v.attempt DESC LIMIT $3"
};

/*
 * The count newest rows of the job named by argument 0 (count: argument 1)
 * into the function's result.  The caller must be allowed to see the job.
 */
static void
newest_rows(FunctionCallInfo fcinfo, const Newest *newest)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	const char *name = bi_text_arg(fcinfo, 0, "job name");
	int32		count = PG_GETARG_INT32(1);
	Oid			argtypes[3] = {INT4OID, INT8OID, INT8OID};
	Datum		args[3];
	BiCall		call;
	BiAsRole	as_caller;
	bool		none;

	if (count <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("count must be greater than zero")));
	bi_materialize(fcinfo);

	bi_call_begin(&call);
	args[0] = Int32GetDatum(bi_job_seen(&call, name)->job_id);
	args[1] = Int64GetDatum(count);
	bi_exec(newest->bound_sql, 2, argtypes, args, NULL, SPI_OK_SELECT);
	args[1] = bi_get(0, 1, &none);
	if (!none)
	{
		/*
		 * As the caller, planned for the bound: a range of an index, read by
		 * index scans and nested loops (bi_call_begin's settings), whatever
		 * the statistics say.
		 */
		argtypes[1] = newest->bound_type;
		args[2] = Int64GetDatum(count);
		bi_as_caller_begin(&call, &as_caller);
		bi_exec_once_into_result(rsinfo, newest->rows_sql, 3, argtypes, args, NULL);
		bi_as_role_end(&as_caller);
	}
	bi_call_end(&call);
}

/*
 * batchintory_newest_batches(job text, count integer DEFAULT 20)
 *		RETURNS SETOF batchintory.batches
 *		The count batches of the job with the highest keys, highest first:
 *		what the view returns for WHERE job = $1 ORDER BY first_id DESC,
 *		batch DESC LIMIT $2.  Strict.
 */
Datum
batchintory_newest_batches(PG_FUNCTION_ARGS)
{
	newest_rows(fcinfo, &newest_batches);
	return (Datum) 0;
}

/*
 * batchintory_newest_attempts(job text, count integer DEFAULT 20)
 *		RETURNS SETOF batchintory.attempts
 *		The count attempts of the job acquired last, newest first: what the
 *		view returns for WHERE job = $1 ORDER BY acquired_at DESC, batch
 *		DESC, attempt DESC LIMIT $2.  Strict.
 */
Datum
batchintory_newest_attempts(PG_FUNCTION_ARGS)
{
	newest_rows(fcinfo, &newest_attempts);
	return (Datum) 0;
}
