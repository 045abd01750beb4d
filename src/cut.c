/*
 * cut.c
 *	  Reading the metadata table in key order: cutting the next batch within
 *	  the workload limits, counting a range, and finding the newest key.
 */
#include "postgres.h"

#include "batchintory.h"

#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/memutils.h"

/* rows fetched at a time from the cut cursor when only weight limits it */
#define CUT_FETCH_ROWS 1000

/*
 * job_query
 *		Build "SELECT <what> FROM <source> WHERE <key in $1..$2> AND
 *		(<filter>) <tail>" for a job.  The filter was checked to be one
 *		boolean expression when the job was registered; the newline keeps a
 *		trailing "--" comment from swallowing the closing parenthesis.
 */
char *
job_query(BatchintoryJob *job, const char *what, const char *tail)
{
	StringInfoData sql;
	const char *key = quote_identifier(job->id_column);

	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT %s FROM %s WHERE %s OPERATOR(pg_catalog.>=) $1"
					 " AND %s OPERATOR(pg_catalog.<=) $2",
					 what, source_name(job->source), key, key);
	if (job->filter != NULL)
		appendStringInfo(&sql, " AND (%s\n)", job->filter);
	appendStringInfo(&sql, " %s", tail);
	return sql.data;
}

/* "<weight column>::numeric", or a NULL numeric for a job without weight */
static char *
weight_expr(BatchintoryJob *job)
{
	if (job->weight_column == NULL)
		return "NULL::pg_catalog.numeric";
	return psprintf("%s::pg_catalog.numeric", quote_identifier(job->weight_column));
}

/* Report a negative weight among the assets with keys in [first, last] */
static void
negative_weight(BatchintoryJob *job, int64 first, int64 last)
{
	if (first == last)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("asset " INT64_FORMAT " of job \"%s\" has a negative weight",
						first, job->name),
				 errdetail("Weights must be zero or more; a NULL weight counts as zero.")));
	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg("an asset of job \"%s\" with a key from " INT64_FORMAT " to " INT64_FORMAT " has a negative weight",
					job->name, first, last),
			 errdetail("Weights must be zero or more; a NULL weight counts as zero.")));
}

/*
 * limits_for
 *		The limits for one call: args[0] (max_count) and args[1] (max_weight)
 *		override the job's when not NULL.
 */
