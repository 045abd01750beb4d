/*
 * job.c
 *	  The job catalog: batchintory_register, batchintory_alter (including
 *	  a transfer of ownership) and batchintory_drop, with the checks every
 *	  setting gets before a job is stored.
 */
#include "postgres.h"

#include "batchintory.h"
#include "inventory/inventory.h"
#include "settings.h"

#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
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
PG_FUNCTION_INFO_V1(batchintory_pause);
PG_FUNCTION_INFO_V1(batchintory_resume);
PG_FUNCTION_INFO_V1(batchintory_analyze_filter);

static void
not_null(BiSettings *s, int setting)
{
	if (s->isnull[setting])
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", bi_settings[setting].name)));
}

static const char *
name_setting(BiSettings *s, int setting)
{
	return s->isnull[setting] ? NULL : NameStr(*DatumGetName(s->values[setting]));
}

/*
 * The job's owner must be able to read its table (and, with the guard, the
 * key's sequence): the job reads them with the owner's rights.
 */
static void
check_owner_reads(BiSettings *s)
{
	Oid			source = DatumGetObjectId(s->values[S_SOURCE]);

	if (pg_class_aclcheck(source, s->owner, ACL_SELECT) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for table %s", get_rel_name(source)),
				 errdetail("Job owner %s must be able to read the table: the job reads it with the owner's rights.",
						   quote_identifier(GetUserNameFromId(s->owner, false)))));
	if (DatumGetBool(s->values[S_LATE_COMMIT_GUARD]))
		bi_guard_check_sequence(source, name_setting(s, S_ID_COLUMN), s->owner,
								!s->isnull[S_MAX_KEYS]);
	if (DatumGetBool(s->values[S_NOTIFY]) &&
		pg_class_aclcheck(source, s->owner, ACL_TRIGGER) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to notify on table %s", get_rel_name(source)),
				 errdetail("A job with notify => true puts a trigger on its table."),
				 errhint("Grant TRIGGER on the table to the job's owner, or let the table's owner register the job.")));
}

/*
 * A job cut by key range alone (max_keys) does not read its table: no count
 * or weight limit, and the late-commit guard on over a key drawn from a
 * sequence, which alone says which keys exist or may still commit.
 */
static void
check_key_range(BiSettings *s)
{
	if (DatumGetInt64(s->values[S_MAX_KEYS]) <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_keys must be greater than zero")));
	if (!s->isnull[S_MAX_COUNT] || !s->isnull[S_MAX_WEIGHT] || !s->isnull[S_WEIGHT_COLUMN])
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_keys cannot be combined with max_count, max_weight or weight_column"),
				 errdetail("A job cut by key range alone does not read its table: its batches are neither counted nor weighed."),
				 errhint("Cut by key range with max_keys alone, or by count and weight without it.")));
	if (!DatumGetBool(s->values[S_LATE_COMMIT_GUARD]))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_keys needs the late-commit guard"),
				 errdetail("A job cut by key range alone hands out the keys its sequence drew once the transactions that drew them ended; without the guard it would skip keys that commit late.")));
	/* its sequence is checked with the guard's, in check_owner_reads */
}

/*
 * A key setting (a bound) given as an argument, in the job's units: a time
 * for a time key (a timestamptz, timestamp, date or its text), an integer
 * or its text for an integer key
 */
static void
key_setting_units(BiSettings *s, BiSetting setting, BiKeyKind kind)
{
	Oid			type = s->arg_types[setting];

	if (s->isnull[setting] || type == InvalidOid)
		return;
	if (BI_KEY_IS_TIME(kind) && bi_key_kind(type) != KEY_NONE &&
		!BI_KEY_IS_TIME(bi_key_kind(type)))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s must be a time: the key %s is of type %s",
						bi_settings[setting].name, name_setting(s, S_ID_COLUMN),
						format_type_be(bi_key_param_type(kind))),
				 errhint("Give it as a time, e.g. %s => '2026-01-01 00:00+00'.",
						 bi_settings[setting].name)));
	s->values[setting] = Int64GetDatum(bi_key_of_value(kind, s->values[setting], type));
	s->arg_types[setting] = InvalidOid;
	/* a windowed job's upper bound is given as its last window's end */
	if (setting == S_UPPER_BOUND && !s->isnull[S_WINDOW_SIZE] &&
		!TIMESTAMP_NOT_FINITE(DatumGetInt64(s->values[setting])))
		s->values[setting] = Int64GetDatum(DatumGetInt64(s->values[setting]) - 1);
}

