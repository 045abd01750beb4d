/*
 * observe.c
 *	  Looking at a job's work: batchintory_backlog (exact or estimated), the
 *	  per-job figures behind the jobs view, the contents of a batch (keys,
 *	  typed rows, a pushdown predicate) and batchintory_details.
 */
#include "postgres.h"

#include "batchintory.h"
#include "inventory/inventory.h"

#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "executor/tstoreReceiver.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/tuplestore.h"

PG_FUNCTION_INFO_V1(batchintory_backlog);
PG_FUNCTION_INFO_V1(batchintory_job_estimate);
PG_FUNCTION_INFO_V1(batchintory_job_figures);
PG_FUNCTION_INFO_V1(batchintory_check_job);
PG_FUNCTION_INFO_V1(batchintory_lookup);
PG_FUNCTION_INFO_V1(batchintory_lookup_all);
PG_FUNCTION_INFO_V1(batchintory_assets);
PG_FUNCTION_INFO_V1(batchintory_assets_rows);
PG_FUNCTION_INFO_V1(batchintory_predicate);
PG_FUNCTION_INFO_V1(batchintory_details);
PG_FUNCTION_INFO_V1(batchintory_late_assets);

/* columns of the result of batchintory_backlog */
enum
{
	B_ASSET_COUNT,
	B_WEIGHT,
	B_FIRST_ID,
	B_LAST_ID,
	B_RETRY_BATCHES,
	B_IN_FLIGHT_BATCHES,
	B_FIRST_KEY,
	B_LAST_KEY,
	N_BACKLOG
};

/* What a job has not handed out: its matching assets no live batch covers */
typedef struct Backlog
{
	int64		asset_count;
	bool		has_weight;
	Datum		weight;			/* numeric */
	bool		has_keys;
	int64		first_id;
	int64		last_id;
} Backlog;

/*
 * The key ranges of the job's window that no live batch covers: below its
 * first live batch (keys inserted late under it, or a first batch that
 * started at the first asset of the time) and after its last live batch
 * (new assets, and a backfill's tail the frontier skipped to the upper
 * bound).  Live batches follow each other without gap, so there are no
 * others.  Returns how many ranges were set in first[] / last[].
 */
static int
uncovered_ranges(BiJob *job, int64 *first, int64 *last)
{
	int64		low = job->has_lower_bound ? job->lower_bound : PG_INT64_MIN;
	int64		high;
	int64		first_live;
	int64		last_live;
	bool		no_first;
	int			n = 0;

	if (job->has_upper_bound)
		high = job->upper_bound;
	else if (!bi_newest_key(job, &high))
		return 0;
	no_first = !bi_job_live_range(job, &first_live, &last_live);

	if (no_first)
	{
		first[n] = low;
		last[n++] = high;
		return n;
	}
	if (first_live > low)
	{
		first[n] = low;
		last[n++] = Min(first_live - 1, high);
	}
	if (last_live < high)
	{
		first[n] = last_live + 1;
		last[n++] = high;
	}
	return n;
}

/*
 * The job's backlog.  Exact: the matching assets of every range of the
 * window no live batch covers, counted through the key index (O(backlog)),
 * and, for a job that halts on failure, those of its batches failed for
 * good (from its counters).
 * Estimated: the planner's estimate for the keys after the frontier (assets
 * inserted under the frontier later are left to exact counts and to
 * batchintory_verify), with the weight scaled from the job's counters.
 */
