/*
 * inventory.c
 *	  The inventory rows every hand-out reads, probed through their indexes
 *	  directly: no plan to revalidate, no executor to start.
 */
#include "postgres.h"

#include "batchintory.h"

#include "access/genam.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

/* A relation of the schema batchintory (table or index), by name */
static Oid
inventory_relation(const char *name)
{
	Oid			relid = get_relname_relid(name, get_namespace_oid("batchintory", false));

	if (!OidIsValid(relid))
		elog(ERROR, "relation batchintory.%s does not exist", name);
	return relid;
}

/* The number of column name of rel */
static AttrNumber
column_number(Relation rel, const char *name)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(desc, i);

		if (!attr->attisdropped && strcmp(NameStr(attr->attname), name) == 0)
			return attr->attnum;
	}
	elog(ERROR, "column %s of relation %s does not exist", name,
		 RelationGetRelationName(rel));
	return InvalidAttrNumber;	/* keep compiler quiet */
}

/* A scan of table rel through its index index (by name), under snapshot */
typedef struct IndexProbe
{
	Relation	index;
	IndexScanDesc scan;
	TupleTableSlot *slot;		/* the current row, once probe_next said so */
} IndexProbe;

/*
 * Start a probe of index (a btree of rel): nkeys conditions on its leading
 * columns (sk_attno: the index's column numbers).
 */
static void
probe_begin(IndexProbe *probe, Relation rel, const char *index,
			Snapshot snapshot, ScanKey keys, int nkeys)
{
	probe->index = index_open(inventory_relation(index), AccessShareLock);
	probe->scan = index_beginscan(rel, probe->index, snapshot, nkeys, 0);
	index_rescan(probe->scan, keys, nkeys, NULL, 0);
	probe->slot = table_slot_create(rel, NULL);
}

/* Next row of the probe, in index order; false at the end */
static bool
probe_next(IndexProbe *probe)
{
	CHECK_FOR_INTERRUPTS();
	return index_getnext_slot(probe->scan, ForwardScanDirection, probe->slot);
}

static void
probe_end(IndexProbe *probe)
{
	ExecDropSingleTupleTableSlot(probe->slot);
	index_endscan(probe->scan);
	index_close(probe->index, NoLock);
}

/* Condition number attno (of an index) = job_id */
static void
key_job(ScanKey key, int32 job_id)
{
	ScanKeyInit(key, 1, BTEqualStrategyNumber, F_INT4EQ, Int32GetDatum(job_id));
}

/*
 * May a batch of the job be handed out again at now: is there a batch in
 * processing whose lease ran out (batch_job_leased) or a failed batch whose
 * retry is due (batch_job_retry, checked row by row as job_state_locked
 * does)?  Batches that a transaction still in progress changed count as
 * they were: a false "yes" only sends acquire down its slower path.
 */
static bool
job_may_retry(Relation batch, Snapshot snapshot, int32 job_id, TimestampTz now)
{
	ScanKeyData keys[2];
	IndexProbe	probe;
	AttrNumber	retry_after = column_number(batch, "retry_after");
	bool		found;

	key_job(&keys[0], job_id);
	ScanKeyInit(&keys[1], 2, BTLessStrategyNumber, F_TIMESTAMPTZ_LT,
				TimestampTzGetDatum(now));
	probe_begin(&probe, batch, "batch_job_leased", snapshot, keys, 2);
	found = probe_next(&probe);
	probe_end(&probe);
	if (found)
		return true;

	probe_begin(&probe, batch, "batch_job_retry", snapshot, keys, 1);
	while (!found && probe_next(&probe))
	{
		bool		isnull;
		Datum		due = slot_getattr(probe.slot, retry_after, &isnull);

		found = isnull || DatumGetTimestampTz(due) <= now;
	}
	probe_end(&probe);
	return found;
}

/*
 * bi_inventory_job_state
 *		The job's row as a statement starting now would see it (revision,
 *		name, owner and frontier into *state); false if it is gone.
 *		*may_retry says whether a batch of the job may be due for another
 *		attempt at now (see job_may_retry): then the caller reads the
 *		batches with SQL.
 */
bool
bi_inventory_job_state(int32 job_id, TimestampTz now, BiJobState *state,
					   bool *may_retry)
{
	Relation	job = table_open(bi_inventory_relid(), AccessShareLock);
	Relation	batch = table_open(inventory_relation("batch"), AccessShareLock);
	Snapshot	snapshot;
	ScanKeyData key;
	IndexProbe	probe;
	bool		found;

	/* what a new SPI statement would see: our own changes too */
	CommandCounterIncrement();
	snapshot = RegisterSnapshot(GetTransactionSnapshot());

	key_job(&key, job_id);
	probe_begin(&probe, job, "job_pkey", snapshot, &key, 1);
	found = probe_next(&probe);
	if (found)
	{
		bool		isnull;
		Datum		frontier;

		state->revision = DatumGetInt64(slot_getattr(probe.slot,
													 column_number(job, "revision"),
													 &isnull));
		state->name = TextDatumGetCString(slot_getattr(probe.slot,
													   column_number(job, "name"),
													   &isnull));
		state->owner = DatumGetObjectId(slot_getattr(probe.slot,
													 column_number(job, "owner"),
													 &isnull));
		frontier = slot_getattr(probe.slot, column_number(job, "frontier"),
								&state->has_frontier);
		state->has_frontier = !state->has_frontier;
		state->frontier = state->has_frontier ? DatumGetInt64(frontier) : 0;
		*may_retry = job_may_retry(batch, snapshot, job_id, now);
	}
	probe_end(&probe);

	UnregisterSnapshot(snapshot);
	table_close(batch, NoLock);
	table_close(job, NoLock);
	return found;
}
