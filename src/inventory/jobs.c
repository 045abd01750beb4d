/*
 * jobs.c
 *	  The job's row (and the progress rows folded into it) and the verbs on
 *	  it: create it, change its settings, drop it with everything it cut,
 *	  move its frontier, count what it cut and fold in what its releases
 *	  recorded, rewind it; and the state acquire reads.
 */
#include "postgres.h"

#include "inventory/tables.h"

#include "access/table.h"
#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

const InvColumnDef inv_job_columns[JOB_NCOLUMNS] = {
	[JOB_JOB_ID] = {"job_id", INT4OID},
	[JOB_NAME] = {"name", TEXTOID},
	[JOB_OWNER] = {"owner", REGROLEOID},
	[JOB_MAX_ATTEMPTS] = {"max_attempts", INT4OID},
	[JOB_LEASE] = {"lease", INTERVALOID},
	[JOB_RETRY_BACKOFF] = {"retry_backoff", INTERVALOID},
	[JOB_FRONTIER] = {"frontier", INT8OID},
	[JOB_REVISION] = {"revision", INT8OID},
	[JOB_CUT_BATCHES] = {"cut_batches", INT8OID},
	[JOB_CUT_ASSETS] = {"cut_assets", INT8OID},
	[JOB_CUT_WEIGHT] = {"cut_weight", NUMERICOID},
	[JOB_DONE_BATCHES] = {"done_batches", INT8OID},
	[JOB_DONE_ASSETS] = {"done_assets", INT8OID},
	[JOB_DONE_WEIGHT] = {"done_weight", NUMERICOID},
	[JOB_LAST_SUCCESS] = {"last_success", TIMESTAMPTZOID},
};

const InvColumnDef inv_progress_columns[PROGRESS_NCOLUMNS] = {
	[PROGRESS_JOB_ID] = {"job_id", INT4OID},
	[PROGRESS_BATCHES] = {"batches", INT8OID},
	[PROGRESS_ASSETS] = {"assets", INT8OID},
	[PROGRESS_WEIGHT] = {"weight", NUMERICOID},
	[PROGRESS_LAST_SUCCESS] = {"last_success", TIMESTAMPTZOID},
};

/* The OID of the table batchintory.job (the jobs' inventory) */
Oid
bi_inventory_job_table(void)
{
	Relation	rel = inv_table_open(INV_JOB, AccessShareLock);
	Oid			relid = RelationGetRelid(rel);

	table_close(rel, AccessShareLock);
	return relid;
}

/*
 * May a batch of the job be handed out again at now: is there a batch in
 * processing whose lease ran out (batch_job_leased) or a failed batch whose
 * retry is due (batch_job_retry, checked row by row)?  Batches that a
 * transaction still in progress changed count as they were: a false "yes"
 * only sends acquire down its slower path.
 */
static bool
job_may_retry(Relation batch, Snapshot snapshot, int32 job_id, TimestampTz now)
{
	ScanKeyData keys[2];
	InvProbe	probe;
	bool		found;

	inv_key(&keys[0], INDEX_BATCH_JOB_LEASED, 1, BTEqualStrategyNumber,
			Int32GetDatum(job_id));
	inv_key(&keys[1], INDEX_BATCH_JOB_LEASED, 2, BTLessStrategyNumber,
			TimestampTzGetDatum(now));
	inv_probe_begin(&probe, INDEX_BATCH_JOB_LEASED, batch, snapshot, keys, 2);
	found = inv_probe_next(&probe);
	inv_probe_end(&probe);
	if (found)
		return true;

	inv_probe_begin(&probe, INDEX_BATCH_JOB_RETRY, batch, snapshot, keys, 1);
	while (!found && inv_probe_next(&probe))
	{
		bool		isnull;
		Datum		due = inv_get(INV_BATCH, probe.slot, BATCH_RETRY_AFTER, &isnull);

		found = isnull || DatumGetTimestampTz(due) <= now;
	}
	inv_probe_end(&probe);
	return found;
}

