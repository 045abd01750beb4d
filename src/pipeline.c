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
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "parser/analyze.h"
#include "tcop/tcopprot.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/varlena.h"

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
 * A command's parameters: the batch's first and last key (bigint, or the
 * time key's type) and its number
 */
#define N_COMMAND_PARAMS 3

static void
command_param_types(BiKeyKind key_kind, Oid *types)
{
	types[0] = types[1] = bi_key_param_type(key_kind);
	types[2] = INT8OID;
}

/*
 * SPI_execute_with_args of one of batchintory's own statements (acquire,
 * release): an error reaches the caller as they raised it, without the
 * internal statement as its CONTEXT.
 */
static int
execute_internal(const char *sql, int nargs, Oid *argtypes, Datum *args,
				 const char *nulls)
{
	MemoryContext context = CurrentMemoryContext;
	volatile int rc = 0;

	PG_TRY();
	{
		rc = SPI_execute_with_args(sql, nargs, argtypes, args, nulls, false, 0);
	}
	PG_CATCH();
	{
		ErrorData  *error;

		MemoryContextSwitchTo(context);
		error = CopyErrorData();
		FlushErrorState();
		error->context = NULL;
		ReThrowError(error);
	}
	PG_END_TRY();
	/* SPI leaves us in its procedure context, which lives as long as the CALL */
	MemoryContextSwitchTo(context);
	return rc;
}

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

	rc = execute_internal("SELECT batch, attempt, first_id, last_id"
						  " FROM batchintory.acquire_excluding($1, $2, $3, $4, $5)",
						  5, argtypes, acquire_args, acquire_nulls);
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
	rc = execute_internal(psprintf("SELECT %s.batchintory_release($1, $2, $3, $4,"
								   " $5::pg_catalog.jsonb)", schema),
						  5, argtypes, args, nulls);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args returned %s", SPI_result_code_string(rc));
	SPI_freetuptable(SPI_tuptable);
}

/* Resolve names with search_path until the GUC nest level ends (bi_as_role_end) */
static void
set_search_path(const char *search_path)
{
	(void) set_config_option("search_path", search_path, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
}

/*
 * bi_pipeline_search_path
 *		The search_path a stored command runs under: the one it was written
 *		under, with pg_temp searched last (not first, as it is unless
 *		named), so that no temporary table of a later caller's can stand in
 *		for a table of the command's.
 */
char *
bi_pipeline_search_path(const char *search_path)
{
	char	   *copy = pstrdup(search_path);
	List	   *schemas;
	ListCell   *lc;

	if (!SplitIdentifierString(copy, ',', &schemas))
		elog(ERROR, "invalid search_path \"%s\"", search_path);
	foreach(lc, schemas)
		if (strcmp((char *) lfirst(lc), "pg_temp") == 0)
			return pstrdup(search_path);
	return psprintf("%s%spg_temp", search_path, search_path[0] ? ", " : "");
}

/* A stored command's error points into the command, not the caller's statement */
static void
command_error_callback(void *arg)
{
	int			position = geterrposition();

	if (position > 0)
	{
		errposition(0);
		internalerrposition(position);
		internalerrquery((const char *) arg);
	}
	errcontext("command of the pipeline");
}

/*
 * The privileges a statement of a command needs, checked for the current
 * user as the executor checks them: started, not run, as EXPLAIN does (its
 * tables, columns and functions).  The parameters get values (0), for the
 * partitions the executor prunes as it starts.  A CALL: EXECUTE on its
 * procedure.  Other utility statements are checked when they run.
 */
static void
check_privileges(Query *query, const char *command, BiKeyKind key_kind)
{
	ParamListInfo params;
	PlannedStmt *plan;
	QueryDesc  *desc;
	Oid			types[N_COMMAND_PARAMS];
	size_t		i;

	if (query->commandType == CMD_UTILITY)
	{
		if (IsA(query->utilityStmt, CallStmt))
		{
			Oid			procedure = ((CallStmt *) query->utilityStmt)->funcexpr->funcid;

			if (BI_PROC_ACLCHECK(procedure, GetUserId(), ACL_EXECUTE) != ACLCHECK_OK)
				aclcheck_error(ACLCHECK_NO_PRIV, OBJECT_PROCEDURE, get_func_name(procedure));
		}
		return;
	}
	command_param_types(key_kind, types);
	params = makeParamList(N_COMMAND_PARAMS);
	for (i = 0; i < N_COMMAND_PARAMS; i++)
	{
		params->params[i].value = i < 2 ? bi_key_param(key_kind, 0) : Int64GetDatum(0);
		params->params[i].isnull = false;
		params->params[i].pflags = PARAM_FLAG_CONST;
		params->params[i].ptype = types[i];
	}
	plan = pg_plan_query(query, command, CURSOR_OPT_PARALLEL_OK, NULL);
	PushActiveSnapshot(GetTransactionSnapshot());
	desc = CreateQueryDesc(plan, command, GetActiveSnapshot(), InvalidSnapshot,
						   None_Receiver, params, NULL, 0);
	ExecutorStart(desc, EXEC_FLAG_EXPLAIN_ONLY);
	ExecutorEnd(desc);
	FreeQueryDesc(desc);
	PopActiveSnapshot();
}

/*
 * bi_pipeline_check_command
 *		Check a pipeline's command before it is stored: each of its
 *		statements is parsed, analyzed and started (not run) as the job's
 *		owner under search_path, with $1, $2 the first and last key (bigint,
 *		or the time key's type) and $3 the batch (bigint), so that a syntax error, a missing table or column, a wrong
 *		parameter or a table or function the owner may not use is refused
 *		now, with PostgreSQL's error, not at its first batch.
 */
void
bi_pipeline_check_command(const char *command, const char *search_path, Oid owner,
						  BiKeyKind key_kind)
{
	Oid			types[N_COMMAND_PARAMS];
	ErrorContextCallback callback = {error_context_stack, command_error_callback,
	unconstify(char *, command)};
	BiAsRole	as_owner;
	List	   *statements;
	ListCell   *lc;

	bi_as_owner_begin(&as_owner, owner);
	set_search_path(search_path);
	error_context_stack = &callback;
	statements = pg_parse_query(command);
	if (statements == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a pipeline's command must hold a statement")));
	foreach(lc, statements)
	{
		RawStmt    *statement = lfirst_node(RawStmt, lc);

		if (IsA(statement->stmt, TransactionStmt))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TRANSACTION_TERMINATION),
					 errmsg("a pipeline's command cannot control transactions"),
					 errdetail("batchintory_run commits each batch with its release.")));
		command_param_types(key_kind, types);
		check_privileges(parse_analyze_fixedparams(statement, command, types,
												   N_COMMAND_PARAMS, NULL),
						 command, key_kind);
	}
	error_context_stack = callback.previous;
	bi_as_role_end(&as_owner);
}

