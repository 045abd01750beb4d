/*
 * run.c
 *	  The run command: acquire a batch, run a command with the batch in its
 *	  environment while sending heartbeats, release the batch by the
 *	  command's exit status; repeat.
 */
#include "client.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* longest sleep between two checks whether the command has exited */
#define MAX_POLL_SECONDS 0.1

/* the signal (SIGINT, SIGTERM) that asked run to stop, or 0 */
static volatile sig_atomic_t stop_signal = 0;

/* environment variables of the command, and the acquire columns they hold */
static const char *const batch_env[][2] = {
	{"BATCHINTORY_JOB", "job"},
	{"BATCHINTORY_BATCH", "batch"},
	{"BATCHINTORY_ATTEMPT", "attempt"},
	{"BATCHINTORY_FIRST_ID", "first_id"},
	{"BATCHINTORY_LAST_ID", "last_id"},
	{"BATCHINTORY_ASSET_COUNT", "asset_count"},
	{"BATCHINTORY_WEIGHT", "weight"},
	{"BATCHINTORY_CONFIG", "config"},
};

/* columns of the acquire result shown for each batch run */
static const char *const report_columns[] = {
	"job", "batch", "attempt", "first_id", "last_id", "asset_count", "weight"
};

static void
handle_stop(int signo)
{
	if (stop_signal == 0)
		stop_signal = signo;
}

static double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
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

/* Put the batch (row 0 of res) in the environment; NULLs are unset */
static void
export_batch(const PGresult *res)
{
	size_t		i;

	for (i = 0; i < sizeof(batch_env) / sizeof(batch_env[0]); i++)
	{
		int			col = PQfnumber(res, batch_env[i][1]);

		if (PQgetisnull(res, 0, col))
			unsetenv(batch_env[i][0]);
		else
			setenv(batch_env[i][0], PQgetvalue(res, 0, col), 1);
	}
}

/*
 * Start argv as a child process; returns its pid, or -1 after reporting
 * why not.  A command that cannot be executed exits with 127 (not found)
 * or 126, like in the shell.
 */
