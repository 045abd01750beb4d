/*
 * inventory.c
 *	  The inventory rows every hand-out and release read and write, reached
 *	  through their indexes directly: no plan to revalidate, no executor to
 *	  start (a new batch and its attempt, a release, a lease extended).
 *
 * Rows are written column by column, by name, as an INSERT or UPDATE
 * would write them: a column the code leaves out gets its default (a column
 * added by hand, say), NOT NULL and CHECK constraints are checked.  A table
 * of the inventory with triggers or generated columns (added by hand) is
 * refused: they would not run here.
 */
#include "postgres.h"

#include "batchintory.h"

#include "access/genam.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/xact.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "commands/sequence.h"
#include "common/int.h"
#include "executor/executor.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "rewrite/rewriteHandler.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

/* A relation of the schema batchintory (table or index), by name */
static Oid
inventory_relation(const char *name)
{
	Oid			relid = get_relname_relid(name, get_namespace_oid("batchintory", false));

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("relation \"batchintory.%s\" does not exist", name),
				 errdetail("The inventory of the extension batchintory was changed by hand."),
				 errhint("Put it back as the extension's installation script made it.")));
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
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_COLUMN),
			 errmsg("column \"%s\" of relation \"batchintory.%s\" does not exist",
					name, RelationGetRelationName(rel)),
			 errdetail("The inventory of the extension batchintory was changed by hand."),
			 errhint("Put it back as the extension's installation script made it.")));
	return InvalidAttrNumber;	/* keep compiler quiet */
}

/* Column name of a row in slot, a row of rel */
static Datum
slot_column(TupleTableSlot *slot, Relation rel, const char *name, bool *isnull)
{
	return slot_getattr(slot, column_number(rel, name), isnull);
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

/* The condition job_id = job_id on an index's first column */
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
		Datum		due = slot_column(probe.slot, batch, "retry_after", &isnull);

		found = isnull || DatumGetTimestampTz(due) <= now;
	}
	probe_end(&probe);
	return found;
}

/*
 * A snapshot as a new SPI statement would take it, our own earlier changes
 * included; the caller unregisters it.
 */
static Snapshot
statement_snapshot(void)
{
	CommandCounterIncrement();
	return RegisterSnapshot(GetTransactionSnapshot());
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

	snapshot = statement_snapshot();

	key_job(&key, job_id);
	probe_begin(&probe, job, "job_pkey", snapshot, &key, 1);
	found = probe_next(&probe);
	if (found)
	{
		bool		isnull;

		state->revision = DatumGetInt64(slot_column(probe.slot, job, "revision", &isnull));
		state->name = TextDatumGetCString(slot_column(probe.slot, job, "name", &isnull));
		state->owner = DatumGetObjectId(slot_column(probe.slot, job, "owner", &isnull));
		state->frontier = DatumGetInt64(slot_column(probe.slot, job, "frontier", &isnull));
		state->has_frontier = !isnull;
		*may_retry = job_may_retry(batch, snapshot, job_id, now);
	}
	probe_end(&probe);

	UnregisterSnapshot(snapshot);
	table_close(batch, NoLock);
	table_close(job, NoLock);
	return found;
}

/*
 * What one change of the inventory works with: a statement_snapshot and
 * the executor state its tables are written under.  change_begin refuses to
 * write in a read-only transaction (and on a standby), as an UPDATE would.
 */
typedef struct Change
{
	Snapshot	snapshot;
	EState	   *estate;
} Change;

static void
change_begin(Change *change, const char *function)
{
	PreventCommandIfReadOnly(function);
	change->snapshot = statement_snapshot();
	change->estate = CreateExecutorState();
	change->estate->es_snapshot = change->snapshot;
	change->estate->es_output_cid = GetCurrentCommandId(true);
}

static void
change_end(Change *change)
{
	ExecResetTupleTable(change->estate->es_tupleTable, false);
	FreeExecutorState(change->estate);
	UnregisterSnapshot(change->snapshot);
}

/*
 * A table of the inventory open for writing, its indexes kept up to date
 * as an INSERT or UPDATE would (partial and expression indexes included).
 */