/* The windows settings s ask for */
static BiWindows
windows_of(BiSettings *s)
{
	BiWindows	window = {0};

	window.size = s->values[S_WINDOW_SIZE];
	window.time_zone = TextDatumGetCString(s->values[S_WINDOW_TIME_ZONE]);
	window.has_origin = !s->isnull[S_WINDOW_ORIGIN];
	window.origin = window.has_origin ? DatumGetTimestampTz(s->values[S_WINDOW_ORIGIN]) : 0;
	window.delay = s->values[S_WINDOW_DELAY];
	return window;
}

/*
 * Calendar windows: a time key, a size the calendar can count, a time zone,
 * not with max_keys; bounds where windows start (lower) and end (upper)
 */
static void
check_windows(BiSettings *s, BiKeyKind kind)
{
	BiWindows	window;
	int64		first;
	int64		last;

	if (s->isnull[S_WINDOW_SIZE])
	{
		if (DatumGetBool(s->values[S_EMPTY_WINDOWS]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("empty_windows needs a window_size")));
		return;
	}
	window = windows_of(s);
	bi_window_check(kind, window.size, window.time_zone);
	if (!s->isnull[S_MAX_KEYS])
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_keys cannot be combined with window_size")));
	if (!s->isnull[S_LOWER_BOUND])
	{
		int64		lower = DatumGetInt64(s->values[S_LOWER_BOUND]);

		bi_window_of(&window, kind, lower, &first, &last);
		if (first != lower)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("lower_bound %s is not where a window starts", bi_key_text(kind, lower)),
					 errhint("The window around it starts at %s.", bi_key_text(kind, first))));
	}
	if (!s->isnull[S_UPPER_BOUND])
	{
		int64		upper = DatumGetInt64(s->values[S_UPPER_BOUND]);

		bi_window_of(&window, kind, upper, &first, &last);
		if (last != upper)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("upper_bound %s is not where a window ends", bi_key_text(kind, upper + 1)),
					 errdetail("The upper_bound of a job with window_size is the end of its last window."),
					 errhint("The window around it ends at %s.", bi_key_text(kind, last + 1))));
	}
}

/*
 * settings_check
 *		Check a complete set of job settings.  has_frontier tells whether
 *		the job already handed out work (then the upper bound cannot go
 *		below the frontier).  The caller must be connected to SPI.
 */
