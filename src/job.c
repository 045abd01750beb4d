/*
 * job.c
 *	  The job catalog: batchintory_register, batchintory_alter and
 *	  batchintory_drop, loading a job, and the per-job advisory lock.
 */
#include "postgres.h"

#include "batchintory.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

PG_FUNCTION_INFO_V1(batchintory_register);
PG_FUNCTION_INFO_V1(batchintory_alter);
PG_FUNCTION_INFO_V1(batchintory_drop);

/*
 * The settings of a job, in the order of the arguments of
 * batchintory_register after the job name, and of the columns below.
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
	N_SETTINGS
};

static const char *const setting_names[N_SETTINGS] = {
	"source", "id_column", "weight_column", "filter", "lower_bound",
	"upper_bound", "max_count", "max_weight", "max_attempts", "lease",
	"config", "retry_backoff", "late_commit_guard", "guard_timeout"
};

static Oid	setting_types[N_SETTINGS] = {
	REGCLASSOID, NAMEOID, NAMEOID, TEXTOID, INT8OID, INT8OID, INT8OID,
	NUMERICOID, INT4OID, INTERVALOID, JSONBOID, INTERVALOID, BOOLOID,
	INTERVALOID
};

#define JOB_COLUMNS \
	"source, id_column, weight_column, filter, lower_bound, upper_bound, " \
	"max_count, max_weight, max_attempts, lease, config, retry_backoff, " \
	"late_commit_guard, guard_timeout, job_id, name, frontier"

/*
 * Lock a job for the rest of the transaction: serializes acquire, alter,
 * rewind and drop of one job; other jobs are not affected.
 */
void
job_lock(int32 job_id)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, BATCHINTORY_LOCK_SPACE,
						 (uint32) job_id, 2);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
}

/*
 * The job's metadata table must still exist and the caller must be allowed
 * to read it.
 */
void
job_check_source(BatchintoryJob *job)
{
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(job->source)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("metadata table of job \"%s\" no longer exists", job->name),
				 errhint("Drop the job with batchintory_drop().")));
	if (pg_class_aclcheck(job->source, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for table %s", get_rel_name(job->source)),
				 errdetail("Job \"%s\" reads this table as the calling role.",
						   job->name)));
}

/* Copy a by-reference value out of the SPI result */
static Datum
copy_value(uint64 row, int col, bool *isnull)
{
	Datum		value = bi_get(row, col, isnull);
	Oid			type = SPI_gettypeid(SPI_tuptable->tupdesc, col);
	int16		typlen;
	bool		typbyval;

	if (*isnull)
		return (Datum) 0;
	get_typlenbyval(type, &typlen, &typbyval);
	return datumCopy(value, typbyval, typlen);
}

/* Build a BatchintoryJob from row 0 of a SELECT JOB_COLUMNS result */
static BatchintoryJob *
job_from_result(void)
{
	BatchintoryJob *job = palloc0(sizeof(BatchintoryJob));
	bool		isnull;

	job->source = DatumGetObjectId(bi_get(0, 1 + S_SOURCE, &isnull));
	job->id_column = bi_get_text(0, 1 + S_ID_COLUMN);
	job->weight_column = bi_get_text(0, 1 + S_WEIGHT_COLUMN);
	job->filter = bi_get_text(0, 1 + S_FILTER);
	job->lower_bound = bi_get_int64(0, 1 + S_LOWER_BOUND, &isnull);
	job->has_lower_bound = !isnull;
	job->upper_bound = bi_get_int64(0, 1 + S_UPPER_BOUND, &isnull);
	job->has_upper_bound = !isnull;
	job->max_count = bi_get_int64(0, 1 + S_MAX_COUNT, &isnull);
	job->has_max_count = !isnull;
	job->max_weight = copy_value(0, 1 + S_MAX_WEIGHT, &isnull);
	job->has_max_weight = !isnull;
	job->max_attempts = DatumGetInt32(bi_get(0, 1 + S_MAX_ATTEMPTS, &isnull));
	job->lease = copy_value(0, 1 + S_LEASE, &isnull);
	job->config = copy_value(0, 1 + S_CONFIG, &isnull);
	job->retry_backoff = copy_value(0, 1 + S_RETRY_BACKOFF, &isnull);
	job->late_commit_guard = DatumGetBool(bi_get(0, 1 + S_LATE_COMMIT_GUARD, &isnull));
	job->guard_timeout = copy_value(0, 1 + S_GUARD_TIMEOUT, &isnull);
	job->job_id = DatumGetInt32(bi_get(0, N_SETTINGS + 1, &isnull));
	job->name = bi_get_text(0, N_SETTINGS + 2);
	job->frontier = bi_get_int64(0, N_SETTINGS + 3, &isnull);
	job->has_frontier = !isnull;
	return job;
}

