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

/*
 * What run keeps of the batches it ran: the consecutive failures, and the
 * batches whose last attempt in this run failed (dropped again when a later
 * attempt of theirs succeeds), with whether they failed for good
 */
typedef struct RunState
{
	long long	done;			/* attempts run */
	long long	failed;			/* of them failed */
	long long	consecutive;	/* failed attempts since the last success */
	long long  *open_batches;	/* failed, not succeeded since */
	bool	   *for_good;		/* ... and no attempt left */
	int			nopen;
	int			capacity;
	bool		heartbeat_warned;
} RunState;

/*
 * The batch failed for good that stops the job (on_failure 'halt'), or 0:
 * acquire then hands out nothing, and its warning has said why
 */
static long long
halting_batch(Session *session, const char *job)
{
	const char *params[1] = {job};
	PGresult   *res = session_exec(session,
								   "SELECT halted_by FROM batchintory.jobs"
								   " WHERE job OPERATOR(pg_catalog.=) $1"
								   " AND halted_by IS NOT NULL",
								   1, params);
	long long	batch = 0;

	if (res != NULL && PQntuples(res) > 0)
		batch = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return batch;
}

/* Record the outcome of batch: failed (for good or not) or succeeded */
static void
note_outcome(RunState *state, long long batch, bool succeeded, bool for_good)
{
	int			i;

	for (i = 0; i < state->nopen; i++)
		if (state->open_batches[i] == batch)
			break;
	if (succeeded)
	{
		if (i < state->nopen)
		{
			state->open_batches[i] = state->open_batches[state->nopen - 1];
			state->for_good[i] = state->for_good[state->nopen - 1];
			state->nopen--;
		}
		return;
	}
	if (i == state->nopen)
	{
		if (state->nopen == state->capacity)
		{
			state->capacity = state->capacity ? 2 * state->capacity : 8;
			state->open_batches = realloc(state->open_batches,
										  state->capacity * sizeof(long long));
			state->for_good = realloc(state->for_good, state->capacity * sizeof(bool));
			if (state->open_batches == NULL || state->for_good == NULL)
			{
				fprintf(stderr, "batchintory: out of memory\n");
				exit(EXIT_SERVER);
			}
		}
		state->open_batches[state->nopen++] = batch;
	}
	state->for_good[i] = for_good;
}

/*
 * The state of batch after its release, as batchintory.batches names it
 * (retry_pending, failed: for good, ...); NULL if unknown.  Malloc'd.
 */
static char *
batch_state(Session *session, const char *batch)
{
	PGresult   *res = session_try(session,
								  "SELECT state FROM batchintory.batches"
								  " WHERE batch OPERATOR(pg_catalog.=) $1",
								  1, &batch);
	char	   *state = NULL;

	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
		!PQgetisnull(res, 0, 0))
		state = strcpy(xmalloc(strlen(PQgetvalue(res, 0, 0)) + 1),
					   PQgetvalue(res, 0, 0));
	PQclear(res);
	return state;
}

/*
 * One line (or JSON object) on a batch that ran; state is the batch's
 * state after the release (NULL if unknown)
 */
static void
report_batch(const Session *session, const PGresult *batch,
			 const CommandOutcome *outcome, const char *message,
			 const char *state, double seconds)
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
		json_field(&obj, "state", state, JSON_STRING);
		json_end(&obj);
	}
	else
	{
		int			count_col = PQfnumber(batch, "asset_count");
		const char *count = PQgetvalue(batch, 0, count_col);
		char		assets[64];
		const char *after = "";
		int			first_id = PQfnumber(batch, "first_id");
		int			first_key = PQfnumber(batch, "first_key");
		int			last_key = PQfnumber(batch, "last_key");

		/* a time key as its type spells it; an integer key (or 0.2.0) as the ids */
		if (first_key < 0 || last_key < 0 ||
			strcmp(PQgetvalue(batch, 0, first_key), PQgetvalue(batch, 0, first_id)) == 0)
		{
			first_key = first_id;
			last_key = PQfnumber(batch, "last_id");
		}

		/* a batch cut by key range alone (max_keys) has no asset count */
		if (PQgetisnull(batch, 0, count_col))
			snprintf(assets, sizeof(assets), "assets not counted");
		else
			snprintf(assets, sizeof(assets), "%s asset%s", count,
					 strcmp(count, "1") == 0 ? "" : "s");

		if (outcome->cannot_run)
			after = ", put back in line with its attempts";
		else if (!outcome->succeeded && state && strcmp(state, "failed") == 0)
			after = ", no attempt left: failed for good";
		else if (!outcome->succeeded && state && strcmp(state, "retry_pending") == 0)
			after = ", to be retried";
		printf("batch %s attempt %s: %s %s..%s, %s: %s%s%s%s in %.1f s%s%s%s\n",
			   PQgetvalue(batch, 0, PQfnumber(batch, "batch")),
			   PQgetvalue(batch, 0, PQfnumber(batch, "attempt")),
			   first_key == first_id ? "ids" : "keys",
			   PQgetvalue(batch, 0, first_key), PQgetvalue(batch, 0, last_key),
			   assets, outcome->succeeded ? "succeeded" : "failed",
			   message ? " (" : "", message ? message : "", message ? ")" : "",
			   seconds, outcome->result ? ", result " : "",
			   outcome->result ? outcome->result : "", after);
	}
	fflush(stdout);
}