static void
settings_check(BiSettings *s, bool has_frontier, int64 frontier)
{
	BiKeyKind	kind;

	not_null(s, S_SOURCE);
	not_null(s, S_ID_COLUMN);
	not_null(s, S_MAX_ATTEMPTS);
	not_null(s, S_CONFIG);
	not_null(s, S_LATE_COMMIT_GUARD);
	not_null(s, S_NOTIFY);
	not_null(s, S_ON_FAILURE);
	not_null(s, S_PAUSED);
	not_null(s, S_WINDOW_TIME_ZONE);
	not_null(s, S_EMPTY_WINDOWS);
	not_null(s, S_LATE);
	if (bi_reprocesses_late(s->values[S_LATE]) && DatumGetBool(s->values[S_LATE_COMMIT_GUARD]))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("late => 'reprocess' needs late_commit_guard => false"),
				 errdetail("With the late-commit guard no row commits into a batch after its cut.")));
	(void) bi_halts_on_failure(s->values[S_ON_FAILURE]);
	if (!s->isnull[S_SCHEDULE] && s->isnull[S_COMMAND])
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a schedule needs a command"),
				 errhint("Store the command the schedule runs with command => '...'.")));
	bi_source_check(DatumGetObjectId(s->values[S_SOURCE]),
					name_setting(s, S_ID_COLUMN), name_setting(s, S_WEIGHT_COLUMN),
					s->isnull[S_MAX_KEYS]);

	kind = bi_source_key_kind(DatumGetObjectId(s->values[S_SOURCE]),
							  name_setting(s, S_ID_COLUMN));
	key_setting_units(s, S_LOWER_BOUND, kind);
	key_setting_units(s, S_UPPER_BOUND, kind);
	if (!s->isnull[S_LOWER_BOUND] && DatumGetInt64(s->values[S_LOWER_BOUND]) == PG_INT64_MIN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("lower_bound must be greater than %s", bi_key_text(kind, PG_INT64_MIN)),
				 errhint("Leave lower_bound NULL to start at the oldest key.")));
	if (BI_KEY_IS_TIME(kind) && !s->isnull[S_UPPER_BOUND] &&
		DatumGetInt64(s->values[S_UPPER_BOUND]) == PG_INT64_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("upper_bound must be less than %s", bi_key_text(kind, PG_INT64_MAX)),
				 errhint("Leave upper_bound NULL for a job without an end.")));
	if (!s->isnull[S_LOWER_BOUND] && !s->isnull[S_UPPER_BOUND] &&
		DatumGetInt64(s->values[S_LOWER_BOUND]) > DatumGetInt64(s->values[S_UPPER_BOUND]))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("lower_bound %s is greater than upper_bound %s",
						bi_key_text(kind, DatumGetInt64(s->values[S_LOWER_BOUND])),
						bi_key_text(kind, DatumGetInt64(s->values[S_UPPER_BOUND])))));
	if (has_frontier && !s->isnull[S_UPPER_BOUND] &&
		DatumGetInt64(s->values[S_UPPER_BOUND]) < frontier)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("upper_bound %s is below the frontier %s of the job",
						bi_key_text(kind, DatumGetInt64(s->values[S_UPPER_BOUND])),
						bi_key_text(kind, frontier)),
				 errhint("Use batchintory_rewind() to move the job back first.")));
	check_windows(s, kind);
	if (bi_reprocesses_late(s->values[S_LATE]) && !BI_KEY_IS_TIME(kind))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("late => 'reprocess' needs a time key"),
				 errdetail("late_horizon is a span of the key's time.")));

	if (!s->isnull[S_MAX_COUNT])
		bi_check_max_count(DatumGetInt64(s->values[S_MAX_COUNT]));
	if (!s->isnull[S_MAX_WEIGHT])
		bi_check_max_weight(s->values[S_MAX_WEIGHT]);
	if (!s->isnull[S_MAX_WEIGHT] && s->isnull[S_WEIGHT_COLUMN])
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_weight needs a weight column"),
				 errhint("Name the column that holds each asset's weight in weight_column.")));
	if (!s->isnull[S_MAX_KEYS])
		check_key_range(s);
	if (DatumGetInt32(s->values[S_MAX_ATTEMPTS]) < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_attempts must be at least 1")));
	bi_check_interval(s->values[S_LEASE], s->isnull[S_LEASE], S_LEASE, false);
	bi_check_interval(s->values[S_RETRY_BACKOFF], s->isnull[S_RETRY_BACKOFF], S_RETRY_BACKOFF, true);
	bi_check_interval(s->values[S_GUARD_TIMEOUT], s->isnull[S_GUARD_TIMEOUT], S_GUARD_TIMEOUT, true);
	bi_check_interval(s->values[S_WINDOW_DELAY], s->isnull[S_WINDOW_DELAY], S_WINDOW_DELAY, true);
	bi_check_interval(s->values[S_LATE_HORIZON], s->isnull[S_LATE_HORIZON], S_LATE_HORIZON, false);
	if (!JB_ROOT_IS_OBJECT(DatumGetJsonbP(s->values[S_CONFIG])))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("config must be a jsonb object")));
	check_owner_reads(s);
}

/* The filter of the settings: as stored, its deparse and its nodeToString */
static void
set_filter(BiSettings *s, Node *filter)
{
	s->filter_deparse = bi_filter_deparse(filter, DatumGetObjectId(s->values[S_SOURCE]));
	s->filter_expr = nodeToString(filter);
}

/*
 * Analyze the filter setting, as the caller wrote it: under the caller's
 * search_path and as the caller, once; the job keeps the result.
 */
static void
analyze_filter(const BiCall *call, BiSettings *s)
{
	BiAsRole	as_caller;
	Node	   *filter;

	if (s->isnull[S_FILTER])
		return;
	bi_as_caller_begin(call, &as_caller);
	filter = bi_filter_analyze(DatumGetObjectId(s->values[S_SOURCE]),
							   TextDatumGetCString(s->values[S_FILTER]));
	bi_as_role_end(&as_caller);
	set_filter(s, filter);
}

/*
 * A new command is checked as the owner under the caller's search_path,
 * which is recorded to run it under; an unchanged command given to a new
 * owner is checked again, under the recorded one.
 */
