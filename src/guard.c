/*
 * guard.c
 *	  The late-commit guard: the newest key a job may cut to, after waiting
 *	  (bounded) for the transactions that may still insert keys below it.
 */
#include "postgres.h"

#include "batchintory.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "storage/proc.h"
#if PG_VERSION_NUM < 170000
#include "storage/sinvaladt.h"
#endif
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

/* longest sleep between two looks at a writer that is still running */
#define GUARD_MAX_SLEEP_MS 10

/*
 * key_sequence
 *		The sequence that feeds the key column (serial or identity), or
 *		InvalidOid; *cache receives its CACHE setting.
 */
static Oid
key_sequence(Oid relid, const char *column, int64 *cache)
{
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	Datum		args[2];
	bool		isnull;
	Oid			seq;

	args[0] = CStringGetTextDatum(source_name(relid));
	args[1] = CStringGetTextDatum(column);
	if (bi_exec("SELECT s.seqrelid, s.seqcache FROM pg_catalog.pg_sequence s"
				" WHERE s.seqrelid OPERATOR(pg_catalog.=)"
				" pg_catalog.pg_get_serial_sequence($1, $2)::pg_catalog.regclass",
				2, argtypes, args, NULL, SPI_OK_SELECT) == 0)
		return InvalidOid;
	seq = DatumGetObjectId(bi_get(0, 1, &isnull));
	*cache = bi_get_int64(0, 2, &isnull);
	return seq;
}

/*
 * guard_check_sequence
 *		Refuse the guard for a key whose sequence hands out cached values:
 *		with CACHE n > 1 a session may insert a key far below the sequence's
 *		last value long after it, and the guard could not see it coming.
 */
void
guard_check_sequence(Oid relid, const char *column)
{
	int64		cache = 1;
	Oid			seq = key_sequence(relid, column, &cache);

	if (OidIsValid(seq) && cache > 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("sequence \"%s\" of key column \"%s\" has CACHE " INT64_FORMAT,
						get_rel_name(seq), column, cache),
				 errdetail("The late-commit guard needs keys handed out in order, one at a time."),
				 errhint("Run ALTER SEQUENCE %s CACHE 1, or register the job with late_commit_guard => false.",
						 get_rel_name(seq))));
}

/*
 * Is this virtual transaction a VACUUM or an autovacuum worker?  They hold
 * a lock that conflicts with ShareLock on the table but insert no rows.
 */
static bool
is_vacuum(VirtualTransactionId vxid)
{
	PGPROC	   *proc;

#if PG_VERSION_NUM >= 170000
	proc = ProcNumberGetProc(vxid.procNumber);
#else
	proc = BackendIdGetProc(vxid.backendId);
#endif
	if (proc == NULL)
		return false;
#if PG_VERSION_NUM >= 140000
	return (proc->statusFlags & (PROC_IS_AUTOVACUUM | PROC_IN_VACUUM)) != 0;
#else
	return (ProcGlobal->allPgXact[proc->pgprocno].vacuumFlags &
			(PROC_IS_AUTOVACUUM | PROC_IN_VACUUM)) != 0;
#endif
}

/*
 * wait_for_writers
 *		Wait until every transaction that holds a lock on relid conflicting
 *		with ShareLock (that is, every writer) when we look has ended, as
 *		CREATE INDEX CONCURRENTLY does, but skipping vacuums and giving up
 *		after timeout_ms.  Returns false on time-out.
 */
static bool
wait_for_writers(Oid relid, int64 timeout_ms)
{
	LOCKTAG		tag;
	VirtualTransactionId *writers;
	TimestampTz deadline;

	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout_ms);
	SET_LOCKTAG_RELATION(tag, MyDatabaseId, relid);
	writers = GetLockConflicts(&tag, ShareLock, NULL);

	for (; VirtualTransactionIdIsValid(*writers); writers++)
	{
		long		sleep_ms = 1;

		if (is_vacuum(*writers))
			continue;
		while (!VirtualXactLock(*writers, false))
		{
			if (GetCurrentTimestamp() >= deadline)
				return false;
			(void) WaitLatch(MyLatch,
							 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 sleep_ms, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
			sleep_ms = Min(sleep_ms * 2, GUARD_MAX_SLEEP_MS);
		}
	}
	return true;
}

/*
 * guard_cut_limit
 *		The newest key the job may cut new batches up to, clamped to its
 *		upper bound; false when there is none (empty table, or the wait for
 *		writers timed out).
 *
 * With the guard on and a sequence behind the key, that is the sequence's
 * last value H read before waiting: every key up to H was drawn by a
 * transaction that then held a write lock on the table, so once those have
 * ended, every key up to H is committed or gone for good.  Without a
 * sequence, H is the newest key visible before the wait.  wait = false
 * (peek) skips the wait and cuts at what is visible now.
 */
bool
guard_cut_limit(BatchintoryJob *job, bool wait, int64 *limit)
{
	int64		cache = 1;
	int64		newest;
	bool		has_newest = newest_key(job, &newest);
	Oid			seq = InvalidOid;

	if (job->late_commit_guard)
		seq = key_sequence(job->source, job->id_column, &cache);

	if (OidIsValid(seq) && wait)
	{
		Oid			argtypes[1] = {OIDOID};
		Datum		args[1] = {ObjectIdGetDatum(seq)};
		bool		isnull;
		int64		last;

		if (cache > 1)
			ereport(WARNING,
					(errmsg("sequence \"%s\" of job \"%s\" has CACHE " INT64_FORMAT,
							get_rel_name(seq), job->name, cache),
					 errdetail("Keys that commit late may be skipped: the late-commit guard needs CACHE 1."),
					 errhint("Run ALTER SEQUENCE %s CACHE 1.", get_rel_name(seq))));
		if (pg_class_aclcheck(seq, GetUserId(), ACL_SELECT | ACL_USAGE) != ACLCHECK_OK)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied for sequence %s", get_rel_name(seq)),
					 errdetail("The late-commit guard of job \"%s\" reads the last value of the key's sequence.",
							   job->name),
					 errhint("Grant SELECT on the sequence to the role, or set late_commit_guard => false for the job.")));
		bi_exec("SELECT pg_catalog.pg_sequence_last_value($1::pg_catalog.regclass)",
				1, argtypes, args, NULL, SPI_OK_SELECT);
		last = bi_get_int64(0, 1, &isnull);
		if (isnull)
			return false;		/* the sequence was never used */
		if (has_newest && newest > last)
			ereport(WARNING,
					(errmsg("table \"%s\" has keys above the last value of its sequence \"%s\"",
							get_rel_name(job->source), get_rel_name(seq)),
					 errdetail("Keys above " INT64_FORMAT " are handed out once the sequence passes them.",
							   last),
					 errhint("Let the sequence draw the keys, or use late_commit_guard => false.")));
		newest = last;
		has_newest = true;
	}
	if (!has_newest)
		return false;

	if (job->late_commit_guard && wait &&
		!wait_for_writers(job->source, bi_interval_ms(job->guard_timeout)))
	{
		ereport(WARNING,
				(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
				 errmsg("no new batch for job \"%s\": writers on table \"%s\" still running after the guard timeout",
						job->name, get_rel_name(job->source)),
				 errdetail("A transaction still running may commit keys below " INT64_FORMAT ".",
						   newest),
				 errhint("Retry later, or raise the job's guard_timeout.")));
		return false;
	}

	*limit = newest;
	if (job->has_upper_bound && job->upper_bound < *limit)
		*limit = job->upper_bound;
	return true;
}
