/*
 * verify.c
 *	  The audit of finished work: batchintory_verify recounts every succeeded
 *	  range of a job, looks for assets of its window that no batch covers,
 *	  and reports (and may hand out again) what it finds.
 */
#include "postgres.h"

#include "batchintory.h"
#include "inventory/inventory.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"

PG_FUNCTION_INFO_V1(batchintory_verify);

/* succeeded batches fetched at a time from the audit cursor */
#define VERIFY_FETCH_ROWS 100

/* columns of the result of batchintory_verify */
enum
{
	V_BATCH,
	V_FIRST_ID,
	V_LAST_ID,
	V_RECORDED_COUNT,
	V_ACTUAL_COUNT,
	V_RECORDED_WEIGHT,
	V_ACTUAL_WEIGHT,
	V_REQUEUED,
	V_REASON,
	V_LATE_COUNT,
	V_FIRST_KEY,
	V_LAST_KEY,
	N_VERIFY
};

/* One call of batchintory_verify */
typedef struct Audit
{
	ReturnSetInfo *rsinfo;
	BiJob	   *job;
	bool		requeue;
	MemoryContext row_context;	/* reset after every batch */
} Audit;

/* A row of the result, its keys also as their type spells them */
static void
put_row(Audit *audit, Datum *values, bool *nulls)
{
	BiKeyKind	kind = bi_job_reader(audit->job)->key_kind;

	values[V_FIRST_KEY] = CStringGetTextDatum(bi_key_text(kind, DatumGetInt64(values[V_FIRST_ID])));
	values[V_LAST_KEY] = CStringGetTextDatum(bi_key_text(kind, DatumGetInt64(values[V_LAST_ID])));
	nulls[V_FIRST_KEY] = nulls[V_FIRST_ID];
	nulls[V_LAST_KEY] = nulls[V_LAST_ID];
	tuplestore_putvalues(audit->rsinfo->setResult, audit->rsinfo->setDesc,
						 values, nulls);
}

/*
 * Recount the batch (batch_id, first_id, last_id, asset_count, weight, hole,
 * cut_snapshot, late_rows) in row `row` of batches: a succeeded one is
 * reported if rows came into it after its cut (late: its cut_snapshot does
 * not see them; their number is kept with the batch, late_rows), or its assets changed or hold a bad weight (a recorded weight of
 * NULL -- no weight column when the batch was taken -- is not compared, nor
 * is a batch cut by keys alone, whose assets were not counted); a hole, a
 * batch failed for good or skipped, always, as not processed.
 */
static void
verify_batch(Audit *audit, SPITupleTable *batches, uint64 row)
{
	HeapTuple	tuple = batches->vals[row];
	TupleDesc	desc = batches->tupdesc;
	BiLimits	no_limits = {0};
	Datum		values[N_VERIFY];
	bool		nulls[N_VERIFY] = {0};
	BiRange		actual;
	bool		changed;
	bool		hole;
	bool		isnull;
	Datum		cut_snapshot;
	int64		late = 0;

	nulls[V_LATE_COUNT] = true;
	values[V_BATCH] = SPI_getbinval(tuple, desc, 1, &nulls[V_BATCH]);
	values[V_FIRST_ID] = SPI_getbinval(tuple, desc, 2, &nulls[V_FIRST_ID]);
	values[V_LAST_ID] = SPI_getbinval(tuple, desc, 3, &nulls[V_LAST_ID]);
	values[V_RECORDED_COUNT] = SPI_getbinval(tuple, desc, 4,
											 &nulls[V_RECORDED_COUNT]);
	values[V_RECORDED_WEIGHT] = SPI_getbinval(tuple, desc, 5,
											  &nulls[V_RECORDED_WEIGHT]);
	hole = DatumGetBool(SPI_getbinval(tuple, desc, 6, &isnull));
	cut_snapshot = SPI_getbinval(tuple, desc, 7, &isnull);
	if (nulls[V_RECORDED_COUNT] && !hole)
		return;
	if (!isnull && !hole)
	{
		late = bi_late_rows(audit->job, DatumGetInt64(values[V_FIRST_ID]),
							DatumGetInt64(values[V_LAST_ID]), cut_snapshot);
		values[V_LATE_COUNT] = Int64GetDatum(late);
		nulls[V_LATE_COUNT] = false;
		/* kept with the batch, for the jobs view */
		if (late != DatumGetInt64(SPI_getbinval(tuple, desc, 8, &isnull)))
			bi_inventory_note_late(DatumGetInt64(values[V_BATCH]), late);
	}

	if (!bi_scan_range(audit->job, DatumGetInt64(values[V_FIRST_ID]),
					   DatumGetInt64(values[V_LAST_ID]), false, &no_limits,
					   true, &actual))
		actual.asset_count = 0;
	values[V_ACTUAL_COUNT] = Int64GetDatum(actual.asset_count);
	values[V_ACTUAL_WEIGHT] = actual.weight;
	nulls[V_ACTUAL_WEIGHT] = !actual.has_weight;

	/* a batch failed for good or skipped: a hole, shown as it is */
	if (hole)
	{
		values[V_REASON] = CStringGetTextDatum("not processed");
		values[V_REQUEUED] = BoolGetDatum(false);
		put_row(audit, values, nulls);
		return;
	}
	changed = actual.asset_count != DatumGetInt64(values[V_RECORDED_COUNT]);
	if (!nulls[V_RECORDED_WEIGHT] && actual.has_weight &&
		bi_numeric_cmp(values[V_RECORDED_WEIGHT], actual.weight) != 0)
		changed = true;
	if (!changed && !actual.has_bad_weight && late == 0)
		return;

	values[V_REASON] = CStringGetTextDatum(actual.has_bad_weight ? "invalid weight" :
										   late > 0 ? "late" : "changed");
	values[V_REQUEUED] = BoolGetDatum(audit->requeue &&
									  bi_inventory_requeue(DatumGetInt64(values[V_BATCH])));
	put_row(audit, values, nulls);
}

