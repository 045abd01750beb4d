/*
 * batches.c
 *	  The commands that hand out and end batches, where a query does not do:
 *	  acquire (which may wait for new assets), peek, release and requeue.
 */
#include "client.h"

/*
 * Print the batches in res (acquire, peek); with none, say so on stderr
 * and return EXIT_NO_BATCH, or EXIT_TRY_LATER if the late-commit guard
 * timed out (its WARNING said so): that is not "no work".
 */
static int
print_batches(const Session *session, const PGresult *res, const char *job)
{
	if (PQntuples(res) > 0)
	{
		print_result(session, res);
		return EXIT_OK;
	}
	if (session->guard_timed_out)
		return EXIT_TRY_LATER;
	fprintf(stderr, "no batch available for job \"%s\"\n", job);
	return EXIT_NO_BATCH;
}

/*
 * acquire JOB [--max-count N] [--max-weight W] [--worker NAME] [--batches N]
 *		[--wait[=SECONDS]] [--recheck SECONDS]
 *		batchintory_acquire in a transaction of its own; exit status 1 when
 *		no batch is available, 75 when the late-commit guard timed out
 *		(with --wait: the last acquire's).  With --wait, LISTEN on the
 *		job's channel first and acquire again whenever a notification
 *		arrives (after a back-off if the last one brought no batch: wait.c)
 *		or --recheck seconds passed, until a batch comes, SECONDS passed, or
 *		SIGINT or SIGTERM arrives.
 */
int
cmd_acquire(Session *session, const Invocation *inv)
{
	const char *job = inv->positional[0];
	const char *params[5] = {job,
		option_value(inv, "max-count"), option_value(inv, "max-weight"),
		option_value(inv, "worker"), option_value(inv, "batches")};
	const char *wait = option_value(inv, "wait");
	const char *recheck = option_value(inv, "recheck");
	double		interval = parse_seconds(recheck ? recheck : DEFAULT_RECHECK);
	double		deadline = 0;
	WaitState	wait_state = {0};
	PGresult   *res;
	int			rc;

	if (wait)
	{
		catch_stop_signals();
		if (!listen_for_assets(session, job))
			return EXIT_SERVER;
		if (*wait)
			deadline = now_seconds() + parse_seconds(wait);
	}
	for (;;)
	{
		double		timeout = interval;
		WakeReason	reason;

		forget_notifications(session);
		session->guard_timed_out = false;
		res = session_exec(session, "SELECT * FROM " ACQUIRE_CALL, 5, params);
		if (res == NULL)
			return EXIT_SERVER;
		if (PQntuples(res) > 0 || wait == NULL)
			break;

		if (deadline > 0 && deadline - now_seconds() < timeout)
			timeout = deadline - now_seconds();
		reason = timeout > 0 ? wait_for_assets(session, &wait_state, timeout) : WAKE_STOP;
		if (reason == WAKE_ERROR)
		{
			PQclear(res);
			return EXIT_SERVER;
		}
		if (reason == WAKE_STOP)
			break;				/* with no batch */
		PQclear(res);
	}
	rc = print_batches(session, res, job);
	PQclear(res);
	return rc;
}

/*
 * peek JOB [--max-count N] [--max-weight W]
 *		batchintory_peek: what acquire would hand out now; exit status 1
 *		when nothing.
 */
int
cmd_peek(Session *session, const Invocation *inv)
{
	const char *params[3] = {inv->positional[0],
	option_value(inv, "max-count"), option_value(inv, "max-weight")};
	PGresult   *res = session_exec(session,
								   "SELECT * FROM @extschema@.batchintory_peek("
								   "job => $1, max_count => $2, max_weight => $3)",
								   3, params);
	int			rc;

	if (res == NULL)
		return EXIT_SERVER;
	rc = print_batches(session, res, inv->positional[0]);
	PQclear(res);
	return rc;
}

/*
 * batchintory_release of an attempt with status, message and result (a
 * JSON text) that may be NULL; the result argument is passed only when
 * there is one, so that releases without one work with extension 0.1.0.
 * Returns the batch, attempt and status as a row, or NULL after reporting
 * an error.
 */
PGresult *
release_attempt(Session *session, const char *batch, const char *attempt,
				const char *status, const char *message, const char *result)
{
	const char *params[5] = {batch, attempt, status, message, result};

	return session_exec(session, result ?
						"SELECT $1::pg_catalog.int8 AS batch,"
						" $2::pg_catalog.int4 AS attempt, $3::pg_catalog.text AS status"
						" FROM @extschema@.batchintory_release(batch => $1,"
						" attempt => $2, status => $3, message => $4,"
						" result => $5::pg_catalog.jsonb)" :
						"SELECT $1::pg_catalog.int8 AS batch,"
						" $2::pg_catalog.int4 AS attempt, $3::pg_catalog.text AS status"
						" FROM @extschema@.batchintory_release(batch => $1,"
						" attempt => $2, status => $3, message => $4)",
						result ? 5 : 4, params);
}

/*
 * release BATCH ATTEMPT succeeded|failed [--message TEXT] [--result JSON]
 */
int
cmd_release(Session *session, const Invocation *inv)
{
	PGresult   *res = release_attempt(session, inv->positional[0],
									  inv->positional[1], inv->positional[2],
									  option_value(inv, "message"),
									  option_value(inv, "result"));

	if (res == NULL)
		return EXIT_SERVER;
	print_result(session, res);
	PQclear(res);
	return EXIT_OK;
}

/*
 * Change a batch with call (taking the batch as $1), then show the batch as
 * batchintory.batches does (in a statement of its own, which sees the change)
 */
static int
change_batch(Session *session, const Invocation *inv, const char *call)
{
	PGresult   *res = session_exec(session, call, 1, inv->positional);

	if (res == NULL)
		return EXIT_SERVER;
	PQclear(res);
	return print_query(session,
					   "SELECT batch, job, first_id, last_id, asset_count, state,"
					   " attempts_left, retry_after FROM batchintory.batches"
					   " WHERE batch OPERATOR(pg_catalog.=) $1",
					   1, inv->positional, print_result);
}

/* requeue BATCH: batchintory_requeue */
int
cmd_requeue(Session *session, const Invocation *inv)
{
	return change_batch(session, inv,
						"SELECT @extschema@.batchintory_requeue(batch => $1)");
}

/* skip BATCH: batchintory_skip */
int
cmd_skip(Session *session, const Invocation *inv)
{
	return change_batch(session, inv,
						"SELECT @extschema@.batchintory_skip(batch => $1)");
}