typedef struct Writer
{
	Relation	rel;
	ResultRelInfo *result;
	TupleTableSlot *row;		/* the row found and locked (row_lock) */
	TupleTableSlot *next;		/* the row to write (row_new, row_from_found) */
	bool	   *set;			/* columns of a new row given a value */
} Writer;

/* Refuse a table of the inventory with what its direct writes cannot run */
static void
check_writable(Relation rel)
{
	const char *what = NULL;

	if (rel->trigdesc != NULL)
		what = "triggers";
	else if (rel->rd_att->constr && rel->rd_att->constr->has_generated_stored)
		what = "generated columns";
	if (what != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"batchintory.%s\" has %s", RelationGetRelationName(rel), what),
				 errdetail("The inventory of the extension batchintory was changed by hand: the extension writes its rows directly, without running triggers or computing generated columns."),
				 errhint("Drop them; keep what they did in a table of your own.")));
}

static void
writer_open(Writer *writer, Change *change, const char *table)
{
	TupleDesc	desc;

	writer->rel = table_open(inventory_relation(table), RowExclusiveLock);
	check_writable(writer->rel);
	desc = RelationGetDescr(writer->rel);
	writer->set = palloc(desc->natts * sizeof(bool));
	writer->result = makeNode(ResultRelInfo);
	InitResultRelInfo(writer->result, writer->rel, 0, NULL, 0);
	ExecOpenIndices(writer->result, false);
	writer->row = ExecInitExtraTupleSlot(change->estate, desc,
										 table_slot_callbacks(writer->rel));
	writer->next = ExecInitExtraTupleSlot(change->estate, desc, &TTSOpsVirtual);
}

static void
writer_close(Writer *writer)
{
	ExecCloseIndices(writer->result);
	table_close(writer->rel, NoLock);
}

/* Start a new row to insert: every column NULL */
static void
row_new(Writer *writer)
{
	TupleTableSlot *next = writer->next;

	ExecClearTuple(next);
	memset(next->tts_isnull, true, next->tts_tupleDescriptor->natts * sizeof(bool));
	memset(writer->set, false, next->tts_tupleDescriptor->natts * sizeof(bool));
}

/* Start the new version of the row found: a copy of it */
static void
row_from_found(Writer *writer)
{
	TupleTableSlot *next = writer->next;
	int			natts = next->tts_tupleDescriptor->natts;

	slot_getallattrs(writer->row);
	ExecClearTuple(next);
	memcpy(next->tts_values, writer->row->tts_values, natts * sizeof(Datum));
	memcpy(next->tts_isnull, writer->row->tts_isnull, natts * sizeof(bool));
}

/* Set column name of the row to write */
static void
row_set(Writer *writer, const char *name, Datum value, bool isnull)
{
	AttrNumber	attnum = column_number(writer->rel, name);

	writer->next->tts_values[attnum - 1] = value;
	writer->next->tts_isnull[attnum - 1] = isnull;
	writer->set[attnum - 1] = true;
}

/* Column name of the row found */
static Datum
row_get(Writer *writer, const char *name, bool *isnull)
{
	return slot_getattr(writer->row, column_number(writer->rel, name), isnull);
}

/* Column name of the row being written */
static Datum
row_next(Writer *writer, const char *name, bool *isnull)
{
	AttrNumber	attnum = column_number(writer->rel, name);

	*isnull = writer->next->tts_isnull[attnum - 1];
	return writer->next->tts_values[attnum - 1];
}

/* Add to column name (bigint) of the row being written */
static void
row_add_int8(Writer *writer, const char *name, int64 value)
{
	bool		isnull;
	int64		sum;

	if (pg_add_s64_overflow(DatumGetInt64(row_next(writer, name, &isnull)),
							value, &sum))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("bigint out of range")));
	row_set(writer, name, Int64GetDatum(sum), false);
}

/* Add to column name (numeric) of the row being written */
static void
row_add_numeric(Writer *writer, const char *name, Datum value)
{
	bool		isnull;

	row_set(writer, name, bi_numeric_add(row_next(writer, name, &isnull), value),
			false);
}