/*
 * Under the job's lock: is [first, last] still the range below the first
 * live batch (below) or between the last live batch and the frontier?  A
 * rewind, an acquire or another verify may have covered it meanwhile.
 */
static bool
still_uncovered(BiJob *job, int64 first, int64 last, bool below)
{
	Oid			argtypes[1] = {INT4OID};
	Datum		args[1] = {Int32GetDatum(job->job_id)};
	int64		first_live;
	int64		last_live;
	bool		isnull;
	int64		frontier;

	bi_job_lock(job->job_id);
	if (!bi_job_live_range(job, &first_live, &last_live))
		return false;
	if (below)
		return first_live == last + 1;
	if (bi_exec("SELECT frontier FROM batchintory.job WHERE job_id OPERATOR(pg_catalog.=) $1",
				1, argtypes, args, NULL, SPI_OK_SELECT) == 0)
		bi_job_not_found(job->name);	/* dropped before we had its lock */
	frontier = bi_get_int64(0, 1, &isnull);
	return !isnull && last_live == first - 1 && frontier == last;
}

/*
 * Report the matching assets in [first, last], a range of the job's window
 * that no live batch covers (below the first one if below, else after the
 * last one); with requeue, cover them with a new batch (attempt 0, waiting
 * to be handed out like a retry, right next to its neighbours so that the
 * ranges stay gapless), which starts at first, or at the first asset found
 * when first is unbounded.
 */
static void
verify_uncovered(Audit *audit, int64 first, int64 last, bool below)
{
	BiLimits	no_limits = {0};
	Datum		values[N_VERIFY];
	bool		nulls[N_VERIFY] = {0};
	BiRange		found;

	if (first > last ||
		!bi_scan_range(audit->job, first, last, false, &no_limits, true, &found))
		return;

	values[V_FIRST_ID] = Int64GetDatum(found.first_id);
	values[V_LAST_ID] = Int64GetDatum(last);
	values[V_RECORDED_COUNT] = Int64GetDatum(0);
	values[V_ACTUAL_COUNT] = Int64GetDatum(found.asset_count);
	nulls[V_RECORDED_WEIGHT] = true;
	values[V_ACTUAL_WEIGHT] = found.weight;
	nulls[V_ACTUAL_WEIGHT] = !found.has_weight;
	values[V_REASON] = CStringGetTextDatum("not covered");
	nulls[V_LATE_COUNT] = true;
	values[V_REQUEUED] = BoolGetDatum(audit->requeue &&
									  still_uncovered(audit->job, first, last, below));
	nulls[V_BATCH] = !DatumGetBool(values[V_REQUEUED]);
	if (DatumGetBool(values[V_REQUEUED]))
		values[V_BATCH] = Int64GetDatum(bi_inventory_cover(audit->job->job_id, &found,
														   last));
	put_row(audit, values, nulls);
}

