/*
 * jobs.c
 *	  The commands on jobs that are code rather than a query in the command
 *	  table: jobs (which register and alter reuse), status, register, alter.
 */
#include "client.h"

/*
 * jobs [JOB]
 *		The jobs (or one job) from the view batchintory.jobs: the columns
 *		that fit a line, and what is wrong with the job (the column problem
 *		of extension 0.2.0, taken by name so that 0.1.0 works too); status
 *		shows them all.
 */
int
cmd_jobs(Session *session, const Invocation *inv)
{
	return print_query(session,
					   "SELECT job, source, kind, frontier, processed, total,"
					   " progress_pct, succeeded, failed, in_flight, retry_pending,"
					   " pg_catalog.to_jsonb(j) OPERATOR(pg_catalog.->>) 'problem'"
					   " AS problem FROM batchintory.jobs AS j"
					   " WHERE $1::pg_catalog.text IS NULL OR job OPERATOR(pg_catalog.=) $1"
					   " ORDER BY job",
					   1, inv->positional, print_result);
}

/*
 * status JOB
 *		One job from batchintory.jobs as a record, with a progress bar for a
 *		backfill (when the view could count its assets).
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
		print_progress_bar(PQgetvalue(res, 0, PQfnumber(res, "progress_pct")),
						   PQgetvalue(res, 0, PQfnumber(res, "processed")),
						   PQgetvalue(res, 0, total));
	PQclear(res);
	return EXIT_OK;
}

/*
 * Call function (batchintory_register or batchintory_alter) with the job
 * and the options given as its named arguments (the others keep their SQL
 * defaults), then show the job as jobs does.
 */
static int
call_with_options(Session *session, const Invocation *inv,
				  const char *function)
{
	const ArgSpec *opts = inv->command->options;
	const char *params[MAX_ARGS + 1];
	int			nparams = 0;
	char		sql[4096];
	size_t		len;
	int			k;
	PGresult   *res;

	len = snprintf(sql, sizeof(sql), "SELECT FROM @extschema@.%s(job => $1",
				   function);
	params[nparams++] = inv->positional[0];
	for (k = 0; opts[k].name; k++)
	{
		if (inv->options[k] == NULL)
			continue;
		params[nparams] = inv->options[k];
		len += snprintf(sql + len, sizeof(sql) - len,
						opts[k].kind == ARG_LIST ?
						", %s => pg_catalog.string_to_array($%d, ',')" :
						", %s => $%d",
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
 * register JOB --table TABLE --id-column COLUMN [OPTION]...
 */
int
cmd_register(Session *session, const Invocation *inv)
{
	return call_with_options(session, inv, "batchintory_register");
}

/*
 * alter JOB [OPTION]...
 *		batchintory_alter; at least one option (the command line checks).
 */
int
cmd_alter(Session *session, const Invocation *inv)
{
	return call_with_options(session, inv, "batchintory_alter");
}