/*
 * Run the command on the batch in row 0 of res, release the batch by its
 * exit status with its result, and count it in progress and state.
 * Returns EXIT_OK, EXIT_BATCH_FAILED, EXIT_SERVER if the lease was lost or
 * the release failed, or EXIT_NOT_FOUND / EXIT_CANNOT_EXECUTE if the
 * command could not run: then the batch is released failed and requeued
 * at once, so that the attempt costs it nothing.
 */
static int
run_batch(Session *session, const Invocation *inv, const PGresult *res,
		  const char *worker, Progress *progress, RunState *state)
{
	const char *heartbeat = option_value(inv, "heartbeat");
	const char *batch = PQgetvalue(res, 0, PQfnumber(res, "batch"));
	double		lease = atof(PQgetvalue(res, 0, PQfnumber(res, "lease_seconds")));
	double		interval;
	double		started = now_seconds();
	CommandOutcome outcome;
	const char *message;
	PGresult   *released;
	char	   *after = NULL;
	int			rc;

	interval = heartbeat ? parse_seconds(heartbeat) : lease / 3;
	/* a heartbeat after the lease ran out comes too late */
	if (heartbeat && interval >= lease && lease > 0)
	{
		if (!state->heartbeat_warned)
			fprintf(stderr, "batchintory: WARNING: --heartbeat %s is not shorter than the lease"
					" of job \"%s\" (%.1f s): sending one every %.1f s instead"
					" (a third of the lease)\n",
					heartbeat, inv->positional[0], lease, lease / 3);
		state->heartbeat_warned = true;
		interval = lease / 3;
	}
	if (interval < 0.1)
		interval = 0.1;

	if (!run_command(session, inv->child_argv, res, worker, interval, &outcome))
		return EXIT_SERVER;
	message = outcome.succeeded ? NULL : outcome.message;
	released = release_attempt(session, batch,
							   PQgetvalue(res, 0, PQfnumber(res, "attempt")),
							   outcome.succeeded ? "succeeded" : "failed",
							   message, outcome.result);
	if (released == NULL)
	{
		free(outcome.result);
		return EXIT_SERVER;
	}
	PQclear(released);
	if (outcome.cannot_run)
	{
		/* a fresh budget of attempts: the command never ran on it */
		released = session_exec(session,
								"SELECT @extschema@.batchintory_requeue(batch => $1)",
								1, &batch);
		if (released == NULL)
		{
			free(outcome.result);
			return EXIT_SERVER;
		}
		PQclear(released);
	}
	if (!outcome.succeeded || session->json)
		after = batch_state(session, batch);
	report_batch(session, res, &outcome, message, after, now_seconds() - started);
	free(outcome.result);
	progress_batch(progress, session, inv->positional[0],
				   PQgetvalue(res, 0, PQfnumber(res, "asset_count")),
				   now_seconds() - started);
	progress_draw(progress, NULL);

	state->done++;
	if (outcome.cannot_run)
	{
		state->failed++;
		rc = outcome.cannot_run;
	}
	else if (outcome.succeeded)
	{
		state->consecutive = 0;
		note_outcome(state, atoll(batch), true, false);
		rc = EXIT_OK;
	}
	else
	{
		state->failed++;
		state->consecutive++;
		note_outcome(state, atoll(batch), false, after && strcmp(after, "failed") == 0);
		rc = EXIT_BATCH_FAILED;
	}
	free(after);
	return rc;
}

/*
 * run JOB [--max-count N] [--max-weight W] [--worker NAME] [--iterations N]
 *	   [--heartbeat SECONDS] [--follow] [--recheck SECONDS] [--no-progress]
 *	   [--max-failures N] -- COMMAND [ARG]...
 *		Checks that COMMAND can be executed, then each iteration acquires
 *		one batch in a transaction of its own, runs COMMAND on it
 *		(command.c) and releases the batch as succeeded if COMMAND exits
 *		with 0, else as failed.  Stops when no batch is left (with
 *		--follow: waits for a notification, answered after a back-off if
 *		the last one brought no batch (wait.c), or --recheck seconds
 *		instead), after --iterations batches, after --max-failures
 *		consecutive failures, when COMMAND cannot be executed (exit status
 *		126 or 127: the batch is requeued), on a server error, or on SIGINT
 *		or SIGTERM (passed on to COMMAND; the batch is released by how
 *		COMMAND ends).  Exit status 4 if a batch failed and did not succeed
 *		later in the run, else 75 if it stopped because the late-commit
 *		guard timed out: there may be work, the guard could not cut it yet.
 */
