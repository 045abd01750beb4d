/*
 * batch_row.c
 *	  The batch's row: its columns, read from a slot of batchintory.batch
 *	  and set for a write, for the verbs on batches and on their attempts.
 */
#include "postgres.h"

#include "inventory/tables.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"

const InvColumnDef inv_batch_columns[BATCH_NCOLUMNS] = {
	[BATCH_BATCH_ID] = {"batch_id", INT8OID},
	[BATCH_JOB_ID] = {"job_id", INT4OID},
	[BATCH_FIRST_ID] = {"first_id", INT8OID},
	[BATCH_LAST_ID] = {"last_id", INT8OID},
	[BATCH_ASSET_COUNT] = {"asset_count", INT8OID},
	[BATCH_WEIGHT] = {"weight", NUMERICOID},
	[BATCH_ENDED_BY] = {"ended_by", TEXTOID},
	[BATCH_STATUS] = {"status", TEXTOID},
	[BATCH_ATTEMPT] = {"attempt", INT4OID},
	[BATCH_REQUEUED_AFTER] = {"requeued_after", INT4OID},
	[BATCH_LEASE_UNTIL] = {"lease_until", TIMESTAMPTZOID},
	[BATCH_RETRY_AFTER] = {"retry_after", TIMESTAMPTZOID},
	[BATCH_CREATED_AT] = {"created_at", TIMESTAMPTZOID},
	[BATCH_CUT_SNAPSHOT] = {"cut_snapshot", PG_SNAPSHOTOID},
	[BATCH_LATE_ROWS] = {"late_rows", INT8OID},
};

/* A batch's row from a slot of batchintory.batch */
void
inv_batch_from_slot(TupleTableSlot *slot, BatchRow *row)
{
	bool		isnull;

	row->batch_id = DatumGetInt64(inv_get(INV_BATCH, slot, BATCH_BATCH_ID, &isnull));
	row->job_id = DatumGetInt32(inv_get(INV_BATCH, slot, BATCH_JOB_ID, &isnull));
	row->first_id = DatumGetInt64(inv_get(INV_BATCH, slot, BATCH_FIRST_ID, &isnull));
	row->last_id = DatumGetInt64(inv_get(INV_BATCH, slot, BATCH_LAST_ID, &isnull));
	row->asset_count = DatumGetInt64(inv_get(INV_BATCH, slot, BATCH_ASSET_COUNT, &isnull));
	row->counted = !isnull;
	if (isnull)
		row->asset_count = 0;	/* not counted (max_keys): counts as none */
	row->weight = inv_get(INV_BATCH, slot, BATCH_WEIGHT, &isnull);
	row->has_weight = !isnull;
	row->ended_by = TextDatumGetCString(inv_get(INV_BATCH, slot, BATCH_ENDED_BY, &isnull));
	row->status = inv_status(inv_get(INV_BATCH, slot, BATCH_STATUS, &isnull));
	row->attempt = DatumGetInt32(inv_get(INV_BATCH, slot, BATCH_ATTEMPT, &isnull));
	row->requeued_after = DatumGetInt32(inv_get(INV_BATCH, slot, BATCH_REQUEUED_AFTER, &isnull));
	row->lease_until = DatumGetTimestampTz(inv_get(INV_BATCH, slot, BATCH_LEASE_UNTIL, &isnull));
	row->has_lease = !isnull;
	row->retry_after = DatumGetTimestampTz(inv_get(INV_BATCH, slot, BATCH_RETRY_AFTER, &isnull));
	row->has_retry = !isnull;
	row->created_at = DatumGetTimestampTz(inv_get(INV_BATCH, slot, BATCH_CREATED_AT, &isnull));
	row->cut_snapshot = inv_get(INV_BATCH, slot, BATCH_CUT_SNAPSHOT, &isnull);
	row->has_cut_snapshot = !isnull;
	row->late_rows = DatumGetInt64(inv_get(INV_BATCH, slot, BATCH_LATE_ROWS, &isnull));
	row->has_late_rows = !isnull;
}

/* Set every column of a batch's row to write */
void
inv_batch_set(InvWriter *writer, const BatchRow *row)
{
	inv_set(writer, BATCH_BATCH_ID, Int64GetDatum(row->batch_id), false);
	inv_set(writer, BATCH_JOB_ID, Int32GetDatum(row->job_id), false);
	inv_set(writer, BATCH_FIRST_ID, Int64GetDatum(row->first_id), false);
	inv_set(writer, BATCH_LAST_ID, Int64GetDatum(row->last_id), false);
	inv_set(writer, BATCH_ASSET_COUNT, Int64GetDatum(row->asset_count), !row->counted);
	inv_set(writer, BATCH_WEIGHT, row->weight, !row->has_weight);
	inv_set(writer, BATCH_ENDED_BY, CStringGetTextDatum(row->ended_by), false);
	inv_set(writer, BATCH_STATUS, inv_status_datum(row->status), false);
	inv_set(writer, BATCH_ATTEMPT, Int32GetDatum(row->attempt), false);
	inv_set(writer, BATCH_REQUEUED_AFTER, Int32GetDatum(row->requeued_after), false);
	inv_set(writer, BATCH_LEASE_UNTIL, TimestampTzGetDatum(row->lease_until),
			!row->has_lease);
	inv_set(writer, BATCH_RETRY_AFTER, TimestampTzGetDatum(row->retry_after),
			!row->has_retry);
	inv_set(writer, BATCH_CREATED_AT, TimestampTzGetDatum(row->created_at), false);
	inv_set(writer, BATCH_CUT_SNAPSHOT, row->cut_snapshot, !row->has_cut_snapshot);
	inv_set(writer, BATCH_LATE_ROWS, Int64GetDatum(row->late_rows), !row->has_late_rows);
}
