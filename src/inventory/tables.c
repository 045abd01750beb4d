/*
 * tables.c
 *	  The inventory's tables as the verbs reach them: columns and indexes
 *	  by name, resolved and checked once per relcache entry; rows found
 *	  through an index, locked as an UPDATE locks them, and written as an
 *	  INSERT or UPDATE writes them (defaults, constraints, index entries).
 *
 * Only the extension writes the inventory.  A table of it with a trigger or
 * generated column added by hand is refused (they would not run here); a
 * column added by hand gets its default; a column, type or index changed by
 * hand is an error that says so.
 */
#include "postgres.h"

#include "inventory/tables.h"

#include "access/relscan.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "common/int.h"
#include "miscadmin.h"
#include "rewrite/rewriteHandler.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

/* A table: its name and the columns the extension uses */
typedef struct InvTableDef
{
	const char *name;
	const InvColumnDef *columns;
	int			ncolumns;
} InvTableDef;

static const InvTableDef table_defs[INV_NTABLES] = {
	[INV_JOB] = {"job", inv_job_columns, JOB_NCOLUMNS},
	[INV_BATCH] = {"batch", inv_batch_columns, BATCH_NCOLUMNS},
	[INV_ATTEMPT] = {"attempt", inv_attempt_columns, ATTEMPT_NCOLUMNS},
	[INV_PROGRESS] = {"progress", inv_progress_columns, PROGRESS_NCOLUMNS},
};

/* An index: its name, its table and its leading key columns */
typedef struct InvIndexDef
{
	const char *name;
	InvTable	table;
	int			nkeys;
	int			keys[2];		/* columns of the table, by the table's enum */
} InvIndexDef;

static const InvIndexDef index_defs[INV_NINDEXES] = {
	[INDEX_JOB_PKEY] = {"job_pkey", INV_JOB, 1, {JOB_JOB_ID}},
	[INDEX_BATCH_PKEY] = {"batch_pkey", INV_BATCH, 1, {BATCH_BATCH_ID}},
	[INDEX_BATCH_JOB_LEASED] = {"batch_job_leased", INV_BATCH, 2,
	{BATCH_JOB_ID, BATCH_LEASE_UNTIL}},
	[INDEX_BATCH_JOB_RETRY] = {"batch_job_retry", INV_BATCH, 2,
	{BATCH_JOB_ID, BATCH_FIRST_ID}},
	[INDEX_BATCH_JOB_FAILED] = {"batch_job_failed", INV_BATCH, 2,
	{BATCH_JOB_ID, BATCH_FIRST_ID}},
	[INDEX_BATCH_JOB_OPEN] = {"batch_job_open", INV_BATCH, 2,
	{BATCH_JOB_ID, BATCH_FIRST_ID}},
	[INDEX_ATTEMPT_PKEY] = {"attempt_pkey", INV_ATTEMPT, 2,
	{ATTEMPT_BATCH_ID, ATTEMPT_ATTEMPT}},
	[INDEX_PROGRESS_JOB] = {"progress_job", INV_PROGRESS, 2,
	{PROGRESS_JOB_ID, PROGRESS_BACKEND}},
	[INDEX_BATCH_JOB_LATE] = {"batch_job_late", INV_BATCH, 1, {BATCH_JOB_ID}},
};

/* The most columns the extension uses of one table */
#define MAX_NCOLUMNS Max(Max((int) JOB_NCOLUMNS, (int) BATCH_NCOLUMNS), \
						 Max((int) ATTEMPT_NCOLUMNS, (int) PROGRESS_NCOLUMNS))

/*
 * What the tables and indexes resolved to, until a relcache invalidation:
 * the tables' OIDs and their columns' numbers, the indexes' OIDs
 */
typedef struct Resolved
{
	bool		valid;
	Oid			table[INV_NTABLES];
	AttrNumber	attnum[INV_NTABLES][MAX_NCOLUMNS];
	Oid			index[INV_NINDEXES];
	Oid			batch_sequence;
} Resolved;

static Resolved resolved;
static bool callback_registered = false;