/* The job's oldest batch failed for good (batch_job_failed), or 0 */
static int64
job_halted_by(Relation batch, Snapshot snapshot, int32 job_id)
{
	ScanKeyData key;
	InvProbe	probe;
	int64		halted_by = 0;

	inv_key(&key, INDEX_BATCH_JOB_FAILED, 1, BTEqualStrategyNumber, Int32GetDatum(job_id));
	inv_probe_begin(&probe, INDEX_BATCH_JOB_FAILED, batch, snapshot, &key, 1);
	if (inv_probe_next(&probe))
	{
		bool		isnull;

		halted_by = DatumGetInt64(inv_get(INV_BATCH, probe.slot, BATCH_BATCH_ID, &isnull));
	}
	inv_probe_end(&probe);
	return halted_by;
}

/*
 * bi_inventory_job_state
 *		The job's row as a statement starting now would see it (revision,
 *		name, owner and frontier into *state); false if it is gone.
 *		*may_retry says whether a batch of the job may be due for another
 *		attempt at now (see job_may_retry): then the caller looks for it.
 *		With halts (the job's on_failure is 'halt'), state->halted_by is
 *		its oldest batch failed for good, which stops it (0: none).
 */
bool
bi_inventory_job_state(int32 job_id, TimestampTz now, bool halts,
					   BiJobState *state, bool *may_retry)
{
	Relation	job = inv_table_open(INV_JOB, AccessShareLock);
	Relation	batch = inv_table_open(INV_BATCH, AccessShareLock);
	Snapshot	snapshot = inv_statement_snapshot();
	ScanKeyData key;
	InvProbe	probe;
	bool		found;

	inv_key(&key, INDEX_JOB_PKEY, 1, BTEqualStrategyNumber, Int32GetDatum(job_id));
	inv_probe_begin(&probe, INDEX_JOB_PKEY, job, snapshot, &key, 1);
	found = inv_probe_next(&probe);
	if (found)
	{
		bool		isnull;

		state->revision = DatumGetInt64(inv_get(INV_JOB, probe.slot, JOB_REVISION, &isnull));
		state->name = TextDatumGetCString(inv_get(INV_JOB, probe.slot, JOB_NAME, &isnull));
		state->owner = DatumGetObjectId(inv_get(INV_JOB, probe.slot, JOB_OWNER, &isnull));
		state->frontier = DatumGetInt64(inv_get(INV_JOB, probe.slot, JOB_FRONTIER, &isnull));
		state->has_frontier = !isnull;
		state->halted_by = halts ? job_halted_by(batch, snapshot, job_id) : 0;
		*may_retry = job_may_retry(batch, snapshot, job_id, now);
	}
	inv_probe_end(&probe);

	UnregisterSnapshot(snapshot);
	table_close(batch, NoLock);
	table_close(job, NoLock);
	return found;
}

/*
 * Fold the job's progress rows (changes of its done counters that releases,
 * requeues, rewinds and verify recorded) into its row, which the caller
 * started with inv_row_from_found, and delete them.
 */
static void
fold_progress(InvChange *change, InvWriter *job, int32 job_id)
{
	Relation	progress = inv_table_open(INV_PROGRESS, RowExclusiveLock);
	ScanKeyData key;
	InvProbe	probe;

	inv_key(&key, INDEX_PROGRESS_JOB, 1, BTEqualStrategyNumber, Int32GetDatum(job_id));
	inv_probe_begin(&probe, INDEX_PROGRESS_JOB, progress, change->snapshot, &key, 1);
	while (inv_probe_next(&probe))
	{
		TupleTableSlot *p = probe.slot;
		bool		isnull;
		bool		job_isnull;
		Datum		last_success;
		Datum		job_last_success;

		inv_add_int8(job, JOB_DONE_BATCHES,
					 DatumGetInt64(inv_get(INV_PROGRESS, p, PROGRESS_BATCHES, &isnull)));
		inv_add_int8(job, JOB_DONE_ASSETS,
					 DatumGetInt64(inv_get(INV_PROGRESS, p, PROGRESS_ASSETS, &isnull)));
		inv_add_numeric(job, JOB_DONE_WEIGHT,
						inv_get(INV_PROGRESS, p, PROGRESS_WEIGHT, &isnull));
		last_success = inv_get(INV_PROGRESS, p, PROGRESS_LAST_SUCCESS, &isnull);
		job_last_success = inv_next(job, JOB_LAST_SUCCESS, &job_isnull);
		if (!isnull && (job_isnull || DatumGetTimestampTz(last_success) >
						DatumGetTimestampTz(job_last_success)))
			inv_set(job, JOB_LAST_SUCCESS, last_success, false);
		simple_table_tuple_delete(progress, &p->tts_tid, change->snapshot);
	}
	inv_probe_end(&probe);
	table_close(progress, NoLock);
}

