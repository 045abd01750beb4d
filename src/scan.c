/*
 * scan.c
 *	  Reading a job's metadata table in key order, as the job's owner: one
 *	  pass that cuts or counts a range (rows handed straight to a receiver
 *	  that stops the scan at the first limit), edge keys and estimates.
 */
#include "postgres.h"

#include "batchintory.h"
#include "settings.h"

#include "catalog/pg_type.h"
#include "common/int.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "nodes/params.h"
#include "tcop/dest.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

/*
 * A destination for the rows (key, weight) of a scan: it counts and adds
 * up, and stops the executor when a limit ends the batch.  Integer weights
 * are added as int64 (numeric only if the sum leaves the int64 range);
 * others as numeric, computed in two small contexts used in turn so that
 * memory stays constant whatever the batch size.
 */
typedef struct ScanReceiver
{
	DestReceiver pub;
	BiJob	   *job;
	const BiLimits *limits;
	BiKeyKind	key_kind;		/* keys come as the column's type */
	bool		has_weight;
	bool		weight_is_int;	/* weights come as int8, else as numeric */
	bool		lenient;		/* count bad weights instead of failing */
	/* the weight limit as an integer, for integer weights */
	bool		int_limit_valid;
	int64		int_limit;
	/* what the batch holds so far */
	int64		count;
	int64		first_key;
	int64		last_key;
	bool		sum_is_int;
	int64		int_sum;
	Datum		num_sum;
	MemoryContext parent_context;	/* outlives the scan's executor */
	MemoryContext sum_context[2];
	int			sum_current;
	const char *ended_by;
	bool		bad_weight;
	int64		bad_weight_key;
	/*
	 * A key that may repeat (a time) is never split: a batch ends where the
	 * key changes.  The batch as it was before the group of rows with the
	 * current key, to end it there if the group does not fit; end_pending:
	 * a limit was reached, the batch ends when the key changes.
	 */
	bool		group_keys;
	bool		end_pending;
	int64		before_count;
	int64		before_last_key;
	bool		before_sum_is_int;
	int64		before_int_sum;
	Datum		before_num_sum;
	MemoryContext before_context;
} ScanReceiver;

/*
 * A bad weight (negative, NaN or infinite) of the asset with key key: with
 * lenient, flagged and counted as zero; otherwise the scan stops here and
 * bi_scan_range reports it (outside the executor, so that the error does
 * not carry the internal query as its context).  Returns false to stop.
 */
static bool
bad_weight(ScanReceiver *receiver, int64 key)
{
	receiver->bad_weight = true;
	if (receiver->lenient)
		return true;
	receiver->bad_weight_key = key;
	return false;
}

/* The sum so far as a numeric */
static Datum
sum_numeric(ScanReceiver *receiver)
{
	return receiver->sum_is_int ? bi_numeric_from_int64(receiver->int_sum) :
		receiver->num_sum;
}

/*
 * Would adding an asset of weight (int_weight, or num_weight if not
 * integral) take the sum past the weight limit?  Computes the new sum into
 * *new_int / *new_num.
 */
static bool
add_weight(ScanReceiver *receiver, bool integral, int64 int_weight,
		   Datum num_weight, int64 *new_int, Datum *new_num, bool *new_is_int)
{
	const BiLimits *limits = receiver->limits;

	if (receiver->sum_is_int && integral &&
		!pg_add_s64_overflow(receiver->int_sum, int_weight, new_int))
	{
		*new_is_int = true;
		if (!limits->has_max_weight)
			return false;
		if (receiver->int_limit_valid)
			return *new_int > receiver->int_limit;
		return bi_numeric_cmp(bi_numeric_from_int64(*new_int), limits->max_weight) > 0;
	}

	/* numeric: computed in the context not holding the current sum */
	{
		int			next = 1 - receiver->sum_current;
		MemoryContext oldcontext;

		if (receiver->sum_context[0] == NULL)
		{
			receiver->sum_context[0] = AllocSetContextCreate(receiver->parent_context,
															 "batchintory sum",
															 ALLOCSET_SMALL_SIZES);
			receiver->sum_context[1] = AllocSetContextCreate(receiver->parent_context,
															 "batchintory sum",
															 ALLOCSET_SMALL_SIZES);
		}
		MemoryContextReset(receiver->sum_context[next]);
		oldcontext = MemoryContextSwitchTo(receiver->sum_context[next]);
		*new_num = bi_numeric_add(sum_numeric(receiver),
								  integral ? bi_numeric_from_int64(int_weight) : num_weight);
		MemoryContextSwitchTo(oldcontext);
	}
	*new_is_int = false;
	return limits->has_max_weight &&
		bi_numeric_cmp(*new_num, limits->max_weight) > 0;
}

