/*
 * tables.h
 *	  Inside the inventory module: its tables, columns and indexes by name,
 *	  resolved and checked once per relcache entry (tables.c), and the
 *	  probes, locks and writes the verbs are made of.
 */
#ifndef BATCHINTORY_INVENTORY_TABLES_H
#define BATCHINTORY_INVENTORY_TABLES_H

#include "inventory/inventory.h"

#include "access/genam.h"
#include "access/skey.h"
#include "executor/executor.h"
#include "executor/tuptable.h"
#include "utils/rel.h"
#include "utils/snapshot.h"

/* The tables of the inventory */
typedef enum InvTable
{
	INV_JOB,
	INV_BATCH,
	INV_ATTEMPT,
	INV_PROGRESS,
	INV_NTABLES
} InvTable;

/* The columns the extension reads and writes, table by table */
typedef enum JobColumn
{
	JOB_JOB_ID,
	JOB_NAME,
	JOB_OWNER,
	JOB_MAX_ATTEMPTS,
	JOB_LEASE,
	JOB_RETRY_BACKOFF,
	JOB_FRONTIER,
	JOB_REVISION,
	JOB_CUT_BATCHES,
	JOB_CUT_ASSETS,
	JOB_CUT_WEIGHT,
	JOB_DONE_BATCHES,
	JOB_DONE_ASSETS,
	JOB_DONE_WEIGHT,
	JOB_LAST_SUCCESS,
	JOB_PROCESSING_BATCHES,
	JOB_RETRY_BATCHES,
	JOB_FAILED_BATCHES,
	JOB_FAILED_ASSETS,
	JOB_FAILED_WEIGHT,
	JOB_SKIPPED_BATCHES,
	JOB_ON_FAILURE,
	JOB_SOURCE,
	JOB_ID_COLUMN,
	JOB_LATE_COMMIT_GUARD,
	JOB_NCOLUMNS
} JobColumn;

typedef enum BatchColumn
{
	BATCH_BATCH_ID,
	BATCH_JOB_ID,
	BATCH_FIRST_ID,
	BATCH_LAST_ID,
	BATCH_ASSET_COUNT,
	BATCH_WEIGHT,
	BATCH_ENDED_BY,
	BATCH_STATUS,
	BATCH_ATTEMPT,
	BATCH_REQUEUED_AFTER,
	BATCH_LEASE_UNTIL,
	BATCH_RETRY_AFTER,
	BATCH_CREATED_AT,
	BATCH_CUT_SNAPSHOT,
	BATCH_LATE_ROWS,
	BATCH_NCOLUMNS
} BatchColumn;

typedef enum AttemptColumn
{
	ATTEMPT_BATCH_ID,
	ATTEMPT_ATTEMPT,
	ATTEMPT_STATUS,
	ATTEMPT_ASSET_COUNT,
	ATTEMPT_WEIGHT,
	ATTEMPT_ACQUIRED_AT,
	ATTEMPT_LEASE_UNTIL,
	ATTEMPT_RELEASED_AT,
	ATTEMPT_WORKER,
	ATTEMPT_APPLICATION_NAME,
	ATTEMPT_CLIENT_ADDR,
	ATTEMPT_BACKEND_PID,
	ATTEMPT_ACQUIRED_BY,
	ATTEMPT_MESSAGE,
	ATTEMPT_CONFIG,
	ATTEMPT_RESULT,
	ATTEMPT_JOB_ID,
	ATTEMPT_NCOLUMNS
} AttemptColumn;

typedef enum ProgressColumn
{
	PROGRESS_JOB_ID,
	PROGRESS_BATCHES,
	PROGRESS_ASSETS,
	PROGRESS_WEIGHT,
	PROGRESS_LAST_SUCCESS,
	PROGRESS_PROCESSING_BATCHES,
	PROGRESS_RETRY_BATCHES,
	PROGRESS_FAILED_BATCHES,
	PROGRESS_FAILED_ASSETS,
	PROGRESS_FAILED_WEIGHT,
	PROGRESS_SKIPPED_BATCHES,
	PROGRESS_BACKEND,
	PROGRESS_NCOLUMNS
} ProgressColumn;

