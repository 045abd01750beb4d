/*
 * guard.c
 *	  The late-commit guard: the newest key a job may cut to, after waiting
 *	  (bounded) for the transactions that may still commit keys below it:
 *	  those that used the key's sequence, or without a sequence those that
 *	  write to the table or any of its partitions and inheritance children.
 */
#include "postgres.h"

#include "batchintory.h"

#include "catalog/pg_inherits.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include BI_PROC_HEADER
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

/* longest sleep between two looks at a writer that is still running */
#define GUARD_MAX_SLEEP_MS 10

/*
 * bi_guard_check_sequence
 *		For a job registered (or changed) with the guard on: refuse a key
 *		whose sequence hands out cached values (with CACHE n > 1 a session
 *		may insert a key far below the sequence's last value long after it,
 *		and the guard could not see it coming), and one the job's owner role
 *		cannot read.  A job cut by key range alone (key_range) needs the
 *		sequence, counting up, and cannot do without the guard.  The caller
 *		must be connected to SPI.
 */
void
bi_guard_check_sequence(Oid relid, const char *column, Oid role, bool key_range)
{
	int64		cache = 1;
	Oid			seq;

	if (BI_KEY_IS_TIME(bi_source_key_kind(relid, column)))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the late-commit guard does not work on key column \"%s\" of type %s",
						column, format_type_be(get_atttype(relid, get_attnum(relid, column)))),
				 errdetail("The guard waits for the transactions that drew keys from the key's sequence; a time key has none."),
				 errhint("Leave late_commit_guard off, a time key's default: each cut then records what it saw, and rows that commit into a batch after it are found as late (batchintory_verify, late => 'reprocess').")));
	seq = bi_key_sequence(relid, column, &cache);
	if (!OidIsValid(seq))
	{
		if (key_range)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("key column \"%s\" of relation \"%s\" draws no keys from a sequence",
							column, get_rel_name(relid)),
					 errdetail("A job cut by key range alone (max_keys) learns which keys were drawn, and which may still commit, from the key's sequence."),
					 errhint("Give the column a sequence (bigserial, or GENERATED ... AS IDENTITY), or cut batches by count with max_count.")));
		return;
	}
	if (key_range && bi_sequence_parameters(seq).seqincrement < 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("sequence \"%s\" of key column \"%s\" counts down",
						get_rel_name(seq), column),
				 errdetail("A job cut by key range alone hands out the keys a sequence drew in increasing order.")));
	if (cache > 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("sequence \"%s\" of key column \"%s\" has CACHE " INT64_FORMAT,
						get_rel_name(seq), column, cache),
				 errdetail("The late-commit guard needs keys handed out in order, one at a time."),
				 key_range ?
				 errhint("Run ALTER SEQUENCE %s CACHE 1.", get_rel_name(seq)) :
				 errhint("Run ALTER SEQUENCE %s CACHE 1, or register the job with late_commit_guard => false.",
						 get_rel_name(seq))));
	if (pg_class_aclcheck(seq, role, ACL_SELECT | ACL_USAGE) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for sequence %s", get_rel_name(seq)),
				 errdetail("The late-commit guard reads the last value of the key's sequence."),
				 key_range ?
				 errhint("Grant SELECT on the sequence to the job's owner.") :
				 errhint("Grant SELECT on the sequence, or register the job with late_commit_guard => false.")));
}

/*
 * Is this virtual transaction a VACUUM or an autovacuum worker?  They hold
 * a lock that conflicts with ShareLock on the table but insert no rows.
 */
static bool
is_vacuum(VirtualTransactionId vxid)
{
	PGPROC	   *proc;

	proc = BI_VXID_PROC(vxid);
	if (proc == NULL)
		return false;
	return (proc->statusFlags & (PROC_IS_AUTOVACUUM | PROC_IN_VACUUM)) != 0;
}

/*
 * A wait for the transactions that may still commit keys: until they end,
 * until the deadline, or until the caller would rather not wait (defer,
 * asked once, when the first one still running is found; NULL: never).
 * outcome says why a wait ended early: GUARD_TIMED_OUT or GUARD_DEFERRED.
 */
