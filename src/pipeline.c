/*
 * pipeline.c
 *	  In-database pipelines: the procedure batchintory_run loops acquire, an
 *	  SQL command over the batch (as the job's owner) and its release, each
 *	  batch's results and release committed together.
 */
#include "postgres.h"

#include "batchintory.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "utils/lsyscache.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

PG_FUNCTION_INFO_V1(batchintory_run);

/* The batch one round of the loop works on */
typedef struct PipelineBatch
{
	int64		batch;
	int32		attempt;
	int64		first_id;
	int64		last_id;
} PipelineBatch;

/* Acquire one batch of job and commit; false if there is none */
static bool
acquire_one(const char *schema, Datum *acquire_args, char *acquire_nulls,
			PipelineBatch *pb)
{
	Oid			argtypes[4] = {TEXTOID, INT8OID, NUMERICOID, TEXTOID};
	bool		isnull;
	bool		found;
	int			rc;

	rc = SPI_execute_with_args(psprintf("SELECT batch, attempt, first_id, last_id"
										" FROM %s.batchintory_acquire($1, max_count => $2,"
										" max_weight => $3, worker => $4)", schema),
							   4, argtypes, acquire_args, acquire_nulls, false, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args returned %s", SPI_result_code_string(rc));
	found = SPI_processed > 0;
	if (found)
	{
		pb->batch = bi_get_int64(0, 1, &isnull);
		pb->attempt = DatumGetInt32(bi_get(0, 2, &isnull));
		pb->first_id = bi_get_int64(0, 3, &isnull);
		pb->last_id = bi_get_int64(0, 4, &isnull);
	}
	SPI_commit();
	return found;
}

/* Release the batch with status, message and result (in the transaction) */
static void
release(const char *schema, PipelineBatch *pb, const char *status,
		const char *message, const char *result)
{
	Oid			argtypes[5] = {INT8OID, INT4OID, TEXTOID, TEXTOID, TEXTOID};
	Datum		args[5];
	char		nulls[6] = "     ";
	int			rc;

	args[0] = Int64GetDatum(pb->batch);
	args[1] = Int32GetDatum(pb->attempt);
	args[2] = CStringGetTextDatum(status);
	args[3] = message ? CStringGetTextDatum(message) : (Datum) 0;
	nulls[3] = message ? ' ' : 'n';
	args[4] = result ? CStringGetTextDatum(result) : (Datum) 0;
	nulls[4] = result ? ' ' : 'n';
	rc = SPI_execute_with_args(psprintf("SELECT %s.batchintory_release($1, $2, $3, $4,"
										" $5::pg_catalog.jsonb)", schema),
							   5, argtypes, args, nulls, false, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args returned %s", SPI_result_code_string(rc));
}

/*
 * Run the command over the batch as the job's owner, in a subtransaction:
 * NULL and the rows the last statement processed in *rows if it went well;
 * else the error's message (its effects rolled back).
 */
static char *
run_command(const char *command, Oid owner, PipelineBatch *pb, uint64 *rows)
{
	MemoryContext context = CurrentMemoryContext;
	ResourceOwner resowner = CurrentResourceOwner;
	Oid			argtypes[3] = {INT8OID, INT8OID, INT8OID};
	Datum		args[3];
	char	   *volatile error = NULL;

	args[0] = Int64GetDatum(pb->first_id);
	args[1] = Int64GetDatum(pb->last_id);
	args[2] = Int64GetDatum(pb->batch);

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(context);
	PG_TRY();
	{
		Oid			userid;
		int			sec_context;
		int			rc;

		GetUserIdAndSecContext(&userid, &sec_context);
		SetUserIdAndSecContext(owner, sec_context | SECURITY_LOCAL_USERID_CHANGE);
		rc = SPI_execute_with_args(command, 3, argtypes, args, NULL, false, 0);
		SetUserIdAndSecContext(userid, sec_context);
		if (rc < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("command of the pipeline failed: %s",
							SPI_result_code_string(rc))));
		*rows = SPI_processed;
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(context);
		CurrentResourceOwner = resowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(context);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(context);
		CurrentResourceOwner = resowner;
		/* a cancel or shutdown stops the loop, it is not the command's fault */
		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED ||
			edata->sqlerrcode == ERRCODE_ADMIN_SHUTDOWN)
			ReThrowError(edata);
		error = edata->message;
	}
	PG_END_TRY();
	return error;
}