static void
forget_resolved(Datum arg, Oid relid)
{
	resolved.valid = false;
}

static void
changed_by_hand(int sqlstate, const char *message)
{
	ereport(ERROR,
			(errcode(sqlstate),
			 errmsg_internal("%s", message),
			 errdetail("The inventory of the extension batchintory was changed by hand."),
			 errhint("Put it back as the extension's installation script made it.")));
}

/* A relation of the schema batchintory (table or index), by name */
static Oid
inventory_relation(const char *name)
{
	Oid			relid = get_relname_relid(name, get_namespace_oid("batchintory", false));

	if (!OidIsValid(relid))
		changed_by_hand(ERRCODE_UNDEFINED_OBJECT,
						psprintf("relation \"batchintory.%s\" does not exist", name));
	return relid;
}

/* Resolve the columns of a table by name, checking their types */
static void
resolve_table(InvTable table)
{
	const InvTableDef *def = &table_defs[table];
	Oid			relid = inventory_relation(def->name);
	int			i;

	resolved.table[table] = relid;
	for (i = 0; i < def->ncolumns; i++)
	{
		AttrNumber	attnum = get_attnum(relid, def->columns[i].name);

		if (attnum <= 0)
			changed_by_hand(ERRCODE_UNDEFINED_COLUMN,
							psprintf("column \"%s\" of relation \"batchintory.%s\" does not exist",
									 def->columns[i].name, def->name));
		if (get_atttype(relid, attnum) != def->columns[i].type)
			changed_by_hand(ERRCODE_DATATYPE_MISMATCH,
							psprintf("column \"%s\" of relation \"batchintory.%s\" is not of type %s",
									 def->columns[i].name, def->name,
									 format_type_be(def->columns[i].type)));
		resolved.attnum[table][i] = attnum;
	}
}

/* Resolve an index by name, checking that it leads with its key columns */
static void
resolve_index(InvIndex index)
{
	const InvIndexDef *def = &index_defs[index];
	Oid			indexid = inventory_relation(def->name);
	HeapTuple	tuple = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(indexid));
	Form_pg_index form;
	bool		fits;
	int			i;

	if (!HeapTupleIsValid(tuple))
		changed_by_hand(ERRCODE_WRONG_OBJECT_TYPE,
						psprintf("relation \"batchintory.%s\" is not an index", def->name));
	form = (Form_pg_index) GETSTRUCT(tuple);
	fits = form->indrelid == resolved.table[def->table] &&
		form->indnkeyatts >= def->nkeys;
	for (i = 0; fits && i < def->nkeys; i++)
		fits = form->indkey.values[i] == resolved.attnum[def->table][def->keys[i]];
	ReleaseSysCache(tuple);
	if (!fits)
		changed_by_hand(ERRCODE_WRONG_OBJECT_TYPE,
						psprintf("index \"batchintory.%s\" does not have the key columns the extension uses",
								 def->name));
	resolved.index[index] = indexid;
}

/* Resolve every table and index, unless a relcache invalidation came since */
static void
resolve(void)
{
	int			i;

	if (resolved.valid)
		return;
	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(forget_resolved, (Datum) 0);
		callback_registered = true;
	}
	for (i = 0; i < INV_NTABLES; i++)
		resolve_table((InvTable) i);
	for (i = 0; i < INV_NINDEXES; i++)
		resolve_index((InvIndex) i);
	resolved.batch_sequence = inventory_relation("batch_batch_id_seq");
	resolved.valid = true;
}

/* The attribute number of a column of a table */
AttrNumber
inv_attnum(InvTable table, int column)
{
	resolve();
	return resolved.attnum[table][column];
}

/* Open a table of the inventory */
Relation
inv_table_open(InvTable table, LOCKMODE mode)
{
	Relation	rel;

	resolve();
	rel = table_open(resolved.table[table], mode);
	/* the lock may have brought an invalidation: resolve again if so */
	if (!resolved.valid)
	{
		resolve();
		if (RelationGetRelid(rel) != resolved.table[table])
			changed_by_hand(ERRCODE_UNDEFINED_OBJECT,
							psprintf("relation \"batchintory.%s\" was replaced",
									 table_defs[table].name));
	}
	return rel;
}