/*
 * batchintory_verify(job text, requeue boolean DEFAULT false)
 *	  RETURNS TABLE (batch bigint, first_id bigint, last_id bigint,
 *					 recorded_count bigint, actual_count bigint,
 *					 recorded_weight numeric, actual_weight numeric,
 *					 requeued boolean, reason text, late_count bigint,
 *					 first_key text, last_key text)
 *		Count the matching assets of every succeeded batch of a job again
 *		(as the job's owner), and report, in key order, the batches rows
 *		came into after their cut ('late', late_count of them: a job
 *		without the guard records what each cut saw), whose count or weight
 *		differs from what was recorded when their last attempt was acquired
 *		('changed': rows were inserted late, deleted or changed since) or
 *		that hold an invalid weight ('invalid weight');
 *		and the matching assets of the job's window that no batch covers
 *		('not covered': keys below its first batch, or in a tail the
 *		frontier skipped).  With requeue, changed batches are put back in
 *		line as batchintory_requeue does, and uncovered assets get a batch
 *		of their own waiting to be handed out (under the job's lock, if the
 *		range is still uncovered then).  Zero rows: every finished range
 *		still matches and nothing is left out.  Takes the job's lock only to
 *		cover a range.
 */
Datum
batchintory_verify(PG_FUNCTION_ARGS)
{
	Audit		audit = {0};
	Oid			argtypes[1] = {INT4OID};
	Datum		args[1];
	Portal		portal;
	MemoryContext oldcontext;
	BiCall		call;
	bool		any_live;
	int64		first_live = 0;
	int64		last_live = 0;

	audit.rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	audit.requeue = !PG_ARGISNULL(1) && PG_GETARG_BOOL(1);
	bi_materialize(fcinfo);
	bi_call_begin(&call);
	audit.job = bi_job_open(&call, bi_text_arg(fcinfo, 0, "job name"), false);
	(void) bi_job_reader(audit.job);
	audit.row_context = AllocSetContextCreate(CurrentMemoryContext,
											  "batchintory verify row",
											  ALLOCSET_DEFAULT_SIZES);

	/*
	 * the ranges of the window no live batch covers are reported in key
	 * order around the succeeded batches: below the first live batch
	 * before them, between the last live batch and the frontier after them
	 */
	any_live = bi_job_live_range(audit.job, &first_live, &last_live);
	if (any_live)
	{
		int64		low = audit.job->has_lower_bound ? audit.job->lower_bound : PG_INT64_MIN;

		if (first_live > low)
			verify_uncovered(&audit, low, first_live - 1, true);
	}

	args[0] = Int32GetDatum(audit.job->job_id);
	portal = SPI_cursor_open(NULL,
							 bi_plan("SELECT batch_id, first_id, last_id, asset_count, weight,"
									 " status OPERATOR(pg_catalog.<>) 'succeeded', cut_snapshot,"
									 " COALESCE(late_rows, 0)"
									 " FROM batchintory.batch"
									 " WHERE job_id OPERATOR(pg_catalog.=) $1"
									 " AND (status OPERATOR(pg_catalog.=) ANY ('{succeeded,skipped}')"
									 "  OR (status OPERATOR(pg_catalog.=) 'failed' AND retry_after IS NULL))"
									 " ORDER BY first_id",
									 1, argtypes),
							 args, NULL, false);
	for (;;)
	{
		SPITupleTable *batches;
		uint64		fetched;
		uint64		row;

		SPI_cursor_fetch(portal, true, VERIFY_FETCH_ROWS);
		batches = SPI_tuptable;
		fetched = SPI_processed;
		if (fetched == 0)
			break;
		for (row = 0; row < fetched; row++)
		{
			CHECK_FOR_INTERRUPTS();
			oldcontext = MemoryContextSwitchTo(audit.row_context);
			verify_batch(&audit, batches, row);
			MemoryContextSwitchTo(oldcontext);
			MemoryContextReset(audit.row_context);
		}
		SPI_freetuptable(batches);
	}
	SPI_cursor_close(portal);

	if (any_live && audit.job->has_frontier && audit.job->frontier > last_live)
		verify_uncovered(&audit, last_live + 1, audit.job->frontier, false);

	bi_call_end(&call);
	return (Datum) 0;
}
