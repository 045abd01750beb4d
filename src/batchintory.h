/*
 * batchintory.h
 *	  Types and functions shared by the modules of batchintory.  Only the
 *	  SQL-callable functions (batchintory_*) and _PG_init leave the shared
 *	  library (exports.list); everything here is internal and prefixed bi_.
 */
#ifndef BATCHINTORY_H
#define BATCHINTORY_H

#include "postgres.h"

#include "compat.h"

#include "catalog/pg_sequence.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "nodes/pg_list.h"
#include "tcop/dest.h"
#include "utils/timestamp.h"

/*
 * Lock key space: a job's locks are transaction-scoped locks with an
 * advisory lock tag (BATCHINTORY_LOCK_SPACE, job_id, which), visible in
 * pg_locks as locktype = 'advisory', classid = 1651794792, objid = job_id
 * and objsubid = BI_LOCK_JOB (the job's lock: acquire, alter, rewind, drop)
 * or BI_LOCK_CHANGE (rewind and drop among themselves).  SQL's advisory
 * lock functions take objsubid 1 and 2 only: no role can take these.
 */
#define BATCHINTORY_LOCK_SPACE 0x62746368	/* "btch" */
#define BI_LOCK_CHANGE 3
#define BI_LOCK_JOB 4

/* The longest lease, retry backoff or guard timeout a job accepts */
#define BI_MAX_INTERVAL_USECS (INT64CONST(10) * 365 * USECS_PER_DAY)

/* The longest wait before the retry of a failed batch, unless the backoff is longer */
#define BI_MAX_RETRY_DELAY_USECS USECS_PER_DAY

/*
 * SQL condition: batch b (an alias) is in processing -- for statements that
 * find their batches by key.  A function call, not the = operator: the
 * planner cannot prove batch_job_leased's predicate from it, so a generic
 * plan made under an empty inventory's statistics (where a whole scan of
 * that partial index costs what a lookup costs) cannot walk every batch in
 * flight instead of looking the batch up.
 */
#define BI_IS_PROCESSING(b) " pg_catalog.texteq(" b ".status, 'processing')"

/*
 * SQL condition: batch b is live (not superseded) -- exactly the predicate
 * of the partial index batch_job_live, which only statements that say so
 * may use: a function call, not the <> operator, so that the planner cannot
 * prove it from status = 'failed' and walk a job's live batches where a
 * smaller partial index answers.
 */
#define BI_IS_LIVE(b) " pg_catalog.textne(" b ".status, 'superseded')"

/*
 * One call of an SQL function of the extension (security.c): who called,
 * and what to restore when the call ends.  Between bi_call_begin and
 * bi_call_end the search_path is "pg_catalog, pg_temp" and the current user
 * is the inventory's owner.
 */
typedef struct BiCall
{
	Oid			caller;			/* the role that called the function */
	char	   *caller_search_path; /* its search_path */
	Oid			saved_userid;
	int			saved_sec_context;
	int			guc_nest_level;
} BiCall;

/* Saved state of bi_as_owner_begin and bi_as_caller_begin */
typedef struct BiAsRole
{
	Oid			saved_userid;
	int			saved_sec_context;
	int			guc_nest_level;
} BiAsRole;

/*
 * What reads a job's metadata table: checked column types, its filter's
 * deparse and the kept plans of the queries over it (jobcache.c builds it,
 * as the job's owner, on first use after a change).
 */
/*
 * The type of a job's key: integers, or times kept as integers in their own
 * units (timestamptz and timestamp: microseconds since 2000-01-01; date:
 * days), which may repeat (keys.c)
 */
typedef enum BiKeyKind
{
	KEY_NONE,
	KEY_INT2,
	KEY_INT4,
	KEY_INT8,
	KEY_TIMESTAMPTZ,
	KEY_TIMESTAMP,
	KEY_DATE
} BiKeyKind;

#define BI_KEY_IS_TIME(kind) ((kind) >= KEY_TIMESTAMPTZ)