/* Remember the batch as it is, before a new group of equal keys */
static void
group_begins(ScanReceiver *receiver)
{
	receiver->before_count = receiver->count;
	receiver->before_last_key = receiver->last_key;
	receiver->before_sum_is_int = receiver->sum_is_int;
	receiver->before_int_sum = receiver->int_sum;
	if (receiver->has_weight && !receiver->sum_is_int)
	{
		MemoryContext oldcontext;

		if (receiver->before_context == NULL)
			receiver->before_context = AllocSetContextCreate(receiver->parent_context,
															 "batchintory sum before a group",
															 ALLOCSET_SMALL_SIZES);
		MemoryContextReset(receiver->before_context);
		oldcontext = MemoryContextSwitchTo(receiver->before_context);
		receiver->before_num_sum = datumCopy(receiver->num_sum, false, -1);
		MemoryContextSwitchTo(oldcontext);
	}
}

/* End the batch before the group of equal keys that does not fit it */
static void
end_before_group(ScanReceiver *receiver)
{
	receiver->count = receiver->before_count;
	receiver->last_key = receiver->before_last_key;
	receiver->sum_is_int = receiver->before_sum_is_int;
	receiver->int_sum = receiver->before_int_sum;
	receiver->num_sum = receiver->before_num_sum;
}

static bool
scan_receive(TupleTableSlot *slot, DestReceiver *self)
{
	ScanReceiver *receiver = (ScanReceiver *) self;
	const BiLimits *limits = receiver->limits;
	bool		isnull;
	int64		key = bi_key_units(receiver->key_kind, slot_getattr(slot, 1, &isnull));
	bool		integral = true;
	int64		int_weight = 0;
	Datum		num_weight = (Datum) 0;
	int64		new_int = 0;
	Datum		new_num = (Datum) 0;
	bool		new_is_int = receiver->sum_is_int;
	bool		over = false;

	CHECK_FOR_INTERRUPTS();
	if (receiver->has_weight)
	{
		Datum		weight = slot_getattr(slot, 2, &isnull);

		if (isnull)
			;					/* counts as zero */
		else if (receiver->weight_is_int)
		{
			int_weight = DatumGetInt64(weight);
			if (int_weight < 0)
			{
				if (!bad_weight(receiver, key))
					return false;
				int_weight = 0;
			}
		}
		else if (numeric_is_nan(DatumGetNumeric(weight)) ||
				 numeric_is_inf(DatumGetNumeric(weight)) ||
				 bi_numeric_cmp(weight, bi_numeric_from_int64(0)) < 0)
		{
			if (!bad_weight(receiver, key))
				return false;
		}
		else
		{
			integral = false;
			num_weight = weight;
		}
		over = add_weight(receiver, integral, int_weight, num_weight,
						  &new_int, &new_num, &new_is_int);
	}

	if (receiver->group_keys && receiver->count > 0)
	{
		if (key != receiver->last_key)
		{
			/* a new key: a batch whose limit was reached ends before it */
			if (receiver->end_pending)
				return false;
			group_begins(receiver);
		}
		else if (over || receiver->end_pending)
		{
			/* the group of this key does not fit: the batch ends before it */
			if (receiver->before_count > 0)
			{
				if (receiver->ended_by == NULL)
					receiver->ended_by = "max_weight";
				end_before_group(receiver);
				return false;
			}
			/* a group alone over the limits is a batch of its own, whole */
			if (receiver->ended_by == NULL)
				receiver->ended_by = "max_weight";
			receiver->end_pending = true;
			over = false;
		}
	}
	else if (receiver->group_keys)
		group_begins(receiver);

	/* an asset that does not fit ends the batch before it, unless it is the first */
	if (over && receiver->count > 0)
	{
		receiver->ended_by = "max_weight";
		return false;
	}

	if (receiver->count++ == 0)
		receiver->first_key = key;
	receiver->last_key = key;
	if (receiver->has_weight)
	{
		receiver->sum_is_int = new_is_int;
		if (new_is_int)
			receiver->int_sum = new_int;
		else
		{
			receiver->num_sum = new_num;
			receiver->sum_current = 1 - receiver->sum_current;
		}
	}

	if (receiver->end_pending)
		return true;
	if (limits->has_max_count && receiver->count >= limits->max_count)
		receiver->ended_by = "max_count";
	else if (over)
		receiver->ended_by = "max_weight";	/* one asset above the limit */
	if (receiver->group_keys && receiver->ended_by != NULL)
	{
		/* the batch ends where the key changes */
		receiver->end_pending = true;
		return true;
	}
	return receiver->ended_by == NULL;
}

