/*
 * jobcache.c
 *	  Jobs as a backend sees them: loading a job's row, checking who may use
 *	  it, its lock, and a small per-backend cache of jobs with the kept plans
 *	  that read their metadata tables, dropped when their objects change.
 */
#include "postgres.h"

#include "batchintory.h"
#include "inventory/inventory.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

/* jobs a backend keeps at most; the least recently used goes first */
#define JOB_CACHE_SIZE 64

static BiJob *job_cache[JOB_CACHE_SIZE];
static int	job_cache_count = 0;
static uint64 job_cache_clock = 0;

/* the inventory the cached jobs come from (batchintory.job's OID) */
static Oid	job_cache_inventory = InvalidOid;

/* columns of a job's row, in the order job_from_row reads them */
#define JOB_SELECT \
	"SELECT j.job_id, j.name, j.revision, j.owner, j.source, j.id_column," \
	" j.weight_column, j.filter, f.expr, j.lower_bound, j.upper_bound," \
	" j.max_count, j.max_weight, j.max_attempts, j.lease, j.retry_backoff," \
	" j.late_commit_guard, j.guard_timeout, j.config, j.notify, j.frontier," \
	" j.on_failure OPERATOR(pg_catalog.=) 'halt', j.command, j.command_search_path," \
	" j.schedule, j.paused, j.max_keys, j.window_size, j.window_time_zone," \
	" j.window_origin, j.window_delay, j.empty_windows," \
	" j.late OPERATOR(pg_catalog.=) 'reprocess', j.late_horizon" \
	" FROM batchintory.job j LEFT JOIN batchintory.job_filter f" \
	" ON f.job_id OPERATOR(pg_catalog.=) j.job_id"

enum
{
	J_JOB_ID = 1,
	J_NAME,
	J_REVISION,
	J_OWNER,
	J_SOURCE,
	J_ID_COLUMN,
	J_WEIGHT_COLUMN,
	J_FILTER,
	J_FILTER_EXPR,
	J_LOWER_BOUND,
	J_UPPER_BOUND,
	J_MAX_COUNT,
	J_MAX_WEIGHT,
	J_MAX_ATTEMPTS,
	J_LEASE,
	J_RETRY_BACKOFF,
	J_LATE_COMMIT_GUARD,
	J_GUARD_TIMEOUT,
	J_CONFIG,
	J_NOTIFY,
	J_FRONTIER,
	J_HALT_ON_FAILURE,
	J_COMMAND,
	J_COMMAND_SEARCH_PATH,
	J_SCHEDULE,
	J_PAUSED,
	J_MAX_KEYS,
	J_WINDOW_SIZE,
	J_WINDOW_TIME_ZONE,
	J_WINDOW_ORIGIN,
	J_WINDOW_DELAY,
	J_EMPTY_WINDOWS,
	J_REPROCESS_LATE,
	J_LATE_HORIZON
};

/* The advisory lock tag of one of a job's locks (BI_LOCK_JOB, BI_LOCK_CHANGE) */
static void
job_lock_tag(LOCKTAG *tag, int32 job_id, uint16 which)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, BATCHINTORY_LOCK_SPACE,
						 (uint32) job_id, which);
}

/*
 * Lock a job for the rest of the transaction: serializes acquire, alter,
 * rewind and drop of one job; other jobs are not affected.
 */
void
bi_job_lock(int32 job_id)
{
	LOCKTAG		tag;

	job_lock_tag(&tag, job_id, BI_LOCK_JOB);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
}

/* Let go of a job's lock before the end of the transaction */
void
bi_job_unlock(int32 job_id)
{
	LOCKTAG		tag;

	job_lock_tag(&tag, job_id, BI_LOCK_JOB);
	(void) LockRelease(&tag, ExclusiveLock, false);
}

/*
 * Lock a job against other rewinds and drops for the rest of the
 * transaction (they lock many batch rows: one at a time keeps them from
 * deadlocking each other).  Acquire and release do not take it.
 */
void
bi_job_lock_changes(int32 job_id)
{
	LOCKTAG		tag;

	job_lock_tag(&tag, job_id, BI_LOCK_CHANGE);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
}

/* Error out: job name does not exist (42704) */
void
bi_job_not_found(const char *name)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("job \"%s\" does not exist", name),
			 errhint("SELECT job FROM batchintory.jobs lists the jobs you may use.")));
}