/* Give the columns of a new row that were not set their defaults */
static void
row_defaults(Writer *writer, Change *change)
{
	TupleDesc	desc = RelationGetDescr(writer->rel);
	int			i;

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(desc, i);
		Node	   *expr;

		if (writer->set[i] || attr->attisdropped || !attr->atthasdef)
			continue;
		expr = build_column_default(writer->rel, attr->attnum);
		if (expr == NULL)
			continue;
		writer->next->tts_values[i] =
			ExecEvalExprSwitchContext(ExecPrepareExpr((Expr *) expr, change->estate),
									  GetPerTupleExprContext(change->estate),
									  &writer->next->tts_isnull[i]);
	}
}

/*
 * Write the row started by row_new (insert) or row_from_found (update of
 * the row found), and its index entries.
 */
static void
row_write(Writer *writer, Change *change, bool update)
{
	TupleTableSlot *next;
#if PG_VERSION_NUM >= 160000
	TU_UpdateIndexes update_indexes = TU_All;
#else
	bool		update_indexes = true;
#endif

	if (!update)
		row_defaults(writer, change);
	next = ExecStoreVirtualTuple(writer->next);
	if (writer->rel->rd_att->constr)
		ExecConstraints(writer->result, next, change->estate);
	if (update)
		simple_table_tuple_update(writer->rel, &writer->row->tts_tid, next,
								  change->snapshot, &update_indexes);
	else
		simple_table_tuple_insert(writer->rel, next);
	if (writer->result->ri_NumIndices == 0)
		return;
#if PG_VERSION_NUM >= 160000
	if (update_indexes != TU_None)
		(void) ExecInsertIndexTuples(writer->result, next, change->estate,
									 update, false, NULL, NIL,
									 update_indexes == TU_Summarizing);
#else
	if (update_indexes)
		(void) ExecInsertIndexTuples(writer->result, next, change->estate,
									 update, false, NULL, NIL);
#endif
}

/*
 * Find the row of the writer's table through index (keys as for
 * probe_begin) and lock it for update, as an UPDATE would: in READ
 * COMMITTED its latest version (after waiting for a transaction that
 * changes it), else the version the snapshot sees or a serialization
 * failure.  The row ends up in writer->row; false if there is none.
 */
static bool
row_lock(Writer *writer, Change *change, const char *index, ScanKey keys,
		 int nkeys)
{
	IndexProbe	probe;
	bool		found;

	probe_begin(&probe, writer->rel, index, change->snapshot, keys, nkeys);
	found = probe_next(&probe);
	if (found)
	{
		ItemPointerData tid = probe.slot->tts_tid;
		TM_FailureData failure;

		switch (table_tuple_lock(writer->rel, &tid, change->snapshot,
								 writer->row, change->estate->es_output_cid,
								 LockTupleExclusive, LockWaitBlock,
								 IsolationUsesXactSnapshot() ? 0 :
								 TUPLE_LOCK_FLAG_FIND_LAST_VERSION,
								 &failure))
		{
			case TM_Ok:
				break;
			case TM_Deleted:
				found = false;
				break;
			case TM_Updated:
				ereport(ERROR,
						(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
						 errmsg("could not serialize access due to concurrent update")));
				break;
			default:
				elog(ERROR, "unexpected result locking a row of %s",
					 RelationGetRelationName(writer->rel));
		}
	}
	probe_end(&probe);
	return found;
}

/* Conditions on the leading columns of a btree index: one int8 key */
static void
key_int8(ScanKey key, AttrNumber column, int64 value)
{
	ScanKeyInit(key, column, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(value));
}

/*
 * The client's address as inet_client_addr() gives it (NULL: a local
 * socket), worked out once per backend: it cannot change.
 */
