/*
 * batchintory.c
 *	  The batchintory command-line client: its table of commands, arguments
 *	  and options, and main.
 */
#include "client.h"

/* positional arguments */
static const ArgSpec job_arg[] = {
	{NULL, "JOB", ARG_TEXT},
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
static const ArgSpec lookup_args[] = {
	{NULL, "JOB", ARG_TEXT},
	{NULL, "ID", ARG_INT},
	{NULL}
};

/* options: each option of register sets the SQL argument it names */
static const ArgSpec register_options[] = {
	{"table", "TABLE", ARG_TEXT, "source", true,
	"metadata table (source)"},
	{"id-column", "COLUMN", ARG_TEXT, "id_column", true,
	"its unique, increasing integer key"},
	{"weight-column", "COLUMN", ARG_TEXT, "weight_column", false,
	"its numeric weight, e.g. bytes"},
	{"filter", "EXPRESSION", ARG_TEXT, "filter", false,
	"SQL condition on its columns the assets must meet"},
	{"lower-bound", "ID", ARG_INT, "lower_bound", false,
	"first key of the window"},
	{"upper-bound", "ID", ARG_INT, "upper_bound", false,
	"last key of the window (a backfill)"},
	{"max-count", "N", ARG_INT, "max_count", false,
	"at most N assets per batch"},
	{"max-weight", "W", ARG_TEXT, "max_weight", false,
	"at most weight W per batch"},
	{"max-attempts", "N", ARG_INT, "max_attempts", false,
	"attempts per batch before it stays failed (3)"},
	{"lease", "INTERVAL", ARG_TEXT, "lease", false,
	"lease of an attempt without heartbeat (1 hour)"},
	{"config", "JSON", ARG_TEXT, "config", false,
	"configuration recorded with every batch"},
	{"retry-backoff", "INTERVAL", ARG_TEXT, "retry_backoff", false,
	"wait before the first retry, doubling (0)"},
	{"late-commit-guard", "on|off", ARG_TEXT, "late_commit_guard", false,
	"wait for writers before cutting (on)"},
	{"guard-timeout", "INTERVAL", ARG_TEXT, "guard_timeout", false,
	"longest wait for writers (10 seconds)"},
	{NULL}
};

#define ACQUIRE_OPTIONS \
	{"max-count", "N", ARG_INT, NULL, false, \
	"at most N assets per batch (default: the job's)"}, \
	{"max-weight", "W", ARG_TEXT, NULL, false, \
	"at most weight W per batch (default: the job's)"}

static const ArgSpec acquire_options[] = {
	ACQUIRE_OPTIONS,
	{"worker", "NAME", ARG_TEXT, NULL, false,
	"worker name recorded with the attempt"},
	{"batches", "N", ARG_INT, NULL, false,
	"take up to N consecutive batches (1)"},
	{NULL}
};
static const ArgSpec release_options[] = {
	{"message", "TEXT", ARG_TEXT, NULL, false,
	"message recorded with the attempt"},
	{NULL}
};
static const ArgSpec backlog_options[] = {
	{"estimate", NULL, ARG_FLAG, NULL, false,
	"estimate from statistics instead of counting"},
	{NULL}
};
static const ArgSpec run_options[] = {
	ACQUIRE_OPTIONS,
	{"worker", "NAME", ARG_TEXT, NULL, false,
	"worker name recorded with the attempts (HOST:PID)"},
	{"iterations", "N", ARG_COUNT, NULL, false,
	"stop after N batches (default: when no batch is left)"},
	{"heartbeat", "SECONDS", ARG_SECONDS, NULL, false,
	"heartbeat interval (default: a third of the lease)"},
	{NULL}
};

const CommandSpec commands[] = {
	{"jobs", "list the jobs and their progress", job_arg, 1, NULL, false,
	cmd_jobs},
	{"status", "show a job, its batches and the progress of a backfill",
	job_arg, 0, NULL, false, cmd_status},
	{"register", "create a job over a metadata table", job_arg, 0,
	register_options, false, cmd_register},
	{"acquire", "take the next batches of a job", job_arg, 0,
	acquire_options, false, cmd_acquire},
	{"release", "record the outcome of an attempt: STATUS succeeded or failed", release_args, 0,
	release_options, false, cmd_release},
	{"heartbeat", "extend the lease of an attempt", batch_attempt_args, 0,
	NULL, false, cmd_heartbeat},
	{"backlog", "what a job has not processed yet", job_arg, 0,
	backlog_options, false, cmd_backlog},
	{"lookup", "every attempt that covered asset ID", lookup_args, 0, NULL,
	false, cmd_lookup},
	{"run", "acquire, run COMMAND on each batch, release; repeat", job_arg, 0,
	run_options, true, cmd_run},
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
	rc = session_open(&session, inv.conninfo);
	if (rc == EXIT_OK)
		rc = inv.command->func(&session, &inv);
	session_close(&session);
	return rc;
}