/* Column column of a row of table in slot */
Datum
inv_get(InvTable table, TupleTableSlot *slot, int column, bool *isnull)
{
	return slot_getattr(slot, resolved.attnum[table][column], isnull);
}

/* The comparisons of the types of the indexes' key columns */
typedef struct KeyProcedures
{
	Oid			type;
	RegProcedure equal;
	RegProcedure less;
	RegProcedure greater;
} KeyProcedures;

static const KeyProcedures key_procedures[] = {
	{INT4OID, F_INT4EQ, F_INT4LT, F_INT4GT},
	{INT8OID, F_INT8EQ, F_INT8LT, F_INT8GT},
	{TIMESTAMPTZOID, F_TIMESTAMPTZ_EQ, F_TIMESTAMPTZ_LT, F_TIMESTAMPTZ_GT},
};

/*
 * A condition on the index's key column at position (1-based): equal to
 * value (BTEqualStrategyNumber), less (BTLessStrategyNumber) or greater
 * (BTGreaterStrategyNumber)
 */
void
inv_key(ScanKey key, InvIndex index, int position, StrategyNumber strategy,
		Datum value)
{
	const InvIndexDef *def = &index_defs[index];
	Oid			type = table_defs[def->table].columns[def->keys[position - 1]].type;
	int			i;

	Assert(strategy == BTEqualStrategyNumber || strategy == BTLessStrategyNumber ||
		   strategy == BTGreaterStrategyNumber);
	for (i = 0; i < (int) lengthof(key_procedures); i++)
	{
		const KeyProcedures *procedures = &key_procedures[i];

		if (procedures->type != type)
			continue;
		ScanKeyInit(key, position, strategy,
					strategy == BTEqualStrategyNumber ? procedures->equal :
					strategy == BTLessStrategyNumber ? procedures->less :
					procedures->greater,
					value);
		return;
	}
	elog(ERROR, "no scan key for type %u", type);
}

/* Start a scan of the table rel through index, with nkeys conditions */
void
inv_probe_begin(InvProbe *probe, InvIndex index, Relation rel,
				Snapshot snapshot, ScanKey keys, int nkeys)
{
	resolve();
	probe->table = index_defs[index].table;
	probe->index = index_open(resolved.index[index], AccessShareLock);
	probe->scan = BI_INDEX_BEGINSCAN(rel, probe->index, snapshot, nkeys, 0);
	index_rescan(probe->scan, keys, nkeys, NULL, 0);
	probe->slot = table_slot_create(rel, NULL);
}

/* The probe's next row, in index order; false at the end */
bool
inv_probe_next(InvProbe *probe)
{
	CHECK_FOR_INTERRUPTS();
	return index_getnext_slot(probe->scan, ForwardScanDirection, probe->slot);
}

/* The probe's last row in index order (the first call after the begin) */
bool
inv_probe_last(InvProbe *probe)
{
	return index_getnext_slot(probe->scan, BackwardScanDirection, probe->slot);
}

void
inv_probe_end(InvProbe *probe)
{
	ExecDropSingleTupleTableSlot(probe->slot);
	index_endscan(probe->scan);
	index_close(probe->index, NoLock);
}

/*
 * A snapshot as a new SQL statement would take it, our own earlier changes
 * included; the caller unregisters it.
 */
Snapshot
inv_statement_snapshot(void)
{
	CommandCounterIncrement();
	return RegisterSnapshot(GetTransactionSnapshot());
}

/*
 * Start a change of the inventory: refused in a read-only transaction (and
 * on a standby), as an UPDATE would be
 */
void
inv_change_begin(InvChange *change, const char *function)
{
	PreventCommandIfReadOnly(function);
	change->snapshot = inv_statement_snapshot();
	change->estate = CreateExecutorState();
	change->estate->es_snapshot = change->snapshot;
	change->estate->es_output_cid = GetCurrentCommandId(true);
}

void
inv_change_end(InvChange *change)
{
	ExecResetTupleTable(change->estate->es_tupleTable, false);
	FreeExecutorState(change->estate);
	UnregisterSnapshot(change->snapshot);
}