typedef struct BiReader
{
	MemoryContext context;		/* holds the reader, under the job's context */
	bool		weight_is_int;	/* integral weights: summed as int64 */
	BiKeyKind	key_kind;		/* the key column's type */
	char	   *source_name;	/* qualified, quoted name of the table */
	char	   *filter_sql;		/* deparse of the analyzed filter, or NULL */
	Oid			sequence;		/* sequence feeding the key, or InvalidOid */
	SPIPlanPtr	scan;			/* key, weight of matching rows in [$1, $2] */
	SPIPlanPtr	last_key;		/* last matching key in [$1, $2] */
	SPIPlanPtr	newest_key;		/* highest key, matching or not */
} BiReader;

/* A job: its settings as of revision `revision`, and its reader */
/* The calendar windows of a time-keyed job (windows.c) */
typedef struct BiWindows
{
	Datum		size;			/* interval */
	const char *time_zone;
	bool		has_origin;
	TimestampTz origin;
	Datum		delay;			/* interval */
} BiWindows;

typedef struct BiJob
{
	int32		job_id;
	char	   *name;
	int64		revision;
	Oid			owner;
	Oid			source;
	char	   *id_column;
	char	   *weight_column;	/* NULL: no weight */
	char	   *filter;			/* deparse of the filter; NULL: every row */
	char	   *filter_expr;	/* nodeToString of the analyzed filter */
	bool		has_lower_bound;
	int64		lower_bound;
	bool		has_upper_bound;
	int64		upper_bound;
	bool		has_max_count;
	int64		max_count;
	bool		has_max_weight;
	Datum		max_weight;		/* numeric */
	bool		has_max_keys;	/* cut by key range alone, the table not read */
	int64		max_keys;
	int32		max_attempts;
	Datum		lease;			/* interval */
	Datum		retry_backoff;	/* interval */
	bool		late_commit_guard;
	Datum		guard_timeout;	/* interval */
	Datum		config;			/* jsonb */
	bool		notify;
	bool		halt_on_failure;	/* on_failure 'halt' (else 'skip') */
	char	   *command;		/* a stored pipeline's command; NULL: none */
	char	   *command_search_path;	/* the search_path it runs under */
	char	   *schedule;		/* its pg_cron schedule; NULL: none */
	bool		paused;			/* hands out nothing, its schedule off */
	bool		has_window;		/* calendar windows of a time key */
	BiWindows	window;
	bool		empty_windows;
	bool		reprocess_late; /* late 'reprocess' (else 'record') */
	Datum		late_horizon;	/* interval */
	/* as last read from the job's row */
	bool		has_frontier;
	int64		frontier;
	/* private to jobcache.c */
	MemoryContext context;
	BiReader   *reader;
	bool		reader_stale;
	bool		dead;			/* its inventory was dropped: free at next lookup */
	uint64		last_used;
} BiJob;

/* Workload limits of one batch */
typedef struct BiLimits
{
	bool		has_max_count;
	int64		max_count;
	bool		has_max_weight;
	Datum		max_weight;		/* numeric */
} BiLimits;

/* A range of keys and what it holds */
typedef struct BiRange
{
	int64		first_id;
	int64		last_id;
	int64		first_key;		/* the first and last matching assets in it */
	int64		last_key;
	bool		counted;		/* false: cut by keys alone, no asset count */
	int64		asset_count;
	bool		has_weight;
	Datum		weight;			/* numeric, valid if has_weight */
	const char *ended_by;
	bool		has_bad_weight; /* a negative/NaN weight was seen (lenient scans) */
	bool		has_cut_snapshot;	/* what the cut saw (a job without the guard) */
	Datum		cut_snapshot;	/* pg_snapshot */
} BiRange;

/* security.c */
extern void bi_security_init(void);
extern void bi_call_begin(BiCall *call);
extern void bi_call_end(BiCall *call);
extern void bi_as_owner_begin(BiAsRole *state, Oid owner);
extern void bi_as_reader_begin(BiAsRole *state, const BiJob *job);
extern void bi_as_caller_begin(const BiCall *call, BiAsRole *state);
extern void bi_as_role_end(BiAsRole *state);
extern bool bi_may_use(Oid role, Oid owner);
extern bool bi_may_see(Oid role, Oid owner);
extern void bi_check_may_use(const BiCall *call, const char *job, Oid owner);
extern Oid	bi_inventory_owner(void);