static void
job_not_found(const char *name)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("job \"%s\" does not exist", name)));
}

/*
 * job_load
 *		Load a job by name.  With lock, take the job's lock first and read
 *		the job afterwards, so the frontier is the one the last holder of the
 *		lock committed.  The caller must be connected to SPI.
 */
BatchintoryJob *
job_load(const char *name, bool lock)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(name)};

	if (lock)
	{
		bool		isnull;

		if (bi_exec("SELECT job_id FROM batchintory.job"
					" WHERE name OPERATOR(pg_catalog.=) $1",
					1, argtypes, values, NULL, SPI_OK_SELECT) != 1)
			job_not_found(name);
		job_lock(DatumGetInt32(bi_get(0, 1, &isnull)));
	}
	if (bi_exec("SELECT " JOB_COLUMNS " FROM batchintory.job"
				" WHERE name OPERATOR(pg_catalog.=) $1",
				1, argtypes, values, NULL, SPI_OK_SELECT) != 1)
		job_not_found(name);
	return job_from_result();
}

/* Load a job by id, without locking; the caller must be connected to SPI */
BatchintoryJob *
job_load_by_id(int32 job_id)
{
	Oid			argtypes[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(job_id)};

	if (bi_exec("SELECT " JOB_COLUMNS " FROM batchintory.job"
				" WHERE job_id OPERATOR(pg_catalog.=) $1",
				1, argtypes, values, NULL, SPI_OK_SELECT) != 1)
		elog(ERROR, "job %d does not exist", job_id);
	return job_from_result();
}

static void
check_positive_interval(Datum value, bool isnull, int setting, bool zero_ok)
{
	Interval	zero = {0};
	int			cmp;

	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", setting_names[setting])));
	cmp = DatumGetInt32(DirectFunctionCall2(interval_cmp, value,
											IntervalPGetDatum(&zero)));
	if (cmp < 0 || (cmp == 0 && !zero_ok))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be %s zero", setting_names[setting],
						zero_ok ? "at least" : "greater than")));
}

/*
 * settings_check
 *		Check a complete set of job settings; has_batches tells whether the
 *		job already handed out work (then its table, key and lower bound are
 *		fixed, and the upper bound cannot go below the frontier).
 */