/*
 * CALL batchintory_run(job text, command text, max_batches integer,
 *						max_count bigint, max_weight numeric, worker text,
 *						stop_on_error boolean, INOUT batches integer,
 *						INOUT failed integer)
 *		Loop: acquire a batch of the job (committed on its own), run command
 *		with the batch's first id ($1), last id ($2) and batch id ($3) as
 *		the job's owner, release the batch succeeded (result: {"rows": n})
 *		in the same transaction and commit -- the command's results and the
 *		release commit together or not at all.  A command that fails is
 *		rolled back and its batch released failed with the error's message;
 *		the loop goes on (it stops with stop_on_error).  Ends when there is
 *		no batch, after max_batches, or on a cancel.  Returns how many
 *		batches it ran and how many of them failed.  Must be called on its
 *		own, not inside a transaction block: it commits.
 */
Datum
batchintory_run(PG_FUNCTION_ARGS)
{
	const char *job = bi_text_arg(fcinfo, 0, "job name");
	const char *command = bi_text_arg(fcinfo, 1, "command");
	int32		max_batches = PG_ARGISNULL(2) ? -1 : PG_GETARG_INT32(2);
	bool		stop_on_error = !PG_ARGISNULL(6) && PG_GETARG_BOOL(6);
	bool		atomic = fcinfo->context && IsA(fcinfo->context, CallContext) &&
		((CallContext *) fcinfo->context)->atomic;
	Datum		acquire_args[4];
	char		acquire_nulls[5] = "    ";
	MemoryContext round_context;
	MemoryContext oldcontext;
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		nulls[2] = {false, false};
	int32		batches = 0;
	int32		failed = 0;
	Oid			owner;
	const char *schema;
	bool		isnull;

	if (atomic)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_TERMINATION),
				 errmsg("batchintory_run cannot run inside a transaction block"),
				 errdetail("It commits each batch with its results."),
				 errhint("CALL it on its own, as pg_cron does.")));
	if (max_batches == 0 || max_batches < -1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_batches must be at least 1")));
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(CreateTupleDescCopy(tupdesc));

	acquire_args[0] = CStringGetTextDatum(job);
	acquire_args[1] = PG_GETARG_DATUM(3);
	acquire_nulls[1] = PG_ARGISNULL(3) ? 'n' : ' ';
	acquire_args[2] = PG_GETARG_DATUM(4);
	acquire_nulls[2] = PG_ARGISNULL(4) ? 'n' : ' ';
	acquire_args[3] = PG_ARGISNULL(5) ? CStringGetTextDatum("batchintory_run") :
		PG_GETARG_DATUM(5);

	SPI_connect_ext(SPI_OPT_NONATOMIC);

	/* who may run the job is checked first; the command runs as its owner */
	{
		Oid			argtypes[1] = {TEXTOID};

		if (SPI_execute_with_args("SELECT j.owner::pg_catalog.oid FROM batchintory.jobs j"
								  " WHERE batchintory.check_job($1)"
								  " AND j.job OPERATOR(pg_catalog.=) $1",
								  1, argtypes, acquire_args, NULL, true, 0) != SPI_OK_SELECT ||
			SPI_processed != 1)
			elog(ERROR, "could not find the owner of job \"%s\"", job);
		owner = DatumGetObjectId(bi_get(0, 1, &isnull));
	}
	/* the extension's schema: the one this procedure lives in */
	schema = quote_identifier(get_namespace_name(get_func_namespace(fcinfo->flinfo->fn_oid)));

	round_context = AllocSetContextCreate(PortalContext, "batchintory run",
										  ALLOCSET_DEFAULT_SIZES);
	while (max_batches < 0 || batches < max_batches)
	{
		PipelineBatch pb;
		uint64		rows = 0;
		char	   *error;

		CHECK_FOR_INTERRUPTS();
		oldcontext = MemoryContextSwitchTo(round_context);
		if (!acquire_one(schema, acquire_args, acquire_nulls, &pb))
		{
			MemoryContextSwitchTo(oldcontext);
			break;
		}
		batches++;
		error = run_command(command, owner, &pb, &rows);
		if (error == NULL)
			release(schema, &pb, "succeeded", NULL,
					psprintf("{\"rows\": " UINT64_FORMAT "}", rows));
		else
		{
			failed++;
			release(schema, &pb, "failed", error, NULL);
		}
		SPI_commit();
		MemoryContextSwitchTo(oldcontext);
		MemoryContextReset(round_context);
		if (error != NULL && stop_on_error)
			break;
	}
	MemoryContextDelete(round_context);
	SPI_finish();

	values[0] = Int32GetDatum(batches);
	values[1] = Int32GetDatum(failed);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
