/*
 * late.c
 *	  Rows that commit into a batch after it was cut: the snapshot a cut
 *	  records, and the count of the rows of a batch it did not see.
 */
#include "postgres.h"

#include "batchintory.h"
#include "inventory/inventory.h"

#include "access/transam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/snapmgr.h"
#include "utils/xid8.h"

PG_FUNCTION_INFO_V1(batchintory_xid8_of);

/*
 * A 32-bit xid as a full one, next being the next full xid: from this epoch
 * if not above next's xid, else from the one before.  Exact for the xids of
 * the last 2^32 transactions; a special xid (frozen, bootstrap) stays below
 * every normal one, visible to every snapshot.
 */
static FullTransactionId
widen(TransactionId xid, FullTransactionId next)
{
	uint32		epoch = EpochFromFullTransactionId(next);

	if (!TransactionIdIsNormal(xid))
		return FullTransactionIdFromU64((uint64) xid);
	if (xid > XidFromFullTransactionId(next) && epoch > 0)
		epoch--;
	return FullTransactionIdFromEpochAndXid(epoch, xid);
}

/*
 * batchintory.xid8_of(xid) RETURNS xid8
 *		A row's xmin as a full xid, for pg_visible_in_snapshot(): the next
 *		xid is read once per query (rows its snapshot sees are older).
 */
Datum
batchintory_xid8_of(PG_FUNCTION_ARGS)
{
	FullTransactionId *next = fcinfo->flinfo->fn_extra;

	if (next == NULL)
	{
		next = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, sizeof(FullTransactionId));
		*next = ReadNextFullTransactionId();
		fcinfo->flinfo->fn_extra = next;
	}
	PG_RETURN_FULLTRANSACTIONID(widen(DatumGetTransactionId(PG_GETARG_DATUM(0)), *next));
}

static int
compare_u64(const void *a, const void *b)
{
	uint64		x = *(const uint64 *) a;
	uint64		y = *(const uint64 *) b;

	return x < y ? -1 : x > y;
}

/* xids between a snapshot's xmax and the acquiring transaction's, at most */
#define MAX_OWN_GAP 100000

/*
 * bi_cut_snapshot
 *		What a cut about to scan sees, as a pg_snapshot: taken just before
 *		the scan (READ COMMITTED: a fresh snapshot; the scan's own comes
 *		right after, so it sees no less).  A row the recorded snapshot does
 *		not see committed after it, or while it was taken: late, or in the
 *		worst case counted as late though the scan saw it -- never the other
 *		way round.  The in-progress xids include the subtransactions' (a row
 *		inserted in a savepoint carries the subtransaction's xid, which the
 *		top-level list alone would call visible); when a backend's list of
 *		them overflowed, every xid from the snapshot's xmin on counts as not
 *		seen.
 */
Datum
bi_cut_snapshot(void)
{
	Snapshot	snapshot = GetTransactionSnapshot();
	FullTransactionId next = ReadNextFullTransactionId();
	uint64		xmin = U64FromFullTransactionId(widen(snapshot->xmin, next));
	uint64		xmax = U64FromFullTransactionId(widen(snapshot->xmax, next));
	uint64	   *running = NULL;
	int			nrunning = 0;
	StringInfoData text;
	int			i;
	uint64		top = TransactionIdIsValid(GetTopTransactionIdIfAny()) ?
		U64FromFullTransactionId(widen(GetTopTransactionIdIfAny(), next)) : 0;
	uint64		current = TransactionIdIsValid(GetCurrentTransactionIdIfAny()) ?
		U64FromFullTransactionId(widen(GetCurrentTransactionIdIfAny(), next)) : 0;
	uint64		own = Max(top, current);
	uint64		xid;

	/*
	 * The scan sees the rows of its own transaction, whose xids lie at or
	 * above xmax: xmax goes past them, and every other xid in between (none
	 * had ended when the snapshot was taken) is listed as running.  Rows of
	 * the transaction's released savepoints still count as not seen.
	 */
	if (snapshot->suboverflowed)
		xmax = xmin;
	else
	{
		if (own < xmax || own - xmax > MAX_OWN_GAP)
			own = 0;
		running = palloc(sizeof(uint64) * (snapshot->xcnt + snapshot->subxcnt + 1 +
										   (own > 0 ? own - xmax : 0)));
		for (xid = xmax; own > 0 && xid < own; xid++)
			if (xid != top)
				running[nrunning++] = xid;
		if (own > 0)
			xmax = own + 1;
		for (i = 0; i < (int) snapshot->xcnt; i++)
			running[nrunning++] = U64FromFullTransactionId(widen(snapshot->xip[i], next));
		for (i = 0; i < snapshot->subxcnt; i++)
		{
			uint64		sub = U64FromFullTransactionId(widen(snapshot->subxip[i], next));

			/* above xmax, it is not seen anyway */
			if (sub >= xmin && sub < xmax)
				running[nrunning++] = sub;
		}
		qsort(running, nrunning, sizeof(uint64), compare_u64);
	}

	initStringInfo(&text);
	appendStringInfo(&text, UINT64_FORMAT ":" UINT64_FORMAT ":", xmin, xmax);
	for (i = 0; i < nrunning; i++)
		if (i == 0 || running[i] != running[i - 1])
			appendStringInfo(&text, "%s" UINT64_FORMAT, i > 0 ? "," : "", running[i]);
	return DirectFunctionCall1(pg_snapshot_in, CStringGetDatum(text.data));
}

