/*
 * sequence.c
 *	  The sequence that feeds a job's key: its parameters, and the last
 *	  value it drew, read from its page without locking it; for a job cut by
 *	  key range alone, where its keys start and how far they were drawn.
 */
#include "postgres.h"

#include "batchintory.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "catalog/pg_class.h"
#include "commands/sequence.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/acl.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

/* A sequence's parameters (START, INCREMENT, MINVALUE, CACHE...), from the syscache */
FormData_pg_sequence
bi_sequence_parameters(Oid seq)
{
	HeapTuple	tuple = SearchSysCache1(SEQRELID, ObjectIdGetDatum(seq));
	FormData_pg_sequence parameters;

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for sequence %u", seq);
	parameters = *(Form_pg_sequence) GETSTRUCT(tuple);
	ReleaseSysCache(tuple);
	return parameters;
}

static void
sequence_not_readable(Oid seq, const char *job, Oid role)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied for sequence %s", get_rel_name(seq)),
			 errdetail("The late-commit guard of job \"%s\" reads the last value of the key's sequence as the job's owner, role %s.",
					   job, GetUserNameFromId(role, false)),
			 errhint("Grant SELECT on the sequence to the job's owner, or set late_commit_guard => false for the job.")));
}

/*
 * bi_sequence_last_value
 *		The last value the sequence handed out; false if it never handed out one
 * (or was restarted since).  The job's owner must be able to read the
 * sequence.  This is what pg_sequence_last_value() returns, read from the
 * sequence's page under a share lock of its buffer, as SELECT FROM the
 * sequence would, but without the lock on the sequence that
 * pg_sequence_last_value() keeps until the end of the transaction: the
 * guard waits for the holders of that lock, and an acquirer must not
 * become one.
 */
bool
bi_sequence_last_value(BiJob *job, Oid seq, int64 *last)
{
	Relation	rel;
	Buffer		buf;
	Page		page;
	HeapTupleData tuple;
	Form_pg_sequence_data data;
	bool		called;

	if (pg_class_aclcheck(seq, job->owner, ACL_SELECT | ACL_USAGE) != ACLCHECK_OK)
		sequence_not_readable(seq, job->name, job->owner);
	rel = relation_open(seq, AccessShareLock);
	if (rel->rd_rel->relkind != RELKIND_SEQUENCE)
		elog(ERROR, "\"%s\" is not a sequence", RelationGetRelationName(rel));
	buf = ReadBuffer(rel, 0);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	tuple.t_data = (HeapTupleHeader) PageGetItem(page,
												 PageGetItemId(page, FirstOffsetNumber));
	data = (Form_pg_sequence_data) GETSTRUCT(&tuple);
	*last = data->last_value;
	called = data->is_called;
	UnlockReleaseBuffer(buf);
	relation_close(rel, AccessShareLock);
	return called;
}

/* The key's sequence of a job cut by key range alone (its reader has one) */
static Oid
job_sequence(BiJob *job)
{
	return bi_job_reader(job)->sequence;
}

/*
 * bi_sequence_last_drawn
 *		For a job cut by key range alone: the last key its sequence drew,
 *		read as the job's owner; false if it drew none yet.
 */
bool
bi_sequence_last_drawn(BiJob *job, int64 *key)
{
	return bi_sequence_last_value(job, job_sequence(job), key);
}

/*
 * bi_sequence_first_key
 *		For a job cut by key range alone, without a lower bound: where its
 *		first batch starts, the smallest key its sequence can draw.
 */
int64
bi_sequence_first_key(BiJob *job)
{
	return bi_sequence_parameters(job_sequence(job)).seqmin;
}