/* spi_util.c */
extern SPIPlanPtr bi_prepare_kept(const char *sql, int nargs, Oid *argtypes,
								  int cursor_options);
extern SPIPlanPtr bi_plan(const char *sql, int nargs, Oid *argtypes);
extern uint64 bi_exec(const char *sql, int nargs, Oid *argtypes,
					  Datum *values, const char *nulls, int expected);
extern uint64 bi_exec_plan(SPIPlanPtr plan, Datum *values, const char *nulls,
						   int expected);
extern void bi_exec_into_result(ReturnSetInfo *rsinfo, const char *sql,
								int nargs, Oid *argtypes, Datum *values,
								const char *nulls);
extern void bi_exec_once_into_result(ReturnSetInfo *rsinfo, const char *sql,
									 int nargs, Oid *argtypes, Datum *values,
									 const char *nulls);
extern void bi_exec_once(const char *sql, int expected);
extern ErrorData *bi_in_subtransaction(void (*fn) (void *), void *arg);
extern Datum bi_get(uint64 row, int col, bool *isnull);
extern Datum bi_get_copy(uint64 row, int col, bool *isnull);
extern int64 bi_get_int64(uint64 row, int col, bool *isnull);
extern char *bi_get_text(uint64 row, int col);
extern void bi_materialize(FunctionCallInfo fcinfo);
extern Datum bi_numeric_from_int64(int64 value);
extern int	bi_numeric_cmp(Datum a, Datum b);
extern Datum bi_numeric_add(Datum a, Datum b);
extern int64 bi_interval_usecs(Datum interval);
extern void bi_check_nargs(FunctionCallInfo fcinfo, int nargs);
extern const char *bi_text_arg(FunctionCallInfo fcinfo, int argno, const char *what);

/* jobcache.c */
extern BiJob *bi_job_open(const BiCall *call, const char *name, bool lock);
extern BiJob *bi_job_cached(const BiCall *call, const char *name);
extern BiJob *bi_job_seen(const BiCall *call, const char *name);
extern void bi_job_not_found(const char *name);
extern void bi_batch_not_found(int64 batch);
extern BiJob *bi_job_of_batch(const BiCall *call, int64 batch,
							  int64 *first_id, int64 *last_id);
extern bool bi_job_apply_row(BiJob *job, int64 revision, const char *name,
							 Oid owner);
extern BiJob *bi_job_reload(int32 job_id);
extern BiJob *bi_job_by_id(int32 job_id);
extern void bi_job_lock(int32 job_id);
extern void bi_job_unlock(int32 job_id);
extern void bi_job_lock_changes(int32 job_id);
extern void bi_job_forget(int32 job_id);
extern int64 bi_job_key_arg(FunctionCallInfo fcinfo, int argno, BiJob *job);
extern BiReader *bi_job_reader(BiJob *job);
extern bool bi_job_live_range(BiJob *job, int64 *first_live, int64 *last_live);
extern char *bi_job_problem(BiJob *job);
extern void bi_jobcache_init(void);

/* late.c */
extern Datum bi_cut_snapshot(void);
extern int64 bi_late_rows(BiJob *job, int64 first, int64 last, Datum snapshot);
extern bool bi_records_cuts(BiJob *job);
extern int	bi_late_requeue(BiJob *job, int64 since);

/* windows.c */
extern void bi_window_of(const BiWindows *window, BiKeyKind kind, int64 key,
						 int64 *first, int64 *last);
extern int64 bi_window_complete_limit(const BiWindows *window, BiKeyKind kind,
									  TimestampTz now);
extern void bi_window_check(BiKeyKind kind, Datum size, const char *zone);

/* keys.c */
extern BiKeyKind bi_key_kind(Oid type);
extern int64 bi_key_units(BiKeyKind kind, Datum value);
extern Oid bi_key_param_type(BiKeyKind kind);
extern int64 bi_key_parse(BiKeyKind kind, const char *spelled);
extern int64 bi_key_of_value(BiKeyKind kind, Datum value, Oid type);
extern Datum bi_key_param(BiKeyKind kind, int64 units);
extern char *bi_key_units_sql(BiKeyKind kind, const char *key);
extern char *bi_key_param_sql(BiKeyKind kind, int n);
extern char *bi_key_text(BiKeyKind kind, int64 units);
extern char *bi_key_literal(BiKeyKind kind, int64 units);