static pid_t
start_command(char **argv)
{
	pid_t		pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid == 0)
	{
		int			err;

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
 * on a signal that asked run to stop.  If a heartbeat fails, the lease is
 * lost: terminate the command and return -1.
 */
static int
supervise(Session *session, pid_t pid, const char *const *batch_attempt,
		  double interval)
{
	double		next_heartbeat = now_seconds() + interval;
	double		poll = 0.001;
	bool		passed_on = false;
	int			wstatus;

	while (waitpid(pid, &wstatus, WNOHANG) != pid)
	{
		double		now = now_seconds();

		if (stop_signal && !passed_on)
		{
			kill(pid, stop_signal);
			passed_on = true;
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

/* One line (or JSON object) on a batch that ran */
static void
report_batch(const Session *session, const PGresult *batch, bool succeeded,
			 const char *message, double seconds)
{
	char		elapsed[32];
	size_t		i;

	snprintf(elapsed, sizeof(elapsed), "%.3f", seconds);
	if (session->json)
	{
		JsonObject	obj;

		json_begin(&obj, stdout);
		for (i = 0; i < sizeof(report_columns) / sizeof(report_columns[0]); i++)
		{
			int			col = PQfnumber(batch, report_columns[i]);

			json_field(&obj, report_columns[i],
					   PQgetisnull(batch, 0, col) ? NULL : PQgetvalue(batch, 0, col),
					   json_kind(PQftype(batch, col)));
		}
		json_field(&obj, "status", succeeded ? "succeeded" : "failed", JSON_STRING);
		json_field(&obj, "message", message, JSON_STRING);
		json_field(&obj, "seconds", elapsed, JSON_NUMBER);
		json_end(&obj);
	}
	else
	{
		const char *count = PQgetvalue(batch, 0, PQfnumber(batch, "asset_count"));

		printf("batch %s attempt %s: ids %s..%s, %s asset%s: %s%s%s%s in %.1f s\n",
			   PQgetvalue(batch, 0, PQfnumber(batch, "batch")),
			   PQgetvalue(batch, 0, PQfnumber(batch, "attempt")),
			   PQgetvalue(batch, 0, PQfnumber(batch, "first_id")),
			   PQgetvalue(batch, 0, PQfnumber(batch, "last_id")),
			   count, strcmp(count, "1") == 0 ? "" : "s",
			   succeeded ? "succeeded" : "failed",
			   message ? " (" : "", message ? message : "", message ? ")" : "",
			   seconds);
	}
	fflush(stdout);
}

/*
 * Run the command on the batch in row 0 of res and release the batch by
 * its exit status.  Returns EXIT_OK, EXIT_BATCH_FAILED, or EXIT_SERVER if
 * the lease was lost or the release failed.
 */
static int
run_batch(Session *session, const Invocation *inv, const PGresult *res)
{
	const char *heartbeat = option_value(inv, "heartbeat");
	const char *params[4];
	char		message[64];
	double		interval;
	double		started = now_seconds();
	pid_t		pid;
	int			wstatus = 0;
	bool		succeeded;
	PGresult   *released;

	params[0] = PQgetvalue(res, 0, PQfnumber(res, "batch"));
	params[1] = PQgetvalue(res, 0, PQfnumber(res, "attempt"));
	if (heartbeat)
		interval = parse_seconds(heartbeat);
	else
		interval = atof(PQgetvalue(res, 0, PQfnumber(res, "lease_seconds"))) / 3;
	if (interval < 0.1)
		interval = 0.1;

	export_batch(res);
	pid = start_command(inv->child_argv);
	if (pid < 0)
		snprintf(message, sizeof(message), "could not start the command");
	else
	{
		wstatus = supervise(session, pid, params, interval);
		if (wstatus == -1)
			return EXIT_SERVER;
		if (WIFEXITED(wstatus))
			snprintf(message, sizeof(message), "exit status %d", WEXITSTATUS(wstatus));
		else
			snprintf(message, sizeof(message), "killed by signal %d", WTERMSIG(wstatus));
	}
	succeeded = pid > 0 && WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0;

	params[2] = succeeded ? "succeeded" : "failed";
	params[3] = succeeded ? NULL : message;
	released = session_exec(session,
							"SELECT FROM @extschema@.batchintory_release(batch => $1,"
							" attempt => $2, status => $3, message => $4)",
							4, params);
	if (released == NULL)
		return EXIT_SERVER;
	PQclear(released);
	report_batch(session, res, succeeded, params[3], now_seconds() - started);
	return succeeded ? EXIT_OK : EXIT_BATCH_FAILED;
}

/*
 * run JOB [--max-count N] [--max-weight W] [--worker NAME] [--iterations N]
 *	   [--heartbeat SECONDS] -- COMMAND [ARG]...
 *		Each iteration acquires one batch in a transaction of its own, runs
 *		COMMAND with the batch in BATCHINTORY_* environment variables,
 *		sends heartbeats while it runs, and releases the batch as succeeded
 *		if COMMAND exits with 0, else as failed.  Stops when no batch is
 *		left, after --iterations batches, on a server error, or on SIGINT or
 *		SIGTERM (passed on to COMMAND).
 */
int
cmd_run(Session *session, const Invocation *inv)
{
	const char *iterations = option_value(inv, "iterations");
	long long	limit = 0;
	long long	done = 0;
	long long	failed = 0;
	char		worker[300];
	const char *params[5];
	struct sigaction sa;
	int			rc = EXIT_OK;

	if (iterations)
		parse_int64(iterations, &limit);

	params[0] = inv->positional[0];
	params[1] = option_value(inv, "max-count");
	params[2] = option_value(inv, "max-weight");
	params[3] = option_value(inv, "worker");
	params[4] = NULL;
	if (params[3] == NULL)
	{
		char		host[256];

		if (gethostname(host, sizeof(host)) != 0)
			strcpy(host, "localhost");
		host[sizeof(host) - 1] = '\0';
		snprintf(worker, sizeof(worker), "%s:%d", host, (int) getpid());
		params[3] = worker;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handle_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	while (!stop_signal && (limit == 0 || done < limit))
	{
		PGresult   *res = session_exec(session,
									   "SELECT a.*, pg_catalog.date_part('epoch',"
									   " a.lease_until OPERATOR(pg_catalog.-)"
									   " pg_catalog.clock_timestamp()) AS lease_seconds"
									   " FROM " ACQUIRE_CALL,
									   5, params);

		if (res == NULL)
		{
			rc = EXIT_SERVER;
			break;
		}
		if (PQntuples(res) == 0)
		{
			PQclear(res);
			break;
		}
		rc = run_batch(session, inv, res);
		PQclear(res);
		if (rc == EXIT_SERVER)
			break;
		done++;
		if (rc == EXIT_BATCH_FAILED)
			failed++;
	}

	if (!session->json && done == 0 && rc != EXIT_SERVER)
		printf("no batch available for job \"%s\"\n", params[0]);
	else if (!session->json && done > 0)
		printf("%lld batch%s: %lld succeeded, %lld failed\n",
			   done, done == 1 ? "" : "es", done - failed, failed);
	if (rc == EXIT_SERVER)
		return EXIT_SERVER;
	return failed > 0 ? EXIT_BATCH_FAILED : EXIT_OK;
}
