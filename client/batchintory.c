/*
 * batchintory.c
 *	  The client's table of commands, their arguments and options (and the
 *	  query of those that are one query), and main.
 */
#include "client.h"

/* positional arguments */
static const ArgSpec job_arg[] = {
	{NULL, "JOB", ARG_TEXT},
	{NULL}
};
static const ArgSpec batch_arg[] = {
	{NULL, "BATCH", ARG_INT},
	{NULL}
};
static const ArgSpec batch_attempt_args[] = {
	{NULL, "BATCH", ARG_INT},
	{NULL, "ATTEMPT", ARG_INT},
	{NULL}
};
static const ArgSpec release_args[] = {
	{NULL, "BATCH", ARG_INT},
	{NULL, "ATTEMPT", ARG_INT},
	{NULL, "STATUS", ARG_TEXT},
	{NULL}
};
static const ArgSpec job_id_args[] = {
	{NULL, "JOB", ARG_TEXT},
	{NULL, "ID", ARG_INT},
	{NULL}
};
static const ArgSpec table_id_args[] = {
	{NULL, "TABLE", ARG_TEXT},
	{NULL, "ID", ARG_INT},
	{NULL}
};

/*
 * The settings of a job that register and alter pass on as the named
 * arguments of batchintory_register and batchintory_alter
 */
#define JOB_SETTINGS \
	{"weight-column", "COLUMN", ARG_TEXT, "weight_column", false, \
	"its numeric weight, e.g. bytes"}, \
	{"filter", "EXPRESSION", ARG_TEXT, "filter", false, \
	"SQL condition on its columns the assets must meet"}, \
	{"lower-bound", "KEY", ARG_KEY, "lower_bound", false, \
	"first key of the window (an id, or a time)"}, \
	{"upper-bound", "KEY", ARG_KEY, "upper_bound", false, \
	"last key of the window (a backfill)"}, \
	{"max-count", "N", ARG_INT, "max_count", false, \
	"at most N assets per batch"}, \
	{"max-weight", "W", ARG_TEXT, "max_weight", false, \
	"at most weight W per batch"}, \
	{"max-keys", "N", ARG_INT, "max_keys", false, \
	"cut by key range alone: at most N key values per batch"}, \
	{"max-attempts", "N", ARG_INT, "max_attempts", false, \
	"attempts per batch before it stays failed"}, \
	{"lease", "INTERVAL", ARG_TEXT, "lease", false, \
	"lease of an attempt without heartbeat"}, \
	{"config", "JSON", ARG_TEXT, "config", false, \
	"configuration recorded with every batch"}, \
	{"retry-backoff", "INTERVAL", ARG_TEXT, "retry_backoff", false, \
	"wait before the first retry, doubling"}, \
	{"late-commit-guard", "on|off", ARG_TEXT, "late_commit_guard", false, \
	"wait for writers before cutting"}, \
	{"guard-timeout", "INTERVAL", ARG_TEXT, "guard_timeout", false, \
	"longest wait for writers"}, \
	{"notify", "on|off", ARG_TEXT, "notify", false, \
	"NOTIFY waiting workers when assets are inserted"}, \
	{"on-failure", "halt|skip", ARG_TEXT, "on_failure", false, \
	"a batch failed for good stops the job, or is left as a hole"}, \
	{"command", "SQL", ARG_TEXT, "command", false, \
	"stored pipeline: SQL run over each batch ($1, $2 ids, $3 batch)"}, \
	{"schedule", "CRON", ARG_TEXT, "schedule", false, \
	"pg_cron schedule of the stored pipeline, e.g. '*/5 * * * *'"}, \
	{"paused", "on|off", ARG_TEXT, "paused", false, \
	"hand out no batch, pg_cron entry off"}, \
	{"window-size", "INTERVAL", ARG_TEXT, "window_size", false, \
	"calendar windows of a time key, e.g. '1 hour', '1 day'"}, \
	{"window-time-zone", "ZONE", ARG_TEXT, "window_time_zone", false, \
	"time zone whose calendar counts windows' days and months"}, \
	{"window-origin", "TIME", ARG_TEXT, "window_origin", false, \
	"a time where a window starts (2000-01-01 00:00 in the zone)"}, \
	{"window-delay", "INTERVAL", ARG_TEXT, "window_delay", false, \
	"hand out a window this long after its end"}, \
	{"empty-windows", "on|off", ARG_TEXT, "empty_windows", false, \
	"hand out windows without assets too"}, \
	{"late", "record|reprocess", ARG_TEXT, "late", false, \
	"rows committed into a batch after its cut: listed, or handed out again"}, \
	{"late-horizon", "INTERVAL", ARG_TEXT, "late_horizon", false, \
	"how far back before the frontier acquire looks for them"}