static void
reader_free(BiJob *job)
{
	BiReader   *reader = job->reader;

	if (reader == NULL)
		return;
	if (reader->scan)
		SPI_freeplan(reader->scan);
	if (reader->last_key)
		SPI_freeplan(reader->last_key);
	if (reader->newest_key)
		SPI_freeplan(reader->newest_key);
	MemoryContextDelete(reader->context);
	job->reader = NULL;
}

static void
job_free(BiJob *job)
{
	reader_free(job);
	MemoryContextDelete(job->context);
}

/* Take job out of the cache and free it */
static void
cache_remove(int slot)
{
	job_free(job_cache[slot]);
	job_cache[slot] = job_cache[--job_cache_count];
}

/* Drop the cached copy of a job, if any (it was dropped or changed) */
void
bi_job_forget(int32 job_id)
{
	int			i;

	for (i = 0; i < job_cache_count; i++)
		if (job_cache[i]->job_id == job_id)
		{
			cache_remove(i);
			return;
		}
}

static BiJob *
cache_find(int32 job_id, const char *name)
{
	int			i;

	/* jobs of an inventory dropped since (DROP EXTENSION) go first */
	for (i = job_cache_count - 1; i >= 0; i--)
		if (job_cache[i]->dead)
			cache_remove(i);
	for (i = 0; i < job_cache_count; i++)
	{
		BiJob	   *job = job_cache[i];

		if (name != NULL ? strcmp(job->name, name) == 0 : job->job_id == job_id)
		{
			job->last_used = ++job_cache_clock;
			return job;
		}
	}
	return NULL;
}

static void
cache_add(BiJob *job)
{
	if (job_cache_count == JOB_CACHE_SIZE)
	{
		int			oldest = 0;
		int			i;

		for (i = 1; i < job_cache_count; i++)
			if (job_cache[i]->last_used < job_cache[oldest]->last_used)
				oldest = i;
		cache_remove(oldest);
	}
	job->last_used = ++job_cache_clock;
	job_cache[job_cache_count++] = job;
	job_cache_inventory = bi_inventory_job_table();
}

/* A by-reference column of the job's row, copied into the job's context */
static Datum
row_datum(int col, bool *isnull)
{
	return bi_get_copy(0, col, isnull);
}

/*
 * Build a job from row 0 of a JOB_SELECT result, in its own memory context
 * under TopMemoryContext.
 */
static BiJob *
job_from_row(void)
{
	MemoryContext context = AllocSetContextCreate(TopMemoryContext,
												  "batchintory job",
												  ALLOCSET_SMALL_SIZES);
	MemoryContext oldcontext = MemoryContextSwitchTo(context);
	BiJob	   *job = palloc0(sizeof(BiJob));
	bool		isnull;

	job->context = context;
	job->job_id = DatumGetInt32(bi_get(0, J_JOB_ID, &isnull));
	job->name = bi_get_text(0, J_NAME);
	job->revision = bi_get_int64(0, J_REVISION, &isnull);
	job->owner = DatumGetObjectId(bi_get(0, J_OWNER, &isnull));
	job->source = DatumGetObjectId(bi_get(0, J_SOURCE, &isnull));
	job->id_column = bi_get_text(0, J_ID_COLUMN);
	job->weight_column = bi_get_text(0, J_WEIGHT_COLUMN);
	job->filter = bi_get_text(0, J_FILTER);
	job->filter_expr = bi_get_text(0, J_FILTER_EXPR);
	job->lower_bound = bi_get_int64(0, J_LOWER_BOUND, &isnull);
	job->has_lower_bound = !isnull;
	job->upper_bound = bi_get_int64(0, J_UPPER_BOUND, &isnull);
	job->has_upper_bound = !isnull;
	job->max_count = bi_get_int64(0, J_MAX_COUNT, &isnull);
	job->has_max_count = !isnull;
	job->max_weight = row_datum(J_MAX_WEIGHT, &isnull);
	job->has_max_weight = !isnull;
	job->max_attempts = DatumGetInt32(bi_get(0, J_MAX_ATTEMPTS, &isnull));
	job->lease = row_datum(J_LEASE, &isnull);
	job->retry_backoff = row_datum(J_RETRY_BACKOFF, &isnull);
	job->late_commit_guard = DatumGetBool(bi_get(0, J_LATE_COMMIT_GUARD, &isnull));
	job->guard_timeout = row_datum(J_GUARD_TIMEOUT, &isnull);
	job->config = row_datum(J_CONFIG, &isnull);
	job->notify = DatumGetBool(bi_get(0, J_NOTIFY, &isnull));
	job->frontier = bi_get_int64(0, J_FRONTIER, &isnull);
	job->has_frontier = !isnull;
	job->halt_on_failure = DatumGetBool(bi_get(0, J_HALT_ON_FAILURE, &isnull));
	job->command = bi_get_text(0, J_COMMAND);
	job->command_search_path = bi_get_text(0, J_COMMAND_SEARCH_PATH);
	job->schedule = bi_get_text(0, J_SCHEDULE);
	job->paused = DatumGetBool(bi_get(0, J_PAUSED, &isnull));
	job->max_keys = bi_get_int64(0, J_MAX_KEYS, &isnull);
	job->has_max_keys = !isnull;
	job->window.size = row_datum(J_WINDOW_SIZE, &isnull);
	job->has_window = !isnull;
	job->window.time_zone = bi_get_text(0, J_WINDOW_TIME_ZONE);
	job->window.origin = DatumGetTimestampTz(bi_get(0, J_WINDOW_ORIGIN, &isnull));
	job->window.has_origin = !isnull;
	job->window.delay = row_datum(J_WINDOW_DELAY, &isnull);
	job->empty_windows = DatumGetBool(bi_get(0, J_EMPTY_WINDOWS, &isnull));
	job->reprocess_late = DatumGetBool(bi_get(0, J_REPROCESS_LATE, &isnull));
	job->late_horizon = row_datum(J_LATE_HORIZON, &isnull);
	MemoryContextSwitchTo(oldcontext);
	return job;
}

