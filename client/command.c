/*
 * command.c
 *	  The command run starts for a batch: its environment, its result file,
 *	  heartbeats while it runs, and how it ended.
 */
#include "client.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* longest sleep between two checks whether the command has exited */
#define MAX_POLL_SECONDS 0.1

/* the largest result a command may report */
#define MAX_RESULT_BYTES (1024 * 1024)

/* An environment variable and the column of a query result it takes */
typedef struct EnvColumn
{
	const char *variable;
	const char *column;
} EnvColumn;

/* from the row of batchintory_acquire */
static const EnvColumn batch_env[] = {
	{"BATCHINTORY_JOB", "job"},
	{"BATCHINTORY_BATCH", "batch"},
	{"BATCHINTORY_ATTEMPT", "attempt"},
	{"BATCHINTORY_FIRST_ID", "first_id"},
	{"BATCHINTORY_LAST_ID", "last_id"},
	{"BATCHINTORY_FIRST_KEY", "first_key"},
	{"BATCHINTORY_LAST_KEY", "last_key"},
	{"BATCHINTORY_ASSET_COUNT", "asset_count"},
	{"BATCHINTORY_WEIGHT", "weight"},
	{"BATCHINTORY_ENDED_BY", "ended_by"},
	{"BATCHINTORY_LEASE_UNTIL", "lease_until"},
	{"BATCHINTORY_CONFIG", "config"},
	{NULL}
};

/* from batchintory_predicate and batchintory_details (see BATCH_INFO) */
static const EnvColumn info_env[] = {
	{"BATCHINTORY_PREDICATE", "predicate"},
	{"BATCHINTORY_TABLE", "source"},
	{"BATCHINTORY_FILTER", "filter"},
	{NULL}
};

#define BATCH_INFO \
	"SELECT @extschema@.batchintory_predicate(batch => $1) AS predicate," \
	" d.details OPERATOR(pg_catalog.->>) 'source' AS source," \
	" d.details OPERATOR(pg_catalog.->>) 'filter' AS filter" \
	" FROM @extschema@.batchintory_details(batch => $1) AS d (details)"

/* Put the columns of row 0 of res in the environment; NULLs are unset */
static void
export_columns(const PGresult *res, const EnvColumn *vars)
{
	for (; vars->variable; vars++)
	{
		int			col = PQfnumber(res, vars->column);

		if (col < 0 || PQgetisnull(res, 0, col))
			unsetenv(vars->variable);
		else
			setenv(vars->variable, PQgetvalue(res, 0, col), 1);
	}
}

/*
 * An empty file for the command's result, named in the environment; NULL
 * (and the variable unset) if none could be made.  The caller frees the
 * name and removes the file.
 */
static char *
make_result_file(void)
{
	const char *dir = getenv("TMPDIR");
	char	   *path;
	int			fd;

	if (dir == NULL || *dir == '\0')
		dir = "/tmp";
	path = xmalloc(strlen(dir) + sizeof("/batchintory-result-XXXXXX"));
	sprintf(path, "%s/batchintory-result-XXXXXX", dir);
	fd = mkstemp(path);
	if (fd < 0)
	{
		fprintf(stderr, "batchintory: could not create a result file in \"%s\": %s\n",
				dir, strerror(errno));
		free(path);
		unsetenv("BATCHINTORY_RESULT_FILE");
		return NULL;
	}
	close(fd);
	setenv("BATCHINTORY_RESULT_FILE", path, 1);
	return path;
}

/*
 * What the command wrote into the result file: NULL if it wrote nothing but
 * white space.  Sets *why if the file cannot be used as a result.
 */
static char *
read_result_file(const char *path, const char **why)
{
	FILE	   *file = fopen(path, "rb");
	char	   *text;
	size_t		len;
	const char *p;

	*why = NULL;
	if (file == NULL)
		return NULL;			/* the command removed it: no result */
	text = xmalloc(MAX_RESULT_BYTES + 2);
	len = fread(text, 1, MAX_RESULT_BYTES + 1, file);
	fclose(file);
	text[len] = '\0';
	for (p = text; isspace((unsigned char) *p); p++)
		;
	if (*p == '\0')
	{
		free(text);
		return NULL;
	}
	if (len > MAX_RESULT_BYTES)
		*why = "the result file is larger than 1 MB";
	else if (strlen(text) != len)
		*why = "the result file contains a zero byte";
	return text;
}

/*
 * Take the command's result into outcome, if it wrote one: valid JSON
 * (the server judges, and gives it back as jsonb prints it) becomes the
 * result of the attempt.  Anything else is
 * reported, and fails an attempt that would have succeeded.
 */
