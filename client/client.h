/*
 * client.h
 *	  Types and functions shared by the modules of the batchintory
 *	  command-line client: exit codes, command specs, session, output.
 */
#ifndef BATCHINTORY_CLIENT_H
#define BATCHINTORY_CLIENT_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include "libpq-fe.h"

/* exit codes: documented in the usage text and in docs/cli.md */
#define EXIT_OK				0	/* done (run: also when there was no work) */
#define EXIT_NO_BATCH		1	/* acquire, peek: no batch available now */
#define EXIT_USAGE			2	/* bad command line */
#define EXIT_SERVER			3	/* connection or server error */
#define EXIT_BATCH_FAILED	4	/* run: at least one batch failed */
#define EXIT_CHANGED		5	/* verify: succeeded batches whose assets
								 * changed */
#define EXIT_TRY_LATER		75	/* acquire, run: no new batch now, the
								 * late-commit guard timed out (sysexits.h's
								 * EX_TEMPFAIL) */
#define EXIT_CANNOT_EXECUTE	126	/* run: COMMAND found but not executable */
#define EXIT_NOT_FOUND		127	/* run: COMMAND not found */

/*
 * batchintory_acquire with the job ($1), the limits ($2, $3), the worker
 * ($4) and the number of batches ($5) as parameters; NULLs take the defaults
 */
#define ACQUIRE_CALL \
	"@extschema@.batchintory_acquire(job => $1, max_count => $2," \
	" max_weight => $3, worker => $4, batches => $5) AS a"

/*
 * SQLSTATE of acquire's WARNING that the late-commit guard timed out: new
 * work may be there, it could not be cut now
 */
#define SQLSTATE_GUARD_TIMED_OUT "55P03"

/* default of --recheck: seconds between two acquires while waiting */
#define DEFAULT_RECHECK "30"

/* default of run --max-failures: consecutive failed batches before it stops */
#define DEFAULT_MAX_FAILURES "3"

/* type OIDs of the columns whose JSON form is not a string (pg_type.dat) */
#define BOOLOID			16
#define INT8OID			20
#define INT2OID			21
#define INT4OID			23
#define OIDOID			26
#define JSONOID			114
#define FLOAT4OID		700
#define FLOAT8OID		701
#define NUMERICOID		1700
#define JSONBOID		3802
#define DATEOID			1082
#define TIMESTAMPOID	1114
#define TIMESTAMPTZOID	1184

/* What a command-line argument must look like */
typedef enum ArgKind
{
	ARG_FLAG,					/* option without a value */
	ARG_TEXT,					/* any string; the server checks it */
	ARG_INT,					/* a 64-bit integer */
	ARG_COUNT,					/* a positive 64-bit integer */
	ARG_NATURAL,				/* a 64-bit integer, 0 or more */
	ARG_SECONDS,				/* a positive number of seconds */
	ARG_MAYBE_SECONDS,			/* "--name" alone, or "--name=SECONDS" */
	ARG_LIST,					/* comma-separated names: a text[] in SQL */
	ARG_KEY						/* a key as its type spells it (an id, a
								 * time): text in SQL, the server reads it */
} ArgKind;

/*
 * A positional argument (name is NULL) or an option "--name" of a command.
 * sql_arg names the SQL argument an option sets, for commands that pass
 * their options through as named arguments (register, alter).
 */
typedef struct ArgSpec
{
	const char *name;
	const char *metavar;
	ArgKind		kind;
	const char *sql_arg;
	bool		required;		/* an option the command cannot do without */
	const char *help;
} ArgSpec;

#define MAX_ARGS 32

struct Session;
struct Invocation;

typedef int (*CommandFunc) (struct Session *session,
							const struct Invocation *inv);

typedef void (*PrintFunc) (const struct Session *session, const PGresult *res);

/*
 * A command: its arguments, options and implementation: func, or a query
 * over the positional arguments (sql) whose rows print prints
 */