/*
 * Load a job's row by name (name not NULL) or by id, and return its cached
 * copy: the one already cached if it is still at the same revision (with
 * the frontier just read), else a new one.  NULL if there is no such job.
 * The caller must be connected to SPI.
 */
static BiJob *
job_load(int32 job_id, const char *name)
{
	Oid			argtypes[1];
	Datum		args[1];
	BiJob	   *cached;
	BiJob	   *job;
	bool		isnull;

	if (name != NULL)
	{
		argtypes[0] = TEXTOID;
		args[0] = CStringGetTextDatum(name);
		if (bi_exec(JOB_SELECT " WHERE j.name OPERATOR(pg_catalog.=) $1",
					1, argtypes, args, NULL, SPI_OK_SELECT) == 0)
			return NULL;
	}
	else
	{
		argtypes[0] = INT4OID;
		args[0] = Int32GetDatum(job_id);
		if (bi_exec(JOB_SELECT " WHERE j.job_id OPERATOR(pg_catalog.=) $1",
					1, argtypes, args, NULL, SPI_OK_SELECT) == 0)
			return NULL;
	}

	job_id = DatumGetInt32(bi_get(0, J_JOB_ID, &isnull));
	cached = cache_find(job_id, NULL);
	if (cached != NULL && cached->revision == bi_get_int64(0, J_REVISION, &isnull))
	{
		cached->frontier = bi_get_int64(0, J_FRONTIER, &isnull);
		cached->has_frontier = !isnull;
		return cached;
	}
	if (cached != NULL)
		bi_job_forget(job_id);
	job = job_from_row();
	cache_add(job);
	return job;
}

/*
 * bi_job_open
 *		The job named name, which the caller must be allowed to use (else
 *		42501, checked before anything else is done with the job).  With
 *		lock, the job's lock is taken first and the job read afterwards, so
 *		the frontier is the one the last holder of the lock committed; the
 *		lock is checked to be the lock of the job read (a job dropped and
 *		registered again under its name while we waited is looked up again).
 *		The caller must be connected to SPI.
 */
BiJob *
bi_job_open(const BiCall *call, const char *name, bool lock)
{
	for (;;)
	{
		BiJob	   *job;

		if (lock)
		{
			BiJob	   *known = cache_find(0, name);
			int32		job_id;

			if (known == NULL && (known = job_load(0, name)) == NULL)
				bi_job_not_found(name);
			bi_check_may_use(call, name, known->owner);
			job_id = known->job_id;
			bi_job_lock(job_id);
			job = job_load(job_id, NULL);
			if (job == NULL || strcmp(job->name, name) != 0)
			{
				bi_job_forget(job_id);
				continue;
			}
		}
		else if ((job = job_load(0, name)) == NULL)
			bi_job_not_found(name);
		bi_check_may_use(call, name, job->owner);
		return job;
	}
}