/*
 * bi_late_rows
 *		The matching assets of job in [first, last] that the snapshot (a
 *		batch's cut_snapshot) did not see, read as the job's owner: rows
 *		inserted, or updated into the range, after the cut.  O(rows of the
 *		range), through the key's index.
 */
int64
bi_late_rows(BiJob *job, int64 first, int64 last, Datum snapshot)
{
	BiReader   *reader = bi_job_reader(job);
	Oid			argtypes[3] = {INT8OID, INT8OID, PG_SNAPSHOTOID};
	Datum		args[3] = {Int64GetDatum(first), Int64GetDatum(last), snapshot};
	SPIPlanPtr	plan;
	BiAsRole	as_owner;
	bool		isnull;
	int64		late = 0;

	bi_as_reader_begin(&as_owner, job);
	plan = SPI_prepare(bi_reader_query(job, reader, "pg_catalog.count(*)",
									   "AND NOT pg_catalog.pg_visible_in_snapshot("
									   "batchintory.xid8_of(xmin), $3)"),
					   3, argtypes);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	if (bi_exec_plan(plan, args, NULL, SPI_OK_SELECT) > 0)
		late = bi_get_int64(0, 1, &isnull);
	SPI_freeplan(plan);
	bi_as_role_end(&as_owner);
	return late;
}

/*
 * bi_records_cuts
 *		Whether the cuts of job record what they saw: a job without the
 *		late-commit guard (a time key, or an integer key with the guard
 *		off), whose rows may commit into a range after it was cut
 */
bool
bi_records_cuts(BiJob *job)
{
	return !job->late_commit_guard && !job->has_max_keys;
}

/*
 * bi_late_requeue
 *		late => 'reprocess': put back in line the succeeded batches of job
 *		with keys from `since` on (the job's late_horizon before its
 *		frontier) that rows came into after their cut; returns how many.
 *		O(rows of those batches).  The caller holds the job's lock.
 */
int
bi_late_requeue(BiJob *job, int64 since)
{
	Oid			argtypes[2] = {INT4OID, INT8OID};
	Datum		args[2] = {Int32GetDatum(job->job_id), Int64GetDatum(since)};
	SPITupleTable *batches;
	uint64		count;
	uint64		row;
	int			requeued = 0;

	count = bi_exec("SELECT batch_id, first_id, last_id, cut_snapshot FROM batchintory.batch"
					" WHERE job_id OPERATOR(pg_catalog.=) $1"
					" AND first_id OPERATOR(pg_catalog.>=) $2"
					" AND status OPERATOR(pg_catalog.=) 'succeeded'"
					" AND cut_snapshot IS NOT NULL ORDER BY first_id",
					2, argtypes, args, NULL, SPI_OK_SELECT);
	batches = SPI_tuptable;
	for (row = 0; row < count; row++)
	{
		HeapTuple	tuple = batches->vals[row];
		bool		isnull;
		int64		batch = DatumGetInt64(SPI_getbinval(tuple, batches->tupdesc, 1, &isnull));
		int64		first = DatumGetInt64(SPI_getbinval(tuple, batches->tupdesc, 2, &isnull));
		int64		last = DatumGetInt64(SPI_getbinval(tuple, batches->tupdesc, 3, &isnull));
		Datum		snapshot = SPI_getbinval(tuple, batches->tupdesc, 4, &isnull);

		if (bi_late_rows(job, first, last, snapshot) > 0 && bi_inventory_requeue(batch))
			requeued++;
	}
	return requeued;
}