/*
 * Refuse a table with what a direct write cannot run (a trigger or a
 * generated column added by hand): the SQL verbs check it too, so that
 * every path writes alike.
 */
static void
check_writable_rel(Relation rel)
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

/* inv_check_writable for a table the caller writes with SQL */
void
inv_check_writable(InvTable table)
{
	Relation	rel = inv_table_open(table, RowExclusiveLock);

	check_writable_rel(rel);
	table_close(rel, NoLock);
}

/* Open a table for writing: its indexes kept up to date as an INSERT's */
void
inv_writer_open(InvWriter *writer, InvChange *change, InvTable table)
{
	TupleDesc	desc;

	writer->table = table;
	writer->rel = inv_table_open(table, RowExclusiveLock);
	check_writable_rel(writer->rel);
	desc = RelationGetDescr(writer->rel);
	writer->result = makeNode(ResultRelInfo);
	InitResultRelInfo(writer->result, writer->rel, 0, NULL, 0);
	ExecOpenIndices(writer->result, false);
	writer->found = ExecInitExtraTupleSlot(change->estate, desc,
										   table_slot_callbacks(writer->rel));
	writer->next = ExecInitExtraTupleSlot(change->estate, desc, &TTSOpsVirtual);
	writer->set = palloc(desc->natts * sizeof(bool));
}

void
inv_writer_close(InvWriter *writer)
{
	ExecCloseIndices(writer->result);
	table_close(writer->rel, NoLock);
}

/*
 * Lock the row at tid for update, as an UPDATE would: in READ COMMITTED its
 * latest version (after waiting for a transaction that changes it, or, with
 * skip_locked, not waiting: false at once), else the version the snapshot
 * sees or a serialization failure.  The row ends up in writer->found; false
 * if it was deleted meanwhile.
 */
bool
inv_lock_tid(InvWriter *writer, InvChange *change, ItemPointer tid,
			 bool skip_locked)
{
	TM_FailureData failure;

	switch (table_tuple_lock(writer->rel, tid, change->snapshot,
							 writer->found, change->estate->es_output_cid,
							 LockTupleExclusive,
							 skip_locked ? LockWaitSkip : LockWaitBlock,
							 IsolationUsesXactSnapshot() ? 0 :
							 TUPLE_LOCK_FLAG_FIND_LAST_VERSION,
							 &failure))
	{
		case TM_Ok:
			return true;
		case TM_Deleted:
		case TM_WouldBlock:
			return false;
		case TM_Updated:
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not serialize access due to concurrent update")));
			break;
		default:
			elog(ERROR, "unexpected result locking a row of %s",
				 RelationGetRelationName(writer->rel));
	}
	return false;				/* keep compiler quiet */
}

/*
 * Find the row of the writer's table through index and lock it (as
 * inv_lock_tid, waiting); false if there is none.
 */
bool
inv_lock_row(InvWriter *writer, InvChange *change, InvIndex index,
			 ScanKey keys, int nkeys)
{
	InvProbe	probe;
	bool		found;

	inv_probe_begin(&probe, index, writer->rel, change->snapshot, keys, nkeys);
	found = inv_probe_next(&probe);
	if (found)
	{
		ItemPointerData tid = probe.slot->tts_tid;

		found = inv_lock_tid(writer, change, &tid, false);
	}
	inv_probe_end(&probe);
	return found;
}

/*
 * The row versions this transaction wrote last, by table and key (a job's
 * id).  A row written many times in one transaction leaves a version behind
 * each time, all of them its own and alive until it ends: a lookup through
 * the row's index walks every one of them, so that n changes in a
 * transaction would cost O(n^2).  The last version is found again by its
 * TID instead, if this transaction wrote it and it is the version the
 * snapshot sees (not from a subtransaction rolled back since).
 */
typedef struct Remembered
{
	InvTable	table;
	int32		key;
	TransactionId xid;			/* the top transaction that wrote it */
	ItemPointerData tid;
} Remembered;

#define REMEMBERED_ROWS 4

