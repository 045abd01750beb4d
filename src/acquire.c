/*
 * acquire.c
 *	  Handing out work: batchintory_acquire (retries first, then new batches
 *	  cut after the frontier) and batchintory_peek (the same, nothing taken).
 */
#include "postgres.h"

#include "batchintory.h"
#include "inventory/inventory.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/int.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"

PG_FUNCTION_INFO_V1(batchintory_acquire);
PG_FUNCTION_INFO_V1(batchintory_peek);
PG_FUNCTION_INFO_V1(batchintory_acquire_excluding);

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
	R_FIRST_KEY,
	R_LAST_KEY,
	N_RESULT
};

/* What one call of acquire or peek works with */
typedef struct Acquisition
{
	ReturnSetInfo *rsinfo;
	BiJob	   *job;
	bool		take;			/* acquire (true) or peek */
	int32		batches;		/* batches wanted */
	BiLimits	limits;
	BiAttemptBy by;				/* acquire: who takes the batches */
	BiCuts	   *cuts;			/* acquire: what it cut, counted at its end */
	TimestampTz now;			/* when the job's state was read */
	Datum	   *excluded;		/* batches not to hand out again (int8) */
	int			nexcluded;
	int64		halted_by;		/* a batch failed for good that stops the job */
	bool		has_retry;		/* a retry candidate in retry */
	BiRetry		retry;
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
	BiKeyKind	key_kind = bi_job_reader(acq->job)->key_kind;

	values[R_BATCH] = Int64GetDatum(batch);
	values[R_ATTEMPT] = Int32GetDatum(attempt);
	nulls[R_BATCH] = nulls[R_ATTEMPT] = !has_batch;
	values[R_JOB] = CStringGetTextDatum(acq->job->name);
	values[R_FIRST_ID] = Int64GetDatum(range->first_id);
	values[R_LAST_ID] = Int64GetDatum(range->last_id);
	values[R_ASSET_COUNT] = Int64GetDatum(range->asset_count);
	nulls[R_ASSET_COUNT] = !range->counted;
	values[R_WEIGHT] = range->weight;
	nulls[R_WEIGHT] = !range->has_weight;
	values[R_ENDED_BY] = CStringGetTextDatum(range->ended_by);
	values[R_LEASE_UNTIL] = lease_until;
	nulls[R_LEASE_UNTIL] = !has_lease;
	values[R_CONFIG] = acq->job->config;
	values[R_FIRST_KEY] = CStringGetTextDatum(bi_key_text(key_kind, range->first_id));
	values[R_LAST_KEY] = CStringGetTextDatum(bi_key_text(key_kind, range->last_id));
	tuplestore_putvalues(acq->rsinfo->setResult, acq->rsinfo->setDesc,
						 values, nulls);
	acq->handed++;
}

/*
 * Hand out (or, for peek, show) the retry candidate acq->retry: its range
 * counted again, as a new attempt.
 */
static void
serve_retry(Acquisition *acq)
{
	BiRetry    *retry = &acq->retry;
	BiLimits	no_limits = {0};
	BiRange		range = {0};	/* cut by keys alone: nothing counted */
	Datum		seen = bi_records_cuts(acq->job) && acq->take ? bi_cut_snapshot() : (Datum) 0;

	if (!acq->job->has_max_keys &&
		!bi_scan_range(acq->job, retry->first_id, retry->last_id, false,
					   &no_limits, false, &range))
		range.asset_count = 0;	/* its assets were deleted: an empty batch */
	range.first_id = retry->first_id;
	range.last_id = retry->last_id;
	range.ended_by = retry->ended_by;
	range.has_cut_snapshot = seen != (Datum) 0;
	range.cut_snapshot = seen;
	acq->last_retry = retry->first_id;

	if (!acq->take)
		emit_batch(acq, true, retry->batch_id, retry->attempt + 1, &range,
				   false, (Datum) 0);
	else
	{
		TimestampTz lease_until = bi_inventory_hand_out_again(acq->job, acq->cuts,
															  retry, &range, &acq->by);

		emit_batch(acq, true, retry->batch_id, retry->attempt + 1, &range,
				   true, TimestampTzGetDatum(lease_until));
	}
}