static void
check_command(const BiCall *call, BiSettings *s, bool new_command)
{
	if (s->isnull[S_COMMAND])
	{
		s->command_search_path = NULL;
		return;
	}
	if (new_command)
		s->command_search_path = bi_pipeline_search_path(call->caller_search_path);
	bi_pipeline_check_command(TextDatumGetCString(s->values[S_COMMAND]),
							  s->command_search_path, s->owner,
							  bi_source_key_kind(DatumGetObjectId(s->values[S_SOURCE]),
												 name_setting(s, S_ID_COLUMN)));
}

/* The pg_cron schedule settings s ask for: none without one, or paused */
static const char *
active_schedule(BiSettings *s)
{
	if (s->isnull[S_SCHEDULE] || DatumGetBool(s->values[S_PAUSED]))
		return NULL;
	return TextDatumGetCString(s->values[S_SCHEDULE]);
}

/* The schema of the extension: the one of the function called */
static const char *
extension_schema(FunctionCallInfo fcinfo)
{
	return get_namespace_name(get_func_namespace(fcinfo->flinfo->fn_oid));
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
 * batchintory_register(job text, source regclass, id_column name, ...)
 *		Create a job owned by the calling role; the settings follow
 *		bi_settings.  Errors if a job of that name exists.
 */
Datum
batchintory_register(PG_FUNCTION_ARGS)
{
	const char *name;
	Oid			nametype[1] = {TEXTOID};
	Datum		namearg[1];
	BiSettings s = {0};
	BiCall		call;
	int			i;

	bi_check_nargs(fcinfo, 1 + N_SETTINGS);
	name = bi_text_arg(fcinfo, 0, "job name");
	namearg[0] = CStringGetTextDatum(name);
	for (i = 0; i < N_SETTINGS; i++)
	{
		s.isnull[i] = PG_ARGISNULL(i + 1);
		s.values[i] = s.isnull[i] ? (Datum) 0 : PG_GETARG_DATUM(i + 1);
		s.arg_types[i] = get_fn_expr_argtype(fcinfo->flinfo, i + 1);
	}

	bi_call_begin(&call);
	s.owner = call.caller;
	/* the guard by default where it works: on for an integer key, off for a time */
	if (s.isnull[S_LATE_COMMIT_GUARD] && !s.isnull[S_SOURCE] && !s.isnull[S_ID_COLUMN])
	{
		s.isnull[S_LATE_COMMIT_GUARD] = false;
		s.values[S_LATE_COMMIT_GUARD] =
			BoolGetDatum(!BI_KEY_IS_TIME(bi_source_key_kind(DatumGetObjectId(s.values[S_SOURCE]),
															  name_setting(&s, S_ID_COLUMN))));
	}
	if (bi_exec("SELECT FROM batchintory.job WHERE name OPERATOR(pg_catalog.=) $1",
				1, nametype, namearg, NULL, SPI_OK_SELECT) > 0)
		report_job_exists(name);
	settings_check(&s, false, 0);
	analyze_filter(&call, &s);
	check_command(&call, &s, true);
	if (bi_inventory_job_create(name, &s) == 0)
		report_job_exists(name);
	if (DatumGetBool(s.values[S_NOTIFY]))
		bi_notify_sync(DatumGetObjectId(s.values[S_SOURCE]));
	if (active_schedule(&s) != NULL)
		bi_schedule_sync(extension_schema(fcinfo), NULL, name, s.owner, active_schedule(&s));
	bi_call_end(&call);
	PG_RETURN_VOID();
}

/* The names of the settings alter can reset, as a list for a message */
static char *
resettable_settings(void)
{
	StringInfoData list;
	int			i;

	initStringInfo(&list);
	for (i = 0; i < N_SETTINGS; i++)
		if (bi_settings[i].resettable)
			appendStringInfo(&list, "%s%s", list.len > 0 ? ", " : "", bi_settings[i].name);
	return list.data;
}

/* Apply alter's reset list: those settings go back to NULL */
static void
apply_reset(BiSettings *s, ArrayType *reset)
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
		int			k = bi_setting_by_name(setting);

		if (k < 0 || !bi_settings[k].resettable)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("cannot reset setting \"%s\"", setting),
					 errhint("These settings can be reset: %s.", resettable_settings())));
		s->isnull[k] = true;
		s->values[k] = (Datum) 0;
	}
}