/* Find and lock the job's row for an update; an error if it is gone */
static void
lock_job(InvWriter *job, InvChange *change, int32 job_id)
{
	ScanKeyData key;

	inv_key(&key, INDEX_JOB_PKEY, 1, BTEqualStrategyNumber, Int32GetDatum(job_id));
	if (!inv_lock_row(job, change, INDEX_JOB_PKEY, &key, 1))
		elog(ERROR, "job %d does not exist", job_id);
	inv_row_from_found(job);
}

/*
 * inv_job_count_cut
 *		Count in the job's counters batches cut (1: a new one; 0: one cut
 *		again) and the change of the assets and weight cut.  With frontier,
 *		a new batch after the frontier: the frontier moves to its end and the
 *		releases recorded since the last one are folded in.  The caller
 *		holds the job's lock.
 */
void
inv_job_count_cut(InvChange *change, int32 job_id, int64 batches, int64 assets,
				  Datum weight, const int64 *frontier)
{
	InvWriter	job;

	inv_writer_open(&job, change, INV_JOB);
	lock_job(&job, change, job_id);
	if (frontier != NULL)
		inv_set(&job, JOB_FRONTIER, Int64GetDatum(*frontier), false);
	inv_add_int8(&job, JOB_CUT_BATCHES, batches);
	inv_add_int8(&job, JOB_CUT_ASSETS, assets);
	inv_add_numeric(&job, JOB_CUT_WEIGHT, weight);
	if (frontier != NULL)
		fold_progress(change, &job, job_id);
	inv_write(&job, change, true);
	inv_writer_close(&job);
}

/*
 * inv_job_progress
 *		Record a change of the job's done counters (a batch succeeded: +1;
 *		a succeeded batch requeued or superseded: -1), as a progress row
 *		folded into the job's row by its next new batch -- inserted, never
 *		updated, so that concurrent releases do not wait for each other.
 */
void
inv_job_progress(InvChange *change, int32 job_id, int64 batches, int64 assets,
				 Datum weight, bool has_success, TimestampTz success)
{
	InvWriter	progress;

	inv_writer_open(&progress, change, INV_PROGRESS);
	inv_row_new(&progress);
	inv_set(&progress, PROGRESS_JOB_ID, Int32GetDatum(job_id), false);
	inv_set(&progress, PROGRESS_BATCHES, Int64GetDatum(batches), false);
	inv_set(&progress, PROGRESS_ASSETS, Int64GetDatum(assets), false);
	inv_set(&progress, PROGRESS_WEIGHT, weight, false);
	inv_set(&progress, PROGRESS_LAST_SUCCESS, TimestampTzGetDatum(success), !has_success);
	inv_write(&progress, change, false);
	inv_writer_close(&progress);
}

/*
 * bi_inventory_set_frontier
 *		Move the job's frontier (a backfill whose rest of window holds no
 *		matching asset: to the window's end).  The caller holds the job's
 *		lock.
 */
void
bi_inventory_set_frontier(int32 job_id, int64 frontier)
{
	InvChange	change;
	InvWriter	job;

	inv_change_begin(&change, "batchintory_acquire()");
	inv_writer_open(&job, &change, INV_JOB);
	lock_job(&job, &change, job_id);
	inv_set(&job, JOB_FRONTIER, Int64GetDatum(frontier), false);
	inv_write(&job, &change, true);
	inv_writer_close(&job);
	inv_change_end(&change);
}