static Datum
client_addr(bool *isnull)
{
	static bool known = false;
	static bool addr_isnull;
	static Datum addr;

	if (!known)
	{
		LOCAL_FCINFO(fcinfo, 0);
		MemoryContext oldcontext = MemoryContextSwitchTo(TopMemoryContext);

		InitFunctionCallInfoData(*fcinfo, NULL, 0, InvalidOid, NULL, NULL);
		addr = inet_client_addr(fcinfo);
		addr_isnull = fcinfo->isnull;
		MemoryContextSwitchTo(oldcontext);
		known = true;
	}
	*isnull = addr_isnull;
	return addr;
}

/*
 * Fold the job's progress rows (changes of its done counters that releases,
 * requeues, rewinds and verify recorded) into its row, which the caller
 * started with row_from_found, and delete them.
 */
static void
fold_progress(Change *change, Writer *job, int32 job_id)
{
	Relation	progress = table_open(inventory_relation("progress"), RowExclusiveLock);
	ScanKeyData key;
	IndexProbe	probe;

	key_job(&key, job_id);
	probe_begin(&probe, progress, "progress_job", change->snapshot, &key, 1);
	while (probe_next(&probe))
	{
		TupleTableSlot *p = probe.slot;
		bool		isnull;
		bool		job_isnull;
		Datum		last_success;
		Datum		job_last_success;

		row_add_int8(job, "done_batches",
					 DatumGetInt64(slot_column(p, progress, "batches", &isnull)));
		row_add_int8(job, "done_assets",
					 DatumGetInt64(slot_column(p, progress, "assets", &isnull)));
		row_add_numeric(job, "done_weight",
						slot_column(p, progress, "weight", &isnull));
		last_success = slot_column(p, progress, "last_success", &isnull);
		job_last_success = row_next(job, "last_success", &job_isnull);
		if (!isnull && (job_isnull || DatumGetTimestampTz(last_success) >
						DatumGetTimestampTz(job_last_success)))
			row_set(job, "last_success", last_success, false);
		simple_table_tuple_delete(progress, &p->tts_tid, change->snapshot);
	}
	probe_end(&probe);
	table_close(progress, NoLock);
}

/*
 * bi_inventory_new_batch
 *		Record a new batch of the job over range, handed out as its first
 *		attempt to who with a lease of the job's lease from now, move the
 *		job's frontier to the range's end and count the batch in the job's
 *		counters, folding in the releases recorded since the last new batch.
 *		Returns the batch's number; *lease_until receives its lease end.
 *		The caller holds the job's lock.
 */