static void
job_backlog(BiJob *job, const BiJobFigures *figures, bool exact, Backlog *backlog)
{
	int64		first[2];
	int64		last[2];
	int			n;
	int			i;

	memset(backlog, 0, sizeof(Backlog));
	backlog->has_weight = job->weight_column != NULL;
	backlog->weight = bi_numeric_from_int64(0);
	if (exact)
		n = uncovered_ranges(job, first, last);
	else
		n = bi_after_frontier(job, &first[0], &last[0]) ? 1 : 0;
	for (i = 0; i < n; i++)
	{
		BiLimits	no_limits = {0};
		BiRange		range;
		int64		key;

		if (exact)
		{
			if (!bi_scan_range(job, first[i], last[i], false, &no_limits, true, &range))
				continue;
			backlog->asset_count += range.asset_count;
			backlog->weight = bi_numeric_add(backlog->weight, range.weight);
			if (!backlog->has_keys)
				backlog->first_id = range.first_key;
			backlog->last_id = range.last_key;
			backlog->has_keys = true;
			continue;
		}
		if (job->has_max_keys)
		{
			/* the keys drawn, not the assets found: the table is not read */
			backlog->first_id = first[i];
			backlog->last_id = last[i];
			backlog->has_keys = true;
			backlog->asset_count = bi_estimate_count(job, first[i], last[i]);
			continue;
		}
		if (!bi_first_key(job, first[i], last[i], &key))
			continue;
		backlog->first_id = key;
		backlog->has_keys = true;
		(void) bi_last_key(job, key, last[i], &backlog->last_id);
		backlog->asset_count = bi_estimate_count(job, key, backlog->last_id);
	}

	/* a job halted by batches failed for good has their assets to do too */
	if (job->halt_on_failure)
	{
		backlog->asset_count += figures->failed_assets;
		if (exact && backlog->has_weight && figures->failed_weight != (Datum) 0)
			backlog->weight = bi_numeric_add(backlog->weight, figures->failed_weight);
		if (figures->has_failed_keys)
		{
			if (!backlog->has_keys || figures->failed_first < backlog->first_id)
				backlog->first_id = figures->failed_first;
			if (!backlog->has_keys || figures->failed_last > backlog->last_id)
				backlog->last_id = figures->failed_last;
			backlog->has_keys = true;
		}
	}

	/* the weight scaled: round(asset_count * cut_weight / cut_assets) */
	if (!exact && backlog->has_weight)
	{
		backlog->has_weight = figures->cut_assets != 0;
		if (backlog->has_weight)
		{
			Datum		weight = DirectFunctionCall2(numeric_mul,
													 bi_numeric_from_int64(backlog->asset_count),
													 figures->cut_weight);

			weight = DirectFunctionCall2(numeric_div, weight,
										 bi_numeric_from_int64(figures->cut_assets));
			backlog->weight = DirectFunctionCall2(numeric_round, weight, Int32GetDatum(0));
		}
	}
}

/*
 * The figures of a job as the query running sees them (its snapshot, and
 * now() for leases); false if the job is gone
 */
static bool
job_figures(int32 job_id, BiJobFigures *figures)
{
	return bi_inventory_job_figures(job_id, GetActiveSnapshot(),
									GetCurrentTransactionStartTimestamp(), figures);
}

/*
 * batchintory_backlog(job text, exact boolean) RETURNS TABLE (asset_count
 *		bigint, weight numeric, first_id bigint, last_id bigint,
 *		retry_batches bigint, in_flight_batches bigint, first_key text,
 *		last_key text)
 *		What a job has not processed yet: the matching assets of its window
 *		no live batch covers, with the keys of the first and last of them
 *		(in units, and as the key's type spells them);
 *		the batches waiting to be handed out again (failed or abandoned,
 *		attempts left); and the batches in flight.  exact counts the assets
 *		through the key index (O(backlog)); otherwise the count is the
 *		planner's estimate and the weight is scaled from the job's
 *		counters.  Strict; no lock.
 */
Datum
batchintory_backlog(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bool		exact = PG_GETARG_BOOL(1);
	Datum		values[N_BACKLOG];
	bool		nulls[N_BACKLOG] = {0};
	Backlog		backlog;
	BiJobFigures figures;
	BiCall		call;
	BiJob	   *job;

	bi_materialize(fcinfo);
	bi_call_begin(&call);
	job = bi_job_open(&call, text_to_cstring(PG_GETARG_TEXT_PP(0)), false);
	if (!job_figures(job->job_id, &figures))
		bi_job_not_found(job->name);
	job_backlog(job, &figures, exact, &backlog);

	values[B_ASSET_COUNT] = Int64GetDatum(backlog.asset_count);
	values[B_WEIGHT] = backlog.weight;
	nulls[B_WEIGHT] = !backlog.has_weight;
	values[B_FIRST_ID] = Int64GetDatum(backlog.first_id);
	values[B_LAST_ID] = Int64GetDatum(backlog.last_id);
	nulls[B_FIRST_ID] = nulls[B_LAST_ID] = !backlog.has_keys;
	if (backlog.has_keys)
	{
		BiKeyKind	kind = bi_job_reader(job)->key_kind;

		values[B_FIRST_KEY] = CStringGetTextDatum(bi_key_text(kind, backlog.first_id));
		values[B_LAST_KEY] = CStringGetTextDatum(bi_key_text(kind, backlog.last_id));
	}
	nulls[B_FIRST_KEY] = nulls[B_LAST_KEY] = !backlog.has_keys;

	/* waiting for a retry: failed, or abandoned, with attempts left */
	values[B_RETRY_BATCHES] = Int64GetDatum(figures.retry_pending +
											figures.abandoned_retryable);
	values[B_IN_FLIGHT_BATCHES] = Int64GetDatum(figures.in_flight);

	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	bi_call_end(&call);
	return (Datum) 0;
}