/* A batch's row (batchintory.batch); has_x false: column x is NULL */
typedef struct BatchRow
{
	int64		batch_id;
	int32		job_id;
	int64		first_id;
	int64		last_id;
	bool		counted;		/* false: asset_count is NULL (max_keys) */
	int64		asset_count;
	bool		has_weight;
	Datum		weight;			/* numeric */
	const char *ended_by;
	BiStatus	status;
	int32		attempt;		/* the current attempt; 0: none yet */
	int32		requeued_after; /* attempts before the last requeue */
	bool		has_lease;
	TimestampTz lease_until;
	bool		has_retry;
	TimestampTz retry_after;	/* failed, attempts left: when it may go */
	TimestampTz created_at;
	bool		has_cut_snapshot;
	Datum		cut_snapshot;	/* pg_snapshot: what its attempt's cut saw */
	bool		has_late_rows;
	int64		late_rows;		/* rows verify found came after that cut */
} BatchRow;

/* An attempt's row (batchintory.attempt) */
typedef struct AttemptRow
{
	int64		batch_id;
	int32		job_id;
	int32		attempt;
	BiStatus	status;
	bool		counted;		/* false: asset_count is NULL (max_keys) */
	int64		asset_count;
	bool		has_weight;
	Datum		weight;			/* numeric */
	TimestampTz acquired_at;
	TimestampTz lease_until;
	bool		has_released;
	TimestampTz released_at;
	Datum		worker;			/* text */
	bool		worker_isnull;
	Datum		application_name;	/* text */
	bool		application_name_isnull;
	Datum		client_addr;	/* inet */
	bool		client_addr_isnull;
	int32		backend_pid;
	Datum		acquired_by;	/* name */
	Datum		message;		/* text */
	bool		message_isnull;
	Datum		config;			/* jsonb */
	Datum		result;			/* jsonb */
	bool		result_isnull;
} AttemptRow;

/* A column the extension reads or writes: its name and type */
typedef struct InvColumnDef
{
	const char *name;
	Oid			type;
} InvColumnDef;

/* each table's, in the file of its verbs */
extern const InvColumnDef inv_job_columns[JOB_NCOLUMNS];
extern const InvColumnDef inv_progress_columns[PROGRESS_NCOLUMNS];
extern const InvColumnDef inv_batch_columns[BATCH_NCOLUMNS];
extern const InvColumnDef inv_attempt_columns[ATTEMPT_NCOLUMNS];

/* The indexes the verbs find rows through, and their key columns */
typedef enum InvIndex
{
	INDEX_JOB_PKEY,				/* job (job_id) */
	INDEX_BATCH_PKEY,			/* batch (batch_id) */
	INDEX_BATCH_JOB_LEASED,		/* batch (job_id, lease_until), processing */
	INDEX_BATCH_JOB_RETRY,		/* batch (job_id, first_id), failed to retry */
	INDEX_BATCH_JOB_FAILED,		/* batch (job_id, first_id), failed for good */
	INDEX_BATCH_JOB_OPEN,		/* batch (job_id, first_id), processing or failed */
	INDEX_ATTEMPT_PKEY,			/* attempt (batch_id, attempt) */
	INDEX_PROGRESS_JOB,			/* progress (job_id, backend) */
	INDEX_BATCH_JOB_LATE,		/* batch (job_id), live with late rows */
	INV_NINDEXES
} InvIndex;

/* A scan of a table through one of its indexes */
typedef struct InvProbe
{
	InvTable	table;
	Relation	index;
	IndexScanDesc scan;
	TupleTableSlot *slot;		/* the current row, once inv_probe_next said so */
} InvProbe;

/*
 * One change of the inventory: a snapshot as a new statement would take it
 * and the executor state its tables are written under
 */
typedef struct InvChange
{
	Snapshot	snapshot;
	EState	   *estate;
} InvChange;

/* A table of the inventory open for writing */
typedef struct InvWriter
{
	InvTable	table;
	Relation	rel;
	ResultRelInfo *result;
	TupleTableSlot *found;		/* the row found and locked (inv_lock_row) */
	TupleTableSlot *next;		/* the row to write */
	bool	   *set;			/* columns of the row to write given a value */
} InvWriter;

extern Relation inv_table_open(InvTable table, LOCKMODE mode);
extern AttrNumber inv_attnum(InvTable table, int column);
extern Datum inv_get(InvTable table, TupleTableSlot *slot, int column,
					 bool *isnull);

