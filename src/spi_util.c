/*
 * spi_util.c
 *	  Running SQL through SPI (the extension's constant statements are
 *	  prepared once per backend and kept), reading results, returning
 *	  tuplestores, and small helpers for arguments, numerics and intervals.
 */
#include "postgres.h"

#include "batchintory.h"

#include "access/xact.h"
#include "common/hashfn.h"
#include "common/int.h"
#include "executor/tstoreReceiver.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/hsearch.h"
#include "utils/numeric.h"
#include "utils/resowner.h"

/*
 * Kept plans of the extension's constant SQL texts (a bounded set: texts
 * built for one job live in that job's reader, jobcache.c), keyed by the
 * hash of their text.  Entries whose hashes
 * collide are chained; the text itself decides.
 */
typedef struct PlanEntry
{
	uint32		hash;			/* hash key */
	struct PlanChain *chain;
} PlanEntry;

typedef struct PlanChain
{
	char	   *sql;
	SPIPlanPtr	plan;
	struct PlanChain *next;
} PlanChain;

static HTAB *plan_cache = NULL;

/*
 * bi_prepare_kept
 *		Prepare sql and keep its plan for the life of the backend;
 *		cursor_options may add CURSOR_OPT_FAST_PLAN for a statement read
 *		through a cursor a few rows at a time.
 *
 * The caller must be connected to SPI.  Kept plans are revalidated by the
 * plan cache when the objects they use change.  They are generic plans
 * from the start: every statement is an index lookup by its parameters,
 * and a statement with a few CTEs costs more to plan again on each call
 * (which the plan cache does when a custom plan looks cheaper) than to run.
 */
SPIPlanPtr
bi_prepare_kept(const char *sql, int nargs, Oid *argtypes, int cursor_options)
{
	MemoryContext caller_context = CurrentMemoryContext;
	SPIPlanPtr	plan = SPI_prepare_cursor(sql, nargs, argtypes,
										  cursor_options |
										  CURSOR_OPT_GENERIC_PLAN);

	/*
	 * SPI leaves us in its procedure context, freed at SPI_finish: back to
	 * the caller's, where what it allocates next may have to live longer
	 * (a job's reader, built around a statement prepared on first use)
	 */
	MemoryContextSwitchTo(caller_context);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s",
			 sql, SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	return plan;
}

/*
 * bi_plan
 *		Return the kept plan for sql, preparing it on first use and finding
 *		it again by its text afterwards (the extension's own statements,
 *		run to completion: planned for all their rows, so that a lookup
 *		with an ORDER BY sorts its few rows rather than walking a whole
 *		index that happens to be in that order).
 */
SPIPlanPtr
bi_plan(const char *sql, int nargs, Oid *argtypes)
{
	uint32		hash = string_hash(sql, strlen(sql) + 1);
	PlanEntry  *entry;
	PlanChain  *link;
	SPIPlanPtr	plan;
	bool		found;

	if (plan_cache == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(uint32);
		ctl.entrysize = sizeof(PlanEntry);
		plan_cache = hash_create("batchintory plans", 64, &ctl,
								 HASH_ELEM | HASH_BLOBS);
	}

	entry = hash_search(plan_cache, &hash, HASH_ENTER, &found);
	if (!found)
		entry->chain = NULL;
	for (link = entry->chain; link != NULL; link = link->next)
		if (strcmp(link->sql, sql) == 0)
			return link->plan;

	plan = bi_prepare_kept(sql, nargs, argtypes, 0);

	link = MemoryContextAlloc(TopMemoryContext, sizeof(PlanChain));
	link->sql = MemoryContextStrdup(TopMemoryContext, sql);
	link->plan = plan;
	link->next = entry->chain;
	entry->chain = link;
	return plan;
}

/*
 * bi_exec_plan
 *		Execute a prepared plan with parameters; return the number of rows
 *		processed, in SPI_tuptable (the memory context is left as it was).
 *		expected is the SPI result code the statement must give
 *		(SPI_OK_SELECT, SPI_OK_UPDATE, ...).
 */
uint64
bi_exec_plan(SPIPlanPtr plan, Datum *values, const char *nulls, int expected)
{
	MemoryContext caller_context = CurrentMemoryContext;
	int			rc = SPI_execute_plan(plan, values, nulls, false, 0);

	/* SPI leaves us in its procedure context: back to the caller's */
	MemoryContextSwitchTo(caller_context);
	if (rc != expected)
		elog(ERROR, "SPI_execute_plan returned %s", SPI_result_code_string(rc));
	return SPI_processed;
}