static void
scan_startup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
}

static void
scan_shutdown(DestReceiver *self)
{
}

static void
scan_destroy(DestReceiver *self)
{
}

/* The weight limit as an integer bound on integer sums, if it is below 2^63 */
static void
set_int_limit(ScanReceiver *receiver)
{
	Datum		floor;

	receiver->int_limit_valid = false;
	if (!receiver->limits->has_max_weight)
		return;
	floor = DirectFunctionCall1(numeric_floor, receiver->limits->max_weight);
	if (bi_numeric_cmp(floor, bi_numeric_from_int64(PG_INT64_MAX)) >= 0)
		return;
	receiver->int_limit = DatumGetInt64(DirectFunctionCall1(numeric_int8, floor));
	receiver->int_limit_valid = true;
}

/*
 * bi_scan_into
 *		Run a plan over the job's table with the key range [first, last] as
 *		its parameters, as the job's owner, sending its rows to dest.
 */
void
bi_scan_into(BiJob *job, SPIPlanPtr plan, int64 first, int64 last,
			 DestReceiver *dest)
{
	MemoryContext caller_context = CurrentMemoryContext;
	SPIExecuteOptions options = {0};
	ParamListInfo params = makeParamList(2);
	BiAsRole	as_owner;
	int			rc;
	int			i;

	for (i = 0; i < 2; i++)
	{
		params->params[i].value = Int64GetDatum(i == 0 ? first : last);
		params->params[i].isnull = false;
		params->params[i].pflags = PARAM_FLAG_CONST;
		params->params[i].ptype = INT8OID;
	}
	options.params = params;
	options.dest = dest;

	bi_as_reader_begin(&as_owner, job);
	rc = SPI_execute_plan_extended(plan, &options);
	bi_as_role_end(&as_owner);
	MemoryContextSwitchTo(caller_context);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan_extended returned %s",
			 SPI_result_code_string(rc));
}

/*
 * bi_scan_range
 *		Read the matching assets of job with keys in [start, limit] in key
 *		order, as many as fit the limits (the first limit reached ends the
 *		batch; a first asset heavier than max_weight forms a batch of its
 *		own), in one pass that stops at the limit.  limit_is_window_end tells
 *		whether limit is the job's upper bound (ended_by 'window') or the
 *		newest usable key ('no_more_assets').  Returns false when no matching
 *		asset is there.  A bad weight is an error, or with lenient is
 *		counted as zero and flagged in range->has_bad_weight.
 *
 * The range starts at start (at the first asset when start is
 * PG_INT64_MIN) and ends at its last asset when a limit ended it, else at
 * limit, so that consecutive batches leave no gap.
 */
