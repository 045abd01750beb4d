/*
 * commands.c
 *	  The client's commands that are one SQL call each: jobs, status,
 *	  register, acquire, release, heartbeat, backlog and lookup.
 */
#include "client.h"

#include <stdlib.h>
#include <string.h>

/* Run sql with params, print its rows with print, and free it */
static int
exec_and_print(Session *session, const char *sql, int nparams,
			   const char *const *params,
			   void (*print) (const Session *, const PGresult *))
{
	PGresult   *res = session_exec(session, sql, nparams, params);

	if (res == NULL)
		return EXIT_SERVER;
	print(session, res);
	PQclear(res);
	return EXIT_OK;
}

/*
 * jobs [JOB]
 *		The jobs (or one job) from the view batchintory.jobs: the columns
 *		that fit a line; status shows them all.
 */
int
cmd_jobs(Session *session, const Invocation *inv)
{
	return exec_and_print(session,
						  "SELECT job, source, kind, frontier, processed, total,"
						  " progress_pct, succeeded, failed, in_flight,"
						  " retry_pending FROM batchintory.jobs"
						  " WHERE $1::pg_catalog.text IS NULL OR job OPERATOR(pg_catalog.=) $1"
						  " ORDER BY job",
						  1, inv->positional, print_result);
}

/*
 * status JOB
 *		One job from batchintory.jobs as a record, with a progress bar for a
 *		backfill (when the caller may read its table, which the view needs
 *		to count the assets).
 */
int
cmd_status(Session *session, const Invocation *inv)
{
	PGresult   *res = session_exec(session,
								   "SELECT * FROM batchintory.jobs"
								   " WHERE job OPERATOR(pg_catalog.=) $1",
								   1, inv->positional);
	int			total;

	if (res == NULL)
		return EXIT_SERVER;
	if (PQntuples(res) == 0)
	{
		fprintf(stderr, "batchintory: ERROR: job \"%s\" does not exist\n",
				inv->positional[0]);
		PQclear(res);
		return EXIT_SERVER;
	}
	print_record(session, res);
	total = PQfnumber(res, "total");
	if (!session->json && !PQgetisnull(res, 0, total))
		print_progress(PQgetvalue(res, 0, PQfnumber(res, "progress_pct")),
					   PQgetvalue(res, 0, PQfnumber(res, "processed")),
					   PQgetvalue(res, 0, total));
	PQclear(res);
	return EXIT_OK;
}

/*
 * register JOB --table TABLE --id-column COLUMN [OPTION]...
 *		batchintory_register with the options given as named arguments (the
 *		others keep their SQL defaults), then the new job as jobs shows it.
 */
int
cmd_register(Session *session, const Invocation *inv)
{
	const ArgSpec *opts = inv->command->options;
	const char *params[MAX_ARGS + 1];
	int			nparams = 0;
	char		sql[2048];
	size_t		len;
	int			k;
	PGresult   *res;

	len = snprintf(sql, sizeof(sql),
				   "SELECT FROM @extschema@.batchintory_register(job => $1");
	params[nparams++] = inv->positional[0];
	for (k = 0; opts[k].name; k++)
	{
		if (inv->options[k] == NULL)
			continue;
		params[nparams] = inv->options[k];
		len += snprintf(sql + len, sizeof(sql) - len, ", %s => $%d",
						opts[k].sql_arg, ++nparams);
	}
	snprintf(sql + len, sizeof(sql) - len, ")");

	res = session_exec(session, sql, nparams, params);
	if (res == NULL)
		return EXIT_SERVER;
	PQclear(res);
	return cmd_jobs(session, inv);
}

/*
 * acquire JOB [--max-count N] [--max-weight W] [--worker NAME] [--batches N]
 *		batchintory_acquire in a transaction of its own; exit status 1 when
 *		no batch is available.
 */
int
cmd_acquire(Session *session, const Invocation *inv)
{
	const char *params[5] = {inv->positional[0],
		option_value(inv, "max-count"), option_value(inv, "max-weight"),
		option_value(inv, "worker"), option_value(inv, "batches")};
	PGresult   *res = session_exec(session,
								   "SELECT * FROM " ACQUIRE_CALL, 5, params);
	int			rc = EXIT_OK;

	if (res == NULL)
		return EXIT_SERVER;
	if (PQntuples(res) > 0)
		print_result(session, res);
	else
	{
		if (!session->json)
			printf("no batch available for job \"%s\"\n", inv->positional[0]);
		rc = EXIT_NO_BATCH;
	}
	PQclear(res);
	return rc;
}

/*
 * release BATCH ATTEMPT succeeded|failed [--message TEXT]
 */
int
cmd_release(Session *session, const Invocation *inv)
{
	const char *params[4] = {inv->positional[0], inv->positional[1],
		inv->positional[2], option_value(inv, "message")};

	return exec_and_print(session,
						  "SELECT $1::pg_catalog.int8 AS batch,"
						  " $2::pg_catalog.int4 AS attempt,"
						  " $3::pg_catalog.text AS status"
						  " FROM @extschema@.batchintory_release(batch => $1,"
						  " attempt => $2, status => $3, message => $4)",
						  4, params, print_result);
}

/*
 * heartbeat BATCH ATTEMPT
 */
int
cmd_heartbeat(Session *session, const Invocation *inv)
{
	return exec_and_print(session,
						  "SELECT $1::pg_catalog.int8 AS batch,"
						  " $2::pg_catalog.int4 AS attempt, h.lease_until"
						  " FROM @extschema@.batchintory_heartbeat(batch => $1,"
						  " attempt => $2) AS h (lease_until)",
						  2, inv->positional, print_result);
}

/*
 * backlog JOB [--estimate]
 */
int
cmd_backlog(Session *session, const Invocation *inv)
{
	const char *params[2] = {inv->positional[0],
	option_value(inv, "estimate") ? "false" : "true"};

	return exec_and_print(session,
						  "SELECT * FROM @extschema@.batchintory_backlog(job => $1,"
						  " exact => $2)",
						  2, params, print_result);
}

/*
 * lookup JOB ID
 */
int
cmd_lookup(Session *session, const Invocation *inv)
{
	return exec_and_print(session,
						  "SELECT * FROM @extschema@.batchintory_lookup(job => $1,"
						  " id => $2)",
						  2, inv->positional, print_result);
}