/* bi_exec_plan of sql's kept plan (for SQL texts that are constants) */
uint64
bi_exec(const char *sql, int nargs, Oid *argtypes, Datum *values,
		const char *nulls, int expected)
{
	return bi_exec_plan(bi_plan(sql, nargs, argtypes), values, nulls, expected);
}

/*
 * Execute plan (or, without one, sql planned for these parameters' values)
 * with its rows going straight into the set-returning function's tuplestore
 */
static void
exec_into_result(ReturnSetInfo *rsinfo, SPIPlanPtr plan, const char *sql,
				 int nargs, Oid *argtypes, Datum *values, const char *nulls)
{
	MemoryContext caller_context = CurrentMemoryContext;
	SPIExecuteOptions options = {0};
	DestReceiver *dest = CreateDestReceiver(DestTuplestore);
	int			rc;
	int			i;

	options.params = makeParamList(nargs);
	for (i = 0; i < nargs; i++)
	{
		options.params->params[i].value = values[i];
		options.params->params[i].isnull = nulls != NULL && nulls[i] == 'n';
		options.params->params[i].pflags = PARAM_FLAG_CONST;
		options.params->params[i].ptype = argtypes[i];
	}
	options.dest = dest;
	SetTuplestoreDestReceiverParams(dest, rsinfo->setResult,
									rsinfo->econtext->ecxt_per_query_memory,
									false, rsinfo->setDesc,
									gettext_noop("query result does not match the function result"));
	if (plan != NULL)
		rc = SPI_execute_plan_extended(plan, &options);
	else
		rc = SPI_execute_extended(sql, &options);
	MemoryContextSwitchTo(caller_context);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute%s_extended returned %s", plan != NULL ? "_plan" : "",
			 SPI_result_code_string(rc));
	dest->rDestroy(dest);
}

/*
 * bi_exec_into_result
 *		Execute sql (a constant text, kept plan) with parameters, its rows
 *		going straight into the set-returning function's tuplestore (set up
 *		by bi_materialize); the columns must match the result's by position
 *		and type.
 */
void
bi_exec_into_result(ReturnSetInfo *rsinfo, const char *sql, int nargs,
					Oid *argtypes, Datum *values, const char *nulls)
{
	exec_into_result(rsinfo, bi_plan(sql, nargs, argtypes), NULL, nargs, argtypes,
					 values, nulls);
}

/*
 * bi_exec_once_into_result
 *		The same, with sql planned for these parameters' values, which the
 *		planner then estimates from the statistics (and the ends of indexes)
 *		instead of guessing: once, not kept.
 */
void
bi_exec_once_into_result(ReturnSetInfo *rsinfo, const char *sql, int nargs,
						 Oid *argtypes, Datum *values, const char *nulls)
{
	exec_into_result(rsinfo, NULL, sql, nargs, argtypes, values, nulls);
}

/*
 * bi_in_subtransaction
 *		Run fn(arg) in a subtransaction: NULL if it went well, else the
 *		error (copied into the caller's memory context), its effects rolled
 *		back.  A cancel or a shutdown is no failure of fn: it is raised
 *		again.
 */
ErrorData *
bi_in_subtransaction(void (*fn) (void *), void *arg)
{
	MemoryContext context = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	ErrorData  *volatile error = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(context);
	PG_TRY();
	{
		fn(arg);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(context);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(context);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(context);
		CurrentResourceOwner = owner;
		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED ||
			edata->sqlerrcode == ERRCODE_ADMIN_SHUTDOWN)
			ReThrowError(edata);
		error = edata;
	}
	PG_END_TRY();
	return error;
}

/*
 * bi_exec_once
 *		Execute sql, built for this one use (DDL naming a table, say), without
 *		keeping its plan.
 */
void
bi_exec_once(const char *sql, int expected)
{
	MemoryContext caller_context = CurrentMemoryContext;
	int			rc = SPI_execute(sql, false, 0);

	MemoryContextSwitchTo(caller_context);
	if (rc != expected)
		elog(ERROR, "SPI_execute returned %s", SPI_result_code_string(rc));
}

/*
 * Column col (1-based) of result row row.  A row that is not there is an
 * internal error, never a read past the result: callers check how many rows
 * a statement returned (a row found earlier may be gone, deleted by a
 * concurrent drop) and report that cleanly before they read.
 */