/* a job's row as statement parameters: settings, owner, command's search_path, name or id */
#define N_JOB_ARGS (N_SETTINGS + 3)

/*
 * The job's settings as statement parameters $1.. in bi_settings order,
 * then the owner ($N+1), the command's search_path ($N+2) and the name or
 * the job's id ($N+3, left to the caller); the filter stored as its
 * deparse
 */
static void
settings_args(const BiSettings *s, Oid *types, Datum *values, char *nulls)
{
	int			i;

	for (i = 0; i < N_SETTINGS; i++)
	{
		types[i] = bi_settings[i].type;
		values[i] = s->values[i];
		nulls[i] = s->isnull[i] ? 'n' : ' ';
	}
	if (s->filter_deparse != NULL)
		values[S_FILTER] = CStringGetTextDatum(s->filter_deparse);
	types[N_SETTINGS] = OIDOID;
	values[N_SETTINGS] = ObjectIdGetDatum(s->owner);
	nulls[N_SETTINGS] = ' ';
	types[N_SETTINGS + 1] = TEXTOID;
	values[N_SETTINGS + 1] = s->command_search_path ?
		CStringGetTextDatum(s->command_search_path) : (Datum) 0;
	nulls[N_SETTINGS + 1] = s->command_search_path ? ' ' : 'n';
	nulls[N_SETTINGS + 2] = ' ';
	nulls[N_SETTINGS + 3] = '\0';
}

/* The job's settings' columns, as a list for a statement */
static const char *
settings_columns(void)
{
	static char *columns = NULL;

	if (columns == NULL)
	{
		StringInfoData list;
		int			i;

		initStringInfo(&list);
		for (i = 0; i < N_SETTINGS; i++)
			appendStringInfo(&list, "%s%s", i > 0 ? ", " : "", bi_settings[i].name);
		columns = MemoryContextStrdup(TopMemoryContext, list.data);
		pfree(list.data);
	}
	return columns;
}

/* $from, $from+1, ... $to */
static char *
parameters(int from, int to)
{
	StringInfoData list;
	int			i;

	initStringInfo(&list);
	for (i = from; i <= to; i++)
		appendStringInfo(&list, "%s$%d", i > from ? ", " : "", i);
	return list.data;
}

/* Store the job's analyzed filter (none: its row deleted) */
static void
store_filter(int32 job_id, const char *filter_expr)
{
	Oid			types[2] = {INT4OID, TEXTOID};
	Datum		args[2] = {Int32GetDatum(job_id), (Datum) 0};

	bi_exec("DELETE FROM batchintory.job_filter WHERE job_id OPERATOR(pg_catalog.=) $1",
			1, types, args, NULL, SPI_OK_DELETE);
	if (filter_expr == NULL)
		return;
	args[1] = CStringGetTextDatum(filter_expr);
	bi_exec("INSERT INTO batchintory.job_filter (job_id, expr) VALUES ($1, $2)",
			2, types, args, NULL, SPI_OK_INSERT);
}

/*
 * bi_inventory_job_create
 *		A new job named name with settings s; returns its id, or 0 if a job
 *		of that name exists (one registered meanwhile, and committed, wins:
 *		the insert waits for it).
 */
int32
bi_inventory_job_create(const char *name, const BiSettings *s)
{
	Oid			types[N_JOB_ARGS];
	Datum		values[N_JOB_ARGS];
	char		nulls[N_JOB_ARGS + 1];
	bool		isnull;
	int32		job_id;

	inv_check_writable(INV_JOB);
	settings_args(s, types, values, nulls);
	types[N_JOB_ARGS - 1] = TEXTOID;
	values[N_JOB_ARGS - 1] = CStringGetTextDatum(name);
	if (bi_exec(psprintf("INSERT INTO batchintory.job (%s, owner, command_search_path, name)"
						 " VALUES (%s) ON CONFLICT (name) DO NOTHING RETURNING job_id",
						 settings_columns(), parameters(1, N_JOB_ARGS)),
				N_JOB_ARGS, types, values, nulls, SPI_OK_INSERT_RETURNING) == 0)
		return 0;
	job_id = DatumGetInt32(bi_get(0, 1, &isnull));
	store_filter(job_id, s->filter_expr);
	return job_id;
}

