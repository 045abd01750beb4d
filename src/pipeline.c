/*
 * pipeline.c
 *	  In-database pipelines: the procedure batchintory_run loops acquire, an
 *	  SQL command over the batch (as the job's owner, restricted, its
 *	  triggers fired before it returns) and its release, each batch's
 *	  results and release committed together.
 */
#include "postgres.h"

#include "batchintory.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "utils/lsyscache.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "tcop/utility.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

PG_FUNCTION_INFO_V1(batchintory_run);

/*
 * The subtransaction in which a pipeline's command runs as the job's owner,
 * or InvalidSubTransactionId: while it runs, constraints cannot be
 * deferred (a deferred trigger would fire at commit, as the caller).
 */
static SubTransactionId command_running = InvalidSubTransactionId;

static ProcessUtility_hook_type prev_process_utility = NULL;

/* The batch one round of the loop works on */
typedef struct PipelineBatch
{
	int64		batch;
	int32		attempt;
	int64		first_id;
	int64		last_id;
} PipelineBatch;

/*
 * Acquire one batch of the job and commit, none of the batches that failed
 * in this run (acquire_args[4]); false if there is none
 */
static bool
acquire_one(Datum *acquire_args, char *acquire_nulls, PipelineBatch *pb)
{
	MemoryContext caller_context = CurrentMemoryContext;
	Oid			argtypes[5] = {TEXTOID, INT8OID, NUMERICOID, TEXTOID, INT8ARRAYOID};
	bool		isnull;
	bool		found;
	int			rc;

	rc = SPI_execute_with_args("SELECT batch, attempt, first_id, last_id"
							   " FROM batchintory.acquire_excluding($1, $2, $3, $4, $5)",
							   5, argtypes, acquire_args, acquire_nulls, false, 0);
	/* SPI leaves us in its procedure context, which lives as long as the CALL */
	MemoryContextSwitchTo(caller_context);
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
	/* results live until the procedure ends unless freed */
	SPI_freetuptable(SPI_tuptable);
	SPI_commit();
	MemoryContextSwitchTo(caller_context);
	return found;
}

/* Release the batch with status, message and result (in the transaction) */
static void
release(const char *schema, PipelineBatch *pb, const char *status,
		const char *message, const char *result)
{
	MemoryContext caller_context = CurrentMemoryContext;
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
	MemoryContextSwitchTo(caller_context);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args returned %s", SPI_result_code_string(rc));
	SPI_freetuptable(SPI_tuptable);
}

/* One run of the pipeline's command over a batch */
typedef struct CommandRun
{
	const char *command;
	Oid			owner;
	PipelineBatch *pb;
	uint64		rows;			/* processed by its last statement */
} CommandRun;

/*
 * Run the command with the batch's keys as parameters, as the job's owner
 * in a security-restricted operation (it cannot change the caller's
 * session: settings it makes are undone, temporary objects refused).  Its
 * constraints are checked and its triggers fired before it returns --
 * immediate, never deferred -- so that no code of the owner's is left to
 * run at the commit, with the caller's rights.
 */
static void
run_command(void *arg)
{
	CommandRun *run = (CommandRun *) arg;
	MemoryContext caller_context = CurrentMemoryContext;
	Oid			argtypes[3] = {INT8OID, INT8OID, INT8OID};
	Datum		args[3];
	BiAsRole	as_owner;
	int			rc;

	args[0] = Int64GetDatum(run->pb->first_id);
	args[1] = Int64GetDatum(run->pb->last_id);
	args[2] = Int64GetDatum(run->pb->batch);
	bi_as_owner_begin(&as_owner, run->owner);
	bi_exec_once("SET CONSTRAINTS ALL IMMEDIATE", SPI_OK_UTILITY);
	command_running = GetCurrentSubTransactionId();
	rc = SPI_execute_with_args(run->command, 3, argtypes, args, NULL, false, 0);
	MemoryContextSwitchTo(caller_context);
	command_running = InvalidSubTransactionId;
	if (rc < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("command of the pipeline failed: %s",
						SPI_result_code_string(rc))));
	run->rows = SPI_processed;
	SPI_freetuptable(SPI_tuptable);
	bi_as_role_end(&as_owner);
}

/*
 * While a pipeline's command runs, refuse SET CONSTRAINTS ... DEFERRED:
 * a deferred trigger would fire at the commit, after the procedure became
 * the caller again.
 */
static void
refuse_deferral(PlannedStmt *pstmt, const char *queryString,
				bool readOnlyTree, ProcessUtilityContext context,
				ParamListInfo params, QueryEnvironment *queryEnv,
				DestReceiver *dest, QueryCompletion *qc)
{
	if (command_running != InvalidSubTransactionId &&
		IsA(pstmt->utilityStmt, ConstraintsSetStmt) &&
		((ConstraintsSetStmt *) pstmt->utilityStmt)->deferred)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("cannot defer constraints in the command of a pipeline"),
				 errdetail("Deferred triggers would fire at commit, with the rights of the role that called batchintory_run."),
				 errhint("Check the constraints at the end of each statement of the command.")));
	if (prev_process_utility)
		prev_process_utility(pstmt, queryString, readOnlyTree, context,
							 params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
}

/* A command that an error ended is over once its subtransaction aborts */
static void
command_subxact_callback(SubXactEvent event, SubTransactionId subid,
						 SubTransactionId parent, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB && subid == command_running)
		command_running = InvalidSubTransactionId;
}