/* The job's current settings, from its cached copy */
static void
settings_of_job(BiSettings *s, BiJob *job)
{
	memset(s, 0, sizeof(BiSettings));
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
	s->values[S_ON_FAILURE] = CStringGetTextDatum(job->halt_on_failure ? "halt" : "skip");
	s->isnull[S_COMMAND] = job->command == NULL;
	if (job->command)
		s->values[S_COMMAND] = CStringGetTextDatum(job->command);
	s->command_search_path = job->command_search_path;
	s->isnull[S_SCHEDULE] = job->schedule == NULL;
	if (job->schedule)
		s->values[S_SCHEDULE] = CStringGetTextDatum(job->schedule);
	s->values[S_PAUSED] = BoolGetDatum(job->paused);
	s->isnull[S_MAX_KEYS] = !job->has_max_keys;
	s->values[S_MAX_KEYS] = Int64GetDatum(job->max_keys);
	s->isnull[S_WINDOW_SIZE] = !job->has_window;
	s->values[S_WINDOW_SIZE] = job->window.size;
	s->values[S_WINDOW_TIME_ZONE] = CStringGetTextDatum(job->window.time_zone);
	s->isnull[S_WINDOW_ORIGIN] = !job->window.has_origin;
	s->values[S_WINDOW_ORIGIN] = TimestampTzGetDatum(job->window.origin);
	s->values[S_WINDOW_DELAY] = job->window.delay;
	s->values[S_EMPTY_WINDOWS] = BoolGetDatum(job->empty_windows);
	s->values[S_LATE] = CStringGetTextDatum(job->reprocess_late ? "reprocess" : "record");
	s->values[S_LATE_HORIZON] = job->late_horizon;
}

/*
 * A new owner: allowed to whoever could ALTER ... OWNER TO it, that is who
 * has the privileges of both the old and the new owner role.
 */
static void
check_new_owner(const BiCall *call, BiJob *job, Oid new_owner)
{
	if (!bi_may_use(call->caller, new_owner))
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
	BiSettings s;
	Oid			old_source;
	bool		old_notify;
	BiCall		call;
	int			i;

	bi_check_nargs(fcinfo, ALTER_NARGS);
	name = bi_text_arg(fcinfo, 0, "job name");
	bi_call_begin(&call);
	job = bi_job_open(&call, name, true);
	settings_of_job(&s, job);
	old_source = job->source;
	old_notify = job->notify;
	for (i = 0; i < N_SETTINGS; i++)
	{
		int			arg = bi_alter_arg((BiSetting) i);

		if (!PG_ARGISNULL(arg))
		{
			s.isnull[i] = false;
			s.values[i] = PG_GETARG_DATUM(arg);
			s.arg_types[i] = get_fn_expr_argtype(fcinfo->flinfo, arg);
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
	}
	settings_check(&s, job->has_frontier, job->frontier);
	if (job->has_frontier &&
		(s.isnull[S_LOWER_BOUND] != !job->has_lower_bound ||
		 (!s.isnull[S_LOWER_BOUND] &&
		  DatumGetInt64(s.values[S_LOWER_BOUND]) != job->lower_bound)))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot change the lower_bound of job \"%s\" after it handed out batches",
						name),
				 errhint("Use batchintory_rewind() to process assets again.")));

	/* a new filter (or table) is analyzed as the caller wrote it */
	if (!PG_ARGISNULL(bi_alter_arg(S_FILTER)) || !PG_ARGISNULL(bi_alter_arg(S_SOURCE)))
		analyze_filter(&call, &s);
	else if (!s.isnull[S_FILTER])
		set_filter(&s, bi_filter_stored(job->source, job->filter, job->filter_expr));
	if (!PG_ARGISNULL(bi_alter_arg(S_COMMAND)) || s.owner != job->owner)
		check_command(&call, &s, !PG_ARGISNULL(bi_alter_arg(S_COMMAND)));
	else if (s.isnull[S_COMMAND])
		s.command_search_path = NULL;

	bi_inventory_job_change(job->job_id, &s);
	/* the pg_cron entry follows a new schedule, pause or owner */
	if (!PG_ARGISNULL(bi_alter_arg(S_SCHEDULE)) || !PG_ARGISNULL(bi_alter_arg(S_PAUSED)) ||
		s.owner != job->owner || (s.isnull[S_SCHEDULE] && job->schedule != NULL))
		bi_schedule_sync(extension_schema(fcinfo), job, name, s.owner, active_schedule(&s));
	if (DatumGetInt32(s.values[S_MAX_ATTEMPTS]) != job->max_attempts)
		bi_inventory_reset_retries(job->job_id, DatumGetInt32(s.values[S_MAX_ATTEMPTS]));
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
	BiCall		call;
	BiJob	   *job;
	Oid			source;
	bool		notify;

	bi_call_begin(&call);
	job = bi_job_open_with_batches(&call, name, PG_INT64_MIN);
	source = job->source;
	notify = job->notify;
	bi_schedule_sync(extension_schema(fcinfo), job, name, job->owner, NULL);
	bi_inventory_job_drop(job->job_id);
	bi_job_forget(job->job_id);
	if (notify)
		bi_notify_sync(source);
	bi_call_end(&call);
	PG_RETURN_VOID();
}