/*
 * bi_job_cached
 *		The job named name as cached (loaded if it is not), checked to be
 *		usable by the caller, without reading its row again: acquire reads
 *		the row under the job's lock and calls bi_job_apply_row.
 */
BiJob *
bi_job_cached(const BiCall *call, const char *name)
{
	BiJob	   *job = cache_find(0, name);

	if (job == NULL && (job = job_load(0, name)) == NULL)
		bi_job_not_found(name);
	bi_check_may_use(call, name, job->owner);
	return job;
}

/*
 * bi_job_seen
 *		The job named name, which the caller must be allowed to see as the
 *		views show it (use it, or be a member of pg_monitor; else 42501).
 *		The caller must be connected to SPI.
 */
BiJob *
bi_job_seen(const BiCall *call, const char *name)
{
	BiJob	   *job = job_load(0, name);

	if (job == NULL)
		bi_job_not_found(name);
	if (!bi_may_see(call->caller, job->owner))
		bi_check_may_use(call, name, job->owner);
	return job;
}

/*
 * bi_job_apply_row
 *		Does the row read under the lock (revision, name, owner) still
 *		describe the cached job?  If not, the caller must reload it.
 */
bool
bi_job_apply_row(BiJob *job, int64 revision, const char *name, Oid owner)
{
	return job->revision == revision && job->owner == owner &&
		strcmp(job->name, name) == 0;
}

/* Read a job's row again by id; NULL if it is gone */
BiJob *
bi_job_reload(int32 job_id)
{
	bi_job_forget(job_id);
	return job_load(job_id, NULL);
}

/*
 * A job by id as cached, if it is still at the revision its row has now;
 * NULL if it is gone.  The caller must be connected to SPI.
 */
BiJob *
bi_job_by_id(int32 job_id)
{
	return job_load(job_id, NULL);
}

/* Error out: batch does not exist (42704) */
void
bi_batch_not_found(int64 batch)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("batch " INT64_FORMAT " does not exist", batch)));
}

/*
 * bi_job_of_batch
 *		The job of a batch, which the caller must be allowed to use, and the
 *		batch's key range; an error if the batch does not exist (or went
 *		with its job, dropped since the batch was read).
 */
BiJob *
bi_job_of_batch(const BiCall *call, int64 batch, int64 *first_id, int64 *last_id)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(batch)};
	bool		isnull;
	BiJob	   *job;

	if (bi_exec("SELECT job_id, first_id, last_id FROM batchintory.batch"
				" WHERE batch_id OPERATOR(pg_catalog.=) $1",
				1, argtypes, args, NULL, SPI_OK_SELECT) == 0)
		bi_batch_not_found(batch);
	*first_id = bi_get_int64(0, 2, &isnull);
	*last_id = bi_get_int64(0, 3, &isnull);
	job = job_load(DatumGetInt32(bi_get(0, 1, &isnull)), NULL);
	if (job == NULL)
		bi_batch_not_found(batch);
	bi_check_may_use(call, job->name, job->owner);
	return job;
}

/*
 * bi_job_live_range
 *		The first key of the job's first live (not superseded) batch and the
 *		last key of its last one; false if it has none.  Live batches follow
 *		each other without gap.
 */
bool
bi_job_live_range(BiJob *job, int64 *first_live, int64 *last_live)
{
	Oid			argtypes[1] = {INT4OID};
	Datum		args[1] = {Int32GetDatum(job->job_id)};
	bool		isnull;

	bi_exec("SELECT (SELECT b.first_id FROM batchintory.batch b"
			"  WHERE b.job_id OPERATOR(pg_catalog.=) $1"
			"  AND" BI_IS_LIVE("b") " ORDER BY b.first_id LIMIT 1),"
			" (SELECT b.last_id FROM batchintory.batch b"
			"  WHERE b.job_id OPERATOR(pg_catalog.=) $1"
			"  AND" BI_IS_LIVE("b") " ORDER BY b.first_id DESC LIMIT 1)",
			1, argtypes, args, NULL, SPI_OK_SELECT);
	*first_live = bi_get_int64(0, 1, &isnull);
	*last_live = bi_get_int64(0, 2, &isnull);
	return !isnull;
}