int64
bi_inventory_new_batch(BiJob *job, const BiRange *range, const BiAttemptBy *who,
					   TimestampTz *lease_until)
{
	Change		change;
	Writer		batch;
	Writer		attempt;
	Writer		job_row;
	ScanKeyData key;
	TimestampTz now = GetCurrentTimestamp();
	Datum		lease_end;
	Datum		batch_id;
	Datum		status = CStringGetTextDatum("processing");
	Datum		weight = range->has_weight ? range->weight : bi_numeric_from_int64(0);
	bool		addr_isnull;
	Datum		addr = client_addr(&addr_isnull);
	const char *application = GetConfigOption("application_name", false, false);

	change_begin(&change, "batchintory_acquire()");
	lease_end = DirectFunctionCall2(timestamptz_pl_interval,
									TimestampTzGetDatum(now), job->lease);
	batch_id = Int64GetDatum(nextval_internal(inventory_relation("batch_batch_id_seq"),
											  false));

	writer_open(&batch, &change, "batch");
	row_new(&batch);
	row_set(&batch, "batch_id", batch_id, false);
	row_set(&batch, "job_id", Int32GetDatum(job->job_id), false);
	row_set(&batch, "first_id", Int64GetDatum(range->first_id), false);
	row_set(&batch, "last_id", Int64GetDatum(range->last_id), false);
	row_set(&batch, "asset_count", Int64GetDatum(range->asset_count), false);
	row_set(&batch, "weight", range->weight, !range->has_weight);
	row_set(&batch, "ended_by", CStringGetTextDatum(range->ended_by), false);
	row_set(&batch, "status", status, false);
	row_set(&batch, "attempt", Int32GetDatum(1), false);
	row_set(&batch, "requeued_after", Int32GetDatum(0), false);
	row_set(&batch, "lease_until", lease_end, false);
	row_set(&batch, "created_at", TimestampTzGetDatum(now), false);
	row_write(&batch, &change, false);
	writer_close(&batch);

	writer_open(&job_row, &change, "job");
	key_job(&key, job->job_id);
	if (!row_lock(&job_row, &change, "job_pkey", &key, 1))
		elog(ERROR, "job %d does not exist", job->job_id);
	row_from_found(&job_row);
	row_set(&job_row, "frontier", Int64GetDatum(range->last_id), false);
	row_add_int8(&job_row, "cut_batches", 1);
	row_add_int8(&job_row, "cut_assets", range->asset_count);
	row_add_numeric(&job_row, "cut_weight", weight);
	fold_progress(&change, &job_row, job->job_id);
	row_write(&job_row, &change, true);
	writer_close(&job_row);

	writer_open(&attempt, &change, "attempt");
	row_new(&attempt);
	row_set(&attempt, "batch_id", batch_id, false);
	row_set(&attempt, "attempt", Int32GetDatum(1), false);
	row_set(&attempt, "status", status, false);
	row_set(&attempt, "asset_count", Int64GetDatum(range->asset_count), false);
	row_set(&attempt, "weight", range->weight, !range->has_weight);
	row_set(&attempt, "acquired_at", TimestampTzGetDatum(now), false);
	row_set(&attempt, "lease_until", lease_end, false);
	row_set(&attempt, "worker", who->worker, who->worker_isnull);
	row_set(&attempt, "application_name",
			CStringGetTextDatum(application ? application : ""),
			application == NULL || application[0] == '\0');
	row_set(&attempt, "client_addr", addr, addr_isnull);
	row_set(&attempt, "backend_pid", Int32GetDatum(MyProcPid), false);
	row_set(&attempt, "acquired_by", who->caller_name, false);
	row_set(&attempt, "config", job->config, false);
	row_write(&attempt, &change, false);
	writer_close(&attempt);

	change_end(&change);
	*lease_until = DatumGetTimestampTz(lease_end);
	return DatumGetInt64(batch_id);
}

/*
 * bi_inventory_change_attempt
 *		End (end != NULL: as end->status, with its message and result) or
 *		extend the lease of (end == NULL) attempt `attempt` of batch `batch`,
 *		if that is the batch's current attempt and still processing.  The
 *		caller must be allowed to use the batch's job, checked before
 *		anything is locked or changed.  Ending it releases the batch:
 *		succeeded (counted through batchintory.progress), or failed and
 *		waiting for its retry until the job's backoff (doubled for each
 *		attempt since the last requeue) ran out, or failed for good with no
 *		attempt left.  Extending it leases the batch for the job's lease from
 *		now, into *lease_until.  Locks the batch's row.
 */