/*
 * batchintory.job_estimate(job_id integer, OUT backlog bigint, OUT problem
 *		text) RETURNS record
 *		The planner's estimate of a job's backlog and, for a job that cannot
 *		work, what is wrong with it (backlog NULL); NULL if the job is gone.
 *		The caller must be allowed to see the job.  Strict.
 */
Datum
batchintory_job_estimate(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		nulls[2];
	BiEstimate	estimate;
	bool		keep;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (!bi_job_estimate(PG_GETARG_INT32(0), &estimate, &keep))
		PG_RETURN_NULL();
	values[0] = Int64GetDatum(estimate.backlog);
	nulls[0] = !estimate.has_backlog;
	nulls[1] = estimate.problem == NULL;
	if (estimate.problem != NULL)
		values[1] = CStringGetTextDatum(estimate.problem);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/* columns of the result of batchintory.job_figures */
enum
{
	F_SUCCEEDED,
	F_PROCESSED,
	F_FAILED,
	F_IN_FLIGHT,
	F_ABANDONED,
	F_RETRY_PENDING,
	F_SKIPPED,
	F_LAST_SUCCESS,
	F_OLDEST_OPEN,
	F_HALTED_BY,
	F_HALT_REASON,
	F_BACKLOG_ESTIMATE,
	F_PROBLEM,
	F_LATE_BATCHES,
	F_LATE_ROWS,
	N_FIGURES
};

/*
 * batchintory.job_figures(job_id integer, OUT succeeded bigint, OUT
 *		processed bigint, OUT failed bigint, OUT in_flight bigint, OUT
 *		abandoned bigint, OUT retry_pending bigint, OUT skipped bigint, OUT
 *		last_success timestamptz, OUT oldest_open bigint, OUT halted_by
 *		bigint, OUT halt_reason text, OUT backlog_estimate bigint, OUT
 *		problem text) RETURNS record
 *		For the jobs view: a job's figures as the query sees them, from its
 *		counters and index probes (bi_inventory_job_figures: no count of its
 *		batches, no statement), and the planner's estimate of its backlog
 *		(bi_known_estimate: planned again only when what it reads changed);
 *		problem says what is wrong with the job, or which batch failed for
 *		good halts it.  NULL if the job is gone; an error if the caller may
 *		not see it.  Strict.
 */
Datum
batchintory_job_figures(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[N_FIGURES];
	bool		nulls[N_FIGURES] = {0};
	BiJobFigures figures;
	BiEstimate	estimate = {0};
	char	   *problem;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (!job_figures(PG_GETARG_INT32(0), &figures))
		PG_RETURN_NULL();
	if (!bi_may_see(GetUserId(), figures.owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for job \"%s\"", figures.name)));
	/* a job dropped since its row was read keeps no estimate */
	(void) bi_known_estimate(fcinfo->flinfo, &figures, &estimate);
	problem = estimate.problem;

	values[F_SUCCEEDED] = Int64GetDatum(figures.succeeded);
	values[F_PROCESSED] = Int64GetDatum(figures.processed);
	values[F_FAILED] = Int64GetDatum(figures.failed);
	values[F_IN_FLIGHT] = Int64GetDatum(figures.in_flight);
	values[F_ABANDONED] = Int64GetDatum(figures.abandoned);
	values[F_RETRY_PENDING] = Int64GetDatum(figures.retry_pending);
	values[F_SKIPPED] = Int64GetDatum(figures.skipped);
	values[F_LATE_BATCHES] = Int64GetDatum(figures.late_batches);
	values[F_LATE_ROWS] = Int64GetDatum(figures.late_rows);
	values[F_LAST_SUCCESS] = TimestampTzGetDatum(figures.last_success);
	nulls[F_LAST_SUCCESS] = !figures.has_success;
	values[F_OLDEST_OPEN] = Int64GetDatum(figures.oldest_open);
	nulls[F_OLDEST_OPEN] = !figures.has_oldest_open;
	values[F_HALTED_BY] = Int64GetDatum(figures.halted_by);
	nulls[F_HALTED_BY] = figures.halted_by == 0;
	nulls[F_HALT_REASON] = figures.halt_reason == NULL;
	if (figures.halt_reason != NULL)
		values[F_HALT_REASON] = CStringGetTextDatum(figures.halt_reason);
	values[F_BACKLOG_ESTIMATE] = Int64GetDatum(estimate.backlog);
	nulls[F_BACKLOG_ESTIMATE] = !estimate.has_backlog;
	if (problem == NULL && figures.halted_by != 0)
		problem = psprintf("halted: batch " INT64_FORMAT " (keys " INT64_FORMAT " to "
						   INT64_FORMAT ") failed for good: %s", figures.halted_by,
						   figures.failed_first, figures.halted_last,
						   figures.halt_reason ? figures.halt_reason : "no message");
	nulls[F_PROBLEM] = problem == NULL;
	if (problem != NULL)
		values[F_PROBLEM] = CStringGetTextDatum(problem);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/*
 * batchintory.check_job(job text) RETURNS boolean
 *		True if the job exists and the caller may use it, else an error: lets
 *		the SQL lookups report an unknown or forbidden job instead of
 *		returning no rows.  Strict.
 */
Datum
batchintory_check_job(PG_FUNCTION_ARGS)
{
	BiCall		call;

	bi_call_begin(&call);
	(void) bi_job_open(&call, text_to_cstring(PG_GETARG_TEXT_PP(0)), false);
	bi_call_end(&call);
	PG_RETURN_BOOL(true);
}

/*
 * The attempts of the batches of each job j whose range contains key $2
 * (the caller says which jobs), in O(log B) per job: the live batch, if
 * any -- live batches never overlap, so it is the last live batch starting
 * at or before the key, found by a backward probe of batch_job_live -- and
 * the superseded ones, through the GiST index over their ranges.
 */
#define LOOKUP_SELECT \
	"SELECT j.name, a.batch_id, a.attempt," \
	" batchintory.attempt_state(a.status, a.lease_until)," \
	" b.first_id, b.last_id, a.acquired_at, a.released_at, a.worker, a.message," \
	" a.config, a.application_name, a.client_addr, a.lease_until, b.status, a.result," \
	" batchintory.key_text(j.source, j.id_column, b.first_id)," \
	" batchintory.key_text(j.source, j.id_column, b.last_id)" \
	" FROM batchintory.job j CROSS JOIN LATERAL" \
	" (SELECT l.batch_id, l.job_id, l.first_id, l.last_id, l.status" \
	"  FROM (SELECT x.batch_id, x.job_id, x.first_id, x.last_id, x.status" \
	"   FROM batchintory.batch x WHERE x.job_id OPERATOR(pg_catalog.=) j.job_id" \
	"   AND x.first_id OPERATOR(pg_catalog.<=) $2" \
	"   AND" BI_IS_LIVE("x") \
	"   ORDER BY x.first_id DESC LIMIT 1) l" \
	"  WHERE l.last_id OPERATOR(pg_catalog.>=) $2" \
	"  UNION ALL" \
	"  SELECT s.batch_id, s.job_id, s.first_id, s.last_id, s.status" \
	"  FROM batchintory.batch s WHERE s.job_id OPERATOR(pg_catalog.=) j.job_id" \
	"  AND s.status OPERATOR(pg_catalog.=) 'superseded'" \
	"  AND pg_catalog.int8range(s.first_id," \
	"   NULLIF(s.last_id, 9223372036854775807), '[]') OPERATOR(pg_catalog.@>) $2) b" \
	" JOIN batchintory.attempt a ON a.batch_id OPERATOR(pg_catalog.=) b.batch_id"

/*
 * batchintory_lookup(job text, id bigint) RETURNS TABLE (job, batch,
 *		attempt, status, first_id, last_id, acquired_at, released_at, worker,
 *		message, config, application_name, client_addr, lease_until,
 *		batch_status, result, first_key, last_key)
 *		Every attempt of a job that covered the asset with key id, in batch
 *		and attempt order.  The caller must be allowed to use the job.
 */
Datum
batchintory_lookup(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			argtypes[2] = {INT4OID, INT8OID};
	Datum		args[2];
	BiCall		call;
	BiJob	   *job;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("id must not be null")));
	bi_materialize(fcinfo);
	bi_call_begin(&call);
	job = bi_job_open(&call, bi_text_arg(fcinfo, 0, "job name"), false);
	args[0] = Int32GetDatum(job->job_id);
	args[1] = Int64GetDatum(bi_job_key_arg(fcinfo, 1, job));
	bi_exec_into_result(rsinfo, LOOKUP_SELECT
						" WHERE j.job_id OPERATOR(pg_catalog.=) $1"
						" ORDER BY a.batch_id, a.attempt",
						2, argtypes, args, NULL);
	bi_call_end(&call);
	return (Datum) 0;
}

