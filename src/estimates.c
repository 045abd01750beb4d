/*
 * estimates.c
 *	  The planner's estimate of a job's backlog, or what keeps the job from
 *	  working, for the jobs view; and the ones this backend made, kept with
 *	  what they were made from, so that polling many jobs asks the planner
 *	  again only about the jobs where something it reads changed.
 */
#include "postgres.h"

#include "batchintory.h"
#include "inventory/inventory.h"

#include "access/relation.h"
#include "catalog/pg_class.h"
#include "miscadmin.h"
#include "nodes/readfuncs.h"
#include "optimizer/optimizer.h"
#include "storage/bufmgr.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

/*
 * The planner's estimate of the job's matching assets after its frontier.
 * Nothing of the table is read but the newest key (and no filter runs), so
 * a slow or failing filter cannot slow down or break the jobs view.
 */
static int64
estimate_backlog(BiJob *job)
{
	int64		first;
	int64		last;

	if (!bi_after_frontier(job, &first, &last))
		return 0;
	return bi_estimate_count(job, first, last);
}

/* What estimate_or_problem works out for one job */
typedef struct Estimate
{
	BiJob	   *job;
	char	   *problem;		/* why the job cannot work, or NULL */
	bool		has_backlog;
	int64		backlog;
} Estimate;

static void
estimate_job(void *arg)
{
	Estimate   *estimate = (Estimate *) arg;

	if ((estimate->problem = bi_job_problem(estimate->job)) == NULL)
	{
		estimate->backlog = estimate_backlog(estimate->job);
		estimate->has_backlog = true;
	}
}

/*
 * The estimated backlog of job, or why the job cannot work; never an error
 * (a subtransaction catches it), so that one broken job cannot break the
 * jobs view.
 */
static void
estimate_or_problem(BiJob *job, BiEstimate *result)
{
	Estimate	estimate = {job, NULL, false, 0};
	ErrorData  *error = bi_in_subtransaction(estimate_job, &estimate);

	result->backlog = estimate.backlog;
	result->has_backlog = estimate.has_backlog;
	result->problem = estimate.problem;
	if (error != NULL)
		result->problem = error->detail ?
			psprintf("%s: %s", error->message, error->detail) : error->message;
}

/*
 * bi_job_estimate
 *		The planner's estimate of the backlog of the job job_id and what is
 *		wrong with the job, if anything, into *estimate (in the caller's
 *		memory context); *keep says whether it only changes with what
 *		bi_known_estimate watches (a filter calling now() does not).  The
 *		caller must be allowed to see the job.  false if the job is gone
 *		(dropped since the caller read its row).
 */
bool
bi_job_estimate(int32 job_id, BiEstimate *estimate, bool *keep)
{
	MemoryContext fn_context = CurrentMemoryContext;
	BiCall		call;
	BiJob	   *job;

	bi_call_begin(&call);
	job = bi_job_by_id(job_id);
	if (job == NULL)
	{
		bi_call_end(&call);
		return false;
	}
	if (!bi_may_see(call.caller, job->owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for job \"%s\"", job->name)));
	estimate_or_problem(job, estimate);
	if (estimate->problem != NULL)
		estimate->problem = MemoryContextStrdup(fn_context, estimate->problem);
	*keep = estimate->problem != NULL || job->filter_expr == NULL ||
		!contain_mutable_functions(stringToNode(job->filter_expr));
	bi_call_end(&call);
	return true;
}

/*
 * An estimate this backend made, and what it was made from: the job's
 * revision and frontier, and its table's size and highest key.  An
 * invalidation of the table (ANALYZE, ALTER, GRANT, DROP) or of any
 * function, operator, type, collation, schema, role or role membership
 * (what a filter and the checks of a job read) makes it invalid.
 */
typedef struct Known
{
	int32		job_id;			/* hash key */
	bool		valid;
	uint64		epoch;			/* known_epoch when it was made */
	Oid			source;
	int64		revision;
	bool		has_frontier;
	int64		frontier;
	BlockNumber blocks;
	bool		has_last_key;
	int64		last_key;
	BiEstimate	estimate;		/* its problem in known_context */
} Known;

static HTAB *known = NULL;
static MemoryContext known_context = NULL;
static uint64 known_epoch = 1;

/* A relation changed: the estimates over it are made again */
static void
known_relation_changed(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS status;
	Known	   *entry;

	if (!OidIsValid(relid))
	{
		known_epoch++;
		return;
	}
	hash_seq_init(&status, known);
	while ((entry = hash_seq_search(&status)) != NULL)
		if (entry->source == relid)
			entry->valid = false;
}