/* One run of the pipeline's command over a batch */
typedef struct CommandRun
{
	const char *command;
	const char *search_path;	/* a stored command's; NULL: the caller's */
	Oid			owner;
	BiKeyKind	key_kind;		/* the type of $1, $2 */
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
	Datum		args[N_COMMAND_PARAMS];
	Oid			types[N_COMMAND_PARAMS];
	BiAsRole	as_owner;
	int			rc;

	command_param_types(run->key_kind, types);
	args[0] = bi_key_param(run->key_kind, run->pb->first_id);
	args[1] = bi_key_param(run->key_kind, run->pb->last_id);
	args[2] = Int64GetDatum(run->pb->batch);
	bi_as_owner_begin(&as_owner, run->owner);
	if (run->search_path != NULL)
		set_search_path(run->search_path);
	bi_exec_once("SET CONSTRAINTS ALL IMMEDIATE", SPI_OK_UTILITY);
	command_running = GetCurrentSubTransactionId();
	rc = SPI_execute_with_args(run->command, N_COMMAND_PARAMS, types, args, NULL,
							   false, 0);
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
 * The command a run runs: the one given, under the caller's search_path;
 * none given, the job's stored one under its recorded search_path.  A job
 * with a stored command runs only that.  Also finds the job's owner and
 * whether it is paused.  Checks first that the caller may use the job.
 */
static void
find_command(const char *job, const char *given, CommandRun *run, bool *paused)
{
	BiCall		call;
	BiJob	   *found;

	bi_call_begin(&call);
	found = bi_job_open(&call, job, false);
	if (given != NULL && found->command != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("job \"%s\" runs its stored command", job),
				 errdetail("A pipeline's batches are all processed by the same command."),
				 errhint("CALL batchintory_run('%s') runs it; batchintory_alter('%s', command => ...) changes it.",
						 job, job)));
	if (given == NULL && found->command == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("job \"%s\" has no command", job),
				 errhint("Pass the command to run, or store one with batchintory_alter('%s', command => ...).",
						 job)));
	run->owner = found->owner;
	run->key_kind = bi_job_reader(found)->key_kind;
	run->command = given ? given : MemoryContextStrdup(PortalContext, found->command);
	run->search_path = given ? NULL :
		MemoryContextStrdup(PortalContext, found->command_search_path);
	*paused = found->paused;
	bi_call_end(&call);
}

/* The procedure's result: (batches, failed) */
static Datum
run_result(TupleDesc tupdesc, int32 batches, int32 failed)
{
	Datum		values[2] = {Int32GetDatum(batches), Int32GetDatum(failed)};
	bool		nulls[2] = {false, false};

	return HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls));
}

/*
 * CALL batchintory_run(job text, command text, max_batches integer,
 *						max_count bigint, max_weight numeric, worker text,
 *						stop_on_error boolean, INOUT batches integer,
 *						INOUT failed integer)
 *		Loop: acquire a batch of the job (committed on its own), run command
 *		(NULL: the job's stored one) with the batch's first id ($1), last id
 *		($2) and batch id ($3) as the job's owner (run_command), release the batch succeeded (result:
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
	const char *command = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));
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
	int32		batches = 0;
	int32		failed = 0;
	CommandRun	run;
	const char *schema;
	bool		paused;

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
	find_command(job, command, &run, &paused);
	if (paused)
	{
		ereport(NOTICE,
				(errmsg("job \"%s\" is paused", job),
				 errhint("batchintory_resume('%s') resumes it.", job)));
		PG_RETURN_DATUM(run_result(tupdesc, 0, 0));
	}
	SPI_connect_ext(SPI_OPT_NONATOMIC);
	/* the extension's schema: the one this procedure lives in */
	schema = quote_identifier(get_namespace_name(get_func_namespace(fcinfo->flinfo->fn_oid)));

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
				 errhint("The batches that succeeded are committed; batchintory.jobs shows whether the job is halted.")));

	PG_RETURN_DATUM(run_result(tupdesc, batches, failed));
}