static void
command_xact_callback(XactEvent event, void *arg)
{
	command_running = InvalidSubTransactionId;
}

void
bi_pipeline_init(void)
{
	prev_process_utility = ProcessUtility_hook;
	ProcessUtility_hook = refuse_deferral;
	RegisterXactCallback(command_xact_callback, NULL);
	RegisterSubXactCallback(command_subxact_callback, NULL);
}

/*
 * CALL batchintory_run(job text, command text, max_batches integer,
 *						max_count bigint, max_weight numeric, worker text,
 *						stop_on_error boolean, INOUT batches integer,
 *						INOUT failed integer)
 *		Loop: acquire a batch of the job (committed on its own), run command
 *		with the batch's first id ($1), last id ($2) and batch id ($3) as
 *		the job's owner (run_command), release the batch succeeded (result:
 *		{"rows": n}) in the same transaction and commit -- the command's
 *		results and the release commit together or not at all.  A command
 *		that fails is rolled back, its error reported as a warning and its
 *		batch released failed with the error's primary message; the loop
 *		goes on (it stops with stop_on_error).  Ends when there is
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
	Datum		acquire_args[5];
	char		acquire_nulls[6] = "     ";
	Datum	   *failed_batches = palloc(sizeof(Datum));
	ErrorData	last_error = {0};	/* of the last batch that failed */
	int64		last_failed = 0;
	MemoryContext round_context;
	MemoryContext oldcontext;
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		nulls[2] = {false, false};
	int32		batches = 0;
	int32		failed = 0;
	CommandRun	run;
	const char *schema;

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
	acquire_args[4] = PointerGetDatum(construct_empty_array(INT8OID));

	/* who may run the job is checked first; the command runs as its owner */
	{
		BiCall		call;

		bi_call_begin(&call);
		run.owner = bi_job_open(&call, job, false)->owner;
		bi_call_end(&call);
	}
	SPI_connect_ext(SPI_OPT_NONATOMIC);
	/* the extension's schema: the one this procedure lives in */
	schema = quote_identifier(get_namespace_name(get_func_namespace(fcinfo->flinfo->fn_oid)));

	run.command = command;
	round_context = AllocSetContextCreate(PortalContext, "batchintory run",
										  ALLOCSET_DEFAULT_SIZES);
	while (max_batches < 0 || batches < max_batches)
	{
		PipelineBatch pb;
		ErrorData  *error;

		CHECK_FOR_INTERRUPTS();
		oldcontext = MemoryContextSwitchTo(round_context);
		if (!acquire_one(acquire_args, acquire_nulls, &pb))
		{
			MemoryContextSwitchTo(oldcontext);
			break;
		}
		batches++;
		run.pb = &pb;
		run.rows = 0;
		/* in a subtransaction: a failing command leaves nothing behind */
		error = bi_in_subtransaction(run_command, &run);
		if (error == NULL)
			release(schema, &pb, "succeeded", NULL,
					psprintf("{\"rows\": " UINT64_FORMAT "}", run.rows));
		else
		{
			/*
			 * The inventory keeps the error's primary message: its detail
			 * may quote rows of the tables the command read, which the
			 * views show to pg_monitor.  The caller, who may use the job,
			 * gets the whole error as a warning.
			 */
			ereport(WARNING,
					(errcode(error->sqlerrcode),
					 errmsg("batch " INT64_FORMAT " of job \"%s\" failed: %s",
							pb.batch, job, error->message),
					 error->detail ? errdetail("%s", error->detail) : 0,
					 error->hint ? errhint("%s", error->hint) : 0));
			release(schema, &pb, "failed", error->message, NULL);
			/* kept for the end of the run; not taken again in it */
			oldcontext = MemoryContextSwitchTo(PortalContext);
			last_error.sqlerrcode = error->sqlerrcode;
			last_error.message = pstrdup(error->message);
			last_error.detail = error->detail ? pstrdup(error->detail) : NULL;
			last_failed = pb.batch;
			failed_batches = repalloc(failed_batches, (failed + 1) * sizeof(Datum));
			failed_batches[failed++] = Int64GetDatum(pb.batch);
			acquire_args[4] = PointerGetDatum(construct_array(failed_batches, failed,
															  INT8OID, sizeof(int64),
															  true, TYPALIGN_DOUBLE));
			MemoryContextSwitchTo(round_context);
		}
		SPI_commit();
		MemoryContextSwitchTo(oldcontext);
		MemoryContextReset(round_context);
		if (error != NULL && stop_on_error)
			break;
	}
	MemoryContextDelete(round_context);
	SPI_finish();

	/*
	 * A batch failed: an error for the scheduler (pg_cron's
	 * job_run_details says failed), after everything that succeeded was
	 * committed
	 */
	if (failed > 0)
		ereport(ERROR,
				(errcode(last_error.sqlerrcode),
				 failed == 1 ?
				 errmsg("batch " INT64_FORMAT " of job \"%s\" failed: %s",
						last_failed, job, last_error.message) :
				 errmsg("%d of the %d batches of job \"%s\" run failed; the last, batch "
						INT64_FORMAT ": %s", failed, batches, job, last_failed,
						last_error.message),
				 last_error.detail ? errdetail("%s", last_error.detail) : 0,
				 errhint("The batches that succeeded are committed.  A failed batch is taken again by the next run while it has attempts left; see batchintory.jobs and batchintory.attempts.")));

	values[0] = Int32GetDatum(batches);
	values[1] = Int32GetDatum(failed);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