BiAttemptChange
bi_inventory_change_attempt(const BiCall *call, int64 batch, int32 attempt,
							const BiAttemptEnd *end, TimestampTz *lease_until)
{
	Change		change;
	Writer		batch_row;
	Writer		attempt_row;
	Relation	job = table_open(bi_inventory_relid(), AccessShareLock);
	ScanKeyData keys[2];
	IndexProbe	probe;
	TimestampTz now = GetCurrentTimestamp();
	bool		isnull;
	int32		job_id = 0;
	int32		max_attempts;
	Datum		retry_backoff;
	Datum		lease;
	Datum		status;
	BiAttemptChange outcome = ATTEMPT_CHANGED;

	change_begin(&change, end ? "batchintory_release()" : "batchintory_heartbeat()");
	writer_open(&batch_row, &change, "batch");
	key_int8(&keys[0], 1, batch);

	/* the batch's job, and whether the caller may use it */
	probe_begin(&probe, batch_row.rel, "batch_pkey", change.snapshot, keys, 1);
	if (!probe_next(&probe))
		outcome = ATTEMPT_NO_BATCH;
	else
		job_id = DatumGetInt32(slot_column(probe.slot, batch_row.rel, "job_id", &isnull));
	probe_end(&probe);
	if (outcome == ATTEMPT_NO_BATCH)
		goto done;
	key_job(&keys[1], job_id);
	probe_begin(&probe, job, "job_pkey", change.snapshot, &keys[1], 1);
	if (!probe_next(&probe))
		elog(ERROR, "job of batch " INT64_FORMAT " does not exist", batch);
	bi_check_may_use(call,
					 TextDatumGetCString(slot_column(probe.slot, job, "name", &isnull)),
					 DatumGetObjectId(slot_column(probe.slot, job, "owner", &isnull)));
	max_attempts = DatumGetInt32(slot_column(probe.slot, job, "max_attempts", &isnull));
	retry_backoff = datumCopy(slot_column(probe.slot, job, "retry_backoff", &isnull),
							  false, sizeof(Interval));
	lease = datumCopy(slot_column(probe.slot, job, "lease", &isnull),
					  false, sizeof(Interval));
	probe_end(&probe);

	/* the batch as it is now, locked: is the attempt current? */
	if (!row_lock(&batch_row, &change, "batch_pkey", keys, 1))
	{
		outcome = ATTEMPT_NO_BATCH;
		goto done;
	}
	status = row_get(&batch_row, "status", &isnull);
	if (strcmp(TextDatumGetCString(status), "processing") != 0 ||
		DatumGetInt32(row_get(&batch_row, "attempt", &isnull)) != attempt)
	{
		outcome = ATTEMPT_NOT_CURRENT;
		goto done;
	}

	row_from_found(&batch_row);
	if (end == NULL)
	{
		*lease_until = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
															   TimestampTzGetDatum(now),
															   lease));
		row_set(&batch_row, "lease_until", TimestampTzGetDatum(*lease_until), false);
	}
	else
	{
		int32		since_requeue = attempt -
			DatumGetInt32(row_get(&batch_row, "requeued_after", &isnull));
		bool		retry = !end->succeeded && since_requeue < max_attempts;

		row_set(&batch_row, "status", end->status, false);
		row_set(&batch_row, "lease_until", (Datum) 0, true);
		row_set(&batch_row, "retry_after",
				TimestampTzGetDatum(now +
									bi_retry_delay_usecs(bi_interval_usecs(retry_backoff),
														 since_requeue)),
				!retry);
	}
	row_write(&batch_row, &change, true);

	writer_open(&attempt_row, &change, "attempt");
	ScanKeyInit(&keys[1], 2, BTEqualStrategyNumber, F_INT4EQ, Int32GetDatum(attempt));
	if (row_lock(&attempt_row, &change, "attempt_pkey", keys, 2))
	{
		row_from_found(&attempt_row);
		if (end == NULL)
			row_set(&attempt_row, "lease_until", TimestampTzGetDatum(*lease_until), false);
		else
		{
			row_set(&attempt_row, "status", end->status, false);
			row_set(&attempt_row, "message", end->message, end->message_isnull);
			row_set(&attempt_row, "result", end->result, end->result_isnull);
			row_set(&attempt_row, "released_at", TimestampTzGetDatum(now), false);
		}
		row_write(&attempt_row, &change, true);
	}
	writer_close(&attempt_row);

	if (end != NULL && end->succeeded)
	{
		Writer		progress;
		bool		weight_isnull;
		Datum		weight = row_get(&batch_row, "weight", &weight_isnull);

		writer_open(&progress, &change, "progress");
		row_new(&progress);
		row_set(&progress, "job_id", Int32GetDatum(job_id), false);
		row_set(&progress, "batches", Int64GetDatum(1), false);
		row_set(&progress, "assets", row_get(&batch_row, "asset_count", &isnull), false);
		row_set(&progress, "weight",
				weight_isnull ? bi_numeric_from_int64(0) : weight, false);
		row_set(&progress, "last_success", TimestampTzGetDatum(now), false);
		row_write(&progress, &change, false);
		writer_close(&progress);
	}

done:
	writer_close(&batch_row);
	change_end(&change);
	table_close(job, NoLock);
	return outcome;
}