typedef struct CommandSpec
{
	const char *name;
	const char *summary;
	const ArgSpec *positional;	/* in order */
	int			optional_positional;	/* how many of the last may be left out */
	const ArgSpec *options;
	bool		takes_command;	/* needs "-- COMMAND [ARG...]" */
	CommandFunc func;
	const char *sql;
	PrintFunc	print;
	const char *notes;			/* printed after the options by --help */
	bool		needs_option;	/* at least one option must be given */
} CommandSpec;

/* When to ask for a password, as psql does */
typedef enum PasswordPrompt
{
	PROMPT_IF_NEEDED,			/* when the server asks for one (a terminal) */
	PROMPT_NEVER,				/* -w, --no-password */
	PROMPT_ALWAYS				/* -W, --password */
} PasswordPrompt;

/* How tables are printed: psql's \x off, on and auto */
typedef enum Expanded
{
	EXPANDED_AUTO,				/* expanded when wider than the terminal */
	EXPANDED_ON,				/* -x, --expanded */
	EXPANDED_OFF				/* --no-expanded */
} Expanded;

/* The connection options of the command line (psql's) */
typedef struct ConnOptions
{
	const char *dbname;			/* -d: a name, a connection string or URI */
	const char *host;			/* -h */
	const char *port;			/* -p */
	const char *user;			/* -U */
	PasswordPrompt prompt;		/* -w, -W */
} ConnOptions;

/* A parsed command line */
typedef struct Invocation
{
	const CommandSpec *command;
	ConnOptions conn;			/* unset ones: the PG* environment */
	Expanded	expanded;		/* -x */
	const char *positional[MAX_ARGS];	/* NULL when an optional one is omitted */
	int			npositional;	/* how many the command takes */
	const char *options[MAX_ARGS];	/* by index in command->options; NULL when
									 * not given, "" for a given flag */
	char	  **child_argv;		/* after "--", NULL-terminated */
} Invocation;

/* A connection to a database where the extension is installed */
typedef struct Session
{
	PGconn	   *conn;
	char	   *schema;			/* extension's schema, as a quoted identifier */
	bool		json;
	Expanded	expanded;		/* how tables are printed */
	bool		guard_timed_out;	/* a WARNING said so since it was cleared */
} Session;

/* args.c */
extern bool parse_command_line(int argc, char **argv, Invocation *inv,
							   bool *json, int *exit_code);
extern const char *option_value(const Invocation *inv, const char *name);
extern bool parse_int64(const char *s, long long *result);
extern double parse_seconds(const char *s);

/* db.c */
extern int	session_open(Session *session, const ConnOptions *options);
extern void session_close(Session *session);
extern PGresult *session_exec(Session *session, const char *sql, int nparams,
							  const char *const *params);
extern PGresult *session_try(Session *session, const char *sql, int nparams,
							 const char *const *params);
extern void report_error(const PGresult *res, PGconn *conn);
extern void *xmalloc(size_t size);

/* output.c */
typedef enum JsonKind
{
	JSON_STRING,
	JSON_NUMBER,
	JSON_BOOL,
	JSON_RAW,					/* already JSON (json, jsonb) */
	JSON_TIME					/* a timestamp: a string in ISO 8601 */
} JsonKind;

typedef struct JsonObject
{
	FILE	   *out;
	bool		first;
} JsonObject;

/* Rows to print: column names, how each is written, cells (NULL: SQL NULL) */
typedef struct Table
{
	int			ncols;			/* shown: the first ncols of stride */
	int			stride;			/* columns per row in cells */
	int			nrows;
	const char **names;
	JsonKind   *kinds;			/* JSON_NUMBER: right-aligned in tables */
	const char **cells;			/* row by row: TABLE_CELL */
} Table;

#define TABLE_CELL(table, row, col) ((table)->cells[(row) * (table)->stride + (col)])

extern JsonKind json_kind(Oid type);
extern void json_begin(JsonObject *obj, FILE *out);
extern void json_field(JsonObject *obj, const char *key, const char *value,
					   JsonKind kind);
