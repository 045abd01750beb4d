/*
 * inspect.c
 *	  The commands that look into the inventory, where a query does not do:
 *	  backlog (an option), assets (--rows) and verify (its exit status).
 */
#include "client.h"

/*
 * Print the rows of lookup and lookup-all: batchintory_lookup's columns
 * (then ordinality and batch_state, not shown), batch_status the state of
 * the batch as details and batchintory.batches name it (retry_pending,
 * abandoned: not the bare status failed or processing)
 */
void
print_lookup(const Session *session, const PGresult *res)
{
	Table	   *table = table_from_result(res);
	int			status = PQfnumber(res, "batch_status");
	int			state = PQfnumber(res, "batch_state");
	int			row;

	for (row = 0; status >= 0 && row < table->nrows; row++)
		if (TABLE_CELL(table, row, state) != NULL)
			TABLE_CELL(table, row, status) = TABLE_CELL(table, row, state);
	table->ncols = PQfnumber(res, "ordinality");
	print_table(session, table);
	table_free(table);
}

/*
 * backlog JOB [--estimate]
 */
int
cmd_backlog(Session *session, const Invocation *inv)
{
	const char *params[2] = {inv->positional[0],
	option_value(inv, "estimate") ? "false" : "true"};

	return print_query(session,
					   "SELECT * FROM @extschema@.batchintory_backlog(job => $1,"
					   " exact => $2)",
					   2, params, print_result);
}

/*
 * assets BATCH [--rows]
 *		The keys of the matching assets of a batch, or with --rows the rows
 *		of its metadata table: batchintory_assets(batch, NULL::table), with
 *		the table's row type schema-qualified (no lookup in the search_path).
 */
int
cmd_assets(Session *session, const Invocation *inv)
{
	const char *sql = "SELECT a.id FROM"
		" @extschema@.batchintory_assets(batch => $1) AS a (id)";
	char		rows_sql[1024];
	PGresult   *res;

	if (option_value(inv, "rows"))
	{
		res = session_exec(session,
						   "SELECT pg_catalog.format('%I.%I', n.nspname, c.relname)"
						   " FROM batchintory.attempts a JOIN pg_catalog.pg_class c"
						   " ON c.oid OPERATOR(pg_catalog.=) a.source"
						   " JOIN pg_catalog.pg_namespace n"
						   " ON n.oid OPERATOR(pg_catalog.=) c.relnamespace"
						   " WHERE a.batch OPERATOR(pg_catalog.=) $1 LIMIT 1",
						   1, inv->positional);
		if (res == NULL)
			return EXIT_SERVER;
		/* no such batch: the query of the keys reports it */
		if (PQntuples(res) == 1)
		{
			snprintf(rows_sql, sizeof(rows_sql),
					 "SELECT * FROM @extschema@.batchintory_assets($1, NULL::%s)",
					 PQgetvalue(res, 0, 0));
			sql = rows_sql;
		}
		PQclear(res);
	}
	return print_query(session, sql, 1, inv->positional, print_result);
}

/*
 * verify JOB [--requeue]
 *		The succeeded batches whose assets changed; exit status 5 if there
 *		are any (requeued or not), 0 if all match.
 */
int
cmd_verify(Session *session, const Invocation *inv)
{
	const char *params[2] = {inv->positional[0],
	option_value(inv, "requeue") ? "true" : "false"};
	PGresult   *res = session_exec(session,
								   "SELECT * FROM @extschema@.batchintory_verify("
								   "job => $1, requeue => $2)",
								   2, params);
	int			rc = EXIT_OK;

	if (res == NULL)
		return EXIT_SERVER;
	if (PQntuples(res) > 0)
	{
		print_result(session, res);
		rc = EXIT_CHANGED;
	}
	else if (!session->json)
		printf("the succeeded batches of job \"%s\" match their assets\n",
			   params[0]);
	PQclear(res);
	return rc;
}