/* Whether the caller excluded batch (batchintory_run: it failed in this run) */
static bool
is_excluded(Acquisition *acq, int64 batch)
{
	int			i;

	for (i = 0; i < acq->nexcluded; i++)
		if (DatumGetInt64(acq->excluded[i]) == batch)
			return true;
	return false;
}

/*
 * The oldest batch due for a retry at now (after key after, with
 * has_after) that the caller did not exclude, into acq->retry; false if
 * none
 */
static bool
find_retry(Acquisition *acq, TimestampTz now, bool has_after, int64 after)
{
	while (bi_inventory_next_retry(acq->job, now, acq->take, has_after, after,
								   &acq->retry))
	{
		if (!is_excluded(acq, acq->retry.batch_id))
			return true;
		has_after = true;
		after = acq->retry.first_id;
	}
	return false;
}

/*
 * Hand out the next retry candidate after the one served last (so that a
 * batch whose short lease ran out during this call is not handed out twice
 * by it); false if none
 */
static bool
next_retry(Acquisition *acq)
{
	if (!find_retry(acq, GetCurrentTimestamp(), true, acq->last_retry))
		return false;
	serve_retry(acq);
	return true;
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

	return bi_inventory_job_state(acq->job->job_id, GetCurrentTimestamp(), false,
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
 * Cut a batch of a job cut by key range alone: the keys from start (its
 * sequence's first when start is PG_INT64_MIN), at most max_keys of them,
 * up to limit, without reading the table; false if start is past limit.
 */
static bool
cut_key_range(BiJob *job, int64 start, int64 limit, bool limit_is_window_end,
			  BiRange *range)
{
	int64		last;
	bool		by_keys;

	if (start == PG_INT64_MIN)
		start = bi_sequence_first_key(job);
	if (start > limit)
		return false;
	by_keys = !pg_add_s64_overflow(start, job->max_keys - 1, &last) && last <= limit;
	if (!by_keys)
		last = limit;
	memset(range, 0, sizeof(BiRange));	/* not counted, no weight */
	range->first_id = range->first_key = start;
	range->last_id = range->last_key = last;
	if (last == limit && limit_is_window_end)
		range->ended_by = "window";
	else
		range->ended_by = by_keys ? "max_keys" : "no_more_assets";
	return true;
}

/*
 * Cut a batch of a job with calendar windows: from start up to the end of
 * the window of its first matching asset (of start's window with
 * empty_windows), within the job's limits; false if there is none, or if
 * that window is not complete (ends after limit).  After windows without
 * assets the batch starts where the last one ended, so that the ranges stay
 * gapless; the first batch of a job without lower bound starts where its
 * window does.
 */
static bool
cut_window(Acquisition *acq, int64 start, int64 limit, BiRange *range)
{
	BiJob	   *job = acq->job;
	BiKeyKind	kind = bi_job_reader(job)->key_kind;
	int64		key = start;
	int64		first;
	int64		last;

	if (start > limit)
		return false;
	if ((start == PG_INT64_MIN || !job->empty_windows) &&
		!bi_first_key(job, start, limit, &key))
		return false;
	bi_window_of(&job->window, kind, key, &first, &last);
	if (last > limit)
		return false;
	if (start == PG_INT64_MIN)
		start = first;
	if (bi_scan_range(job, start, last, true, &acq->limits, false, range))
		return true;
	/* an empty window, handed out as asked */
	memset(range, 0, sizeof(BiRange));
	range->counted = true;
	range->has_weight = job->weight_column != NULL;
	range->weight = bi_numeric_from_int64(0);
	range->first_id = range->first_key = start;
	range->last_id = range->last_key = last;
	range->ended_by = "window";
	return true;
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
	int64		limit;
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
	/* calendar windows: up to the newest complete one, whatever the newest key */
	limit = acq->limit;
	if (job->has_window)
	{
		limit = bi_window_complete_limit(&job->window, bi_job_reader(job)->key_kind,
										 acq->now);
		if (job->has_upper_bound && job->upper_bound < limit)
			limit = job->upper_bound;
	}
	window_end = job->has_upper_bound && limit == job->upper_bound;

	while (found < wanted)
	{
		Datum		seen = bi_records_cuts(job) && acq->take ? bi_cut_snapshot() : (Datum) 0;

		if (!(job->has_max_keys ?
			  cut_key_range(job, start, limit, window_end, &range) :
			  job->has_window ? cut_window(acq, start, limit, &range) :
			  bi_scan_range(job, start, limit, window_end, &acq->limits,
							false, &range)))
		{
			if (acq->take && window_end && start <= limit &&
				!(job->has_window && job->empty_windows))
			{
				bi_inventory_set_frontier(acq->cuts, limit);
				job->frontier = limit;
				job->has_frontier = true;
			}
			else if (acq->take && acq->handed == 0)
				bi_guard_no_new_work(job, limit, true);
			break;
		}
		range.has_cut_snapshot = seen != (Datum) 0;
		range.cut_snapshot = seen;
		if (acq->take)
		{
			TimestampTz lease_until;
			int64		batch = bi_inventory_hand_out(job, acq->cuts, &range, &acq->by,
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
 * late => 'reprocess', when there is no other work: the succeeded batches of
 * the job's late_horizon before its frontier that rows came into after
 * their cut go back in line; true if one of them is then the retry to
 * serve (acq->retry)
 */
static bool
reprocess_late(Acquisition *acq)
{
	BiJob	   *job = acq->job;
	int64		horizon = bi_interval_usecs(job->late_horizon);
	int64		since;

	if (!job->reprocess_late || !job->has_frontier)
		return false;
	if (bi_job_reader(job)->key_kind == KEY_DATE)
		horizon = (horizon + USECS_PER_DAY - 1) / USECS_PER_DAY;
	if (pg_sub_s64_overflow(job->frontier, horizon, &since))
		since = PG_INT64_MIN;
	if (bi_late_requeue(job, since) == 0)
		return false;
	acq->now = GetCurrentTimestamp();
	return find_retry(acq, acq->now, false, 0);
}

/*
 * Read the job's state (under its lock with take).  Returns false if the
 * job's row no longer is the cached job's (dropped, renamed, changed): the
 * caller loads it again.  When a batch may be due for a retry, acquire
 * first gives up on the batches whose lease ran out on their last attempt,
 * then the oldest retry candidate, if any, goes to acq->retry (has_retry).
 */
static bool
read_job_state(Acquisition *acq)
{
	BiJobState	state;
	bool		may_retry;

	acq->has_retry = false;
	acq->now = GetCurrentTimestamp();
	if (!bi_inventory_job_state(acq->job->job_id, acq->now, acq->job->halt_on_failure,
								&state, &may_retry) ||
		!bi_job_apply_row(acq->job, state.revision, state.name, state.owner))
		return false;
	acq->job->frontier = state.frontier;
	acq->job->has_frontier = state.has_frontier;
	acq->halted_by = state.halted_by;
	if (acq->halted_by == 0 && may_retry)
	{
		if (acq->take)
			bi_inventory_give_up_exhausted(acq->job, acq->now);
		acq->has_retry = find_retry(acq, acq->now, false, 0);
	}
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
		if (acq->take && !acq->job->paused && !window_done(acq->job))
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

/*
 * A job whose on_failure is 'halt' has a batch failed for good: say which,
 * why, and how to go on, as a warning (acquire and peek hand out nothing)
 * or an error (level)
 */
static void
report_halted(BiJob *job, int64 batch, int level)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(batch)};
	bool		isnull;
	int64		first_id = 0;
	int64		last_id = 0;
	char	   *message = NULL;

	if (bi_exec("SELECT b.first_id, b.last_id, a.message FROM batchintory.batch b"
				" LEFT JOIN batchintory.attempt a ON a.batch_id OPERATOR(pg_catalog.=) b.batch_id"
				"  AND a.attempt OPERATOR(pg_catalog.=) b.attempt"
				" WHERE b.batch_id OPERATOR(pg_catalog.=) $1",
				1, argtypes, args, NULL, SPI_OK_SELECT) > 0)
	{
		first_id = bi_get_int64(0, 1, &isnull);
		last_id = bi_get_int64(0, 2, &isnull);
		message = bi_get_text(0, 3);
	}
	ereport(level,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("job \"%s\" is halted: batch " INT64_FORMAT " (keys " INT64_FORMAT
					" to " INT64_FORMAT ") failed for good", job->name, batch,
					first_id, last_id),
			 message ? errdetail("Its last attempt ended with: %s", message) :
			 errdetail("Its last attempt left no message."),
			 errhint("Fix the cause, then go on with batchintory_requeue(" INT64_FORMAT
					 ") to try it again, batchintory_skip(" INT64_FORMAT
					 ") to leave it out, or batchintory_rewind(%s, " INT64_FORMAT ").",
					 batch, batch, quote_literal_cstr(job->name), first_id)));
}

/*
 * Common part of acquire and peek: hand out (take) or show up to batches
 * batches, none of those in excluded (an int8[]; NULL: none)
 */
static void
acquire_or_peek(FunctionCallInfo fcinfo, bool take, int32 batches,
				ArrayType *excluded)
{
	const char *name = bi_text_arg(fcinfo, 0, "job name");
	Datum		limit_args[2] = {PG_GETARG_DATUM(1), PG_GETARG_DATUM(2)};
	bool		limit_nulls[2] = {PG_ARGISNULL(1), PG_ARGISNULL(2)};
	Acquisition acq = {0};
	BiCall		call;

	acq.rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	acq.take = take;
	acq.batches = batches;
	if (excluded != NULL)
		deconstruct_array(excluded, INT8OID, sizeof(int64), true, TYPALIGN_DOUBLE,
						  &acq.excluded, NULL, &acq.nexcluded);
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
	if (take)
		acq.cuts = bi_inventory_cuts_begin(acq.job->job_id);

	/*
	 * a paused job hands out nothing; nor does a job halted by a batch
	 * failed for good: a warning, for batchintory_run (which excludes
	 * batches) an error -- unless the batch failed in that very run, which
	 * reports its failure itself
	 */
	if (acq.job->paused)
		ereport(NOTICE,
				(errmsg("job \"%s\" is paused", name),
				 errhint("batchintory_resume('%s') resumes it.", name)));
	else if (acq.halted_by != 0)
	{
		if (!is_excluded(&acq, acq.halted_by))
			report_halted(acq.job, acq.halted_by, excluded != NULL ? ERROR : WARNING);
	}
	else
	{
		/* retries first: the one read with the job's state, then the next ones */
		if (acq.has_retry)
		{
			serve_retry(&acq);
			while (take && acq.handed < batches && next_retry(&acq))
				;
		}
		if (acq.handed < batches)
			serve_new_batches(&acq, batches - acq.handed);
		if (take && acq.handed == 0 && reprocess_late(&acq))
		{
			serve_retry(&acq);
			while (acq.handed < batches && next_retry(&acq))
				;
		}
	}

	if (take)
		bi_inventory_cuts_end(acq.cuts);
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
	acquire_or_peek(fcinfo, true, batches, NULL);
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
	acquire_or_peek(fcinfo, false, 1, NULL);
	return (Datum) 0;
}

/*
 * batchintory.acquire_excluding(job text, max_count bigint, max_weight
 *		numeric, worker text, excluded bigint[])
 *		batchintory_acquire of one batch that is not one of excluded: for
 *		batchintory_run, which does not take a batch that failed in the same
 *		run again (one transient error costs one attempt, not all of them).
 *		A halted job is an error here, not a warning: each scheduled run of
 *		it fails until the job is resumed.
 */
Datum
batchintory_acquire_excluding(PG_FUNCTION_ARGS)
{
	if (IsolationUsesXactSnapshot())
		elog(ERROR, "batchintory.acquire_excluding needs READ COMMITTED");
	acquire_or_peek(fcinfo, true, 1, PG_ARGISNULL(4) ? NULL : PG_GETARG_ARRAYTYPE_P(4));
	return (Datum) 0;
}
