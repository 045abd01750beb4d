/*
 * job.c
 *	  The job catalog: batchintory_register, batchintory_alter (including
 *	  a transfer of ownership) and batchintory_drop, with the checks every
 *	  setting gets before a job is stored.
 */
#include "postgres.h"

#include "batchintory.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "nodes/nodes.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"

PG_FUNCTION_INFO_V1(batchintory_register);
PG_FUNCTION_INFO_V1(batchintory_alter);
PG_FUNCTION_INFO_V1(batchintory_drop);

/*
 * The settings of a job, in the order of the arguments of
 * batchintory_register after the job name (alter takes reset between
 * guard_timeout and notify).
 */
enum JobSetting
{
	S_SOURCE,
	S_ID_COLUMN,
	S_WEIGHT_COLUMN,
	S_FILTER,
	S_LOWER_BOUND,
	S_UPPER_BOUND,
	S_MAX_COUNT,
	S_MAX_WEIGHT,
	S_MAX_ATTEMPTS,
	S_LEASE,
	S_CONFIG,
	S_RETRY_BACKOFF,
	S_LATE_COMMIT_GUARD,
	S_GUARD_TIMEOUT,
	S_NOTIFY,
	N_SETTINGS
};

/* alter's arguments that are not settings */
#define ALTER_RESET_ARG (1 + S_NOTIFY)
#define ALTER_NOTIFY_ARG (ALTER_RESET_ARG + 1)
#define ALTER_OWNER_ARG (ALTER_RESET_ARG + 2)

static const char *const setting_names[N_SETTINGS] = {
	"source", "id_column", "weight_column", "filter", "lower_bound",
	"upper_bound", "max_count", "max_weight", "max_attempts", "lease",
	"config", "retry_backoff", "late_commit_guard", "guard_timeout", "notify"
};

static Oid	setting_types[N_SETTINGS] = {
	REGCLASSOID, NAMEOID, NAMEOID, TEXTOID, INT8OID, INT8OID, INT8OID,
	NUMERICOID, INT4OID, INTERVALOID, JSONBOID, INTERVALOID, BOOLOID,
	INTERVALOID, BOOLOID
};

/* The settings of one job being registered or changed */
typedef struct JobSettings
{
	Datum		values[N_SETTINGS];
	bool		isnull[N_SETTINGS];
	Oid			owner;
	Node	   *filter;			/* analyzed, when the filter changes */
} JobSettings;

/* the job's columns written from JobSettings, in enum JobSetting order */
#define SETTING_COLUMNS \
	"source, id_column, weight_column, filter, lower_bound, upper_bound," \
	" max_count, max_weight, max_attempts, lease, config, retry_backoff," \
	" late_commit_guard, guard_timeout, notify"

static void
check_interval(Datum value, bool isnull, int setting, bool zero_ok)
{
	int64		usecs;

	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", setting_names[setting])));
	usecs = bi_interval_usecs(value);
	if (usecs < 0 || (usecs == 0 && !zero_ok))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be %s zero", setting_names[setting],
						zero_ok ? "at least" : "greater than")));
	if (usecs > BI_MAX_INTERVAL_USECS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be at most 10 years", setting_names[setting])));
}

static void
not_null(JobSettings *s, int setting)
{
	if (s->isnull[setting])
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", setting_names[setting])));
}

static const char *
name_setting(JobSettings *s, int setting)
{
	return s->isnull[setting] ? NULL : NameStr(*DatumGetName(s->values[setting]));
}

/*
 * The job's owner must be able to read its table (and, with the guard, the
 * key's sequence): the job reads them with the owner's rights.
 */
static void
check_owner_reads(JobSettings *s)
{
	Oid			source = DatumGetObjectId(s->values[S_SOURCE]);

	if (pg_class_aclcheck(source, s->owner, ACL_SELECT) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for table %s", get_rel_name(source)),
				 errdetail("Job owner %s must be able to read the table: the job reads it with the owner's rights.",
						   quote_identifier(GetUserNameFromId(s->owner, false)))));
	if (DatumGetBool(s->values[S_LATE_COMMIT_GUARD]))
		bi_guard_check_sequence(source, name_setting(s, S_ID_COLUMN), s->owner);
	if (DatumGetBool(s->values[S_NOTIFY]) &&
		pg_class_aclcheck(source, s->owner, ACL_TRIGGER) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to notify on table %s", get_rel_name(source)),
				 errdetail("A job with notify => true puts a trigger on its table."),
				 errhint("Grant TRIGGER on the table to the job's owner, or let the table's owner register the job.")));
}

