/*
 * inventory.h
 *	  The inventory module: the only code that writes batchintory.job, batch,
 *	  attempt and progress.  Its rows as C structs, its statuses as an enum,
 *	  and every change of state of a job, batch or attempt as one verb.
 *
 * Layers: tables.c reaches the tables (columns and indexes resolved by name
 * and checked once per relcache entry, rows found through their indexes,
 * locked and written as an INSERT or UPDATE would); jobs.c, batches.c and
 * attempts.c hold the verbs, each written once.  The entry files (acquire.c,
 * release.c, job.c, verify.c, ...) decide what happens and call the verbs;
 * SQL outside this module only reads the inventory.
 */
#ifndef BATCHINTORY_INVENTORY_H
#define BATCHINTORY_INVENTORY_H

#include "batchintory.h"
#include "settings.h"

#include "utils/snapshot.h"
#include "utils/timestamp.h"

/*
 * The status of a batch (processing, succeeded, failed, superseded,
 * skipped) or of an attempt (processing, succeeded, failed, superseded, and
 * abandoned: its lease ran out), as stored
 */
typedef enum BiStatus
{
	STATUS_PROCESSING,
	STATUS_SUCCEEDED,
	STATUS_FAILED,
	STATUS_SUPERSEDED,
	STATUS_ABANDONED,
	STATUS_SKIPPED				/* a batch failed for good, left out by hand */
} BiStatus;

extern const char *bi_status_name(BiStatus status);

/* What acquire reads of a job's row under the job's lock */
typedef struct BiJobState
{
	int64		revision;
	char	   *name;
	Oid			owner;
	bool		has_frontier;
	int64		frontier;
	int64		halted_by;		/* its oldest batch failed for good, or 0 */
} BiJobState;

/* who takes a batch: the worker's name (text) and the calling role's (name) */
typedef struct BiAttemptBy
{
	Datum		worker;
	bool		worker_isnull;
	Datum		caller_name;
} BiAttemptBy;

/* how an attempt ended: succeeded or failed, with a message and a result */
typedef struct BiAttemptEnd
{
	bool		succeeded;
	Datum		message;		/* text */
	bool		message_isnull;
	Datum		result;			/* jsonb */
	bool		result_isnull;
} BiAttemptEnd;

typedef enum BiAttemptChange
{
	ATTEMPT_CHANGED,
	ATTEMPT_NO_BATCH,			/* no such batch */
	ATTEMPT_NOT_CURRENT			/* not the current attempt, or not processing */
} BiAttemptChange;

/* A retry candidate, as the SQL that finds it under locks reads it */
typedef struct BiRetry
{
	int64		batch_id;
	int64		first_id;
	int64		last_id;
	int32		attempt;		/* the attempt it had; the next is attempt + 1 */
	const char *ended_by;
	int64		asset_count;
	bool		has_weight;
	Datum		weight;
} BiRetry;

/*
 * What the jobs view and batchintory_backlog show of a job: its counters
 * (its row and its progress rows) and a few index probes, as one snapshot
 * sees them; no count over its batches
 */
typedef struct BiJobFigures
{
	int32		job_id;
	char	   *name;
	Oid			owner;
	int64		revision;
	Oid			source;
	char	   *id_column;
	bool		has_frontier;
	int64		frontier;
	int64		cut_assets;
	Datum		cut_weight;		/* numeric */
	int64		succeeded;
	int64		processed;		/* assets of the succeeded batches */
	bool		has_success;
	TimestampTz last_success;
	int64		in_flight;		/* processing, its lease not run out */
	int64		abandoned;		/* processing, its lease run out */
	int64		abandoned_retryable;	/* of those, with attempts left */
	int64		retry_pending;	/* failed, waiting for a retry */
	int64		failed;			/* failed for good */
	int64		failed_assets;
	Datum		failed_weight;	/* numeric */
	int64		skipped;
	int64		late_batches;	/* live batches verify found late rows in */
	int64		late_rows;		/* and their number */
	bool		has_oldest_open;
	int64		oldest_open;	/* first key of the oldest batch not done */
	bool		has_failed_keys;	/* keys of the batches failed for good: */
	int64		failed_first;	/* the first of the first, */
	int64		failed_last;	/* the last of the last */
	int64		halted_by;		/* a halting job: its oldest batch failed for good, or 0 */
	int64		halted_last;	/* the last key of halted_by (its first: failed_first) */
	char	   *halt_reason;	/* the message of halted_by's last attempt, or NULL */
} BiJobFigures;

/* jobs.c: a job's row */
extern Oid	bi_inventory_job_table(void);
extern bool bi_inventory_job_state(int32 job_id, TimestampTz now, bool halts,
								   BiJobState *state, bool *may_retry);
extern bool bi_inventory_job_figures(int32 job_id, Snapshot snapshot,
									 TimestampTz now, BiJobFigures *figures);
extern int32 bi_inventory_job_create(const char *name, const BiSettings *s);
extern void bi_inventory_job_change(int32 job_id, const BiSettings *s);
extern void bi_inventory_job_set_filter(int32 job_id, const char *deparse,
										const char *expr);
extern void bi_inventory_job_drop(int32 job_id);
extern int64 bi_inventory_rewind(int32 job_id, int64 point, bool has_frontier,
								 int64 frontier);

/*
 * What one call of acquire cut (batches, their assets and weight, where the
 * frontier moved), counted in the job's row once, at the end of the call:
 * one version of the row, however many batches it handed out
 */
typedef struct BiCuts BiCuts;

/* batches.c: hand-outs and the state of batches */
extern BiCuts *bi_inventory_cuts_begin(int32 job_id);
extern void bi_inventory_cuts_end(BiCuts *cuts);
extern int64 bi_inventory_hand_out(BiJob *job, BiCuts *cuts, const BiRange *range,
								   const BiAttemptBy *who,
								   TimestampTz *lease_until);
extern TimestampTz bi_inventory_hand_out_again(BiJob *job, BiCuts *cuts,
											   const BiRetry *retry,
											   const BiRange *range,
											   const BiAttemptBy *who);
extern void bi_inventory_set_frontier(BiCuts *cuts, int64 frontier);
extern bool bi_inventory_next_retry(BiJob *job, TimestampTz now, bool lock,
									bool has_after, int64 after,
									BiRetry *retry);
extern void bi_inventory_give_up_exhausted(BiJob *job, TimestampTz now);
extern bool bi_inventory_requeue(int64 batch);
extern void bi_inventory_note_late(int64 batch, int64 late_rows);
extern bool bi_inventory_skip(int64 batch);
extern void bi_inventory_reset_retries(int32 job_id, int32 max_attempts);
extern int64 bi_inventory_cover(int32 job_id, const BiRange *range, int64 last);

/* attempts.c: the end or extension of an attempt */
extern BiAttemptChange bi_inventory_change_attempt(const BiCall *call,
												   int64 batch, int32 attempt,
												   const BiAttemptEnd *end,
												   TimestampTz *lease_until);
extern int64 bi_retry_delay_usecs(int64 backoff, int32 attempts);

#endif							/* BATCHINTORY_INVENTORY_H */