static void
take_result(Session *session, const char *path, CommandOutcome *outcome)
{
	const char *why;
	char	   *text = read_result_file(path, &why);
	char		error[200];
	PGresult   *res;

	if (text == NULL)
		return;
	if (why == NULL)
	{
		res = session_try(session, "SELECT $1::pg_catalog.jsonb", 1,
						  (const char *const *) &text);
		if (PQresultStatus(res) == PGRES_TUPLES_OK)
		{
			/* jsonb's own text: one line, for the report of run */
			outcome->result = strcpy(xmalloc(strlen(PQgetvalue(res, 0, 0)) + 1),
									 PQgetvalue(res, 0, 0));
			PQclear(res);
			free(text);
			return;
		}
		why = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
		snprintf(error, sizeof(error), "%s",
				 why ? why : PQerrorMessage(session->conn));
		PQclear(res);
		why = error;
	}
	free(text);
	fprintf(stderr, "batchintory: batch %s attempt %s: invalid result: %s\n",
			getenv("BATCHINTORY_BATCH"), getenv("BATCHINTORY_ATTEMPT"), why);
	if (outcome->succeeded)
	{
		snprintf(outcome->message, sizeof(outcome->message),
				 "invalid result: %s", why);
		outcome->succeeded = false;
	}
}

/* Sleep; a signal may end it early, which the callers allow for */
static void
sleep_seconds(double seconds)
{
	struct timespec ts;

	ts.tv_sec = (time_t) seconds;
	ts.tv_nsec = (long) ((seconds - ts.tv_sec) * 1e9);
	nanosleep(&ts, NULL);
}

/*
 * Whether path names a file this process may execute: 0 if so, else
 * EXIT_NOT_FOUND or EXIT_CANNOT_EXECUTE with the reason in *why.
 */
static int
check_file(const char *path, const char **why)
{
	struct stat st;

	if (stat(path, &st) != 0)
	{
		*why = strerror(errno);
		return errno == EACCES ? EXIT_CANNOT_EXECUTE : EXIT_NOT_FOUND;
	}
	if (S_ISDIR(st.st_mode))
	{
		*why = strerror(EISDIR);
		return EXIT_CANNOT_EXECUTE;
	}
	if (access(path, X_OK) != 0)
	{
		*why = strerror(errno);
		return EXIT_CANNOT_EXECUTE;
	}
	return 0;
}

/*
 * Check, before anything is acquired, that the command can be executed the
 * way execvp will look for it: a name with a "/" as it is, any other in the
 * directories of PATH.  Returns 0, or after saying why not
 * EXIT_NOT_FOUND (127) or EXIT_CANNOT_EXECUTE (126), the shell's codes.
 */
int
check_command(const char *name)
{
	const char *path = getenv("PATH");
	const char *why = NULL;
	int			rc = EXIT_NOT_FOUND;

	if (strchr(name, '/') != NULL)
		rc = check_file(name, &why);
	else if (*name != '\0')
	{
		char		buf[4096];

		/* execvp's search path when PATH is unset */
		if (path == NULL)
			path = "/bin:/usr/bin";
		while (rc != 0)
		{
			size_t		len = strcspn(path, ":");
			const char *dir_why;
			int			dir_rc;

			snprintf(buf, sizeof(buf), "%.*s%s%s", (int) len, path,
					 len > 0 ? "/" : "", name);
			/*
			 * a file that exists but cannot be executed is worth saying (not
			 * a directory of PATH this user may not search: not found)
			 */
			dir_rc = access(buf, F_OK) == 0 ? check_file(buf, &dir_why) : EXIT_NOT_FOUND;
			if (dir_rc == 0 || dir_rc == EXIT_CANNOT_EXECUTE)
			{
				rc = dir_rc;
				why = dir_why;
			}
			if (path[len] == '\0')
				break;
			path += len + 1;
		}
		if (rc == EXIT_NOT_FOUND)
			why = "command not found";
	}
	if (rc != 0)
		fprintf(stderr, "batchintory: cannot run \"%s\": %s\n", name,
				why ? why : "command not found");
	return rc;
}

/*
 * Start argv as a child process; returns its pid, or -1 after reporting
 * why not.  A command that cannot be executed exits with 127 (not found)
 * or 126, like in the shell.  With to_stderr, its standard output goes to
 * standard error (run --json: stdout is JSON Lines only).
 */
static pid_t
start_command(char **argv, bool to_stderr)
{
	pid_t		pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid == 0)
	{
		int			err;

		if (to_stderr)
			dup2(STDERR_FILENO, STDOUT_FILENO);
		execvp(argv[0], argv);
		err = errno;
		fprintf(stderr, "batchintory: could not execute \"%s\": %s\n",
				argv[0], strerror(err));
		_exit(err == ENOENT ? 127 : 126);
	}
	if (pid < 0)
		fprintf(stderr, "batchintory: could not fork: %s\n", strerror(errno));
	return pid;
}