/* A catalog an estimate or a job's check reads changed: all are made again */
static void
known_catalog_changed(Datum arg, int cacheid, uint32 hashvalue)
{
	known_epoch++;
}

static void
known_init(void)
{
	static const int catalogs[] = {PROCOID, OPEROID, TYPEOID, COLLOID, NAMESPACEOID,
	AUTHOID, AUTHMEMROLEMEM};
	HASHCTL		ctl;
	int			i;

	known_context = AllocSetContextCreate(TopMemoryContext, "batchintory estimates",
										  ALLOCSET_DEFAULT_SIZES);
	ctl.keysize = sizeof(int32);
	ctl.entrysize = sizeof(Known);
	ctl.hcxt = known_context;
	known = hash_create("batchintory estimates", 256, &ctl,
						HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	CacheRegisterRelcacheCallback(known_relation_changed, (Datum) 0);
	for (i = 0; i < (int) lengthof(catalogs); i++)
		CacheRegisterSyscacheCallback(catalogs[i], known_catalog_changed, (Datum) 0);
}

/*
 * What a job's table looks like now, read once per query (a list in
 * fn_extra): its size and highest key; watched only if it is a plain table
 * (a parent's estimate also depends on its children)
 */
typedef struct TableNow
{
	Oid			source;
	char	   *id_column;
	bool		watched;
	BlockNumber blocks;
	bool		has_last_key;
	int64		last_key;
	struct TableNow *next;
} TableNow;

static TableNow *
table_now(FmgrInfo *flinfo, Oid source, const char *id_column)
{
	TableNow   *table;
	Relation	rel;
	AttrNumber	key;

	for (table = flinfo->fn_extra; table != NULL; table = table->next)
		if (table->source == source && strcmp(table->id_column, id_column) == 0)
			return table;

	table = MemoryContextAllocZero(flinfo->fn_mcxt, sizeof(TableNow));
	table->source = source;
	table->id_column = MemoryContextStrdup(flinfo->fn_mcxt, id_column);
	table->next = flinfo->fn_extra;
	flinfo->fn_extra = table;
	key = get_attnum(source, id_column);
	if (key <= 0 || (rel = try_relation_open(source, AccessShareLock)) == NULL)
		return table;
	table->watched = rel->rd_rel->relkind == RELKIND_RELATION &&
		!rel->rd_rel->relhassubclass;
	if (table->watched)
	{
		table->blocks = RelationGetNumberOfBlocks(rel);
		table->has_last_key = bi_source_last_key(rel, key, &table->last_key);
	}
	relation_close(rel, AccessShareLock);
	return table;
}

/*
 * bi_known_estimate
 *		The estimate of the job whose figures are in *figures, into
 *		*estimate, as bi_job_estimate makes it -- or as this backend made it
 *		before, if nothing it is made from changed since: a dashboard
 *		polling many jobs asks the planner again only about the jobs whose
 *		table or settings changed.  The caller must be allowed to see the
 *		job.  false if the job is gone.
 */
bool
bi_known_estimate(FmgrInfo *flinfo, const BiJobFigures *figures, BiEstimate *estimate)
{
	TableNow   *table = table_now(flinfo, figures->source, figures->id_column);
	Known	   *entry;
	bool		keep;
	bool		found;

	if (known == NULL)
		known_init();
	entry = hash_search(known, &figures->job_id, HASH_FIND, NULL);
	if (entry != NULL && entry->valid && entry->epoch == known_epoch && table->watched &&
		entry->source == figures->source && entry->revision == figures->revision &&
		entry->has_frontier == figures->has_frontier &&
		(!figures->has_frontier || entry->frontier == figures->frontier) &&
		entry->blocks == table->blocks && entry->has_last_key == table->has_last_key &&
		(!table->has_last_key || entry->last_key == table->last_key))
	{
		*estimate = entry->estimate;
		return true;
	}

	if (!bi_job_estimate(figures->job_id, estimate, &keep))
		return false;
	if (!keep || !table->watched)
		return true;
	entry = hash_search(known, &figures->job_id, HASH_ENTER, &found);
	if (found && entry->estimate.problem != NULL)
		pfree(entry->estimate.problem);
	entry->valid = true;
	entry->epoch = known_epoch;
	entry->source = figures->source;
	entry->revision = figures->revision;
	entry->has_frontier = figures->has_frontier;
	entry->frontier = figures->frontier;
	entry->blocks = table->blocks;
	entry->has_last_key = table->has_last_key;
	entry->last_key = table->last_key;
	entry->estimate = *estimate;
	if (estimate->problem != NULL)
		entry->estimate.problem = MemoryContextStrdup(known_context, estimate->problem);
	return true;
}