/*
 * batchintory_lookup_all(source regclass, id bigint) RETURNS TABLE (...)
 *		The same as batchintory_lookup across the jobs of a metadata table
 *		that the caller may use, in job, batch and attempt order.
 */
Datum
batchintory_lookup_all(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			argtypes[2] = {OIDOID, INT8OID};
	Datum		args[2];
	Datum	   *usable;
	int			nusable = 0;
	uint64		njobs;
	uint64		i;
	BiCall		call;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("source and id must not be null")));
	bi_materialize(fcinfo);
	bi_call_begin(&call);

	/* the table's jobs the caller may use */
	args[0] = PG_GETARG_DATUM(0);
	njobs = bi_exec("SELECT job_id, owner::pg_catalog.oid FROM batchintory.job"
					" WHERE source OPERATOR(pg_catalog.=) $1::pg_catalog.regclass",
					1, argtypes, args, NULL, SPI_OK_SELECT);
	usable = palloc(Max(njobs, 1) * sizeof(Datum));
	for (i = 0; i < njobs; i++)
	{
		bool		isnull;

		if (bi_may_use(call.caller, DatumGetObjectId(bi_get(i, 2, &isnull))))
			usable[nusable++] = bi_get(i, 1, &isnull);
	}

	argtypes[0] = INT4ARRAYOID;
	args[0] = PointerGetDatum(construct_array(usable, nusable, INT4OID, sizeof(int32),
											  true, TYPALIGN_INT));
	args[1] = PG_GETARG_DATUM(1);
	bi_exec_into_result(rsinfo, LOOKUP_SELECT
						" WHERE j.job_id OPERATOR(pg_catalog.=) ANY ($1)"
						" ORDER BY j.name, a.batch_id, a.attempt",
						2, argtypes, args, NULL);
	bi_call_end(&call);
	return (Datum) 0;
}