typedef struct WriterWait
{
	TimestampTz deadline;
	BiGuardDefer defer;
	void	   *defer_arg;
	BiGuard		outcome;
} WriterWait;

/*
 * Wait for the transactions that hold a lock conflicting with ShareLock on
 * relid when we look (on a table: its writers; on a sequence: those that
 * used it), other than our own; false if the wait ended early.
 */
static bool
wait_for_lockers_of(Oid relid, WriterWait *wait)
{
	LOCKTAG		tag;
	VirtualTransactionId *writers;

	SET_LOCKTAG_RELATION(tag, MyDatabaseId, relid);
	writers = GetLockConflicts(&tag, ShareLock, NULL);

	for (; VirtualTransactionIdIsValid(*writers); writers++)
	{
		long		sleep_ms = 1;

		if (is_vacuum(*writers))
			continue;
		while (!VirtualXactLock(*writers, false))
		{
			if (wait->defer != NULL && wait->defer(wait->defer_arg))
			{
				wait->outcome = GUARD_DEFERRED;
				return false;
			}
			wait->defer = NULL;
			if (GetCurrentTimestamp() >= wait->deadline)
			{
				wait->outcome = GUARD_TIMED_OUT;
				return false;
			}
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
 * wait_for_writers
 *		Wait until every transaction that used the key's sequence seq or,
 *		without a sequence, that writes to table relid or to one of its
 *		partitions or inheritance children (an INSERT straight into a
 *		partition locks only the partition), has ended, as CREATE INDEX
 *		CONCURRENTLY does, but skipping vacuums and giving up after
 *		timeout_usecs or when defer says so (see WriterWait).  Returns
 *		GUARD_LIMIT when they ended, else why the wait ended.
 */
static BiGuard
wait_for_writers(Oid relid, Oid seq, int64 timeout_usecs, BiGuardDefer defer,
				 void *defer_arg)
{
	WriterWait	wait = {GetCurrentTimestamp() + Min(timeout_usecs, BI_MAX_INTERVAL_USECS),
	defer, defer_arg, GUARD_LIMIT};
	List	   *locked;
	ListCell   *lc;

	if (OidIsValid(seq))
		locked = list_make1_oid(seq);
	else if (has_subclass(relid))
		locked = find_all_inheritors(relid, NoLock, NULL);
	else
		locked = list_make1_oid(relid);
	foreach(lc, locked)
		if (!wait_for_lockers_of(lfirst_oid(lc), &wait))
			return wait.outcome;
	return GUARD_LIMIT;
}

/*
 * bi_guard_limit
 *		The newest key the job may cut new batches up to, clamped to its
 *		upper bound (GUARD_LIMIT); GUARD_NO_KEY when there is none (an empty
 *		table, a sequence never used), GUARD_TIMED_OUT when the wait for
 *		writers timed out (with a WARNING, SQLSTATE 55P03), GUARD_DEFERRED
 *		when writers were still running and defer (if not NULL; called at
 *		most once, with defer_arg) said the caller would rather not wait
 *		now.  Reads the table and the sequence as the job's owner.
 *
 * With the guard on and a sequence behind the key, the limit is the
 * sequence's last value H, read before the wait, and the wait is for the
 * transactions that hold a lock on the sequence.  nextval() -- a column
 * default, an identity, or a call of its own in any statement -- locks the
 * sequence before it draws a key and keeps the lock until its top-level
 * transaction ends (a prepared transaction: until COMMIT or ROLLBACK
 * PREPARED), whatever becomes of the subtransaction that drew the key.  So
 * a transaction that drew a key up to H drew it before H was read, and
 * still holds the lock when we look, after reading H, unless it has ended;
 * once those we found have ended, every key up to H is committed or gone
 * for good (if the transaction that drew it inserts it).  A transaction
 * that has not used the sequence (an UPDATE, a DELETE, an INSERT yet to
 * draw its key) draws any key it inserts later above H: no wait for it.
 * Without a sequence, H is the newest key visible before the wait, and the
 * wait is for the writers of the table, its partitions and children.
 * wait = false (peek) neither reads the sequence nor waits: it cuts at what
 * is visible.
 */
BiGuard
bi_guard_limit(BiJob *job, bool wait, int64 *limit, BiGuardDefer defer,
			   void *defer_arg)
{
	BiReader   *reader = bi_job_reader(job);
	int64		newest;

	if (job->late_commit_guard && wait && OidIsValid(reader->sequence))
	{
		int64		cache = bi_sequence_parameters(reader->sequence).seqcache;

		if (cache > 1)
			ereport(WARNING,
					(errmsg("sequence \"%s\" of job \"%s\" has CACHE " INT64_FORMAT,
							get_rel_name(reader->sequence), job->name, cache),
					 errdetail("Keys that commit late may be skipped: the late-commit guard needs CACHE 1."),
					 errhint("Run ALTER SEQUENCE %s CACHE 1.", get_rel_name(reader->sequence))));
		if (!bi_sequence_last_value(job, reader->sequence, &newest))
			return GUARD_NO_KEY;
	}
	else if (!bi_newest_key(job, &newest))
		return GUARD_NO_KEY;

	if (job->late_commit_guard && wait)
	{
		BiGuard		waited = wait_for_writers(job->source, reader->sequence,
											  bi_interval_usecs(job->guard_timeout),
											  defer, defer_arg);

		if (waited == GUARD_DEFERRED)
			return GUARD_DEFERRED;
		if (waited == GUARD_TIMED_OUT)
		{
			ereport(WARNING,
					(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
					 OidIsValid(reader->sequence) ?
					 errmsg("no new batch for job \"%s\": a transaction that used sequence \"%s\" is still running after the guard timeout",
							job->name, get_rel_name(reader->sequence)) :
					 errmsg("no new batch for job \"%s\": a transaction writing to table \"%s\" is still running after the guard timeout",
							job->name, get_rel_name(job->source)),
					 errdetail("It may still commit keys up to " INT64_FORMAT " into table \"%s\".",
							   newest, get_rel_name(job->source)),
					 errhint("Retry later, or raise the job's guard_timeout.")));
			return GUARD_TIMED_OUT;
		}
	}

	*limit = newest;
	if (job->has_upper_bound && job->upper_bound < *limit)
		*limit = job->upper_bound;
	return GUARD_LIMIT;
}

/*
 * bi_guard_no_new_work
 *		Acquire found no new batch: if the table holds keys above the limit
 *		the guard allowed (or none was allowed because the key's sequence was
 *		never used), say why with a WARNING -- the sequence lags behind keys
 *		inserted explicitly or was restarted, and those keys wait until the
 *		sequence passes them.
 */
void
bi_guard_no_new_work(BiJob *job, int64 limit, bool has_limit)
{
	BiReader   *reader = bi_job_reader(job);
	int64		newest;

	if (!job->late_commit_guard || !OidIsValid(reader->sequence) || job->has_max_keys)
		return;
	if (!bi_newest_key(job, &newest) || (has_limit && newest <= limit))
		return;
	if (job->has_upper_bound && has_limit && limit >= job->upper_bound)
		return;
	if (bi_next_start(job) > newest)
		return;
	/* keys inserted since the limit was read are no lag: look again */
	has_limit = bi_sequence_last_value(job, reader->sequence, &limit);
	if (has_limit && newest <= limit)
		return;
	ereport(WARNING,
			(errmsg("table \"%s\" has keys above the last value of its sequence \"%s\"",
					get_rel_name(job->source), get_rel_name(reader->sequence)),
			 has_limit ?
			 errdetail("Job \"%s\" hands out keys up to " INT64_FORMAT ", the sequence's last value; the table holds keys up to " INT64_FORMAT ".",
					   job->name, limit, newest) :
			 errdetail("The sequence of job \"%s\" has handed out no value yet; the table holds keys up to " INT64_FORMAT ".",
					   job->name, newest),
			 errhint("Let the sequence draw the keys (or move it past them with setval()), or use late_commit_guard => false.")));
}