BatchLimits
limits_for(BatchintoryJob *job, Datum *args, bool *argnulls)
{
	BatchLimits limits;

	limits.has_max_count = job->has_max_count || !argnulls[0];
	limits.max_count = argnulls[0] ? job->max_count : DatumGetInt64(args[0]);
	limits.has_max_weight = job->has_max_weight || !argnulls[1];
	limits.max_weight = argnulls[1] ? job->max_weight : args[1];

	if (limits.has_max_count && limits.max_count <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_count must be greater than zero")));
	if (limits.has_max_weight &&
		bi_numeric_cmp(limits.max_weight, bi_numeric_from_int64(0)) <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_weight must be greater than zero")));
	if (limits.has_max_weight && job->weight_column == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_weight needs a weight column"),
				 errdetail("Job \"%s\" has no weight column.", job->name),
				 errhint("Set one with batchintory_alter(%s, weight_column => ...).",
						 quote_literal_cstr(job->name))));
	return limits;
}

/* Where the job's next new batch starts: PG_INT64_MIN means "the oldest key" */
int64
next_start(BatchintoryJob *job)
{
	if (job->has_frontier)
		return job->frontier + 1;
	if (job->has_lower_bound)
		return job->lower_bound;
	return PG_INT64_MIN;
}

/*
 * range_stats
 *		Count the matching assets with keys in [first_id, last_id] and add up
 *		their weight, in one aggregate query over the key index.  Sets
 *		*first_key (if not NULL) to the first matching key.
 */
void
range_stats(BatchintoryJob *job, int64 first_id, int64 last_id,
			BatchRange *range, int64 *first_key)
{
	Oid			argtypes[2] = {INT8OID, INT8OID};
	Datum		args[2] = {Int64GetDatum(first_id), Int64GetDatum(last_id)};
	const char *key = quote_identifier(job->id_column);
	char	   *what;
	bool		isnull;
	Datum		weight;

	what = psprintf("pg_catalog.count(*), pg_catalog.sum(COALESCE(%s, 0)),"
					" pg_catalog.min(%s), pg_catalog.min(%s)::pg_catalog.int8",
					weight_expr(job), weight_expr(job), key);
	bi_exec(job_query(job, what, ""), 2, argtypes, args, NULL, SPI_OK_SELECT);

	range->asset_count = bi_get_int64(0, 1, &isnull);
	weight = bi_get(0, 2, &isnull);
	range->has_weight = job->weight_column != NULL;
	range->weight = isnull ? bi_numeric_from_int64(0) :
		datumCopy(weight, false, -1);
	if (range->asset_count > 0)
	{
		Datum		min_weight = bi_get(0, 3, &isnull);

		bool		no_min_weight = isnull;
		int64		first = bi_get_int64(0, 4, &isnull);

		if (first_key != NULL)
			*first_key = first;
		if (!no_min_weight &&
			bi_numeric_cmp(min_weight, bi_numeric_from_int64(0)) < 0)
			negative_weight(job, first, last_id);
	}
}

/*
 * cut_range
 *		Cut the next batch of job from the keys in [start, limit]: as many
 *		consecutive matching assets as fit both limits (the first limit
 *		reached ends it); a first asset heavier than max_weight forms a batch
 *		of its own.  limit_is_window_end tells whether limit is the job's
 *		upper bound (ended_by 'window') or the newest usable key
 *		('no_more_assets').  Returns false when no matching asset is there.
 *
 * The batch starts at start (or at the first asset when start is
 * PG_INT64_MIN); it ends at its last asset when a limit ended it, else at
 * limit, so consecutive batches leave no gap.
 */
bool
cut_range(BatchintoryJob *job, int64 start, int64 limit,
		  bool limit_is_window_end, BatchLimits *limits, BatchRange *range)
{
	Oid			argtypes[2] = {INT8OID, INT8OID};
	Datum		args[2] = {Int64GetDatum(start), Int64GetDatum(limit)};
	Portal		portal;
	Datum		zero = bi_numeric_from_int64(0);
	Datum		weight = zero;
	MemoryContext chunk_context;
	MemoryContext outer_context;
	int64		count = 0;
	int64		last_key = 0;
	const char *ended_by = NULL;

	if (start > limit)
		return false;

	range->ended_by = limit_is_window_end ? "window" : "no_more_assets";
	range->has_weight = job->weight_column != NULL;

	if (!limits->has_max_count && !limits->has_max_weight)
	{
		/* no limit: the whole range, counted by one aggregate */
		int64		first_key;

		range_stats(job, start, limit, range, &first_key);
		if (range->asset_count == 0)
			return false;
		range->first_id = start == PG_INT64_MIN ? first_key : start;
		range->last_id = limit;
		return true;
	}

	chunk_context = AllocSetContextCreate(CurrentMemoryContext,
										  "batchintory cut",
										  ALLOCSET_DEFAULT_SIZES);
	portal = SPI_cursor_open(NULL,
							 bi_plan(job_query(job,
											   psprintf("%s::pg_catalog.int8, %s",
														quote_identifier(job->id_column),
														weight_expr(job)),
											   psprintf("ORDER BY %s",
														quote_identifier(job->id_column))),
									 2, argtypes),
							 args, NULL, false);

	while (ended_by == NULL)
	{
		int64		fetch = CUT_FETCH_ROWS;
		uint64		row;

		/* with a count limit, fetch one row past it at most */
		if (limits->has_max_count)
			fetch = Min(fetch, limits->max_count - count + 1);
		SPI_cursor_fetch(portal, true, fetch);
		if (SPI_processed == 0)
			break;

		/* per-row arithmetic in a context reset after every chunk */
		outer_context = MemoryContextSwitchTo(chunk_context);
		for (row = 0; row < SPI_processed; row++)
		{
			bool		isnull;
			int64		key = bi_get_int64(row, 1, &isnull);
			Datum		asset_weight = bi_get(row, 2, &isnull);
			Datum		sum;

			CHECK_FOR_INTERRUPTS();
			if (isnull)
				asset_weight = zero;
			else if (bi_numeric_cmp(asset_weight, zero) < 0)
				negative_weight(job, key, key);

			sum = bi_numeric_add(weight, asset_weight);
			if (limits->has_max_weight && count > 0 &&
				bi_numeric_cmp(sum, limits->max_weight) > 0)
			{
				ended_by = "max_weight";
				break;
			}

			if (count == 0)
				range->first_id = start == PG_INT64_MIN ? key : start;
			weight = sum;
			count++;
			last_key = key;

			if (limits->has_max_count && count >= limits->max_count)
				ended_by = "max_count";
			else if (limits->has_max_weight &&
					 bi_numeric_cmp(weight, limits->max_weight) > 0)
				ended_by = "max_weight";	/* one asset above the limit */
			if (ended_by != NULL)
				break;
		}
		MemoryContextSwitchTo(outer_context);
		weight = datumCopy(weight, false, -1);
		MemoryContextReset(chunk_context);
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	MemoryContextDelete(chunk_context);

	if (count == 0)
		return false;
	range->asset_count = count;
	range->weight = weight;
	if (ended_by != NULL)
	{
		range->ended_by = ended_by;
		range->last_id = last_key;
	}
	else
		range->last_id = limit;
	return true;
}

/*
 * newest_key
 *		The highest key in the metadata table now visible, whether it
 *		matches the filter or not; false when the table is empty.
 */
bool
newest_key(BatchintoryJob *job, int64 *key)
{
	char	   *sql;
	bool		isnull;

	sql = psprintf("SELECT pg_catalog.max(%s)::pg_catalog.int8 FROM %s",
				   quote_identifier(job->id_column), source_name(job->source));
	bi_exec(sql, 0, NULL, NULL, NULL, SPI_OK_SELECT);
	*key = bi_get_int64(0, 1, &isnull);
	return !isnull;
}