/*
 * settings_check
 *		Check a complete set of job settings.  has_frontier tells whether
 *		the job already handed out work (then the upper bound cannot go
 *		below the frontier).  The caller must be connected to SPI.
 */
static void
settings_check(JobSettings *s, bool has_frontier, int64 frontier)
{
	not_null(s, S_SOURCE);
	not_null(s, S_ID_COLUMN);
	not_null(s, S_MAX_ATTEMPTS);
	not_null(s, S_CONFIG);
	not_null(s, S_LATE_COMMIT_GUARD);
	not_null(s, S_NOTIFY);
	bi_source_check(DatumGetObjectId(s->values[S_SOURCE]),
					name_setting(s, S_ID_COLUMN), name_setting(s, S_WEIGHT_COLUMN));

	if (!s->isnull[S_LOWER_BOUND] && DatumGetInt64(s->values[S_LOWER_BOUND]) == PG_INT64_MIN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("lower_bound must be greater than " INT64_FORMAT, PG_INT64_MIN),
				 errhint("Leave lower_bound NULL to start at the oldest key.")));
	if (!s->isnull[S_LOWER_BOUND] && !s->isnull[S_UPPER_BOUND] &&
		DatumGetInt64(s->values[S_LOWER_BOUND]) > DatumGetInt64(s->values[S_UPPER_BOUND]))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("lower_bound " INT64_FORMAT " is greater than upper_bound " INT64_FORMAT,
						DatumGetInt64(s->values[S_LOWER_BOUND]),
						DatumGetInt64(s->values[S_UPPER_BOUND]))));
	if (has_frontier && !s->isnull[S_UPPER_BOUND] &&
		DatumGetInt64(s->values[S_UPPER_BOUND]) < frontier)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("upper_bound " INT64_FORMAT " is below the frontier " INT64_FORMAT " of the job",
						DatumGetInt64(s->values[S_UPPER_BOUND]), frontier),
				 errhint("Use batchintory_rewind() to move the job back first.")));

	if (!s->isnull[S_MAX_COUNT] && DatumGetInt64(s->values[S_MAX_COUNT]) <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_count must be greater than zero")));
	if (!s->isnull[S_MAX_WEIGHT] &&
		(numeric_is_nan(DatumGetNumeric(s->values[S_MAX_WEIGHT])) ||
		 numeric_is_inf(DatumGetNumeric(s->values[S_MAX_WEIGHT])) ||
		 bi_numeric_cmp(s->values[S_MAX_WEIGHT], bi_numeric_from_int64(0)) <= 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_weight must be a finite number greater than zero")));
	if (!s->isnull[S_MAX_WEIGHT] && s->isnull[S_WEIGHT_COLUMN])
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_weight needs a weight column"),
				 errhint("Name the column that holds each asset's weight in weight_column.")));
	if (DatumGetInt32(s->values[S_MAX_ATTEMPTS]) < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_attempts must be at least 1")));
	check_interval(s->values[S_LEASE], s->isnull[S_LEASE], S_LEASE, false);
	check_interval(s->values[S_RETRY_BACKOFF], s->isnull[S_RETRY_BACKOFF], S_RETRY_BACKOFF, true);
	check_interval(s->values[S_GUARD_TIMEOUT], s->isnull[S_GUARD_TIMEOUT], S_GUARD_TIMEOUT, true);
	if (!JB_ROOT_IS_OBJECT(DatumGetJsonbP(s->values[S_CONFIG])))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("config must be a jsonb object")));
	check_owner_reads(s);
}

/*
 * Analyze the filter setting, as the caller wrote it: under the caller's
 * search_path and as the caller, once; the job keeps the result.
 */
static void
analyze_filter(const BiCall *call, JobSettings *s)
{
	BiAsRole	as_caller;

	if (s->isnull[S_FILTER])
		return;
	bi_as_caller_begin(call, &as_caller);
	s->filter = bi_filter_analyze(DatumGetObjectId(s->values[S_SOURCE]),
								  TextDatumGetCString(s->values[S_FILTER]));
	bi_as_role_end(&as_caller);
}

/* Error out: a job named name exists (42710) */
static void
report_job_exists(const char *name)
{
	ereport(ERROR,
			(errcode(ERRCODE_DUPLICATE_OBJECT),
			 errmsg("job \"%s\" already exists", name),
			 errhint("Use batchintory_alter() to change it.")));
}

/*
 * Store the settings in the job's row (insert: a new job named name, unless
 * one of that name exists) and its analyzed filter; returns the job's id.
 */
