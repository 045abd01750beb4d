/*
 * observe.c
 *	  Looking at a job's work: batchintory_backlog (exact or estimated), the
 *	  contents of a batch (keys, typed user rows, a pushdown predicate) and
 *	  batchintory_details; the views and lookups are SQL (30_observe.sql).
 */
#include "postgres.h"

#include "batchintory.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/tuplestore.h"

PG_FUNCTION_INFO_V1(batchintory_backlog);
PG_FUNCTION_INFO_V1(batchintory_check_job);
PG_FUNCTION_INFO_V1(batchintory_assets);
PG_FUNCTION_INFO_V1(batchintory_assets_rows);
PG_FUNCTION_INFO_V1(batchintory_predicate);
PG_FUNCTION_INFO_V1(batchintory_details);

/* rows fetched at a time when copying a batch's rows into the result */
#define ASSETS_FETCH_ROWS 1000

/* batches whose average weight per asset scales an estimated count */
#define ESTIMATE_HISTORY "100"

/* columns of the result of batchintory_backlog */
enum
{
	B_ASSET_COUNT,
	B_WEIGHT,
	B_FIRST_ID,
	B_LAST_ID,
	B_RETRY_BATCHES,
	B_IN_FLIGHT_BATCHES,
	N_BACKLOG
};

/*
 * The first (ascending) or last matching key of job in [first, last]; false
 * if there is none.  One probe of the key index, skipping rows the filter
 * rejects.
 */
static bool
edge_key(BatchintoryJob *job, int64 first, int64 last, bool ascending,
		 int64 *key)
{
	Oid			argtypes[2] = {INT8OID, INT8OID};
	Datum		args[2] = {Int64GetDatum(first), Int64GetDatum(last)};
	const char *column = quote_identifier(job->id_column);
	bool		isnull;

	if (bi_exec(job_query(job, psprintf("%s::pg_catalog.int8", column),
						  psprintf("ORDER BY %s %s LIMIT 1", column,
								   ascending ? "ASC" : "DESC")),
				2, argtypes, args, NULL, SPI_OK_SELECT) == 0)
		return false;
	*key = bi_get_int64(0, 1, &isnull);
	return true;
}

/*
 * The planner's estimate of the number of matching assets of job with keys
 * in [first, last], from EXPLAIN of the same query that counts them: no row
 * is read, only the table's statistics.
 */
static int64
estimate_count(BatchintoryJob *job, int64 first, int64 last)
{
	Oid			argtypes[2] = {INT8OID, INT8OID};
	Datum		args[2] = {Int64GetDatum(first), Int64GetDatum(last)};
	Oid			plantype[1] = {TEXTOID};
	Datum		plan[1];
	bool		isnull;

	bi_exec(psprintf("EXPLAIN (FORMAT JSON) %s", job_query(job, "", "")),
			2, argtypes, args, NULL, SPI_OK_UTILITY);
	plan[0] = CStringGetTextDatum(bi_get_text(0, 1));
	bi_exec("SELECT pg_catalog.round(($1::pg_catalog.jsonb"
			" OPERATOR(pg_catalog.#>>) '{0,Plan,Plan Rows}')::pg_catalog.float8)"
			"::pg_catalog.int8",
			1, plantype, plan, NULL, SPI_OK_SELECT);
	return bi_get_int64(0, 1, &isnull);
}

/*
 * An estimated weight for count assets of job: count times the average
 * weight per asset of the job's last batches.  NULL (false) when the job has
 * no weight column or no batch with assets yet.
 */