extern void json_end(JsonObject *obj);
extern int	display_width(const char *s, int encoding);
extern Table *table_from_result(const PGresult *res);
extern void table_free(Table *table);
extern void print_table(const Session *session, const Table *table);
extern void print_table_record(const Session *session, const Table *table);
extern void print_result(const Session *session, const PGresult *res);
extern void print_record(const Session *session, const PGresult *res);
extern void print_pairs(const Session *session, const PGresult *res);
extern void print_value(const Session *session, const PGresult *res);
extern int	print_query(Session *session, const char *sql, int nparams,
						const char *const *params, PrintFunc print);

/* wait.c */
typedef enum WakeReason
{
	WAKE_NOTIFIED,				/* a notification arrived on the channel */
	WAKE_TIMER,					/* the recheck interval passed */
	WAKE_STOP,					/* SIGINT or SIGTERM */
	WAKE_ERROR					/* the connection broke (reported) */
} WakeReason;

/*
 * The back-off of a waiting client (wait.c): after a notification whose
 * acquire found no work, the next one is answered only after backoff
 * seconds (BACKOFF_MIN, doubling up to BACKOFF_MAX)
 */
#define BACKOFF_MIN 0.05
#define BACKOFF_MAX 1.0

typedef struct WaitState
{
	double		backoff;		/* seconds before answering a notification */
	bool		woken;			/* the last wait ended with a notification */
} WaitState;

extern void catch_stop_signals(void);
extern int	stop_signal(void);
extern int	stop_signal_count(void);
extern double now_seconds(void);
extern bool listen_for_assets(Session *session, const char *job);
extern void forget_notifications(Session *session);
extern void wait_found_work(WaitState *state);
extern WakeReason wait_for_assets(Session *session, WaitState *state,
								  double seconds);

/* progress.c */
typedef struct Progress
{
	bool		shown;			/* a live line on a terminal */
	bool		backfill;
	double		total;			/* assets in a backfill's window, or -1 */
	long long	batches;
	double		assets;
	double		busy_seconds;	/* time spent on the batches */
	double		left;			/* estimated backlog, or -1 */
} Progress;

extern void print_progress_bar(const char *percent, const char *done,
							   const char *total, bool estimated);
extern void progress_start(Progress *progress, Session *session,
						   const char *job, bool shown);
extern void progress_batch(Progress *progress, Session *session,
						   const char *job, const char *asset_count,
						   double seconds);
extern void progress_draw(const Progress *progress, const char *state);
extern void progress_end(void);

/* jobs.c */
extern int	cmd_jobs(Session *session, const Invocation *inv);
extern int	cmd_status(Session *session, const Invocation *inv);
extern int	cmd_register(Session *session, const Invocation *inv);
extern int	cmd_alter(Session *session, const Invocation *inv);

/* batches.c */
extern PGresult *release_attempt(Session *session, const char *batch,
								 const char *attempt, const char *status,
								 const char *message, const char *result);
extern int	cmd_acquire(Session *session, const Invocation *inv);
extern int	cmd_peek(Session *session, const Invocation *inv);
extern int	cmd_release(Session *session, const Invocation *inv);
extern int	cmd_requeue(Session *session, const Invocation *inv);
extern int	cmd_skip(Session *session, const Invocation *inv);

/* inspect.c */
extern void print_lookup(const Session *session, const PGresult *res);
extern int	cmd_backlog(Session *session, const Invocation *inv);
extern int	cmd_assets(Session *session, const Invocation *inv);
extern int	cmd_verify(Session *session, const Invocation *inv);

/* command.c */
typedef struct CommandOutcome
{
	bool		succeeded;
	int			cannot_run;		/* EXIT_NOT_FOUND or EXIT_CANNOT_EXECUTE: the
								 * command exited so, or could not start */
	char		message[256];	/* why not, for the release */
	char	   *result;			/* JSON the command reported, or NULL */
} CommandOutcome;

extern int	check_command(const char *name);
extern bool run_command(Session *session, char **argv, const PGresult *batch,
						const char *worker, double heartbeat,
						CommandOutcome *outcome);

/* run.c */
extern int	cmd_run(Session *session, const Invocation *inv);

/* the command table (batchintory.c) */
extern const CommandSpec commands[];

#endif							/* BATCHINTORY_CLIENT_H */