static Remembered remembered[REMEMBERED_ROWS];
static int	remembered_next = 0;

/* The key column of the rows remembered: the job's id */
static const int remembered_key[INV_NTABLES] = {
	[INV_JOB] = JOB_JOB_ID,
	[INV_PROGRESS] = PROGRESS_JOB_ID,
};

/* Remember the row the writer just wrote (inv_write), of the job key */
void
inv_remember(InvWriter *writer, int32 key)
{
	Remembered *row = NULL;
	int			i;

	Assert(writer->table == INV_JOB || writer->table == INV_PROGRESS);
	for (i = 0; i < REMEMBERED_ROWS && row == NULL; i++)
		if (remembered[i].table == writer->table && remembered[i].key == key)
			row = &remembered[i];
	if (row == NULL)
	{
		row = &remembered[remembered_next];
		remembered_next = (remembered_next + 1) % REMEMBERED_ROWS;
	}
	row->table = writer->table;
	row->key = key;
	row->xid = GetTopTransactionId();
	row->tid = writer->next->tts_tid;
}

/*
 * The version of the row of the job key this transaction wrote last, into
 * slot, if the snapshot sees it; false if there is none (then the caller
 * looks the row up through its index).
 */
bool
inv_recall(InvTable table, int32 key, Relation rel, Snapshot snapshot,
		   TupleTableSlot *slot)
{
	TransactionId xid = GetTopTransactionIdIfAny();
	int			i;

	if (!TransactionIdIsValid(xid))
		return false;
	for (i = 0; i < REMEMBERED_ROWS; i++)
	{
		Remembered *row = &remembered[i];
		bool		isnull;

		if (row->table != table || row->key != key || row->xid != xid)
			continue;
		/* its line pointer may hold another row if its writer rolled back */
		return table_tuple_fetch_row_version(rel, &row->tid, snapshot, slot) &&
			DatumGetInt32(inv_get(table, slot, remembered_key[table], &isnull)) == key;
	}
	return false;
}

/* Did this transaction write a row of table for the job key (inv_remember)? */
bool
inv_wrote(InvTable table, int32 key)
{
	TransactionId xid = GetTopTransactionIdIfAny();
	int			i;

	for (i = 0; i < REMEMBERED_ROWS; i++)
		if (remembered[i].table == table && remembered[i].key == key)
			return TransactionIdIsValid(xid) && remembered[i].xid == xid;
	return false;
}

/*
 * Lock the version of the row of the job key that this transaction wrote
 * last (inv_recall) as inv_lock_tid does; false if there is none, or (with
 * skip_locked) if another transaction holds it.
 */
bool
inv_lock_recalled(InvWriter *writer, InvChange *change, int32 key, bool skip_locked)
{
	ItemPointerData tid;

	if (!inv_recall(writer->table, key, writer->rel, change->snapshot, writer->found))
		return false;
	tid = writer->found->tts_tid;
	return inv_lock_tid(writer, change, &tid, skip_locked);
}

/* A new batch's number, from the sequence batchintory.batch_batch_id_seq */
int64
inv_next_batch_id(void)
{
	resolve();
	return nextval_internal(resolved.batch_sequence, false);
}

/* Start a new row to insert: every column NULL, none set */
void
inv_row_new(InvWriter *writer)
{
	TupleTableSlot *next = writer->next;
	int			natts = next->tts_tupleDescriptor->natts;

	ExecClearTuple(next);
	memset(next->tts_isnull, true, natts * sizeof(bool));
	memset(writer->set, false, natts * sizeof(bool));
}

/* Start the new version of the row found: a copy of it */
void
inv_row_from_found(InvWriter *writer)
{
	TupleTableSlot *next = writer->next;
	int			natts = next->tts_tupleDescriptor->natts;

	slot_getallattrs(writer->found);
	ExecClearTuple(next);
	memcpy(next->tts_values, writer->found->tts_values, natts * sizeof(Datum));
	memcpy(next->tts_isnull, writer->found->tts_isnull, natts * sizeof(bool));
	memset(writer->set, true, natts * sizeof(bool));
}