/*
 * Pause or resume a job: batchintory_alter(job, paused => paused), by a
 * call of alter's own
 */
static Datum
set_paused(FunctionCallInfo fcinfo, bool paused)
{
	LOCAL_FCINFO(alter, ALTER_NARGS);
	int			i;

	InitFunctionCallInfoData(*alter, fcinfo->flinfo, ALTER_NARGS, InvalidOid, NULL, NULL);
	for (i = 0; i < ALTER_NARGS; i++)
		alter->args[i].isnull = true;
	alter->args[0] = fcinfo->args[0];
	alter->args[bi_alter_arg(S_PAUSED)].value = BoolGetDatum(paused);
	alter->args[bi_alter_arg(S_PAUSED)].isnull = false;
	return batchintory_alter(alter);
}

/*
 * batchintory_pause(job text), batchintory_resume(job text)
 *		A paused job hands out no batch (acquire and peek return none with a
 *		notice, batchintory_run returns at once) and its pg_cron entry is
 *		removed; resumed, the entry is made again.  Strict.
 */
Datum
batchintory_pause(PG_FUNCTION_ARGS)
{
	return set_paused(fcinfo, true);
}

Datum
batchintory_resume(PG_FUNCTION_ARGS)
{
	return set_paused(fcinfo, false);
}

/*
 * batchintory.analyze_filter(job text, filter text) RETURNS void
 *		Analyze a job's filter text as the caller, under the caller's
 *		search_path, and store it (its analyzed expression and deparse),
 *		nothing else of the job changed.  For update scripts, which must
 *		not call batchintory_alter: an update runs the scripts of every
 *		version it passes with the library of the last one, whose alter may
 *		take other arguments -- and whose job cache reads columns the
 *		inventory does not have yet halfway through.  So this reads only the
 *		columns every version since 0.2.0 has (name, job_id, source, owner)
 *		and writes only the filter.  Takes the job's lock.
 */
Datum
batchintory_analyze_filter(PG_FUNCTION_ARGS)
{
	const char *name = bi_text_arg(fcinfo, 0, "job name");
	const char *filter = bi_text_arg(fcinfo, 1, "filter");
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(name)};
	BiSettings	s = {0};
	BiAsRole	as_caller;
	BiCall		call;
	bool		isnull;
	int32		job_id;
	Oid			source;

	bi_call_begin(&call);
	if (bi_exec("SELECT job_id, source::pg_catalog.oid, owner::pg_catalog.oid"
				" FROM batchintory.job WHERE name OPERATOR(pg_catalog.=) $1",
				1, argtypes, args, NULL, SPI_OK_SELECT) == 0)
		bi_job_not_found(name);
	job_id = DatumGetInt32(bi_get(0, 1, &isnull));
	source = DatumGetObjectId(bi_get(0, 2, &isnull));
	bi_check_may_use(&call, name, DatumGetObjectId(bi_get(0, 3, &isnull)));
	bi_job_lock(job_id);
	s.values[S_SOURCE] = ObjectIdGetDatum(source);
	bi_as_caller_begin(&call, &as_caller);
	set_filter(&s, bi_filter_analyze(source, filter));
	bi_as_role_end(&as_caller);
	bi_inventory_job_set_filter(job_id, s.filter_deparse, s.filter_expr);
	bi_job_forget(job_id);
	bi_call_end(&call);
	PG_RETURN_VOID();
}
