/*
 * verify.c
 *	  The audit of finished work: batchintory_verify recounts every succeeded
 *	  range of a job and reports (and may re-queue) those whose assets changed.
 */
#include "postgres.h"

#include "batchintory.h"

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
	N_VERIFY
};

/*
 * Recount row `row` of the fetched batches (batch_id, first_id, last_id,
 * asset_count, weight) and emit it if its assets changed.  A recorded weight
 * of NULL (no weight column when the batch was taken) is not compared.
 */
static void
verify_batch(ReturnSetInfo *rsinfo, BatchintoryJob *job, SPITupleTable *batches,
			 uint64 row, bool requeue)
{
	HeapTuple	tuple = batches->vals[row];
	TupleDesc	desc = batches->tupdesc;
	Datum		values[N_VERIFY];
	bool		nulls[N_VERIFY] = {0};
	BatchRange	actual;
	bool		changed;

	values[V_BATCH] = SPI_getbinval(tuple, desc, 1, &nulls[V_BATCH]);
	values[V_FIRST_ID] = SPI_getbinval(tuple, desc, 2, &nulls[V_FIRST_ID]);
	values[V_LAST_ID] = SPI_getbinval(tuple, desc, 3, &nulls[V_LAST_ID]);
	values[V_RECORDED_COUNT] = SPI_getbinval(tuple, desc, 4,
											 &nulls[V_RECORDED_COUNT]);
	values[V_RECORDED_WEIGHT] = SPI_getbinval(tuple, desc, 5,
											  &nulls[V_RECORDED_WEIGHT]);

	range_stats(job, DatumGetInt64(values[V_FIRST_ID]),
				DatumGetInt64(values[V_LAST_ID]), &actual, NULL);
	SPI_freetuptable(SPI_tuptable);

	values[V_ACTUAL_COUNT] = Int64GetDatum(actual.asset_count);
	values[V_ACTUAL_WEIGHT] = actual.weight;
	nulls[V_ACTUAL_WEIGHT] = !actual.has_weight;

	changed = actual.asset_count != DatumGetInt64(values[V_RECORDED_COUNT]);
	if (!nulls[V_RECORDED_WEIGHT] && actual.has_weight &&
		bi_numeric_cmp(values[V_RECORDED_WEIGHT], actual.weight) != 0)
		changed = true;
	if (!changed)
		return;

	values[V_REQUEUED] = BoolGetDatum(requeue &&
									  batch_requeue(DatumGetInt64(values[V_BATCH])));
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * batchintory_verify(job text, requeue boolean DEFAULT false)
 *	  RETURNS TABLE (batch bigint, first_id bigint, last_id bigint,
 *					 recorded_count bigint, actual_count bigint,
 *					 recorded_weight numeric, actual_weight numeric,
 *					 requeued boolean)
 *		Count the matching assets of every succeeded batch of a job again,
 *		with the job's current filter, and report, in key order, the batches
 *		whose count or weight differs from what was recorded when their last
 *		attempt was acquired: rows were inserted late, deleted or changed
 *		since.  With requeue, such batches are put back in line as
 *		batchintory_requeue does.  Zero rows: every finished range still
 *		matches.  Takes no job lock; with requeue, locks the rows of the
 *		batches it re-queues.  A NULL requeue counts as false.
 */
Datum
batchintory_verify(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bool		requeue = !PG_ARGISNULL(1) && PG_GETARG_BOOL(1);
	BatchintoryJob *job;
	Oid			argtypes[1] = {INT4OID};
	Datum		args[1];
	Portal		portal;
	MemoryContext rowcontext;
	MemoryContext oldcontext;


	bi_materialize(fcinfo);
	SPI_connect();
	job = job_from_arg(fcinfo, false);

	args[0] = Int32GetDatum(job->job_id);
	portal = SPI_cursor_open(NULL,
							 bi_plan("SELECT batch_id, first_id, last_id, asset_count, weight"
									 " FROM batchintory.batch"
									 " WHERE job_id OPERATOR(pg_catalog.=) $1"
									 " AND status = 'succeeded' ORDER BY first_id",
									 1, argtypes),
							 args, NULL, false);
	rowcontext = AllocSetContextCreate(CurrentMemoryContext,
									   "batchintory verify row",
									   ALLOCSET_DEFAULT_SIZES);
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
			oldcontext = MemoryContextSwitchTo(rowcontext);
			verify_batch(rsinfo, job, batches, row, requeue);
			MemoryContextSwitchTo(oldcontext);
			MemoryContextReset(rowcontext);
		}
		SPI_freetuptable(batches);
	}
	SPI_cursor_close(portal);
	SPI_finish();
	return (Datum) 0;
}
