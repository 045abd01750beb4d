/*
 * settings.h
 *	  The one list of a job's settings: name, type, default, whether alter
 *	  can reset it, and the checks of its value.  register, alter, the
 *	  inventory's job row and batchintory.settings() (which the command-line
 *	  and Python clients are tested against) all come from it.
 */
#ifndef BATCHINTORY_SETTINGS_H
#define BATCHINTORY_SETTINGS_H

#include "batchintory.h"

/* The settings, in the order of batchintory_register's arguments after the job */
typedef enum BiSetting
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
	/* from 0.3.0; alter takes these after its owner */
	S_ON_FAILURE,
	S_COMMAND,
	S_SCHEDULE,
	S_PAUSED,
	S_MAX_KEYS,
	S_WINDOW_SIZE,
	S_WINDOW_TIME_ZONE,
	S_WINDOW_ORIGIN,
	S_WINDOW_DELAY,
	S_EMPTY_WINDOWS,
	S_LATE,
	S_LATE_HORIZON,
	N_SETTINGS
} BiSetting;

/* batchintory_alter's arguments: the job, the settings to S_NOTIFY, reset,
 * notify, owner, then the settings after S_NOTIFY */
#define ALTER_RESET_ARG (1 + S_NOTIFY)
#define ALTER_OWNER_ARG (ALTER_RESET_ARG + 2)
#define ALTER_NARGS (1 + N_SETTINGS + 2)

extern int	bi_alter_arg(BiSetting setting);
extern Oid	bi_setting_column_type(BiSetting setting);

/* One setting: its name (the argument's and the job's column's), type, default */
typedef struct BiSettingDef
{
	const char *name;
	Oid			type;			/* the argument's; "any" for a key */
	const char *default_value;	/* as SQL text; NULL: none (NULL or required) */
	bool		required;		/* register needs a value */
	bool		resettable;		/* alter's reset may set it back to NULL */
} BiSettingDef;

extern const BiSettingDef bi_settings[N_SETTINGS];

/* The settings of one job being registered or changed */
typedef struct BiSettings
{
	Datum		values[N_SETTINGS];
	bool		isnull[N_SETTINGS];
	Oid			arg_types[N_SETTINGS];	/* a key's type as given, InvalidOid:
										 * in the job's units */
	Oid			owner;
	char	   *filter_deparse; /* the filter as stored, NULL: none */
	char	   *filter_expr;	/* its nodeToString */
	char	   *command_search_path;	/* the command's, as recorded; NULL: none */
} BiSettings;

extern int	bi_setting_by_name(const char *name);
extern bool bi_halts_on_failure(Datum on_failure);
extern bool bi_reprocesses_late(Datum late);
extern void bi_check_max_count(int64 max_count);
extern void bi_check_max_weight(Datum max_weight);
extern void bi_check_interval(Datum value, bool isnull, BiSetting setting,
							  bool zero_ok);

#endif							/* BATCHINTORY_SETTINGS_H */