/* Set a column of the row to write */
void
inv_set(InvWriter *writer, int column, Datum value, bool isnull)
{
	AttrNumber	attnum = resolved.attnum[writer->table][column];

	writer->next->tts_values[attnum - 1] = value;
	writer->next->tts_isnull[attnum - 1] = isnull;
	writer->set[attnum - 1] = true;
}

/* A column of the row found */
Datum
inv_found(InvWriter *writer, int column, bool *isnull)
{
	return inv_get(writer->table, writer->found, column, isnull);
}

/* A column of the row being written */
Datum
inv_next(InvWriter *writer, int column, bool *isnull)
{
	AttrNumber	attnum = resolved.attnum[writer->table][column];

	*isnull = writer->next->tts_isnull[attnum - 1];
	return writer->next->tts_values[attnum - 1];
}

/* Add to a bigint column of the row being written */
void
inv_add_int8(InvWriter *writer, int column, int64 value)
{
	bool		isnull;
	int64		sum;

	if (pg_add_s64_overflow(DatumGetInt64(inv_next(writer, column, &isnull)),
							value, &sum))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("bigint out of range")));
	inv_set(writer, column, Int64GetDatum(sum), false);
}

/* Add to a numeric column of the row being written */
void
inv_add_numeric(InvWriter *writer, int column, Datum value)
{
	bool		isnull;

	inv_set(writer, column, bi_numeric_add(inv_next(writer, column, &isnull), value),
			false);
}

/* Give the columns of a new row that were not set their defaults */
static void
row_defaults(InvWriter *writer, InvChange *change)
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
 * Write the row started by inv_row_new (insert) or inv_row_from_found
 * (update of the row found), and its index entries
 */
void
inv_write(InvWriter *writer, InvChange *change, bool update)
{
	TupleTableSlot *next;
	BiUpdateIndexes update_indexes = BI_UPDATE_INDEXES_ALL;

	if (!update)
		row_defaults(writer, change);
	next = ExecStoreVirtualTuple(writer->next);
	if (writer->rel->rd_att->constr)
		ExecConstraints(writer->result, next, change->estate);
	if (update)
		simple_table_tuple_update(writer->rel, &writer->found->tts_tid, next,
								  change->snapshot, &update_indexes);
	else
		simple_table_tuple_insert(writer->rel, next);
	if (writer->result->ri_NumIndices > 0 && BI_UPDATE_NEEDS_INDEXES(update_indexes))
		(void) BI_INSERT_INDEX_TUPLES(writer->result, next, change->estate,
									  update, update_indexes);
}

/*
 * Delete the row of rel in slot, the version the change's snapshot sees, if
 * it is still the latest one and no transaction holds it (not waiting);
 * false if it is not
 */
bool
inv_delete_seen(Relation rel, InvChange *change, TupleTableSlot *slot)
{
	TM_FailureData failure;

	return table_tuple_delete(rel, &slot->tts_tid, change->estate->es_output_cid,
							  change->snapshot, InvalidSnapshot, false, &failure,
							  false) == TM_Ok;
}

static const char *const status_names[] = {
	[STATUS_PROCESSING] = "processing",
	[STATUS_SUCCEEDED] = "succeeded",
	[STATUS_FAILED] = "failed",
	[STATUS_SUPERSEDED] = "superseded",
	[STATUS_ABANDONED] = "abandoned",
	[STATUS_SKIPPED] = "skipped",
};

const char *
bi_status_name(BiStatus status)
{
	return status_names[status];
}

/* A status as stored (text) */
BiStatus
inv_status(Datum value)
{
	char	   *name = TextDatumGetCString(value);
	size_t		i;

	for (i = 0; i < lengthof(status_names); i++)
		if (strcmp(name, status_names[i]) == 0)
			return (BiStatus) i;
	changed_by_hand(ERRCODE_DATA_CORRUPTED,
					psprintf("invalid status \"%s\" in the inventory", name));
	return STATUS_PROCESSING;	/* keep compiler quiet */
}

/* A status to store */
Datum
inv_status_datum(BiStatus status)
{
	return CStringGetTextDatum(status_names[status]);
}