extern void inv_key(ScanKey key, InvIndex index, int position,
					StrategyNumber strategy, Datum value);
extern void inv_probe_begin(InvProbe *probe, InvIndex index, Relation rel,
							Snapshot snapshot, ScanKey keys, int nkeys);
extern bool inv_probe_next(InvProbe *probe);
extern bool inv_probe_last(InvProbe *probe);
extern void inv_probe_end(InvProbe *probe);

extern void inv_change_begin(InvChange *change, const char *function);
extern void inv_change_end(InvChange *change);
extern Snapshot inv_statement_snapshot(void);

extern void inv_writer_open(InvWriter *writer, InvChange *change, InvTable table);
extern void inv_writer_close(InvWriter *writer);
extern void inv_check_writable(InvTable table);
extern bool inv_lock_row(InvWriter *writer, InvChange *change, InvIndex index,
						 ScanKey keys, int nkeys);
extern bool inv_lock_tid(InvWriter *writer, InvChange *change, ItemPointer tid,
						 bool skip_locked);
extern void inv_remember(InvWriter *writer, int32 key);
extern bool inv_recall(InvTable table, int32 key, Relation rel,
					   Snapshot snapshot, TupleTableSlot *slot);
extern bool inv_lock_recalled(InvWriter *writer, InvChange *change, int32 key,
							  bool skip_locked);
extern bool inv_wrote(InvTable table, int32 key);
extern int64 inv_next_batch_id(void);
extern void inv_row_new(InvWriter *writer);
extern void inv_row_from_found(InvWriter *writer);
extern void inv_set(InvWriter *writer, int column, Datum value, bool isnull);
extern Datum inv_found(InvWriter *writer, int column, bool *isnull);
extern Datum inv_next(InvWriter *writer, int column, bool *isnull);
extern void inv_add_int8(InvWriter *writer, int column, int64 value);
extern void inv_add_numeric(InvWriter *writer, int column, Datum value);
extern void inv_write(InvWriter *writer, InvChange *change, bool update);
extern bool inv_delete_seen(Relation rel, InvChange *change, TupleTableSlot *slot);

extern BiStatus inv_status(Datum value);
extern Datum inv_status_datum(BiStatus status);

/*
 * A change of a job's counters (jobs.c): batches cut, with their assets and
 * weight, and batches by state (n[]: batches and assets; weight[]: numeric
 * weights, (Datum) 0 for none), with the time of the last success
 */
typedef enum InvCountN
{
	COUNT_DONE,					/* succeeded */
	COUNT_DONE_ASSETS,
	COUNT_PROCESSING,			/* in flight or abandoned */
	COUNT_RETRY,				/* failed, waiting for a retry */
	COUNT_FAILED,				/* failed for good */
	COUNT_FAILED_ASSETS,
	COUNT_SKIPPED,
	N_COUNTS
} InvCountN;

typedef enum InvCountWeight
{
	WEIGHT_DONE,
	WEIGHT_FAILED,
	N_WEIGHTS
} InvCountWeight;

typedef struct InvCount
{
	int64		cut_batches;
	int64		cut_assets;
	Datum		cut_weight;
	int64		n[N_COUNTS];
	Datum		weight[N_WEIGHTS];
	bool		has_success;
	TimestampTz success;
} InvCount;

/* jobs.c: the job's row and its counters, for the other verbs */
extern void inv_count_batch(InvCount *count, const BatchRow *batch, int sign);
extern void inv_count_cut(InvCount *count, const BatchRow *batch, int sign);
extern void inv_job_cut(InvChange *change, int32 job_id, const InvCount *count,
						const int64 *frontier);
extern void inv_job_count(InvChange *change, int32 job_id, const InvCount *count);
extern bool inv_job_find(Relation job, Snapshot snapshot, int32 job_id,
						 TupleTableSlot *slot);

/* batch_row.c: a batch's row, for the verbs on batches and attempts */
extern void inv_batch_from_slot(TupleTableSlot *slot, BatchRow *row);
extern void inv_batch_set(InvWriter *writer, const BatchRow *row);

/* attempts.c: an attempt's row, for the other verbs */
extern void inv_attempt_insert(InvChange *change, const AttemptRow *row);
extern void inv_attempt_abandon(InvChange *change, int64 batch, int32 attempt,
								const char *message);

#endif							/* BATCHINTORY_INVENTORY_TABLES_H */