static int32
settings_store(JobSettings *s, const char *name, int32 job_id, bool insert)
{
	Oid			argtypes[N_SETTINGS + 2];
	Datum		values[N_SETTINGS + 2];
	char		nulls[N_SETTINGS + 3];
	Oid			filtertypes[2] = {INT4OID, TEXTOID};
	Datum		filterargs[2];
	bool		isnull;
	int			i;

	for (i = 0; i < N_SETTINGS; i++)
	{
		argtypes[i] = setting_types[i];
		values[i] = s->values[i];
		nulls[i] = s->isnull[i] ? 'n' : ' ';
	}
	/* the filter as its deparse, under the pinned search_path */
	if (s->filter != NULL)
		values[S_FILTER] = CStringGetTextDatum(bi_filter_deparse(s->filter,
																 DatumGetObjectId(s->values[S_SOURCE])));
	argtypes[N_SETTINGS] = OIDOID;
	values[N_SETTINGS] = ObjectIdGetDatum(s->owner);
	argtypes[N_SETTINGS + 1] = insert ? TEXTOID : INT4OID;
	values[N_SETTINGS + 1] = insert ? CStringGetTextDatum(name) : Int32GetDatum(job_id);
	nulls[N_SETTINGS] = nulls[N_SETTINGS + 1] = ' ';
	nulls[N_SETTINGS + 2] = '\0';

	if (insert)
	{
		/* a job of that name registered meanwhile (and committed) wins */
		if (bi_exec("INSERT INTO batchintory.job (" SETTING_COLUMNS ", owner, name)"
					" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,"
					" $14, $15, $16, $17) ON CONFLICT (name) DO NOTHING RETURNING job_id",
					N_SETTINGS + 2, argtypes, values, nulls, SPI_OK_INSERT_RETURNING) == 0)
			report_job_exists(name);
	}
	else
		bi_exec("UPDATE batchintory.job SET (" SETTING_COLUMNS ", owner, revision) ="
				" ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,"
				" $15, $16, revision OPERATOR(pg_catalog.+) 1)"
				" WHERE job_id OPERATOR(pg_catalog.=) $17 RETURNING job_id",
				N_SETTINGS + 2, argtypes, values, nulls, SPI_OK_UPDATE_RETURNING);
	job_id = DatumGetInt32(bi_get(0, 1, &isnull));

	filterargs[0] = Int32GetDatum(job_id);
	bi_exec("DELETE FROM batchintory.job_filter WHERE job_id OPERATOR(pg_catalog.=) $1",
			1, filtertypes, filterargs, NULL, SPI_OK_DELETE);
	if (s->filter != NULL)
	{
		filterargs[1] = CStringGetTextDatum(nodeToString(s->filter));
		bi_exec("INSERT INTO batchintory.job_filter (job_id, expr) VALUES ($1, $2)",
				2, filtertypes, filterargs, NULL, SPI_OK_INSERT);
	}
	return job_id;
}

/*
 * batchintory_register(job text, source regclass, id_column name, ...)
 *		Create a job owned by the calling role; the settings follow enum
 *		JobSetting.  Errors if a job of that name exists.
 */
Datum
batchintory_register(PG_FUNCTION_ARGS)
{
	const char *name;
	Oid			nametype[1] = {TEXTOID};
	Datum		namearg[1];
	JobSettings s = {0};
	BiCall		call;
	int			i;

	bi_check_nargs(fcinfo, 1 + N_SETTINGS);
	name = bi_text_arg(fcinfo, 0, "job name");
	namearg[0] = CStringGetTextDatum(name);
	for (i = 0; i < N_SETTINGS; i++)
	{
		s.isnull[i] = PG_ARGISNULL(i + 1);
		s.values[i] = s.isnull[i] ? (Datum) 0 : PG_GETARG_DATUM(i + 1);
	}

	bi_call_begin(&call);
	s.owner = call.caller;
	if (bi_exec("SELECT FROM batchintory.job WHERE name OPERATOR(pg_catalog.=) $1",
				1, nametype, namearg, NULL, SPI_OK_SELECT) > 0)
		report_job_exists(name);
	settings_check(&s, false, 0);
	analyze_filter(&call, &s);
	(void) settings_store(&s, name, 0, true);
	if (DatumGetBool(s.values[S_NOTIFY]))
		bi_notify_sync(DatumGetObjectId(s.values[S_SOURCE]));
	bi_call_end(&call);
	PG_RETURN_VOID();
}

