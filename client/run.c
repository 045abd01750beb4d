/*
 * run.c
 *	  The run command: acquire a batch, run a command on it, release, report;
 *	  repeat until no batch is left, or with --follow wait for new assets.
 */
#include "client.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* columns of the acquire result shown for each batch run */
static const char *const report_columns[] = {
	"job", "batch", "attempt", "first_id", "last_id", "asset_count", "weight"
};

/* One line (or JSON object) on a batch that ran */
static void
report_batch(const Session *session, const PGresult *batch,
			 const CommandOutcome *outcome, const char *message,
			 double seconds)
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
		json_field(&obj, "status", outcome->succeeded ? "succeeded" : "failed",
				   JSON_STRING);
		json_field(&obj, "message", message, JSON_STRING);
		json_field(&obj, "result", outcome->result, JSON_RAW);
		json_field(&obj, "seconds", elapsed, JSON_NUMBER);
		json_end(&obj);
	}
	else
	{
		const char *count = PQgetvalue(batch, 0, PQfnumber(batch, "asset_count"));

		printf("batch %s attempt %s: ids %s..%s, %s asset%s: %s%s%s%s in %.1f s%s%s\n",
			   PQgetvalue(batch, 0, PQfnumber(batch, "batch")),
			   PQgetvalue(batch, 0, PQfnumber(batch, "attempt")),
			   PQgetvalue(batch, 0, PQfnumber(batch, "first_id")),
			   PQgetvalue(batch, 0, PQfnumber(batch, "last_id")),
			   count, strcmp(count, "1") == 0 ? "" : "s",
			   outcome->succeeded ? "succeeded" : "failed",
			   message ? " (" : "", message ? message : "", message ? ")" : "",
			   seconds, outcome->result ? ", result " : "",
			   outcome->result ? outcome->result : "");
	}
	fflush(stdout);
}

/*
 * Run the command on the batch in row 0 of res, release the batch by its
 * exit status with its result, and count it in progress.  Returns EXIT_OK,
 * EXIT_BATCH_FAILED, or EXIT_SERVER if the lease was lost or the release
 * failed.
 */
static int
run_batch(Session *session, const Invocation *inv, const PGresult *res,
		  const char *worker, Progress *progress)
{
	const char *heartbeat = option_value(inv, "heartbeat");
	double		interval;
	double		started = now_seconds();
	CommandOutcome outcome;
	const char *message;
	PGresult   *released;

	if (heartbeat)
		interval = parse_seconds(heartbeat);
	else
		interval = atof(PQgetvalue(res, 0, PQfnumber(res, "lease_seconds"))) / 3;
	if (interval < 0.1)
		interval = 0.1;

	if (!run_command(session, inv->child_argv, res, worker, interval, &outcome))
		return EXIT_SERVER;
	message = outcome.succeeded ? NULL : outcome.message;
	released = release_attempt(session,
							   PQgetvalue(res, 0, PQfnumber(res, "batch")),
							   PQgetvalue(res, 0, PQfnumber(res, "attempt")),
							   outcome.succeeded ? "succeeded" : "failed",
							   message, outcome.result);
	if (released == NULL)
	{
		free(outcome.result);
		return EXIT_SERVER;
	}
	PQclear(released);
	report_batch(session, res, &outcome, message, now_seconds() - started);
	free(outcome.result);
	progress_batch(progress, session, inv->positional[0],
				   PQgetvalue(res, 0, PQfnumber(res, "asset_count")),
				   now_seconds() - started);
	progress_draw(progress, NULL);
	return outcome.succeeded ? EXIT_OK : EXIT_BATCH_FAILED;
}

/*
 * run JOB [--max-count N] [--max-weight W] [--worker NAME] [--iterations N]
 *	   [--heartbeat SECONDS] [--follow] [--recheck SECONDS] [--no-progress]
 *	   -- COMMAND [ARG]...
 *		Each iteration acquires one batch in a transaction of its own, runs
 *		COMMAND on it (command.c) and releases the batch as succeeded if
 *		COMMAND exits with 0, else as failed.  Stops when no batch is left
 *		(with --follow: waits for a notification, answered after a back-off
 *		if the last one brought no batch (wait.c), or --recheck seconds
 *		instead), after --iterations batches, on a server error, or on
 *		SIGINT or SIGTERM (passed on to COMMAND; the batch is released by
 *		how COMMAND ends).
 */
int
cmd_run(Session *session, const Invocation *inv)
{
	const char *job = inv->positional[0];
	const char *iterations = option_value(inv, "iterations");
	const char *recheck = option_value(inv, "recheck");
	bool		follow = option_value(inv, "follow") != NULL;
	double		interval = parse_seconds(recheck ? recheck : DEFAULT_RECHECK);
	long long	limit = 0;
	long long	done = 0;
	long long	failed = 0;
	bool		waiting = false;
	WaitState	wait_state = {0};
	char		worker[300];
	const char *params[5];
	Progress	progress;
	const char *term;
	int			rc = EXIT_OK;

	if (iterations)
		parse_int64(iterations, &limit);

	params[0] = job;
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

	catch_stop_signals();
	if (follow && !listen_for_assets(session, job))
		return EXIT_SERVER;
	term = getenv("TERM");
	progress_start(&progress, session, job,
				   !session->json && option_value(inv, "no-progress") == NULL &&
				   isatty(STDOUT_FILENO) && term && strcmp(term, "dumb") != 0);
	progress_draw(&progress, NULL);

	while (!stop_signal() && (limit == 0 || done < limit))
	{
		PGresult   *res;

		forget_notifications(session);
		res = session_exec(session,
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
			if (!follow)
				break;
			/* the live line says it on a terminal */
			if (!waiting && !progress.shown)
				fprintf(stderr, "no batch available for job \"%s\", waiting for new assets\n",
						job);
			waiting = true;
			progress_draw(&progress, "waiting for new assets");
			if (wait_for_assets(session, &wait_state, interval) == WAKE_ERROR)
			{
				rc = EXIT_SERVER;
				break;
			}
			continue;
		}
		waiting = false;
		wait_found_work(&wait_state);
		rc = run_batch(session, inv, res, params[3], &progress);
		PQclear(res);
		if (rc == EXIT_SERVER)
			break;
		done++;
		if (rc == EXIT_BATCH_FAILED)
			failed++;
	}

	progress_end();
	if (done == 0 && !follow && rc != EXIT_SERVER && !stop_signal())
		fprintf(stderr, "no batch available for job \"%s\"\n", job);
	if (!session->json && done > 0)
		printf("%lld batch%s: %lld succeeded, %lld failed%s\n",
			   done, done == 1 ? "" : "es", done - failed, failed,
			   stop_signal() == SIGINT ? " (stopped by SIGINT)" :
			   stop_signal() == SIGTERM ? " (stopped by SIGTERM)" : "");
	else if (!session->json && stop_signal())
		fprintf(stderr, "stopped by %s\n",
				stop_signal() == SIGINT ? "SIGINT" : "SIGTERM");
	if (rc == EXIT_SERVER)
		return EXIT_SERVER;
	return failed > 0 ? EXIT_BATCH_FAILED : EXIT_OK;
}