/* Error out: the job cannot read its table, because of problem */
static void
reader_error(BiJob *job, int sqlstate, const char *problem)
{
	char	   *table = get_rel_name(job->source);

	ereport(ERROR,
			(errcode(sqlstate),
			 table ? errmsg("job \"%s\" cannot read table \"%s\"", job->name, table) :
			 errmsg("job \"%s\" cannot read its metadata table", job->name),
			 errdetail("%s", problem),
			 table ? errhint("Change the job with batchintory_alter(%s, ...) or drop it with batchintory_drop(%s).",
							 quote_literal_cstr(job->name), quote_literal_cstr(job->name)) :
			 errhint("Drop the job with batchintory_drop(%s).",
					 quote_literal_cstr(job->name))));
}

/* The job's filter, analyzed (bi_filter_stored) */
static Node *
job_filter_node(BiJob *job)
{
	if (job->filter == NULL)
		return NULL;
	return bi_filter_stored(job->source, job->filter, job->filter_expr);
}

/*
 * Prepare and keep one query over the job's table, with nargs bigint
 * parameters, read through a cursor a chunk at a time
 */
static SPIPlanPtr
reader_plan(const char *sql, int nargs)
{
	Oid			argtypes[2] = {INT8OID, INT8OID};

	return bi_prepare_kept(sql, nargs, argtypes, CURSOR_OPT_FAST_PLAN);
}

/*
 * Build what reads the job's metadata table, in a memory context of its own
 * under the job's; NULL with *problem and *sqlstate set if the table, a
 * column or the filter is no longer usable.
 */
static BiReader *
reader_build(BiJob *job, char **problem, int *sqlstate)
{
	MemoryContext context = AllocSetContextCreate(job->context,
												  "batchintory reader",
												  ALLOCSET_SMALL_SIZES);
	MemoryContext oldcontext = MemoryContextSwitchTo(context);
	BiReader   *reader = palloc0(sizeof(BiReader));
	Node	   *volatile filter = NULL;
	const char *key;
	const char *units;
	const char *weight = "";
	BiAsRole	as_owner;

	reader->context = context;
	/* the table and columns first: the filter is analyzed against them */
	*problem = bi_source_problem(job, NULL, reader, sqlstate);
	if (*problem == NULL)
	{
		/* a filter analyzed again that no longer analyzes: the job's error */
		PG_TRY();
		{
			filter = job_filter_node(job);
		}
		PG_CATCH();
		{
			ErrorData  *edata;

			MemoryContextSwitchTo(oldcontext);
			edata = CopyErrorData();
			FlushErrorState();
			MemoryContextDelete(context);
			reader_error(job, edata->sqlerrcode,
						 psprintf("Its filter is no longer valid: %s.", edata->message));
		}
		PG_END_TRY();
		if (filter != NULL)
			*problem = bi_source_problem(job, filter, reader, sqlstate);
	}
	if (*problem == NULL && job->late_commit_guard)
	{
		int64		cache;

		reader->sequence = bi_key_sequence(job->source, job->id_column, &cache);
		if (job->has_max_keys && !OidIsValid(reader->sequence))
		{
			*problem = psprintf("Its key column \"%s\" no longer draws its keys from a sequence, which a job cut by key range alone (max_keys) needs.",
								job->id_column);
			*sqlstate = ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE;
		}
	}
	if (*problem != NULL)
	{
		MemoryContextSwitchTo(oldcontext);
		*problem = pstrdup(*problem);
		MemoryContextDelete(context);
		return NULL;
	}
	reader->source_name = bi_source_name(job->source);
	if (filter != NULL)
		reader->filter_sql = bi_filter_deparse(filter, job->source);
	key = quote_identifier(job->id_column);
	if (job->weight_column != NULL)
		weight = psprintf(", %s::pg_catalog.%s", quote_identifier(job->weight_column),
						  reader->weight_is_int ? "int8" : "numeric");

	/* planned as the owner: row-level security, if any, is the owner's */
	bi_as_owner_begin(&as_owner, job->owner);
	units = bi_key_units_sql(reader->key_kind, key);
	/* the key as stored: the scan's receiver turns it into units */
	reader->scan = reader_plan(bi_reader_query(job, reader,
											   psprintf("%s%s", key, weight),
											   psprintf("ORDER BY %s", key)), 2);
	reader->last_key = reader_plan(bi_reader_query(job, reader, units,
												   psprintf("ORDER BY %s DESC LIMIT 1", key)), 2);
	reader->newest_key = reader_plan(psprintf("SELECT %s FROM %s",
											  bi_key_units_sql(reader->key_kind,
															   psprintf("pg_catalog.max(%s)", key)),
											  reader->source_name), 0);
	bi_as_role_end(&as_owner);
	MemoryContextSwitchTo(oldcontext);
	return reader;
}