Datum
bi_get(uint64 row, int col, bool *isnull)
{
	if (SPI_tuptable == NULL || row >= SPI_tuptable->numvals)
		elog(ERROR, "row " UINT64_FORMAT " of a result of " UINT64_FORMAT " rows does not exist",
			 row, SPI_tuptable ? SPI_tuptable->numvals : 0);
	return SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc,
						 col, isnull);
}

/* Column col of row row, copied into the current memory context */
Datum
bi_get_copy(uint64 row, int col, bool *isnull)
{
	Datum		value = bi_get(row, col, isnull);
	int16		typlen;
	bool		typbyval;

	if (*isnull)
		return (Datum) 0;
	get_typlenbyval(SPI_gettypeid(SPI_tuptable->tupdesc, col), &typlen, &typbyval);
	return datumCopy(value, typbyval, typlen);
}

/* An int8 (or int4/int2) column; 0 with *isnull when NULL */
int64
bi_get_int64(uint64 row, int col, bool *isnull)
{
	Oid			type = SPI_gettypeid(SPI_tuptable->tupdesc, col);
	Datum		value = bi_get(row, col, isnull);

	if (*isnull)
		return 0;
	if (type == INT4OID)
		return DatumGetInt32(value);
	if (type == INT2OID)
		return DatumGetInt16(value);
	return DatumGetInt64(value);
}

/* A column as a palloc'd string in the caller's context, NULL when NULL */
char *
bi_get_text(uint64 row, int col)
{
	bool		isnull;

	(void) bi_get(row, col, &isnull);
	return SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col);
}

/*
 * bi_materialize
 *		Set up a set-returning function to return its rows in a tuplestore
 *		(materialize mode), described by the function's declared result type
 *		(a row type, or one column of a scalar type for SETOF scalar).
 */
void
bi_materialize(FunctionCallInfo fcinfo)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext oldcontext;
	TupleDesc	tupdesc;
	Oid			rettype;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		(rsinfo->allowedModes & SFRM_Materialize) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));

	oldcontext = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	switch (get_call_result_type(fcinfo, &rettype, &tupdesc))
	{
		case TYPEFUNC_COMPOSITE:
			break;
		case TYPEFUNC_SCALAR:
			tupdesc = CreateTemplateTupleDesc(1);
			TupleDescInitEntry(tupdesc, 1, "value", rettype, -1, 0);
			break;
		default:
			elog(ERROR, "return type must be a row type or a scalar type");
	}
	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setDesc = CreateTupleDescCopy(tupdesc);
	rsinfo->setResult = tuplestore_begin_heap(true, false, work_mem);
	MemoryContextSwitchTo(oldcontext);
}

Datum
bi_numeric_from_int64(int64 value)
{
	return DirectFunctionCall1(int8_numeric, Int64GetDatum(value));
}

int
bi_numeric_cmp(Datum a, Datum b)
{
	return DatumGetInt32(DirectFunctionCall2(numeric_cmp, a, b));
}

Datum
bi_numeric_add(Datum a, Datum b)
{
	return DirectFunctionCall2(numeric_add, a, b);
}

/*
 * An interval as microseconds, months counting as 30 days; saturates at the
 * int64 range instead of overflowing.
 */
int64
bi_interval_usecs(Datum interval)
{
	Interval   *span = DatumGetIntervalP(interval);
	int64		days;
	int64		usecs;

	days = (int64) span->month * DAYS_PER_MONTH + span->day;
	if (pg_mul_s64_overflow(days, USECS_PER_DAY, &usecs) ||
		pg_add_s64_overflow(usecs, span->time, &usecs))
		return days < 0 ? PG_INT64_MIN : PG_INT64_MAX;
	return usecs;
}

/*
 * bi_check_nargs
 *		The function must have been called with nargs arguments: between
 *		the installation of a new library and ALTER EXTENSION UPDATE, the
 *		SQL definitions of the old version call it with fewer.
 */
void
bi_check_nargs(FunctionCallInfo fcinfo, int nargs)
{
	if (PG_NARGS() != nargs)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the SQL definition of %s does not match the library of batchintory",
						get_func_name(fcinfo->flinfo->fn_oid)),
				 errdetail("The function was called with %d arguments; this library's version takes %d.",
						   PG_NARGS(), nargs),
				 errhint("Run ALTER EXTENSION batchintory UPDATE.")));
}

/*
 * Argument argno of the function as a C string; an error (22004) naming
 * what when it is NULL or (22023) empty.
 */
const char *
bi_text_arg(FunctionCallInfo fcinfo, int argno, const char *what)
{
	char	   *value;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", what)));
	value = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	if (value[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be empty", what)));
	return value;
}