/*
 * Wait for the command to exit and return its wait status, sending a
 * heartbeat for batch_attempt every interval seconds meanwhile, and passing
 * on each stop signal that arrives.  If a heartbeat fails, the lease is
 * lost: terminate the command and return -1.
 */
static int
supervise(Session *session, pid_t pid, const char *const *batch_attempt,
		  double interval)
{
	double		next_heartbeat = now_seconds() + interval;
	double		poll = 0.001;
	int			passed_on = stop_signal_count();
	int			wstatus;

	while (waitpid(pid, &wstatus, WNOHANG) != pid)
	{
		double		now = now_seconds();

		if (stop_signal_count() > passed_on)
		{
			kill(pid, stop_signal());
			passed_on = stop_signal_count();
		}
		if (now >= next_heartbeat)
		{
			PGresult   *res = session_exec(session,
										   "SELECT @extschema@.batchintory_heartbeat("
										   "batch => $1, attempt => $2)",
										   2, batch_attempt);

			if (res == NULL)
			{
				fprintf(stderr, "batchintory: could not extend the lease of batch %s attempt %s, terminating the command\n",
						batch_attempt[0], batch_attempt[1]);
				kill(pid, SIGTERM);
				while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR)
					;
				return -1;
			}
			PQclear(res);
			now = now_seconds();
			next_heartbeat = now + interval;
		}
		sleep_seconds(poll < next_heartbeat - now ? poll : next_heartbeat - now);
		if (poll < MAX_POLL_SECONDS)
			poll *= 2;
	}
	return wstatus;
}

/*
 * Run argv on the batch in row 0 of batch (a row of batchintory_acquire)
 * with the batch, its predicate, table and filter, the worker and the
 * result file in its environment, sending a heartbeat every heartbeat
 * seconds.  Fills outcome (result: malloc'd, the caller frees it).
 * Returns false, after reporting why, if the batch cannot be released
 * by this client any more: the lease was lost or the server failed.
 */
bool
run_command(Session *session, char **argv, const PGresult *batch,
			const char *worker, double heartbeat, CommandOutcome *outcome)
{
	const char *batch_attempt[2] = {
		PQgetvalue(batch, 0, PQfnumber(batch, "batch")),
	PQgetvalue(batch, 0, PQfnumber(batch, "attempt"))};
	PGresult   *info = session_exec(session, BATCH_INFO, 1, batch_attempt);
	char	   *result_file;
	pid_t		pid;
	int			wstatus = 0;

	memset(outcome, 0, sizeof(*outcome));
	if (info == NULL)
		return false;
	export_columns(batch, batch_env);
	export_columns(info, info_env);
	PQclear(info);
	setenv("BATCHINTORY_WORKER", worker, 1);
	result_file = make_result_file();

	pid = start_command(argv, session->json);
	if (pid > 0)
		wstatus = supervise(session, pid, batch_attempt, heartbeat);
	if (pid < 0)
	{
		snprintf(outcome->message, sizeof(outcome->message),
				 "could not start the command");
		outcome->cannot_run = EXIT_CANNOT_EXECUTE;
	}
	else if (wstatus != -1 && WIFEXITED(wstatus) &&
			 (WEXITSTATUS(wstatus) == EXIT_NOT_FOUND ||
			  WEXITSTATUS(wstatus) == EXIT_CANNOT_EXECUTE))
	{
		snprintf(outcome->message, sizeof(outcome->message),
				 "exit status %d: the command %s", WEXITSTATUS(wstatus),
				 WEXITSTATUS(wstatus) == EXIT_NOT_FOUND ?
				 "was not found" : "could not be executed");
		outcome->cannot_run = WEXITSTATUS(wstatus);
	}
	else if (wstatus != -1 && WIFEXITED(wstatus))
		snprintf(outcome->message, sizeof(outcome->message),
				 "exit status %d", WEXITSTATUS(wstatus));
	else if (wstatus != -1)
		snprintf(outcome->message, sizeof(outcome->message),
				 "killed by signal %d", WTERMSIG(wstatus));
	outcome->succeeded = pid > 0 && wstatus != -1 && WIFEXITED(wstatus) &&
		WEXITSTATUS(wstatus) == 0;
	if (result_file)
	{
		if (pid > 0 && wstatus != -1 && !outcome->cannot_run)
			take_result(session, result_file, outcome);
		unlink(result_file);
		free(result_file);
	}
	return wstatus != -1;
}