bool
bi_scan_range(BiJob *job, int64 start, int64 limit, bool limit_is_window_end,
			  const BiLimits *limits, bool lenient, BiRange *range)
{
	BiReader   *reader = bi_job_reader(job);
	ScanReceiver receiver = {0};

	range->counted = true;
	if (start > limit)
		return false;

	receiver.pub.receiveSlot = scan_receive;
	receiver.pub.rStartup = scan_startup;
	receiver.pub.rShutdown = scan_shutdown;
	receiver.pub.rDestroy = scan_destroy;
	/* any kind but DestNone and DestSPI: SPI then leaves the rows to us */
	receiver.pub.mydest = DestTuplestore;
	receiver.job = job;
	receiver.limits = limits;
	receiver.has_weight = job->weight_column != NULL;
	receiver.weight_is_int = reader->weight_is_int;
	receiver.lenient = lenient;
	receiver.sum_is_int = true;
	receiver.parent_context = CurrentMemoryContext;
	receiver.key_kind = reader->key_kind;
	receiver.group_keys = BI_KEY_IS_TIME(reader->key_kind);
	set_int_limit(&receiver);

	bi_scan_into(job, reader->scan, start, limit, &receiver.pub);
	if (receiver.bad_weight && !lenient)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("asset " INT64_FORMAT " of job \"%s\" has an invalid weight",
						receiver.bad_weight_key, job->name),
				 errdetail("Weights must be finite numbers, zero or more; a NULL weight counts as zero."),
				 errhint("Correct the weight in column \"%s\" of the asset's row.",
						 job->weight_column)));

	range->has_weight = receiver.has_weight;
	range->has_bad_weight = receiver.bad_weight;
	range->asset_count = receiver.count;
	range->weight = receiver.has_weight ? sum_numeric(&receiver) :
		bi_numeric_from_int64(0);
	if (!receiver.sum_is_int)
		range->weight = datumCopy(range->weight, false, -1);
	if (receiver.sum_context[0] != NULL)
	{
		MemoryContextDelete(receiver.sum_context[0]);
		MemoryContextDelete(receiver.sum_context[1]);
	}
	if (receiver.before_context != NULL)
		MemoryContextDelete(receiver.before_context);
	if (receiver.count == 0)
		return false;

	range->first_key = receiver.first_key;
	range->last_key = receiver.last_key;
	range->first_id = start == PG_INT64_MIN ? receiver.first_key : start;
	if (receiver.ended_by != NULL)
	{
		range->ended_by = receiver.ended_by;
		range->last_id = receiver.last_key;
	}
	else
	{
		range->ended_by = limit_is_window_end ? "window" : "no_more_assets";
		range->last_id = limit;
	}
	return true;
}

/*
 * bi_first_key
 *		The first matching key of job in [first, last]; false if none.
 */
bool
bi_first_key(BiJob *job, int64 first, int64 last, int64 *key)
{
	BiLimits	one = {true, 1, false, (Datum) 0};
	BiRange		range;

	if (!bi_scan_range(job, first, last, false, &one, true, &range))
		return false;
	*key = range.last_id;
	return true;
}

/* Run a reader plan returning one bigint as the owner; false if NULL or no row */
static bool
one_key(BiJob *job, SPIPlanPtr plan, int64 first, int64 last, int64 *key)
{
	Datum		args[2] = {Int64GetDatum(first), Int64GetDatum(last)};
	BiAsRole	as_owner;
	bool		isnull = true;

	bi_as_reader_begin(&as_owner, job);
	if (bi_exec_plan(plan, args, NULL, SPI_OK_SELECT) > 0)
		*key = bi_get_int64(0, 1, &isnull);
	bi_as_role_end(&as_owner);
	return !isnull;
}

/* The last matching key of job in [first, last]; false if none */
bool
bi_last_key(BiJob *job, int64 first, int64 last, int64 *key)
{
	return one_key(job, bi_job_reader(job)->last_key, first, last, key);
}

/*
 * The highest key in the metadata table now visible, matching or not; for a
 * job cut by key range alone, the last key its sequence drew (the table
 * is not read)
 */