/* source.c */
extern BiKeyKind bi_source_key_kind(Oid relid, const char *column);
extern void bi_source_check(Oid relid, const char *id_column,
							const char *weight_column, bool unique_index);
extern Node *bi_filter_analyze(Oid relid, const char *filter);
extern char *bi_filter_deparse(Node *expr, Oid relid);
extern Node *bi_filter_stored(Oid relid, const char *deparse, const char *expr);
extern char *bi_source_problem(BiJob *job, Node *filter, BiReader *reader,
							   int *sqlstate);
extern char *bi_source_name(Oid relid);
extern bool bi_source_last_key(Relation rel, AttrNumber key, int64 *last);
extern char *bi_reader_query(BiJob *job, BiReader *reader, const char *what,
							 const char *tail);
extern Oid	bi_key_sequence(Oid relid, const char *column, int64 *cache);

/* scan.c */
extern void bi_scan_into(BiJob *job, SPIPlanPtr plan, int64 first, int64 last,
						 DestReceiver *dest);
extern BiLimits bi_limits_for(BiJob *job, Datum *args, bool *argnulls);
extern bool bi_scan_range(BiJob *job, int64 start, int64 limit,
						  bool limit_is_window_end, const BiLimits *limits,
						  bool lenient, BiRange *range);
extern bool bi_first_key(BiJob *job, int64 first, int64 last, int64 *key);
extern bool bi_last_key(BiJob *job, int64 first, int64 last, int64 *key);
extern bool bi_newest_key(BiJob *job, int64 *key);
extern int64 bi_estimate_count(BiJob *job, int64 first, int64 last);
extern int64 bi_next_start(BiJob *job);
extern bool bi_after_frontier(BiJob *job, int64 *first, int64 *last);

/* guard.c */
typedef enum BiGuard
{
	GUARD_LIMIT,				/* new batches may reach the limit */
	GUARD_NO_KEY,				/* no key to cut to */
	GUARD_TIMED_OUT,			/* writers still running after the timeout */
	GUARD_DEFERRED				/* writers running, the caller would not wait */
} BiGuard;

/* asked by the guard before it waits for writers: would the caller rather not? */
typedef bool (*BiGuardDefer) (void *arg);

extern BiGuard bi_guard_limit(BiJob *job, bool wait, int64 *limit,
							  BiGuardDefer defer, void *defer_arg);
extern void bi_guard_no_new_work(BiJob *job, int64 limit, bool has_limit);
extern void bi_guard_check_sequence(Oid relid, const char *column, Oid role,
									bool key_range);

/* sequence.c */
extern FormData_pg_sequence bi_sequence_parameters(Oid seq);
extern bool bi_sequence_last_value(BiJob *job, Oid seq, int64 *last);
extern bool bi_sequence_last_drawn(BiJob *job, int64 *key);
extern int64 bi_sequence_first_key(BiJob *job);

/* estimates.c */
typedef struct BiEstimate
{
	bool		has_backlog;	/* the planner's estimate of the job's backlog: */
	int64		backlog;
	char	   *problem;		/* why the job cannot work, or NULL */
} BiEstimate;

struct BiJobFigures;
extern bool bi_job_estimate(int32 job_id, BiEstimate *estimate, bool *keep);
extern bool bi_known_estimate(FmgrInfo *flinfo, const struct BiJobFigures *figures,
							  BiEstimate *estimate);

/* release.c */
extern BiJob *bi_job_open_with_batches(const BiCall *call, const char *name,
									   int64 from_id);

/* pipeline.c */
extern void bi_pipeline_init(void);
extern char *bi_pipeline_search_path(const char *search_path);
extern void bi_pipeline_check_command(const char *command, const char *search_path,
									  Oid owner, BiKeyKind key_kind);

/* schedule.c */
extern void bi_schedule_sync(const char *schema, const BiJob *old_job,
							 const char *job, Oid owner, const char *schedule);

/* notify.c */
extern void bi_notify_sync(Oid source);
extern char *bi_channel_name(Oid source);

#endif							/* BATCHINTORY_H */