/*
 * bi_inventory_job_change
 *		Store a job's new settings (and owner); its revision moves on, so
 *		that every backend reads the job again.  The caller holds the job's
 *		lock.
 */
void
bi_inventory_job_change(int32 job_id, const BiSettings *s)
{
	Oid			types[N_JOB_ARGS];
	Datum		values[N_JOB_ARGS];
	char		nulls[N_JOB_ARGS + 1];

	inv_check_writable(INV_JOB);
	settings_args(s, types, values, nulls);
	types[N_JOB_ARGS - 1] = INT4OID;
	values[N_JOB_ARGS - 1] = Int32GetDatum(job_id);
	bi_exec(psprintf("UPDATE batchintory.job SET (%s, owner, command_search_path, revision) ="
					 " (%s, revision OPERATOR(pg_catalog.+) 1)"
					 " WHERE job_id OPERATOR(pg_catalog.=) $%d",
					 settings_columns(), parameters(1, N_JOB_ARGS - 1), N_JOB_ARGS),
			N_JOB_ARGS, types, values, nulls, SPI_OK_UPDATE);
	store_filter(job_id, s->filter_expr);
}

/*
 * bi_inventory_job_set_filter
 *		Store a job's filter (its deparse and analyzed expression), nothing
 *		else changed; its revision moves on.  The caller holds the job's
 *		lock.  For update scripts (batchintory.analyze_filter): it touches
 *		only columns every version since 0.2.0 has, and does not resolve
 *		the inventory's columns (an update halfway may lack the newest).
 */
void
bi_inventory_job_set_filter(int32 job_id, const char *deparse, const char *expr)
{
	Oid			types[2] = {INT4OID, TEXTOID};
	Datum		args[2] = {Int32GetDatum(job_id), CStringGetTextDatum(deparse)};

	bi_exec("UPDATE batchintory.job SET filter = $2, revision = revision OPERATOR(pg_catalog.+) 1"
			" WHERE job_id OPERATOR(pg_catalog.=) $1",
			2, types, args, NULL, SPI_OK_UPDATE);
	store_filter(job_id, expr);
}

/*
 * bi_inventory_reset_retries
 *		max_attempts changed: the failed batches with attempts left (now)
 *		wait for a retry, the others are failed for good.
 */
void
bi_inventory_reset_retries(int32 job_id, int32 max_attempts)
{
	Oid			types[2] = {INT4OID, INT4OID};
	Datum		args[2] = {Int32GetDatum(job_id), Int32GetDatum(max_attempts)};

	inv_check_writable(INV_BATCH);
	bi_exec("UPDATE batchintory.batch SET retry_after = CASE"
			" WHEN (attempt OPERATOR(pg_catalog.-) requeued_after) OPERATOR(pg_catalog.<) $2"
			" THEN COALESCE(retry_after, pg_catalog.clock_timestamp()) END"
			" WHERE job_id OPERATOR(pg_catalog.=) $1 AND status OPERATOR(pg_catalog.=) 'failed'",
			2, types, args, NULL, SPI_OK_UPDATE);
}

/* A statement that writes every table of the inventory is about to run */
static void
check_every_table_writable(void)
{
	int			table;

	for (table = 0; table < INV_NTABLES; table++)
		inv_check_writable((InvTable) table);
}

/*
 * bi_inventory_job_drop
 *		Delete a job with its batches, attempts, progress rows and filter.
 *		The caller holds the job's lock and its batches' rows.
 */