static const ArgSpec register_options[] = {
	{"table", "TABLE", ARG_TEXT, "source", true,
	"metadata table (source)"},
	{"id-column", "COLUMN", ARG_TEXT, "id_column", true,
	"its unique, increasing integer key"},
	JOB_SETTINGS,
	{NULL}
};
static const ArgSpec alter_options[] = {
	{"table", "TABLE", ARG_TEXT, "source", false,
	"metadata table (source)"},
	{"id-column", "COLUMN", ARG_TEXT, "id_column", false,
	"its unique, increasing integer key"},
	JOB_SETTINGS,
	{"owner", "ROLE", ARG_TEXT, "owner", false,
	"role that owns the job"},
	{"reset", "SETTING,...", ARG_LIST, "reset", false,
	"clear these settings, e.g. filter,upper_bound"},
	{NULL}
};

#define LIMIT_OPTIONS \
	{"max-count", "N", ARG_INT, NULL, false, \
	"at most N assets per batch (default: the job's)"}, \
	{"max-weight", "W", ARG_TEXT, NULL, false, \
	"at most weight W per batch (default: the job's)"}
#define RECHECK_OPTION \
	{"recheck", "SECONDS", ARG_SECONDS, NULL, false, \
	"while waiting, acquire again this often (" DEFAULT_RECHECK ")"}

static const ArgSpec acquire_options[] = {
	LIMIT_OPTIONS,
	{"worker", "NAME", ARG_TEXT, NULL, false,
	"worker name recorded with the attempt"},
	{"batches", "N", ARG_INT, NULL, false,
	"take up to N consecutive batches (1)"},
	{"wait", "SECONDS", ARG_MAYBE_SECONDS, NULL, false,
	"wait for new assets (at most SECONDS)"},
	RECHECK_OPTION,
	{NULL}
};
static const ArgSpec peek_options[] = {
	LIMIT_OPTIONS,
	{NULL}
};
static const ArgSpec release_options[] = {
	{"message", "TEXT", ARG_TEXT, NULL, false,
	"message recorded with the attempt"},
	{"result", "JSON", ARG_TEXT, NULL, false,
	"result recorded with the attempt"},
	{NULL}
};
static const ArgSpec backlog_options[] = {
	{"estimate", NULL, ARG_FLAG, NULL, false,
	"estimate from statistics instead of counting"},
	{NULL}
};
static const ArgSpec assets_options[] = {
	{"rows", NULL, ARG_FLAG, NULL, false,
	"the rows of the metadata table, not only the keys"},
	{NULL}
};
static const ArgSpec verify_options[] = {
	{"requeue", NULL, ARG_FLAG, NULL, false,
	"put the batches whose assets changed back in line"},
	{NULL}
};
static const ArgSpec run_options[] = {
	LIMIT_OPTIONS,
	{"worker", "NAME", ARG_TEXT, NULL, false,
	"worker name recorded with the attempts (HOST:PID)"},
	{"iterations", "N", ARG_COUNT, NULL, false,
	"stop after N batches (default: when no batch is left)"},
	{"heartbeat", "SECONDS", ARG_SECONDS, NULL, false,
	"heartbeat interval (default: a third of the lease)"},
	{"follow", NULL, ARG_FLAG, NULL, false,
	"when no batch is left, wait for new assets"},
	RECHECK_OPTION,
	{"no-progress", NULL, ARG_FLAG, NULL, false,
	"no live progress line, even on a terminal"},
	{"max-failures", "N", ARG_NATURAL, NULL, false,
	"stop after N failed batches in a row (" DEFAULT_MAX_FAILURES "; 0: never)"},
	{NULL}
};

/*
 * The commands.  Those with sql and no func are that one query, with their
 * positional arguments as $1, $2, ... (@extschema@: the extension's schema)
 * and their rows printed by print.
 */
