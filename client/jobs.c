/*
 * jobs.c
 *	  The commands on jobs that are code rather than a query in the command
 *	  table: jobs (which register and alter reuse), status, register, alter;
 *	  and the total of a backfill, counted where that is cheap.
 */
#include "client.h"

#include <stdlib.h>
#include <string.h>

/*
 * The total of a backfill in batchintory.jobs is the assets cut so far plus
 * the planner's estimate of the rest of the window: wrong by any factor
 * when the table's statistics are stale (a table loaded since its last
 * ANALYZE).  The client counts the rest exactly instead
 * (batchintory_backlog(job, exact => true), O(backlog) through the key
 * index) when the estimate is at most EXACT_MAX_ESTIMATE assets, giving all
 * the counts of one command at most EXACT_BUDGET_MS milliseconds (a
 * statement_timeout); a total it did not count is shown as an estimate
 * ("~700").
 */
#define EXACT_MAX_ESTIMATE 1000000
#define EXACT_BUDGET_MS 1000

/* The total of a backfill and its progress, as shown */
typedef struct Total
{
	bool		known;			/* a backfill whose view row has a total */
	bool		estimated;		/* not counted: the view's estimate */
	char		total[32];
	char		percent[32];
	char		shown_total[33];	/* "~" first when estimated */
	char		shown_percent[33];
} Total;

/*
 * The exact count of job's backlog into *count, within *budget_ms (which
 * it decreases); false if it took longer or failed.
 */
static bool
count_backlog(Session *session, const char *job, double *budget_ms,
			  long long *count)
{
	double		started = now_seconds();
	char		timeout[32];
	const char *params[1] = {timeout};
	PGresult   *res;
	bool		ok;

	if (*budget_ms < 1)
		return false;
	snprintf(timeout, sizeof(timeout), "%.0f", *budget_ms);
	PQclear(PQexec(session->conn, "BEGIN"));
	res = session_try(session,
					  "SELECT pg_catalog.set_config('statement_timeout', $1, true)",
					  1, params);
	ok = PQresultStatus(res) == PGRES_TUPLES_OK;
	PQclear(res);
	if (ok)
	{
		res = session_try(session,
						  "SELECT asset_count FROM @extschema@.batchintory_backlog("
						  "job => $1, exact => true)",
						  1, &job);
		ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
			!PQgetisnull(res, 0, 0);
		if (ok)
			*count = atoll(PQgetvalue(res, 0, 0));
		PQclear(res);
	}
	PQclear(PQexec(session->conn, ok ? "COMMIT" : "ROLLBACK"));
	*budget_ms -= (now_seconds() - started) * 1000;
	return ok;
}

/*
 * The total and progress of the job in row of res (a row of
 * batchintory.jobs with the columns job, processed, total, progress_pct and
 * backlog_estimate), counted exactly when cheap (see EXACT_MAX_ESTIMATE).
 */
static void
work_out_total(Session *session, const PGresult *res, int row,
			   double *budget_ms, Total *t)
{
	int			total_col = PQfnumber(res, "total");
	int			estimate_col = PQfnumber(res, "backlog_estimate");
	const char *job = PQgetvalue(res, row, PQfnumber(res, "job"));
	long long	processed = atoll(PQgetvalue(res, row, PQfnumber(res, "processed")));
	long long	counted;

	memset(t, 0, sizeof(*t));
	if (PQgetisnull(res, row, total_col))
		return;
	t->known = true;
	t->estimated = true;
	snprintf(t->total, sizeof(t->total), "%s", PQgetvalue(res, row, total_col));
	snprintf(t->percent, sizeof(t->percent), "%s",
			 PQgetvalue(res, row, PQfnumber(res, "progress_pct")));
	if (estimate_col >= 0 && !PQgetisnull(res, row, estimate_col) &&
		atoll(PQgetvalue(res, row, estimate_col)) <= EXACT_MAX_ESTIMATE &&
		count_backlog(session, job, budget_ms, &counted))
	{
		/* the assets cut so far, and the rest counted */
		long long	total = atoll(t->total) - atoll(PQgetvalue(res, row, estimate_col)) +
			counted;

		t->estimated = false;
		snprintf(t->total, sizeof(t->total), "%lld", total);
		snprintf(t->percent, sizeof(t->percent), "%.1f",
				 total == 0 ? 100.0 : 100.0 * processed / total);
	}
	snprintf(t->shown_total, sizeof(t->shown_total), "%s%s",
			 t->estimated ? "~" : "", t->total);
	snprintf(t->shown_percent, sizeof(t->shown_percent), "%s%s",
			 t->estimated ? "~" : "", t->percent);
}

/*
 * Print the rows of res (the columns of batchintory.jobs that cmd_jobs
 * selects) as a table: the total and progress of a backfill counted where
 * cheap, else marked "~" as estimates; in JSON, numbers and a key
 * total_estimated.  The column backlog_estimate is not shown.
 */