/*
 * Run "SELECT <what> FROM <table> WHERE <the batch's range and filter>
 * <and> ORDER BY <key>" as the job's owner, its rows going straight into
 * the function's tuplestore (converted to its row type by position, which
 * skips dropped columns).
 */
static void
copy_batch_rows(ReturnSetInfo *rsinfo, BiJob *job, int64 first_id,
				int64 last_id, const char *what, const char *and)
{
	BiReader   *reader = bi_job_reader(job);
	Oid			argtypes[2] = {INT8OID, INT8OID};
	DestReceiver *dest = CreateDestReceiver(DestTuplestore);
	SPIPlanPtr	plan;
	BiAsRole	as_owner;

	SetTuplestoreDestReceiverParams(dest, rsinfo->setResult,
									rsinfo->econtext->ecxt_per_query_memory,
									false, rsinfo->setDesc,
									gettext_noop("the metadata table's rows do not match the row type"));
	bi_as_owner_begin(&as_owner, job->owner);
	plan = SPI_prepare(bi_reader_query(job, reader, what,
									   psprintf("%s ORDER BY %s", and,
												quote_identifier(job->id_column))),
					   2, argtypes);
	bi_as_role_end(&as_owner);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	bi_scan_into(job, plan, first_id, last_id, dest);
	SPI_freeplan(plan);
	dest->rDestroy(dest);
}

/*
 * batchintory_assets(batch bigint) RETURNS SETOF bigint
 *		The keys of the matching assets of a batch, in key order, read as
 *		the job's owner; integer keys only.  Strict.
 */