const CommandSpec commands[] = {
	{.name = "jobs", .summary = "list the jobs and their progress",
		.positional = job_arg, .optional_positional = 1,
	.func = cmd_jobs},
	{.name = "status",
		.summary = "show every column of a job, and the progress of a backfill",
	.positional = job_arg, .func = cmd_status},
	{.name = "register", .summary = "create a job over a metadata table",
		.positional = job_arg, .options = register_options,
		.func = cmd_register,
		.notes = "Options left out take the defaults of batchintory_register: no weight,\n"
		"filter, window or limits, --max-attempts 3, --lease '1 hour', --config\n"
		"'{}', --retry-backoff 0, --late-commit-guard on (off for a time key),\n"
		"--guard-timeout '10 seconds', --notify off, --on-failure halt, no --command\n"
		"or --schedule, --paused off, no --window-size, --window-time-zone UTC,\n"
		"--window-delay 0, --empty-windows off, --late record, --late-horizon '1 day'.\n"},
	{.name = "alter", .summary = "change the settings of a job",
		.positional = job_arg, .options = alter_options, .func = cmd_alter,
		.notes = "Options left out leave a setting unchanged; --reset clears settings\n"
		"(weight_column, filter, lower_bound, upper_bound, max_count, max_weight,\n"
		"command, schedule, max_keys, window_size, window_origin).\n",
	.needs_option = true},
	{.name = "drop", .summary = "delete a job with its batches and attempts",
		.positional = job_arg,
		.sql = "SELECT $1::pg_catalog.text AS job, 'dropped' AS status"
		" FROM @extschema@.batchintory_drop(job => $1)",
	.print = print_result},
	{.name = "acquire", .summary = "take the next batches of a job",
		.positional = job_arg, .options = acquire_options,
		.func = cmd_acquire,
		.notes = "--wait alone waits until a batch comes or the client is interrupted;\n"
		"--wait=SECONDS gives up after SECONDS (exit status 1). A job registered\n"
		"with --notify on wakes waiting clients as soon as assets are inserted.\n\n"
		"Exit status: 0 batches printed; 1 no batch; 75 no batch now because the\n"
		"late-commit guard timed out (a transaction that may still commit keys of\n"
		"the job's table was running after the job's guard_timeout, with a\n"
	"WARNING): there may be work, try again later; 3 server error.\n"},
	{.name = "peek",
		.summary = "show the batch acquire would hand out now, without taking it",
	.positional = job_arg, .options = peek_options, .func = cmd_peek},
	{.name = "release",
		.summary = "record the outcome of an attempt: STATUS succeeded or failed",
		.positional = release_args, .options = release_options,
	.func = cmd_release},
	{.name = "heartbeat", .summary = "extend the lease of an attempt",
		.positional = batch_attempt_args,
		.sql = "SELECT $1::pg_catalog.int8 AS batch,"
		" $2::pg_catalog.int4 AS attempt, h.lease_until"
		" FROM @extschema@.batchintory_heartbeat(batch => $1,"
		" attempt => $2) AS h (lease_until)",
	.print = print_result},
	{.name = "requeue",
		.summary = "put a failed, skipped or succeeded batch back in line",
	.positional = batch_arg, .func = cmd_requeue},
	{.name = "skip",
		.summary = "leave out a batch failed for good: a halted job goes on",
	.positional = batch_arg, .func = cmd_skip},
	{.name = "pause",
		.summary = "hand out no batch of a job, its pg_cron entry off",
		.positional = job_arg,
		.sql = "SELECT $1::pg_catalog.text AS job, 'paused' AS status"
		" FROM @extschema@.batchintory_pause(job => $1)",
	.print = print_result},
	{.name = "resume", .summary = "resume a paused job",
		.positional = job_arg,
		.sql = "SELECT $1::pg_catalog.text AS job, 'resumed' AS status"
		" FROM @extschema@.batchintory_resume(job => $1)",
	.print = print_result},
	{.name = "rewind",
		.summary = "hand out key ID and everything after it again",
		.positional = job_id_args,
		.sql = "SELECT $1::pg_catalog.text AS job, $2::pg_catalog.int8 AS id,"
		" r.superseded FROM @extschema@.batchintory_rewind(job => $1,"
		" id => $2) AS r (superseded)",
	.print = print_result},
	{.name = "backlog", .summary = "what a job has not processed yet",
		.positional = job_arg, .options = backlog_options,
	.func = cmd_backlog},
	{.name = "lookup", .summary = "every attempt of JOB that covered asset ID",
		.positional = job_id_args,
		.sql = "SELECT l.*, b.state AS batch_state"
		" FROM @extschema@.batchintory_lookup(job => $1, id => $2)"
		" WITH ORDINALITY AS l LEFT JOIN batchintory.batches AS b"
		" ON b.batch OPERATOR(pg_catalog.=) l.batch ORDER BY l.ordinality",
	.print = print_lookup},
	{.name = "lookup-all",
		.summary = "every attempt of every job of TABLE that covered asset ID",
		.positional = table_id_args,
		.sql = "SELECT l.*, b.state AS batch_state"
		" FROM @extschema@.batchintory_lookup_all(source => $1, id => $2)"
		" WITH ORDINALITY AS l LEFT JOIN batchintory.batches AS b"
		" ON b.batch OPERATOR(pg_catalog.=) l.batch ORDER BY l.ordinality",
	.print = print_lookup},
	/* the keys people look for first; unknown ones last, by name */
	{.name = "details",
		.summary = "the current attempt of a batch, with its job's settings",
		.positional = batch_arg,
		.sql = "SELECT d.key, d.value OPERATOR(pg_catalog.#>>) '{}',"
		" d.value::pg_catalog.text"
		" FROM pg_catalog.jsonb_each("
		"@extschema@.batchintory_details(batch => $1)) AS d"
		" ORDER BY pg_catalog.array_position(ARRAY['job', 'source',"
		" 'filter', 'batch', 'attempt', 'status', 'attempt_status',"
		" 'first_id', 'last_id', 'asset_count', 'weight', 'ended_by', 'worker',"
		" 'acquired_at', 'lease_until', 'released_at', 'message',"
		" 'result', 'config'], d.key), d.key",
	.print = print_pairs},
	{.name = "assets",
		.summary = "the keys (or rows) of the matching assets of a batch",
	.positional = batch_arg, .options = assets_options, .func = cmd_assets},
	/* the condition alone, for $(batchintory predicate 5) in a script */
	{.name = "predicate",
		.summary = "a WHERE condition selecting the rows of a batch",
		.positional = batch_arg,
		.sql = "SELECT $1::pg_catalog.int8 AS batch,"
		" @extschema@.batchintory_predicate(batch => $1) AS predicate",
	.print = print_value},
	{.name = "verify",
		.summary = "recount the succeeded batches of a job; list those that changed",
	.positional = job_arg, .options = verify_options, .func = cmd_verify},
	{.name = "run",
		.summary = "acquire, run COMMAND on each batch, release; repeat",
		.positional = job_arg, .options = run_options, .takes_command = true,
		.func = cmd_run,
		.notes = "COMMAND finds the batch in BATCHINTORY_* environment variables and may\n"
		"write a JSON result into the file named by BATCHINTORY_RESULT_FILE. With\n"
		"--json, its standard output goes to standard error: standard output is\n"
		"JSON Lines only.\n\n"
		"Exit status: 0 every batch succeeded (a batch that failed and succeeded\n"
		"on a retry in this run too) or there was nothing to do; 4 a batch failed\n"
		"and did not succeed later in the run (waiting for a retry, or failed for\n"
		"good), or the job is halted by a batch failed for good; 75 (and no\n"
		"batch failed) run stopped because the late-commit guard timed out:\n"
		"there may be work, run again later (with --follow it waits instead);\n"
		"126, 127 COMMAND cannot be executed or was not found: run stops at\n"
		"once, charges no attempt (it checks COMMAND before the first acquire, and\n"
	"requeues a batch whose COMMAND exits 126 or 127); 3 server error.\n"},
	{NULL}
};

int
main(int argc, char **argv)
{
	Invocation	inv;
	Session		session = {0};
	int			rc;

	if (!parse_command_line(argc, argv, &inv, &session.json, &rc))
		return rc;
	session.expanded = inv.expanded;
	rc = session_open(&session, &inv.conn);
	if (rc == EXIT_OK && inv.command->func)
		rc = inv.command->func(&session, &inv);
	else if (rc == EXIT_OK)
		rc = print_query(&session, inv.command->sql, inv.npositional,
						 inv.positional, inv.command->print);
	session_close(&session);
	return rc;
}