void
bi_inventory_job_drop(int32 job_id)
{
	Oid			types[1] = {INT4OID};
	Datum		args[1] = {Int32GetDatum(job_id)};

	check_every_table_writable();
	bi_exec("WITH b AS (DELETE FROM batchintory.batch"
			"  WHERE job_id OPERATOR(pg_catalog.=) $1 RETURNING batch_id),"
			" a AS (DELETE FROM batchintory.attempt a USING b"
			"  WHERE a.batch_id OPERATOR(pg_catalog.=) b.batch_id),"
			" p AS (DELETE FROM batchintory.progress WHERE job_id OPERATOR(pg_catalog.=) $1),"
			" f AS (DELETE FROM batchintory.job_filter WHERE job_id OPERATOR(pg_catalog.=) $1)"
			" DELETE FROM batchintory.job WHERE job_id OPERATOR(pg_catalog.=) $1",
			1, types, args, NULL, SPI_OK_DELETE);
}

/*
 * bi_inventory_rewind
 *		Supersede the job's live batches from key point on (kept, marked so;
 *		their attempts still processing become superseded), take them out
 *		of its counters, and move its frontier to frontier (has_frontier
 *		false: before the first key) if it was at or after point.  Returns
 *		how many batches were superseded.  The caller holds the job's lock
 *		and those batches' rows.
 */
int64
bi_inventory_rewind(int32 job_id, int64 point, bool has_frontier, int64 frontier)
{
	Oid			types[3] = {INT4OID, INT8OID, INT8OID};
	Datum		args[3] = {Int32GetDatum(job_id), Int64GetDatum(point),
	Int64GetDatum(frontier)};
	char		nulls[4] = {' ', ' ', has_frontier ? ' ' : 'n', '\0'};
	bool		isnull;

	check_every_table_writable();
	bi_exec("WITH o AS (SELECT batch_id, status, asset_count, weight"
			"  FROM batchintory.batch WHERE job_id OPERATOR(pg_catalog.=) $1"
			"  AND status OPERATOR(pg_catalog.<>) 'superseded'"
			"  AND first_id OPERATOR(pg_catalog.>=) $2),"
			" b AS (UPDATE batchintory.batch x SET status = 'superseded', lease_until = NULL"
			"  WHERE x.batch_id OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT o.batch_id FROM o))"
			"  RETURNING x.batch_id, x.attempt),"
			" a AS (UPDATE batchintory.attempt a SET status = 'superseded',"
			"  released_at = pg_catalog.clock_timestamp()"
			"  WHERE a.batch_id OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT b.batch_id FROM b))"
			"  AND (a.batch_id, a.attempt) IN (SELECT b.batch_id, b.attempt FROM b)"
			"  AND a.status OPERATOR(pg_catalog.=) 'processing'),"
			" p AS (INSERT INTO batchintory.progress (job_id, batches, assets, weight)"
			"  SELECT $1, OPERATOR(pg_catalog.-) pg_catalog.count(*),"
			"   OPERATOR(pg_catalog.-) pg_catalog.sum(o.asset_count),"
			"   OPERATOR(pg_catalog.-) COALESCE(pg_catalog.sum(o.weight), 0)"
			"  FROM o WHERE o.status OPERATOR(pg_catalog.=) 'succeeded'"
			"  HAVING pg_catalog.count(*) OPERATOR(pg_catalog.>) 0),"
			" j AS (UPDATE batchintory.job SET"
			"  cut_batches = cut_batches OPERATOR(pg_catalog.-)"
			"   (SELECT pg_catalog.count(*) FROM o),"
			"  cut_assets = cut_assets OPERATOR(pg_catalog.-)"
			"   (SELECT COALESCE(pg_catalog.sum(o.asset_count), 0) FROM o)::pg_catalog.int8,"
			"  cut_weight = cut_weight OPERATOR(pg_catalog.-)"
			"   (SELECT COALESCE(pg_catalog.sum(o.weight), 0) FROM o),"
			"  frontier = CASE WHEN frontier OPERATOR(pg_catalog.>=) $2 THEN $3"
			"   ELSE frontier END"
			"  WHERE job_id OPERATOR(pg_catalog.=) $1)"
			" SELECT pg_catalog.count(*) FROM b",
			3, types, args, nulls, SPI_OK_SELECT);
	return bi_get_int64(0, 1, &isnull);
}
