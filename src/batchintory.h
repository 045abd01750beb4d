/*
 * batchintory.h
 *	  Types and functions shared by the modules of batchintory.
 */
#ifndef BATCHINTORY_H
#define BATCHINTORY_H

#include "postgres.h"

#include "executor/spi.h"
#include "fmgr.h"
#include "utils/timestamp.h"

/*
 * Advisory lock key space: every lock batchintory takes is a
 * transaction-scoped advisory lock on the two-int4 key
 * (BATCHINTORY_LOCK_SPACE, job_id), visible in pg_locks as
 * locktype = 'advisory', classid = 1651794792, objid = job_id, objsubid = 2.
 */
#define BATCHINTORY_LOCK_SPACE 0x62746368	/* "btch" */

/* A job as stored in batchintory.job */
typedef struct BatchintoryJob
{
	int32		job_id;
	char	   *name;
	Oid			source;
	char	   *id_column;
	char	   *weight_column;	/* NULL: no weight */
	char	   *filter;			/* NULL: every row matches */
	bool		has_lower_bound;
	int64		lower_bound;
	bool		has_upper_bound;
	int64		upper_bound;
	bool		has_max_count;
	int64		max_count;
	bool		has_max_weight;
	Datum		max_weight;		/* numeric */
	int32		max_attempts;
	Datum		lease;			/* interval */
	Datum		retry_backoff;	/* interval */
	bool		late_commit_guard;
	Datum		guard_timeout;	/* interval */
	Datum		config;			/* jsonb */
	bool		has_frontier;
	int64		frontier;
} BatchintoryJob;

/* Workload limits of one batch */
typedef struct BatchLimits
{
	bool		has_max_count;
	int64		max_count;
	bool		has_max_weight;
	Datum		max_weight;		/* numeric */
} BatchLimits;

/* A range of keys and what it holds */
typedef struct BatchRange
{
	int64		first_id;
	int64		last_id;
	int64		asset_count;
	bool		has_weight;
	Datum		weight;			/* numeric, valid if has_weight */
	const char *ended_by;
} BatchRange;

/* spi_util.c */
extern SPIPlanPtr bi_plan(const char *sql, int nargs, Oid *argtypes);
extern uint64 bi_exec(const char *sql, int nargs, Oid *argtypes,
					  Datum *values, const char *nulls, int expected);
extern Datum bi_get(uint64 row, int col, bool *isnull);
extern int64 bi_get_int64(uint64 row, int col, bool *isnull);
extern char *bi_get_text(uint64 row, int col);
extern void bi_materialize(FunctionCallInfo fcinfo);
extern Datum bi_numeric_from_int64(int64 value);
extern int	bi_numeric_cmp(Datum a, Datum b);
extern Datum bi_numeric_add(Datum a, Datum b);
extern int64 bi_interval_ms(Datum interval);

/* job.c */
extern BatchintoryJob *job_load(const char *name, bool lock);
extern BatchintoryJob *job_load_by_id(int32 job_id);
extern void job_lock(int32 job_id);
extern void job_check_source(BatchintoryJob *job);
extern const char *job_name_arg(FunctionCallInfo fcinfo);
extern BatchintoryJob *job_from_arg(FunctionCallInfo fcinfo, bool lock);

/* filter.c */
extern AttrNumber column_check(Oid relid, const char *column,
							   const char *role, bool weight);
extern void filter_check(Oid relid, const char *filter);
extern char *source_name(Oid relid);

/* cut.c */
extern char *job_query(BatchintoryJob *job, const char *what, const char *tail);
extern BatchLimits limits_for(BatchintoryJob *job, Datum *args, bool *argnulls);
extern bool cut_range(BatchintoryJob *job, int64 start, int64 limit,
					  bool limit_is_window_end, BatchLimits *limits,
					  BatchRange *range);
extern void range_stats(BatchintoryJob *job, int64 first_id, int64 last_id,
						BatchRange *range, int64 *first_key);
extern bool newest_key(BatchintoryJob *job, int64 *key);
extern int64 next_start(BatchintoryJob *job);

/* release.c */
extern bool batch_requeue(int64 batch);

/* guard.c */
extern bool guard_cut_limit(BatchintoryJob *job, bool wait, int64 *limit);
extern void guard_check_sequence(Oid relid, const char *column);

#endif							/* BATCHINTORY_H */