static void
settings_check(Datum *v, bool *n, bool has_frontier, int64 frontier)
{
	Oid			source = DatumGetObjectId(v[S_SOURCE]);
	char	   *id_column;

	if (n[S_SOURCE] || n[S_ID_COLUMN])
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("source and id_column must not be null")));
	if (pg_class_aclcheck(source, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for table %s", get_rel_name(source))));

	id_column = NameStr(*DatumGetName(v[S_ID_COLUMN]));
	column_check(source, id_column, "key", false);
	if (!n[S_WEIGHT_COLUMN])
		column_check(source, NameStr(*DatumGetName(v[S_WEIGHT_COLUMN])),
					 "weight", true);
	if (!n[S_FILTER])
		filter_check(source, TextDatumGetCString(v[S_FILTER]));

	if (!n[S_LOWER_BOUND] && !n[S_UPPER_BOUND] &&
		DatumGetInt64(v[S_LOWER_BOUND]) > DatumGetInt64(v[S_UPPER_BOUND]))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("lower_bound " INT64_FORMAT " is greater than upper_bound " INT64_FORMAT,
						DatumGetInt64(v[S_LOWER_BOUND]),
						DatumGetInt64(v[S_UPPER_BOUND]))));
	if (has_frontier && !n[S_UPPER_BOUND] &&
		DatumGetInt64(v[S_UPPER_BOUND]) < frontier)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("upper_bound " INT64_FORMAT " is below the frontier " INT64_FORMAT " of the job",
						DatumGetInt64(v[S_UPPER_BOUND]), frontier),
				 errhint("Use batchintory_rewind() to move the job back first.")));

	if (!n[S_MAX_COUNT] && DatumGetInt64(v[S_MAX_COUNT]) <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_count must be greater than zero")));
	if (!n[S_MAX_WEIGHT] &&
		bi_numeric_cmp(v[S_MAX_WEIGHT], bi_numeric_from_int64(0)) <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_weight must be greater than zero")));
	if (!n[S_MAX_WEIGHT] && n[S_WEIGHT_COLUMN])
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_weight needs a weight column"),
				 errhint("Name the column that holds each asset's weight in weight_column.")));
	if (n[S_MAX_ATTEMPTS] || DatumGetInt32(v[S_MAX_ATTEMPTS]) < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_attempts must be at least 1")));
	check_positive_interval(v[S_LEASE], n[S_LEASE], S_LEASE, false);
	check_positive_interval(v[S_RETRY_BACKOFF], n[S_RETRY_BACKOFF], S_RETRY_BACKOFF, true);
	check_positive_interval(v[S_GUARD_TIMEOUT], n[S_GUARD_TIMEOUT], S_GUARD_TIMEOUT, true);
	if (n[S_CONFIG] || !JB_ROOT_IS_OBJECT(DatumGetJsonbP(v[S_CONFIG])))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("config must be a jsonb object")));
	if (n[S_LATE_COMMIT_GUARD])
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("late_commit_guard must not be null")));
	if (DatumGetBool(v[S_LATE_COMMIT_GUARD]))
		guard_check_sequence(source, id_column);
}

const char *
job_name_arg(FunctionCallInfo fcinfo)
{
	char	   *name;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("job name must not be null")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("job name must not be empty")));
	return name;
}

/*
 * job_from_arg
 *		The job named by the function's first argument, loaded (after taking
 *		its lock, with lock) and checked to be readable by the caller.  The
 *		caller must be connected to SPI.
 */
BatchintoryJob *
job_from_arg(FunctionCallInfo fcinfo, bool lock)
{
	BatchintoryJob *job = job_load(job_name_arg(fcinfo), lock);

	job_check_source(job);
	return job;
}

/*
 * batchintory_register(job text, source regclass, id_column name, ...)
 *		Create a job; the settings follow enum JobSetting.  Errors if a job
 *		of that name exists.
 */
Datum
batchintory_register(PG_FUNCTION_ARGS)
{
	const char *name = job_name_arg(fcinfo);
	Datum		values[N_SETTINGS + 1];
	bool		isnull[N_SETTINGS + 1];
	char		nulls[N_SETTINGS + 1];
	Oid			argtypes[N_SETTINGS + 1];
	Datum		namearg[1] = {CStringGetTextDatum(name)};
	Oid			nametype[1] = {TEXTOID};
	int			i;

	for (i = 0; i < N_SETTINGS; i++)
	{
		isnull[i] = PG_ARGISNULL(i + 1);
		values[i] = isnull[i] ? (Datum) 0 : PG_GETARG_DATUM(i + 1);
		nulls[i] = isnull[i] ? 'n' : ' ';
		argtypes[i] = setting_types[i];
	}
	values[N_SETTINGS] = namearg[0];
	nulls[N_SETTINGS] = ' ';
	argtypes[N_SETTINGS] = TEXTOID;

	SPI_connect();
	if (bi_exec("SELECT FROM batchintory.job WHERE name OPERATOR(pg_catalog.=) $1",
				1, nametype, namearg, NULL, SPI_OK_SELECT) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("job \"%s\" already exists", name),
				 errhint("Use batchintory_alter() to change it.")));
	settings_check(values, isnull, false, 0);
	bi_exec("INSERT INTO batchintory.job (" JOB_COLUMNS ")"
			" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,"
			" $14, DEFAULT, $15, NULL)",
			N_SETTINGS + 1, argtypes, values, nulls, SPI_OK_INSERT);
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * batchintory_alter(job text, <settings> ..., reset text[])
 *		Change a job: a NULL setting is left unchanged; settings named in
 *		reset go back to NULL (no weight, no filter, no bound, no limit).
 *		Takes the job's lock.
 */