/* Apply alter's reset list: those settings go back to NULL */
static void
apply_reset(JobSettings *s, ArrayType *reset)
{
	Datum	   *names;
	bool	   *namenulls;
	int			count;
	int			i;

	deconstruct_array(reset, TEXTOID, -1, false, TYPALIGN_INT,
					  &names, &namenulls, &count);
	for (i = 0; i < count; i++)
	{
		char	   *setting = namenulls[i] ? "" : TextDatumGetCString(names[i]);
		int			k;

		for (k = 0; k < N_SETTINGS; k++)
			if (strcmp(setting, setting_names[k]) == 0)
				break;
		if (k != S_WEIGHT_COLUMN && k != S_FILTER && k != S_LOWER_BOUND &&
			k != S_UPPER_BOUND && k != S_MAX_COUNT && k != S_MAX_WEIGHT)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("cannot reset setting \"%s\"", setting),
					 errhint("These settings can be reset: weight_column, filter, lower_bound, upper_bound, max_count, max_weight.")));
		s->isnull[k] = true;
		s->values[k] = (Datum) 0;
	}
}

/* The job's current settings, from its cached copy */
static void
settings_of_job(JobSettings *s, BiJob *job)
{
	memset(s, 0, sizeof(JobSettings));
	s->owner = job->owner;
	s->values[S_SOURCE] = ObjectIdGetDatum(job->source);
	s->values[S_ID_COLUMN] = DirectFunctionCall1(namein, CStringGetDatum(job->id_column));
	s->isnull[S_WEIGHT_COLUMN] = job->weight_column == NULL;
	if (job->weight_column)
		s->values[S_WEIGHT_COLUMN] = DirectFunctionCall1(namein, CStringGetDatum(job->weight_column));
	s->isnull[S_FILTER] = job->filter == NULL;
	if (job->filter)
		s->values[S_FILTER] = CStringGetTextDatum(job->filter);
	s->isnull[S_LOWER_BOUND] = !job->has_lower_bound;
	s->values[S_LOWER_BOUND] = Int64GetDatum(job->lower_bound);
	s->isnull[S_UPPER_BOUND] = !job->has_upper_bound;
	s->values[S_UPPER_BOUND] = Int64GetDatum(job->upper_bound);
	s->isnull[S_MAX_COUNT] = !job->has_max_count;
	s->values[S_MAX_COUNT] = Int64GetDatum(job->max_count);
	s->isnull[S_MAX_WEIGHT] = !job->has_max_weight;
	s->values[S_MAX_WEIGHT] = job->max_weight;
	s->values[S_MAX_ATTEMPTS] = Int32GetDatum(job->max_attempts);
	s->values[S_LEASE] = job->lease;
	s->values[S_CONFIG] = job->config;
	s->values[S_RETRY_BACKOFF] = job->retry_backoff;
	s->values[S_LATE_COMMIT_GUARD] = BoolGetDatum(job->late_commit_guard);
	s->values[S_GUARD_TIMEOUT] = job->guard_timeout;
	s->values[S_NOTIFY] = BoolGetDatum(job->notify);
}

/*
 * max_attempts changed: the failed batches with attempts left (now) wait
 * for a retry, the others are failed for good.
 */
static void
retry_with_attempts(int32 job_id, int32 max_attempts)
{
	Oid			argtypes[2] = {INT4OID, INT4OID};
	Datum		args[2] = {Int32GetDatum(job_id), Int32GetDatum(max_attempts)};

	bi_exec("UPDATE batchintory.batch SET retry_after = CASE"
			" WHEN (attempt OPERATOR(pg_catalog.-) requeued_after) OPERATOR(pg_catalog.<) $2"
			" THEN COALESCE(retry_after, pg_catalog.clock_timestamp()) END"
			" WHERE job_id OPERATOR(pg_catalog.=) $1 AND status OPERATOR(pg_catalog.=) 'failed'",
			2, argtypes, args, NULL, SPI_OK_UPDATE);
}

/*
 * A new owner: allowed to whoever could ALTER ... OWNER TO it, that is who
 * has the privileges of both the old and the new owner role.
 */
static void
check_new_owner(const BiCall *call, BiJob *job, Oid new_owner)
{
	if (!has_privs_of_role(call->caller, new_owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to give job \"%s\" to role %s",
						job->name, quote_identifier(GetUserNameFromId(new_owner, false))),
				 errdetail("Only roles with the privileges of both the old and the new owner may transfer a job.")));
}

/*
 * batchintory_alter(job text, <settings> ..., reset text[], notify boolean,
 *					 owner regrole)
 *		Change a job: a NULL setting is left unchanged; settings named in
 *		reset go back to NULL (no weight, no filter, no bound, no limit);
 *		owner transfers the job.  Takes the job's lock.
 */