static bool
estimate_weight(BatchintoryJob *job, int64 count, Datum *weight)
{
	Oid			argtypes[2] = {INT4OID, INT8OID};
	Datum		args[2] = {Int32GetDatum(job->job_id), Int64GetDatum(count)};
	bool		isnull;
	Datum		value;

	if (job->weight_column == NULL)
		return false;
	bi_exec("SELECT pg_catalog.round($2 OPERATOR(pg_catalog.*)"
			" pg_catalog.sum(weight) OPERATOR(pg_catalog./)"
			" NULLIF(pg_catalog.sum(asset_count), 0))"
			" FROM (SELECT weight, asset_count FROM batchintory.batches"
			"  WHERE job_id OPERATOR(pg_catalog.=) $1"
			"  ORDER BY first_id DESC LIMIT " ESTIMATE_HISTORY ") b",
			2, argtypes, args, NULL, SPI_OK_SELECT);
	value = bi_get(0, 1, &isnull);
	if (isnull)
		return false;
	*weight = SPI_datumTransfer(value, false, -1);
	return true;
}

/*
 * batchintory_backlog(job text, exact boolean) RETURNS TABLE (asset_count
 *		bigint, weight numeric, first_id bigint, last_id bigint,
 *		retry_batches bigint, in_flight_batches bigint)
 *		What a job has not processed yet: the matching assets no batch holds
 *		yet (after the frontier, up to the upper bound or the newest key),
 *		with the keys of the first and last of them; the batches waiting to
 *		be handed out again (failed or abandoned, attempts left); and the
 *		batches in flight.  exact counts the assets through the key index
 *		(O(backlog)); otherwise the count is the planner's estimate and the
 *		weight is scaled from the job's last batches.  Strict; no lock.
 */
Datum
batchintory_backlog(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bool		exact = PG_GETARG_BOOL(1);
	BatchintoryJob *job;
	Datum		values[N_BACKLOG];
	bool		nulls[N_BACKLOG] = {0};
	int64		start;
	int64		end;
	int64		first_id;
	int64		last_id;
	bool		has_assets = false;
	Oid			argtypes[1] = {INT4OID};
	Datum		args[1];
	bool		isnull;

	bi_materialize(fcinfo);
	SPI_connect();
	job = job_from_arg(fcinfo, false);

	/* the keys no batch holds yet: (frontier, upper bound or newest key] */
	start = next_start(job);
	if (job->has_upper_bound)
		end = job->upper_bound;
	else if (!newest_key(job, &end))
		end = PG_INT64_MIN;
	if (!(job->has_frontier && job->frontier == PG_INT64_MAX) && start <= end &&
		edge_key(job, start, end, true, &first_id))
	{
		(void) edge_key(job, first_id, end, false, &last_id);
		has_assets = true;
	}

	values[B_ASSET_COUNT] = Int64GetDatum(0);
	values[B_WEIGHT] = bi_numeric_from_int64(0);
	nulls[B_WEIGHT] = job->weight_column == NULL;
	nulls[B_FIRST_ID] = nulls[B_LAST_ID] = !has_assets;
	if (has_assets)
	{
		values[B_FIRST_ID] = Int64GetDatum(first_id);
		values[B_LAST_ID] = Int64GetDatum(last_id);
		if (exact)
		{
			BatchRange	range;

			range_stats(job, first_id, last_id, &range, NULL);
			values[B_ASSET_COUNT] = Int64GetDatum(range.asset_count);
			values[B_WEIGHT] = range.weight;
		}
		else
		{
			int64		count = estimate_count(job, first_id, last_id);

			values[B_ASSET_COUNT] = Int64GetDatum(count);
			nulls[B_WEIGHT] = !estimate_weight(job, count, &values[B_WEIGHT]);
		}
	}

	/* open batches, through the partial index of the job's open batches */
	args[0] = Int32GetDatum(job->job_id);
	bi_exec("SELECT pg_catalog.count(*) FILTER (WHERE state IN ('retry_pending', 'abandoned')"
			"  AND attempts_left OPERATOR(pg_catalog.>) 0),"
			" pg_catalog.count(*) FILTER (WHERE state OPERATOR(pg_catalog.=) 'processing')"
			" FROM batchintory.batches WHERE job_id OPERATOR(pg_catalog.=) $1"
			" AND status IN ('processing', 'failed')",
			1, argtypes, args, NULL, SPI_OK_SELECT);
	values[B_RETRY_BATCHES] = Int64GetDatum(bi_get_int64(0, 1, &isnull));
	values[B_IN_FLIGHT_BATCHES] = Int64GetDatum(bi_get_int64(0, 2, &isnull));

	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	SPI_finish();
	return (Datum) 0;
}