int
cmd_run(Session *session, const Invocation *inv)
{
	const char *job = inv->positional[0];
	const char *iterations = option_value(inv, "iterations");
	const char *recheck = option_value(inv, "recheck");
	const char *max_failures_opt = option_value(inv, "max-failures");
	bool		follow = option_value(inv, "follow") != NULL;
	double		interval = parse_seconds(recheck ? recheck : DEFAULT_RECHECK);
	long long	limit = 0;
	long long	max_failures = 0;
	bool		waiting = false;
	bool		try_later = false;
	WaitState	wait_state = {0};
	RunState	state = {0};
	char		worker[300];
	const char *params[5];
	Progress	progress;
	const char *term;
	int			rc = EXIT_OK;
	int			for_good = 0;
	long long	halted_by = 0;
	int			i;

	if (iterations)
		parse_int64(iterations, &limit);
	parse_int64(max_failures_opt ? max_failures_opt : DEFAULT_MAX_FAILURES,
				&max_failures);

	/* a command that cannot run must not cost a batch an attempt */
	rc = check_command(inv->child_argv[0]);
	if (rc != 0)
		return rc;

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

	while (!stop_signal() && (limit == 0 || state.done < limit))
	{
		PGresult   *res;

		if (max_failures > 0 && state.consecutive >= max_failures)
		{
			fprintf(stderr, "batchintory: stopping after %lld consecutive failed batch%s"
					" (--max-failures %lld)\n", state.consecutive,
					state.consecutive == 1 ? "" : "es", max_failures);
			break;
		}
		forget_notifications(session);
		session->guard_timed_out = false;
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
			/* waiting would be waiting for an operator: say so, and fail */
			halted_by = halting_batch(session, job);
			if (halted_by != 0)
				break;
			if (!follow)
			{
				try_later = session->guard_timed_out;
				break;
			}
			/* the live line says it on a terminal */
			if (!waiting && !progress.shown)
				fprintf(stderr, session->guard_timed_out ?
						"no new batch for job \"%s\" yet (the late-commit guard timed out), waiting\n" :
						"no batch available for job \"%s\", waiting for new assets\n",
						job);
			waiting = true;
			progress_draw(&progress, session->guard_timed_out ? "waiting for late commits" :
						  "waiting for new assets");
			if (wait_for_assets(session, &wait_state, interval) == WAKE_ERROR)
			{
				rc = EXIT_SERVER;
				break;
			}
			continue;
		}
		waiting = false;
		wait_found_work(&wait_state);
		rc = run_batch(session, inv, res, params[3], &progress, &state);
		PQclear(res);
		if (rc == EXIT_SERVER)
			break;
		if (rc == EXIT_NOT_FOUND || rc == EXIT_CANNOT_EXECUTE)
		{
			fprintf(stderr, "batchintory: stopping: the command cannot be executed"
					" (the batch was put back in line, no attempt charged)\n");
			break;
		}
		rc = EXIT_OK;
	}

	progress_end();
	if (halted_by != 0)
		fprintf(stderr, "batchintory: stopping: job \"%s\" is halted by batch %lld,"
				" failed for good; \"batchintory requeue %lld\" tries it again,"
				" \"batchintory skip %lld\" leaves it out\n",
				job, halted_by, halted_by, halted_by);
	else if (try_later)
		fprintf(stderr, "batchintory: stopping: no new batch for job \"%s\" now, the late-commit"
				" guard timed out; run again later\n", job);
	else if (state.done == 0 && !follow && rc == EXIT_OK && !stop_signal())
		fprintf(stderr, "no batch available for job \"%s\"\n", job);
	for (i = 0; i < state.nopen; i++)
		for_good += state.for_good[i];
	if (!session->json && state.done > 0)
	{
		printf("%lld batch%s: %lld succeeded, %lld failed%s\n",
			   state.done, state.done == 1 ? "" : "es", state.done - state.failed,
			   state.failed,
			   stop_signal() == SIGINT ? " (stopped by SIGINT)" :
			   stop_signal() == SIGTERM ? " (stopped by SIGTERM)" : "");
		if (for_good > 0)
		{
			printf("failed for good (no attempt left):");
			for (i = 0; i < state.nopen; i++)
				if (state.for_good[i])
					printf(" batch %lld", state.open_batches[i]);
			printf("; \"batchintory requeue BATCH\" puts one back in line\n");
		}
	}
	else if (!session->json && stop_signal())
		fprintf(stderr, "stopped by %s\n",
				stop_signal() == SIGINT ? "SIGINT" : "SIGTERM");
	free(state.open_batches);
	free(state.for_good);
	if (rc != EXIT_OK)
		return rc;
	if (state.nopen > 0 || halted_by != 0)
		return EXIT_BATCH_FAILED;
	return try_later ? EXIT_TRY_LATER : EXIT_OK;
}