Datum
batchintory_alter(PG_FUNCTION_ARGS)
{
	const char *name;
	BiJob	   *job;
	JobSettings s;
	Oid			old_source;
	bool		old_notify;
	BiCall		call;
	int			i;

	bi_check_nargs(fcinfo, ALTER_OWNER_ARG + 1);
	name = bi_text_arg(fcinfo, 0, "job name");
	bi_call_begin(&call);
	job = bi_job_open(&call, name, true);
	settings_of_job(&s, job);
	old_source = job->source;
	old_notify = job->notify;
	for (i = 0; i < N_SETTINGS; i++)
	{
		int			arg = i == S_NOTIFY ? ALTER_NOTIFY_ARG : i + 1;

		if (!PG_ARGISNULL(arg))
		{
			s.isnull[i] = false;
			s.values[i] = PG_GETARG_DATUM(arg);
		}
	}
	if (!PG_ARGISNULL(ALTER_RESET_ARG))
		apply_reset(&s, PG_GETARG_ARRAYTYPE_P(ALTER_RESET_ARG));
	if (!PG_ARGISNULL(ALTER_OWNER_ARG))
	{
		s.owner = PG_GETARG_OID(ALTER_OWNER_ARG);
		check_new_owner(&call, job, s.owner);
	}

	if (job->has_frontier)
	{
		if (DatumGetObjectId(s.values[S_SOURCE]) != job->source ||
			strcmp(name_setting(&s, S_ID_COLUMN), job->id_column) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("cannot change the table or key column of job \"%s\" after it handed out batches",
							name),
					 errhint("Register a new job instead.")));
		if (s.isnull[S_LOWER_BOUND] != !job->has_lower_bound ||
			(!s.isnull[S_LOWER_BOUND] &&
			 DatumGetInt64(s.values[S_LOWER_BOUND]) != job->lower_bound))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("cannot change the lower_bound of job \"%s\" after it handed out batches",
							name),
					 errhint("Use batchintory_rewind() to process assets again.")));
	}
	settings_check(&s, job->has_frontier, job->frontier);

	/* a new filter (or table) is analyzed as the caller wrote it */
	if (!PG_ARGISNULL(1 + S_FILTER) || !PG_ARGISNULL(1 + S_SOURCE))
		analyze_filter(&call, &s);
	else if (!s.isnull[S_FILTER] && job->filter_expr != NULL)
		s.filter = stringToNode(job->filter_expr);
	else if (!s.isnull[S_FILTER])
		s.filter = bi_filter_analyze(job->source, job->filter);

	(void) settings_store(&s, name, job->job_id, false);
	if (DatumGetInt32(s.values[S_MAX_ATTEMPTS]) != job->max_attempts)
		retry_with_attempts(job->job_id, DatumGetInt32(s.values[S_MAX_ATTEMPTS]));
	bi_job_forget(job->job_id);
	if (old_notify || DatumGetBool(s.values[S_NOTIFY]))
	{
		bi_notify_sync(old_source);
		bi_notify_sync(DatumGetObjectId(s.values[S_SOURCE]));
	}
	bi_call_end(&call);
	PG_RETURN_VOID();
}

/*
 * batchintory_drop(job text)
 *		Delete a job with its batches and attempts.  Locks the job's batches
 *		and the job (bi_job_open_with_batches).
 */
Datum
batchintory_drop(PG_FUNCTION_ARGS)
{
	const char *name = bi_text_arg(fcinfo, 0, "job name");
	Oid			argtypes[1] = {INT4OID};
	Datum		args[1];
	BiCall		call;
	BiJob	   *job;
	Oid			source;
	bool		notify;

	bi_call_begin(&call);
	job = bi_job_open_with_batches(&call, name, PG_INT64_MIN);
	source = job->source;
	notify = job->notify;
	args[0] = Int32GetDatum(job->job_id);
	bi_exec("WITH b AS (DELETE FROM batchintory.batch"
			"  WHERE job_id OPERATOR(pg_catalog.=) $1 RETURNING batch_id),"
			" a AS (DELETE FROM batchintory.attempt a USING b"
			"  WHERE a.batch_id OPERATOR(pg_catalog.=) b.batch_id),"
			" p AS (DELETE FROM batchintory.progress WHERE job_id OPERATOR(pg_catalog.=) $1),"
			" f AS (DELETE FROM batchintory.job_filter WHERE job_id OPERATOR(pg_catalog.=) $1)"
			" DELETE FROM batchintory.job WHERE job_id OPERATOR(pg_catalog.=) $1",
			1, argtypes, args, NULL, SPI_OK_DELETE);
	bi_job_forget(job->job_id);
	if (notify)
		bi_notify_sync(source);
	bi_call_end(&call);
	PG_RETURN_VOID();
}