/*
 * batchintory.check_job(job text) RETURNS boolean
 *		True if the job exists, else an error: lets the SQL lookups report an
 *		unknown job instead of returning no rows.  Strict.
 */
Datum
batchintory_check_job(PG_FUNCTION_ARGS)
{
	SPI_connect();
	(void) job_load(text_to_cstring(PG_GETARG_TEXT_PP(0)), false);
	SPI_finish();
	PG_RETURN_BOOL(true);
}

/*
 * The job of a batch and the batch's key range; an error if the batch does
 * not exist.  The caller must be connected to SPI.
 */
static BatchintoryJob *
batch_job(int64 batch, int64 *first_id, int64 *last_id)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(batch)};
	bool		isnull;
	int32		job_id;

	if (bi_exec("SELECT job_id, first_id, last_id FROM batchintory.batch"
				" WHERE batch_id OPERATOR(pg_catalog.=) $1",
				1, argtypes, args, NULL, SPI_OK_SELECT) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("batch " INT64_FORMAT " does not exist", batch)));
	job_id = DatumGetInt32(bi_get(0, 1, &isnull));
	*first_id = bi_get_int64(0, 2, &isnull);
	*last_id = bi_get_int64(0, 3, &isnull);
	return job_load_by_id(job_id);
}

/*
 * Run "SELECT <what> FROM <source> WHERE <the batch's range and filter>
 * ORDER BY <key>" as the caller and copy every row into the function's
 * tuplestore, a chunk at a time.  With map, the rows are the table's
 * columns (SELECT *) and are spread over the row type's attributes, leaving
 * dropped ones NULL.
 */
static void
copy_batch_rows(ReturnSetInfo *rsinfo, BatchintoryJob *job, int64 first_id,
				int64 last_id, const char *what, bool map)
{
	Oid			argtypes[2] = {INT8OID, INT8OID};
	Datum		args[2] = {Int64GetDatum(first_id), Int64GetDatum(last_id)};
	TupleDesc	desc = rsinfo->setDesc;
	Datum	   *values = palloc(desc->natts * sizeof(Datum));
	bool	   *nulls = palloc(desc->natts * sizeof(bool));
	Portal		portal;

	portal = SPI_cursor_open(NULL,
							 bi_plan(job_query(job, what,
											   psprintf("ORDER BY %s",
														quote_identifier(job->id_column))),
									 2, argtypes),
							 args, NULL, true);
	for (;;)
	{
		uint64		row;

		SPI_cursor_fetch(portal, true, ASSETS_FETCH_ROWS);
		if (SPI_processed == 0)
			break;
		for (row = 0; row < SPI_processed; row++)
		{
			CHECK_FOR_INTERRUPTS();
			if (map)
			{
				int			att;
				int			col = 1;

				for (att = 0; att < desc->natts; att++)
				{
					nulls[att] = true;
					if (!TupleDescAttr(desc, att)->attisdropped)
						values[att] = bi_get(row, col++, &nulls[att]);
				}
			}
			else
				values[0] = bi_get(row, 1, &nulls[0]);
			tuplestore_putvalues(rsinfo->setResult, desc, values, nulls);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
}

/*
 * batchintory_assets(batch bigint) RETURNS SETOF bigint
 *		The keys of the matching assets of a batch, in key order, read as
 *		the caller.  Strict.
 */
Datum
batchintory_assets(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	BatchintoryJob *job;
	int64		first_id;
	int64		last_id;

	bi_materialize(fcinfo);
	SPI_connect();
	job = batch_job(PG_GETARG_INT64(0), &first_id, &last_id);
	job_check_source(job);
	copy_batch_rows(rsinfo, job, first_id, last_id,
					psprintf("%s::pg_catalog.int8", quote_identifier(job->id_column)),
					false);
	SPI_finish();
	return (Datum) 0;
}

/*
 * batchintory_assets(batch bigint, row_type anyelement) RETURNS SETOF
 * anyelement
 *		The metadata table's rows of the matching assets of a batch, in key
 *		order, as the table's row type, read as the caller.  row_type only
 *		names the type (NULL::my_table); it must be the row type of the
 *		job's table.
 */
Datum
batchintory_assets_rows(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			row_type = get_fn_expr_argtype(fcinfo->flinfo, 1);
	BatchintoryJob *job;
	int64		first_id;
	int64		last_id;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("batch must not be null")));

	SPI_connect();
	job = batch_job(PG_GETARG_INT64(0), &first_id, &last_id);
	job_check_source(job);
	if (row_type != get_rel_type_id(job->source))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("row type %s does not match the metadata table of job \"%s\"",
						format_type_be(row_type), job->name),
				 errhint("Pass NULL::%s as row_type.", source_name(job->source))));
	bi_materialize(fcinfo);
	copy_batch_rows(rsinfo, job, first_id, last_id, "*", true);
	SPI_finish();
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
 *		its metadata table ("id" >= 10 AND "id" <= 19 AND (<filter>)), for
 *		a read that pushes the condition down (Spark or Dask over JDBC).
 *		Strict.
 */