Datum
batchintory_assets(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		first_id;
	int64		last_id;
	BiCall		call;
	BiJob	   *job;

	bi_materialize(fcinfo);
	bi_call_begin(&call);
	job = bi_job_of_batch(&call, PG_GETARG_INT64(0), &first_id, &last_id);
	if (BI_KEY_IS_TIME(bi_job_reader(job)->key_kind))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("batchintory_assets(batch) lists integer keys, and the key of job \"%s\" is a time",
						job->name),
				 errhint("batchintory_assets(%lld, NULL::%s) returns the batch's rows, their times with them.",
						 (long long) PG_GETARG_INT64(0),
						 quote_qualified_identifier(get_namespace_name(get_rel_namespace(job->source)),
													get_rel_name(job->source)))));
	copy_batch_rows(rsinfo, job, first_id, last_id,
					bi_key_units_sql(bi_job_reader(job)->key_kind,
									 quote_identifier(job->id_column)), "");
	bi_call_end(&call);
	return (Datum) 0;
}

/*
 * The job of batch argument 0, whose table's row type argument 1 must be
 * (NULL::my_table names it), and the batch's range
 */
static BiJob *
job_of_rows(FunctionCallInfo fcinfo, const BiCall *call, int64 *first_id,
			int64 *last_id)
{
	Oid			row_type = get_fn_expr_argtype(fcinfo->flinfo, 1);
	BiJob	   *job;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("batch must not be null")));
	job = bi_job_of_batch(call, PG_GETARG_INT64(0), first_id, last_id);
	(void) bi_job_reader(job);	/* the table, locked, or an error if it is gone */
	if (row_type != get_rel_type_id(job->source))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("row type %s does not match the metadata table of job \"%s\"",
						format_type_be(row_type), job->name),
				 errhint("Pass NULL::%s as row_type.", bi_source_name(job->source))));
	return job;
}

/*
 * batchintory_assets(batch bigint, row_type anyelement) RETURNS SETOF
 * anyelement
 *		The metadata table's rows of the matching assets of a batch, in key
 *		order, as the table's row type, read as the job's owner.  row_type
 *		only names the type (NULL::my_table); it must be the row type of the
 *		job's table.
 */
Datum
batchintory_assets_rows(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		first_id;
	int64		last_id;
	BiCall		call;
	BiJob	   *job;

	bi_call_begin(&call);
	job = job_of_rows(fcinfo, &call, &first_id, &last_id);
	bi_materialize(fcinfo);
	copy_batch_rows(rsinfo, job, first_id, last_id, "*", "");
	bi_call_end(&call);
	return (Datum) 0;
}

/*
 * batchintory_late_assets(batch bigint, row_type anyelement) RETURNS SETOF
 * anyelement
 *		The rows of a batch its cut did not see, as batchintory_assets(batch,
 *		row_type) shows rows: those that arrived (committed, or were updated
 *		into its range) after the batch was handed out.  For the batches of a
 *		job without the late-commit guard, which record their cuts.
 */
Datum
batchintory_late_assets(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1];
	int64		first_id;
	int64		last_id;
	BiCall		call;
	BiJob	   *job;
	char	   *snapshot;

	bi_call_begin(&call);
	job = job_of_rows(fcinfo, &call, &first_id, &last_id);
	args[0] = PG_GETARG_DATUM(0);
	bi_exec("SELECT cut_snapshot::pg_catalog.text FROM batchintory.batch"
			" WHERE batch_id OPERATOR(pg_catalog.=) $1", 1, argtypes, args, NULL, SPI_OK_SELECT);
	snapshot = SPI_processed > 0 ? bi_get_text(0, 1) : NULL;
	if (snapshot == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("batch " INT64_FORMAT " of job \"%s\" has no record of what its cut saw",
						PG_GETARG_INT64(0), job->name),
				 errdetail("Only a job without the late-commit guard records its cuts (since 0.3.0); with the guard no row commits into a batch after its cut.")));
	bi_materialize(fcinfo);
	copy_batch_rows(rsinfo, job, first_id, last_id, "*",
					psprintf("AND NOT pg_catalog.pg_visible_in_snapshot("
							 "batchintory.xid8_of(xmin), %s::pg_catalog.pg_snapshot)",
							 quote_literal_cstr(snapshot)));
	bi_call_end(&call);
	return (Datum) 0;
}

/*
 * An identifier in double quotes, always: the predicate may be read by a
 * client that treats unquoted names by other rules than PostgreSQL.
 */