static void
print_jobs(Session *session, const PGresult *res)
{
	Table	   *table = table_from_result(res);
	int			total_col = PQfnumber(res, "total");
	int			percent_col = PQfnumber(res, "progress_pct");
	int			estimated_col = PQfnumber(res, "total_estimated");
	Total	   *totals = xmalloc((PQntuples(res) + 1) * sizeof(Total));
	double		budget_ms = EXACT_BUDGET_MS;
	int			row;

	for (row = 0; row < PQntuples(res); row++)
	{
		Total	   *t = &totals[row];

		work_out_total(session, res, row, &budget_ms, t);
		if (!t->known)
			continue;
		TABLE_CELL(table, row, total_col) = session->json ? t->total : t->shown_total;
		TABLE_CELL(table, row, percent_col) = session->json ? t->percent : t->shown_percent;
		TABLE_CELL(table, row, estimated_col) = t->estimated ? "t" : "f";
	}
	table->kinds[estimated_col] = JSON_BOOL;
	/* backlog_estimate, last, is not shown; total_estimated only in JSON */
	table->ncols = estimated_col + (session->json ? 1 : 0);
	print_table(session, table);
	free(totals);
	table_free(table);
}

/* What to say about a job the caller does not find in batchintory.jobs */
static void
report_unknown_job(const char *job)
{
	fprintf(stderr, "batchintory: ERROR: job \"%s\" does not exist\n"
			"HINT: \"batchintory jobs\" lists the jobs you may use.\n", job);
}

/*
 * jobs [JOB]
 *		The jobs (or one job) from the view batchintory.jobs: the columns
 *		that fit a line, and what is wrong with the job (the column problem
 *		of extension 0.2.0, taken by name so that 0.1.0 works too); status
 *		shows them all.  An unknown JOB is an error (exit status 3).
 */
int
cmd_jobs(Session *session, const Invocation *inv)
{
	const char *job = inv->positional[0];
	PGresult   *res = session_exec(session,
								   "SELECT job, source, kind, frontier, processed, total,"
								   " progress_pct, succeeded, failed, in_flight, retry_pending,"
								   " pg_catalog.to_jsonb(j) OPERATOR(pg_catalog.->>) 'problem'"
								   " AS problem, NULL::pg_catalog.bool AS total_estimated,"
								   " pg_catalog.to_jsonb(j) OPERATOR(pg_catalog.->>)"
								   " 'backlog_estimate' AS backlog_estimate"
								   " FROM batchintory.jobs AS j"
								   " WHERE $1::pg_catalog.text IS NULL OR job OPERATOR(pg_catalog.=) $1"
								   " ORDER BY job",
								   1, &job);

	if (res == NULL)
		return EXIT_SERVER;
	if (job != NULL && PQntuples(res) == 0)
	{
		report_unknown_job(job);
		PQclear(res);
		return EXIT_SERVER;
	}
	print_jobs(session, res);
	PQclear(res);
	return EXIT_OK;
}

/*
 * status JOB
 *		One job from batchintory.jobs as a record, and for a backfill a
 *		progress bar: its total counted where cheap, else marked as an
 *		estimate with a word on how to make it right.
 */
int
cmd_status(Session *session, const Invocation *inv)
{
	PGresult   *res = session_exec(session,
								   "SELECT * FROM batchintory.jobs"
								   " WHERE job OPERATOR(pg_catalog.=) $1",
								   1, inv->positional);
	double		budget_ms = EXACT_BUDGET_MS;
	Total		t;
	Table	   *table;
	int			col;

	if (res == NULL)
		return EXIT_SERVER;
	if (PQntuples(res) == 0)
	{
		report_unknown_job(inv->positional[0]);
		PQclear(res);
		return EXIT_SERVER;
	}
	work_out_total(session, res, 0, &budget_ms, &t);

	/* the record, with the total as counted; in JSON, total_estimated */
	table = table_from_result(res);
	if (t.known)
	{
		TABLE_CELL(table, 0, PQfnumber(res, "total")) =
			session->json ? t.total : t.shown_total;
		TABLE_CELL(table, 0, PQfnumber(res, "progress_pct")) =
			session->json ? t.percent : t.shown_percent;
	}
	if (session->json)
	{
		JsonObject	obj;

		json_begin(&obj, stdout);
		for (col = 0; col < table->ncols; col++)
			json_field(&obj, table->names[col], TABLE_CELL(table, 0, col),
					   table->kinds[col]);
		json_field(&obj, "total_estimated",
				   t.known ? (t.estimated ? "t" : "f") : NULL, JSON_BOOL);
		json_end(&obj);
	}
	else
		print_table_record(session, table);
	table_free(table);

	if (!session->json && t.known)
	{
		print_progress_bar(t.percent, PQgetvalue(res, 0, PQfnumber(res, "processed")),
						   t.total, t.estimated);
		if (t.estimated)
			printf("~ estimated from the statistics of %s: ANALYZE %s refreshes them\n",
				   PQgetvalue(res, 0, PQfnumber(res, "source")),
				   PQgetvalue(res, 0, PQfnumber(res, "source")));
	}
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
						opts[k].kind == ARG_KEY ? ", %s => $%d::pg_catalog.text" :
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