Datum
batchintory_predicate(PG_FUNCTION_ARGS)
{
	BatchintoryJob *job;
	int64		first_id;
	int64		last_id;
	const char *key;
	StringInfoData predicate;

	SPI_connect();
	job = batch_job(PG_GETARG_INT64(0), &first_id, &last_id);
	key = quote_always(job->id_column);
	initStringInfo(&predicate);
	appendStringInfo(&predicate, "%s >= " INT64_FORMAT " AND %s <= " INT64_FORMAT,
					 key, first_id, key, last_id);
	/* a line break ends a trailing "--" comment before the parenthesis */
	if (job->filter != NULL)
		appendStringInfo(&predicate, " AND (%s%s)", job->filter,
						 strstr(job->filter, "--") != NULL ? "\n" : "");
	SPI_finish();
	PG_RETURN_TEXT_P(cstring_to_text(predicate.data));
}

/*
 * batchintory_details(batch bigint) RETURNS jsonb
 *		The current attempt of a batch as one jsonb object (job, batch,
 *		attempt, status, range, count, weight, times, worker, config), for a
 *		processing job to store with its output.  Strict.
 */
Datum
batchintory_details(PG_FUNCTION_ARGS)
{
	int64		batch = PG_GETARG_INT64(0);
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(batch)};
	bool		isnull;
	Datum		details;

	SPI_connect();
	if (bi_exec("SELECT pg_catalog.jsonb_build_object('job', job, 'batch', batch,"
				" 'attempt', attempt, 'status', status, 'first_id', first_id,"
				" 'last_id', last_id, 'asset_count', asset_count, 'weight', weight,"
				" 'acquired_at', acquired_at, 'lease_until', lease_until,"
				" 'released_at', released_at, 'worker', worker, 'config', config)"
				" FROM batchintory.attempts WHERE batch OPERATOR(pg_catalog.=) $1"
				" ORDER BY attempt DESC LIMIT 1",
				1, argtypes, args, NULL, SPI_OK_SELECT) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("batch " INT64_FORMAT " does not exist", batch)));
	details = SPI_datumTransfer(bi_get(0, 1, &isnull), false, -1);
	SPI_finish();
	PG_RETURN_DATUM(details);
}