Datum
batchintory_alter(PG_FUNCTION_ARGS)
{
	const char *name = job_name_arg(fcinfo);
	BatchintoryJob *job;
	Datum		values[N_SETTINGS + 1];
	bool		isnull[N_SETTINGS + 1];
	char		nulls[N_SETTINGS + 1];
	Oid			argtypes[N_SETTINGS + 1];
	bool		frontier_isnull;
	int64		frontier;
	int			i;

	SPI_connect();
	/* SPI_tuptable still holds the job's row: merge it with the arguments */
	job = job_load(name, true);
	for (i = 0; i < N_SETTINGS; i++)
	{
		if (!PG_ARGISNULL(i + 1))
		{
			isnull[i] = false;
			values[i] = PG_GETARG_DATUM(i + 1);
		}
		else
			values[i] = copy_value(0, i + 1, &isnull[i]);
		argtypes[i] = setting_types[i];
	}
	frontier = bi_get_int64(0, N_SETTINGS + 3, &frontier_isnull);

	if (!PG_ARGISNULL(N_SETTINGS + 1))
	{
		ArrayType  *reset = PG_GETARG_ARRAYTYPE_P(N_SETTINGS + 1);
		Datum	   *names;
		bool	   *namenulls;
		int			count;

		deconstruct_array(reset, TEXTOID, -1, false, TYPALIGN_INT,
						  &names, &namenulls, &count);
		for (i = 0; i < count; i++)
		{
			char	   *setting = namenulls[i] ? "" : TextDatumGetCString(names[i]);
			int			s;

			for (s = 0; s < N_SETTINGS; s++)
				if (strcmp(setting, setting_names[s]) == 0)
					break;
			if (s != S_WEIGHT_COLUMN && s != S_FILTER && s != S_LOWER_BOUND &&
				s != S_UPPER_BOUND && s != S_MAX_COUNT && s != S_MAX_WEIGHT)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("cannot reset setting \"%s\"", setting),
						 errhint("These settings can be reset: weight_column, filter, lower_bound, upper_bound, max_count, max_weight.")));
			isnull[s] = true;
		}
	}

	if (!frontier_isnull)
	{
		if (DatumGetObjectId(values[S_SOURCE]) != job->source ||
			strcmp(NameStr(*DatumGetName(values[S_ID_COLUMN])), job->id_column) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("cannot change the table or key column of job \"%s\" after it handed out batches",
							name),
					 errhint("Register a new job instead.")));
		if (isnull[S_LOWER_BOUND] != !job->has_lower_bound ||
			(!isnull[S_LOWER_BOUND] &&
			 DatumGetInt64(values[S_LOWER_BOUND]) != job->lower_bound))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("cannot change the lower_bound of job \"%s\" after it handed out batches",
							name),
					 errhint("Use batchintory_rewind() to process assets again.")));
	}
	settings_check(values, isnull, !frontier_isnull, frontier);

	for (i = 0; i < N_SETTINGS; i++)
		nulls[i] = isnull[i] ? 'n' : ' ';
	values[N_SETTINGS] = Int32GetDatum(job->job_id);
	nulls[N_SETTINGS] = ' ';
	argtypes[N_SETTINGS] = INT4OID;
	bi_exec("UPDATE batchintory.job SET (" JOB_COLUMNS ") ="
			" ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,"
			" job_id, name, frontier)"
			" WHERE job_id OPERATOR(pg_catalog.=) $15",
			N_SETTINGS + 1, argtypes, values, nulls, SPI_OK_UPDATE);
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * batchintory_drop(job text)
 *		Delete a job with its batches and attempts.  Takes the job's lock.
 */
Datum
batchintory_drop(PG_FUNCTION_ARGS)
{
	const char *name = job_name_arg(fcinfo);
	BatchintoryJob *job;
	Oid			argtypes[1] = {INT4OID};
	Datum		values[1];

	SPI_connect();
	job = job_load(name, true);
	values[0] = Int32GetDatum(job->job_id);
	bi_exec("DELETE FROM batchintory.job WHERE job_id OPERATOR(pg_catalog.=) $1",
			1, argtypes, values, NULL, SPI_OK_DELETE);
	SPI_finish();
	PG_RETURN_VOID();
}