/*
 * bi_job_key_arg
 *		Argument argno of a function that takes a key of job: a bigint (the
 *		key in the job's units; the table is not read), or text in the key's
 *		own spelling ('2026-03-01 10:00+01' for a timestamptz key, '42' for
 *		an integer key).  Not NULL.
 */
int64
bi_job_key_arg(FunctionCallInfo fcinfo, int argno, BiJob *job)
{
	if (get_fn_expr_argtype(fcinfo->flinfo, argno) != TEXTOID)
		return PG_GETARG_INT64(argno);
	return bi_key_parse(bi_job_reader(job)->key_kind,
						TextDatumGetCString(PG_GETARG_DATUM(argno)));
}

/*
 * bi_job_reader
 *		What reads the job's metadata table, built on first use and again
 *		after its table, or anything its filter uses, changed.  An error
 *		naming the job, the table and what broke if it cannot be read.
 */
BiReader *
bi_job_reader(BiJob *job)
{
	char	   *problem;
	int			sqlstate;

	/*
	 * The table, locked first, cannot be dropped while the caller reads it
	 * (nor its row type, which batchintory_assets returns); taking the lock
	 * also processes the invalidations of a drop that came before.
	 */
	LockRelationOid(job->source, AccessShareLock);
	if (job->reader != NULL && !job->reader_stale)
		return job->reader;
	reader_free(job);
	job->reader_stale = false;
	job->reader = reader_build(job, &problem, &sqlstate);
	if (job->reader == NULL)
		reader_error(job, sqlstate, problem);
	return job->reader;
}

/*
 * bi_job_problem
 *		What keeps the job from working, as a sentence, or NULL: the reader's
 *		problem, for the jobs view, which must not fail on one broken job.
 */
char *
bi_job_problem(BiJob *job)
{
	char	   *problem;
	int			sqlstate;

	if (job->reader != NULL && !job->reader_stale)
		return NULL;
	reader_free(job);
	job->reader_stale = false;
	job->reader = reader_build(job, &problem, &sqlstate);
	return job->reader == NULL ? problem : NULL;
}

/*
 * A relation changed: readers of jobs over it are rebuilt before next use;
 * if it is the inventory, every cached job is dropped (a new extension
 * numbers its jobs from 1 again).  Only flags are set here: a job may be in
 * use while invalidations are processed.
 */
static void
relation_changed(Datum arg, Oid relid)
{
	int			i;

	for (i = 0; i < job_cache_count; i++)
	{
		if (relid == InvalidOid || job_cache[i]->source == relid)
			job_cache[i]->reader_stale = true;
		/* the inventory itself: its jobs may be others now, same ids */
		if (relid == InvalidOid || relid == job_cache_inventory)
			job_cache[i]->dead = true;
	}
}

/*
 * A function, operator, type, collation or schema changed: a filter may
 * deparse (or analyze) otherwise
 */
static void
catalog_changed(Datum arg, int cacheid, uint32 hashvalue)
{
	int			i;

	for (i = 0; i < job_cache_count; i++)
		job_cache[i]->reader_stale = true;
}

void
bi_jobcache_init(void)
{
	CacheRegisterRelcacheCallback(relation_changed, (Datum) 0);
	CacheRegisterSyscacheCallback(PROCOID, catalog_changed, (Datum) 0);
	CacheRegisterSyscacheCallback(OPEROID, catalog_changed, (Datum) 0);
	CacheRegisterSyscacheCallback(TYPEOID, catalog_changed, (Datum) 0);
	CacheRegisterSyscacheCallback(COLLOID, catalog_changed, (Datum) 0);
	CacheRegisterSyscacheCallback(NAMESPACEOID, catalog_changed, (Datum) 0);
}