static char *
quote_always(const char *ident)
{
	StringInfoData quoted;
	const char *c;

	initStringInfo(&quoted);
	appendStringInfoChar(&quoted, '"');
	for (c = ident; *c != '\0'; c++)
	{
		if (*c == '"')
			appendStringInfoChar(&quoted, '"');
		appendStringInfoChar(&quoted, *c);
	}
	appendStringInfoChar(&quoted, '"');
	return quoted.data;
}

/*
 * batchintory_predicate(batch bigint) RETURNS text
 *		A boolean SQL expression selecting the matching rows of a batch from
 *		its metadata table ("id" >= 10 AND "id" <= 19 AND (<filter>)), for a
 *		read that pushes the condition down (Spark or Dask over JDBC).  The
 *		filter is its deparse: names outside pg_catalog are qualified.
 *		Strict.
 */
Datum
batchintory_predicate(PG_FUNCTION_ARGS)
{
	MemoryContext fn_context = CurrentMemoryContext;
	int64		first_id;
	int64		last_id;
	BiCall		call;
	BiJob	   *job;
	BiReader   *reader;
	const char *key;
	char	   *predicate;

	bi_call_begin(&call);
	job = bi_job_of_batch(&call, PG_GETARG_INT64(0), &first_id, &last_id);
	reader = bi_job_reader(job);
	key = quote_always(job->id_column);
	predicate = psprintf("%s >= %s AND %s <= %s%s%s%s",
						 key, bi_key_literal(reader->key_kind, first_id),
						 key, bi_key_literal(reader->key_kind, last_id),
						 reader->filter_sql ? " AND (" : "",
						 reader->filter_sql ? reader->filter_sql : "",
						 reader->filter_sql ? ")" : "");
	predicate = MemoryContextStrdup(fn_context, predicate);
	bi_call_end(&call);
	PG_RETURN_TEXT_P(cstring_to_text(predicate));
}

/*
 * batchintory_details(batch bigint) RETURNS jsonb
 *		A batch and its current attempt as one jsonb object -- job, table,
 *		filter, range, count, weight, how it ended, its state, the attempt's
 *		status, times, worker, config, message and result -- for a
 *		processing job to store with its output.  Strict.
 */
Datum
batchintory_details(PG_FUNCTION_ARGS)
{
	int64		batch = PG_GETARG_INT64(0);
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(batch)};
	BiCall		call;
	bool		isnull;
	Datum		details;

	bi_call_begin(&call);
	/* the batch, its job and who may see them: one statement, one snapshot */
	if (bi_exec("SELECT j.name, j.owner::pg_catalog.oid, pg_catalog.jsonb_build_object("
				" 'job', j.name, 'source', j.source::pg_catalog.text, 'filter', j.filter,"
				" 'batch', b.batch_id, 'attempt', b.attempt,"
				" 'status', batchintory.batch_state(b.status, b.lease_until, b.retry_after),"
				" 'attempt_status', a.status, 'first_id', b.first_id, 'last_id', b.last_id,"
				" 'asset_count', b.asset_count, 'weight', b.weight, 'ended_by', b.ended_by,"
				" 'acquired_at', a.acquired_at, 'lease_until', a.lease_until,"
				" 'released_at', a.released_at, 'worker', a.worker, 'message', a.message,"
				" 'result', a.result, 'config', COALESCE(a.config, j.config),"
				" 'command', j.command, 'schedule', j.schedule,"
				" 'first_key', batchintory.key_text(j.source, j.id_column, b.first_id),"
				" 'last_key', batchintory.key_text(j.source, j.id_column, b.last_id))"
				" FROM batchintory.batch b"
				" JOIN batchintory.job j ON j.job_id OPERATOR(pg_catalog.=) b.job_id"
				" LEFT JOIN batchintory.attempt a ON a.batch_id OPERATOR(pg_catalog.=) b.batch_id"
				"  AND a.attempt OPERATOR(pg_catalog.=) b.attempt"
				" WHERE b.batch_id OPERATOR(pg_catalog.=) $1",
				1, argtypes, args, NULL, SPI_OK_SELECT) == 0)
		bi_batch_not_found(batch);
	bi_check_may_use(&call, bi_get_text(0, 1),
					 DatumGetObjectId(bi_get(0, 2, &isnull)));
	details = SPI_datumTransfer(bi_get(0, 3, &isnull), false, -1);
	bi_call_end(&call);
	PG_RETURN_DATUM(details);
}
