/*
 * settings.c
 *	  The one list of a job's settings and the checks of their values, and
 *	  batchintory.settings(), which shows the list to SQL (and the tests).
 */
#include "postgres.h"

#include "settings.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/numeric.h"
#include "utils/tuplestore.h"

PG_FUNCTION_INFO_V1(batchintory_settings);

const BiSettingDef bi_settings[N_SETTINGS] = {
	[S_SOURCE] = {"source", REGCLASSOID, NULL, true, false},
	[S_ID_COLUMN] = {"id_column", NAMEOID, NULL, true, false},
	[S_WEIGHT_COLUMN] = {"weight_column", NAMEOID, NULL, false, true},
	[S_FILTER] = {"filter", TEXTOID, NULL, false, true},
	[S_LOWER_BOUND] = {"lower_bound", ANYOID, NULL, false, true},
	[S_UPPER_BOUND] = {"upper_bound", ANYOID, NULL, false, true},
	[S_MAX_COUNT] = {"max_count", INT8OID, NULL, false, true},
	[S_MAX_WEIGHT] = {"max_weight", NUMERICOID, NULL, false, true},
	[S_MAX_ATTEMPTS] = {"max_attempts", INT4OID, "3", false, false},
	[S_LEASE] = {"lease", INTERVALOID, "'01:00:00'::interval", false, false},
	[S_CONFIG] = {"config", JSONBOID, "'{}'::jsonb", false, false},
	[S_RETRY_BACKOFF] = {"retry_backoff", INTERVALOID, "'00:00:00'::interval", false, false},
	[S_LATE_COMMIT_GUARD] = {"late_commit_guard", BOOLOID, NULL, false, false},
	[S_GUARD_TIMEOUT] = {"guard_timeout", INTERVALOID, "'00:00:10'::interval", false, false},
	[S_NOTIFY] = {"notify", BOOLOID, "false", false, false},
	[S_ON_FAILURE] = {"on_failure", TEXTOID, "'halt'::text", false, false},
	[S_COMMAND] = {"command", TEXTOID, NULL, false, true},
	[S_SCHEDULE] = {"schedule", TEXTOID, NULL, false, true},
	[S_PAUSED] = {"paused", BOOLOID, "false", false, false},
	[S_MAX_KEYS] = {"max_keys", INT8OID, NULL, false, true},
	[S_WINDOW_SIZE] = {"window_size", INTERVALOID, NULL, false, true},
	[S_WINDOW_TIME_ZONE] = {"window_time_zone", TEXTOID, "'UTC'::text", false, false},
	[S_WINDOW_ORIGIN] = {"window_origin", TIMESTAMPTZOID, NULL, false, true},
	[S_WINDOW_DELAY] = {"window_delay", INTERVALOID, "'00:00:00'::interval", false, false},
	[S_EMPTY_WINDOWS] = {"empty_windows", BOOLOID, "false", false, false},
	[S_LATE] = {"late", TEXTOID, "'record'::text", false, false},
	[S_LATE_HORIZON] = {"late_horizon", INTERVALOID, "'1 day'::interval", false, false},
};

/*
 * The type of the job's column that keeps setting: its argument's, except
 * for a key ("any": a key in the key's own type or spelling), kept in the
 * job's units as a bigint
 */
Oid
bi_setting_column_type(BiSetting setting)
{
	return bi_settings[setting].type == ANYOID ? INT8OID : bi_settings[setting].type;
}

/* The argument of batchintory_alter (0-based) that sets setting */
int
bi_alter_arg(BiSetting setting)
{
	if (setting < S_NOTIFY)
		return 1 + setting;
	if (setting == S_NOTIFY)
		return ALTER_RESET_ARG + 1;
	return ALTER_OWNER_ARG + (setting - S_NOTIFY);
}

/*
 * A setting of two values: true for `yes`, false for `no`; anything else is
 * an error, with the hint that says what each means
 */
static bool
two_values(Datum setting, BiSetting which, const char *yes, const char *no,
		   const char *hint)
{
	char	   *value = TextDatumGetCString(setting);

	if (strcmp(value, yes) != 0 && strcmp(value, no) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid %s \"%s\"", bi_settings[which].name, value),
				 errhint("%s", hint)));
	return strcmp(value, yes) == 0;
}

/*
 * on_failure: 'halt' (a batch failed for good stops the job until it is
 * requeued, skipped or rewound: true) or 'skip' (the job goes on past it:
 * false)
 */
bool
bi_halts_on_failure(Datum on_failure)
{
	return two_values(on_failure, S_ON_FAILURE, "halt", "skip",
					  "A job's on_failure is \"halt\" (a batch failed for good stops the job) or \"skip\" (the job goes on past it).");
}

/*
 * late: 'reprocess' (an acquire that finds no other work hands out again
 * the batches of the last late_horizon that rows committed into after
 * their cut: true) or 'record' (verify lists them: false)
 */
bool
bi_reprocesses_late(Datum late)
{
	return two_values(late, S_LATE, "reprocess", "record",
					  "A job's late is \"record\" (verify lists the rows that came after their batch was cut) or \"reprocess\" (acquire hands such batches out again).");
}

/* The setting of that name, or -1 */
int
bi_setting_by_name(const char *name)
{
	int			i;

	for (i = 0; i < N_SETTINGS; i++)
		if (strcmp(name, bi_settings[i].name) == 0)
			return i;
	return -1;
}

void
bi_check_max_count(int64 max_count)
{
	if (max_count <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_count must be greater than zero")));
}

void
bi_check_max_weight(Datum max_weight)
{
	if (numeric_is_nan(DatumGetNumeric(max_weight)) ||
		numeric_is_inf(DatumGetNumeric(max_weight)) ||
		bi_numeric_cmp(max_weight, bi_numeric_from_int64(0)) <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_weight must be a finite number greater than zero")));
}

/* An interval setting: not NULL, not negative (nor zero unless zero_ok), at most 10 years */
void
bi_check_interval(Datum value, bool isnull, BiSetting setting, bool zero_ok)
{
	int64		usecs;

	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", bi_settings[setting].name)));
	usecs = bi_interval_usecs(value);
	if (usecs < 0 || (usecs == 0 && !zero_ok))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be %s zero", bi_settings[setting].name,
						zero_ok ? "at least" : "greater than")));
	if (usecs > BI_MAX_INTERVAL_USECS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be at most 10 years", bi_settings[setting].name)));
}

/*
 * batchintory.settings() RETURNS TABLE (setting text, type regtype,
 *		default_value text, required boolean, resettable boolean)
 *		A job's settings, in the order of batchintory_register's arguments.
 */
Datum
batchintory_settings(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			i;

	bi_materialize(fcinfo);
	for (i = 0; i < N_SETTINGS; i++)
	{
		Datum		values[5];
		bool		nulls[5] = {false, false, false, false, false};

		values[0] = CStringGetTextDatum(bi_settings[i].name);
		values[1] = ObjectIdGetDatum(bi_settings[i].type);
		nulls[2] = bi_settings[i].default_value == NULL;
		if (!nulls[2])
			values[2] = CStringGetTextDatum(bi_settings[i].default_value);
		values[3] = BoolGetDatum(bi_settings[i].required);
		values[4] = BoolGetDatum(bi_settings[i].resettable);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