bool
bi_newest_key(BiJob *job, int64 *key)
{
	if (job->has_max_keys)
		return bi_sequence_last_drawn(job, key);
	return one_key(job, bi_job_reader(job)->newest_key, 0, 0, key);
}

/*
 * bi_estimate_count
 *		The planner's estimate of the number of matching assets of job with
 *		keys in [first, last], from EXPLAIN of the query that would count
 *		them, planned as the job's owner: no row is read.
 */
int64
bi_estimate_count(BiJob *job, int64 first, int64 last)
{
	BiReader   *reader = bi_job_reader(job);
	Oid			argtypes[2] = {INT8OID, INT8OID};
	Datum		args[2] = {Int64GetDatum(first), Int64GetDatum(last)};
	char	   *plan;
	char	   *rows;
	BiAsRole	as_owner;
	int			rc;

	MemoryContext caller_context = CurrentMemoryContext;

	bi_as_reader_begin(&as_owner, job);
	rc = SPI_execute_with_args(psprintf("EXPLAIN (FORMAT JSON) %s",
										bi_reader_query(job, reader, "", "")),
							   2, argtypes, args, NULL, false, 0);
	bi_as_role_end(&as_owner);
	MemoryContextSwitchTo(caller_context);
	if (rc != SPI_OK_UTILITY || SPI_processed != 1)
		elog(ERROR, "EXPLAIN returned %s", SPI_result_code_string(rc));
	plan = bi_get_text(0, 1);
	rows = strstr(plan, "\"Plan Rows\": ");
	if (rows == NULL)
		elog(ERROR, "EXPLAIN returned no row estimate");
	return (int64) strtod(rows + strlen("\"Plan Rows\": "), NULL);
}

/*
 * bi_after_frontier
 *		The range of keys after the job's frontier up to its window's end
 *		(or the newest key); false if empty.  A job cut by key range alone
 *		starts at its sequence's first key and ends at its last drawn: the
 *		table is not read.
 */
bool
bi_after_frontier(BiJob *job, int64 *first, int64 *last)
{
	*first = bi_next_start(job);
	if (*first == PG_INT64_MIN && job->has_max_keys)
		*first = bi_sequence_first_key(job);
	if (job->has_frontier && job->frontier == PG_INT64_MAX)
		return false;
	if (job->has_upper_bound)
		*last = job->upper_bound;
	else if (!bi_newest_key(job, last))
		return false;
	return *first <= *last;
}

/* Where the job's next new batch starts: PG_INT64_MIN means "the oldest key" */
int64
bi_next_start(BiJob *job)
{
	if (job->has_frontier)
		return job->frontier + 1;
	if (job->has_lower_bound)
		return job->lower_bound;
	return PG_INT64_MIN;
}

/*
 * bi_limits_for
 *		The limits for one call: args[0] (max_count) and args[1] (max_weight)
 *		override the job's when not NULL.
 */
BiLimits
bi_limits_for(BiJob *job, Datum *args, bool *argnulls)
{
	BiLimits	limits;

	if (job->has_max_keys && (!argnulls[0] || !argnulls[1]))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("job \"%s\" is cut by key range alone: it takes no max_count or max_weight",
						job->name),
				 errdetail("Its batches hold at most " INT64_FORMAT " key values (max_keys); its table is not read to count them.",
						   job->max_keys)));
	limits.has_max_count = job->has_max_count || !argnulls[0];
	limits.max_count = argnulls[0] ? job->max_count : DatumGetInt64(args[0]);
	limits.has_max_weight = job->has_max_weight || !argnulls[1];
	limits.max_weight = argnulls[1] ? job->max_weight : args[1];

	if (limits.has_max_count)
		bi_check_max_count(limits.max_count);
	if (limits.has_max_weight)
		bi_check_max_weight(limits.max_weight);
	if (limits.has_max_weight && job->weight_column == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_weight needs a weight column"),
				 errdetail("Job \"%s\" has no weight column.", job->name),
				 errhint("Set one with batchintory_alter(%s, weight_column => ...).",
						 quote_literal_cstr(job->name))));
	return limits;
}
