/*
 * db.c
 *	  The client's connection: connecting through libpq, finding the schema
 *	  of the extension, running parameterized SQL and reporting server errors.
 */
#include "client.h"

#include <stdlib.h>
#include <string.h>
#include <termios.h>

/* placeholder in SQL texts for the quoted schema of the extension */
#define EXTSCHEMA "@extschema@"

/*
 * Print a server message as "batchintory: SEVERITY: message", then its
 * detail and hint, the way psql does.
 */
static void
report_fields(const char *severity, const char *primary, const char *detail,
			  const char *hint)
{
	fprintf(stderr, "batchintory: %s: %s\n", severity, primary);
	if (detail)
		fprintf(stderr, "DETAIL: %s\n", detail);
	if (hint)
		fprintf(stderr, "HINT: %s\n", hint);
}

/*
 * Report the error of a failed query.  Errors that did not come from the
 * server (a lost connection) have no fields: print libpq's message.
 */
void
report_error(const PGresult *res, PGconn *conn)
{
	const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

	if (primary)
		report_fields(PQresultErrorField(res, PG_DIAG_SEVERITY), primary,
					  PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL),
					  PQresultErrorField(res, PG_DIAG_MESSAGE_HINT));
	else
	{
			fprintf(stderr, "batchintory: %s", PQerrorMessage(conn));
	}
}

/*
 * Notices and warnings of the server go to stderr like errors; the one of a
 * guard that timed out is also noted in the session (arg)
 */
static void
notice_receiver(void *arg, const PGresult *res)
{
	const char *sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	if (sqlstate && strcmp(sqlstate, SQLSTATE_GUARD_TIMED_OUT) == 0)
		((Session *) arg)->guard_timed_out = true;
	report_fields(PQresultErrorField(res, PG_DIAG_SEVERITY),
				  PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY),
				  PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL),
				  PQresultErrorField(res, PG_DIAG_MESSAGE_HINT));
}

/*
 * Ask for a password on the terminal, without echo, as psql does; NULL if
 * there is no terminal (cron, a pipeline) or nothing was typed.  The caller
 * frees it.
 */
static char *
prompt_password(const char *user)
{
	FILE	   *tty = fopen("/dev/tty", "r+");
	struct termios saved;
	struct termios quiet;
	bool		echo_off;
	char		buf[1024];
	char	   *password = NULL;

	if (tty == NULL)
		return NULL;
	fprintf(tty, "Password for user %s: ", user ? user : "");
	fflush(tty);
	echo_off = tcgetattr(fileno(tty), &saved) == 0;
	if (echo_off)
	{
		quiet = saved;
		quiet.c_lflag &= ~ECHO;
		tcsetattr(fileno(tty), TCSAFLUSH, &quiet);
	}
	if (fgets(buf, sizeof(buf), tty) != NULL)
	{
		buf[strcspn(buf, "\r\n")] = '\0';
		password = strcpy(xmalloc(strlen(buf) + 1), buf);
	}
	if (echo_off)
		tcsetattr(fileno(tty), TCSAFLUSH, &saved);
	fputc('\n', tty);
	fclose(tty);
	return password;
}

/*
 * Connect with the connection options of the command line (unset ones: the
 * PG* environment variables and defaults; -d may be a connection string or
 * URI, whose settings win over -h, -p and -U as in psql), asking for a
 * password as psql does, and find the extension.  Set session->json first
 * (JSON: UTF-8 and ISO 8601 timestamps).  Returns EXIT_OK, or EXIT_SERVER
 * after reporting why not.
 */
int
session_open(Session *session, const ConnOptions *options)
{
	const char *const keywords[] = {"host", "port", "user", "password",
		"dbname", "fallback_application_name", "client_encoding", NULL};
	char	   *password = NULL;
	PGresult   *res;

	if (options->prompt == PROMPT_ALWAYS)
		password = prompt_password(options->user ? options->user : getenv("PGUSER"));
	for (;;)
	{
		/* JSON is UTF-8 whatever the environment asks for */
		const char *const values[] = {options->host, options->port,
			options->user, password, options->dbname, "batchintory",
		session->json ? "UTF8" : NULL, NULL};

		session->conn = PQconnectdbParams(keywords, values, 1);
		if (PQstatus(session->conn) == CONNECTION_OK)
			break;
		if (password == NULL && options->prompt != PROMPT_NEVER &&
			PQconnectionNeedsPassword(session->conn) &&
			(password = prompt_password(PQuser(session->conn))) != NULL)
		{
			PQfinish(session->conn);
			continue;
		}
		fprintf(stderr, "batchintory: could not connect: %s",
				PQerrorMessage(session->conn));
		free(password);
		return EXIT_SERVER;
	}
	free(password);
	PQsetNoticeReceiver(session->conn, notice_receiver, session);

	res = PQexecParams(session->conn,
					   "SELECT n.nspname FROM pg_catalog.pg_extension e"
					   " JOIN pg_catalog.pg_namespace n"
					   " ON n.oid OPERATOR(pg_catalog.=) e.extnamespace"
					   " WHERE e.extname OPERATOR(pg_catalog.=) 'batchintory'",
					   0, NULL, NULL, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		report_error(res, session->conn);
		PQclear(res);
		return EXIT_SERVER;
	}
	if (PQntuples(res) == 0)
	{
		report_fields("ERROR", "extension \"batchintory\" is not installed in this database",
					  NULL, "Run CREATE EXTENSION batchintory as its owner.");
		PQclear(res);
		return EXIT_SERVER;
	}
	session->schema = PQescapeIdentifier(session->conn, PQgetvalue(res, 0, 0),
										 strlen(PQgetvalue(res, 0, 0)));
	PQclear(res);
	if (session->schema == NULL)
	{
		fprintf(stderr, "batchintory: %s", PQerrorMessage(session->conn));
		return EXIT_SERVER;
	}
	/* JSON: timestamps in ISO 8601 (output.c completes the form) */
	if (session->json)
	{
		res = PQexec(session->conn,
					 "SELECT pg_catalog.set_config('datestyle', 'ISO', false)");
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
		{
			report_error(res, session->conn);
			PQclear(res);
			return EXIT_SERVER;
		}
		PQclear(res);
	}
	return EXIT_OK;
}

void
session_close(Session *session)
{
	if (session->schema)
		PQfreemem(session->schema);
	PQfinish(session->conn);
}

/* malloc, or exit if memory is exhausted */
void *
xmalloc(size_t size)
{
	void	   *p = malloc(size);

	if (p == NULL)
	{
		fprintf(stderr, "batchintory: out of memory\n");
		exit(EXIT_SERVER);
	}
	return p;
}

/*
 * Run sql, a single statement that may contain @extschema@ (replaced by the
 * extension's schema) and the text parameters $1 .. $nparams (NULL
 * elements are SQL NULLs).  Returns its result, failed or not, for the
 * caller to check and PQclear.
 */
PGresult *
session_try(Session *session, const char *sql, int nparams,
			const char *const *params)
{
	size_t		len = strlen(sql) + 1;
	const char *p;
	char	   *text;
	char	   *out;
	PGresult   *res;

	for (p = strstr(sql, EXTSCHEMA); p; p = strstr(p + 1, EXTSCHEMA))
		len += strlen(session->schema);
	text = out = xmalloc(len);
	while ((p = strstr(sql, EXTSCHEMA)) != NULL)
	{
		memcpy(out, sql, p - sql);
		out += p - sql;
		strcpy(out, session->schema);
		out += strlen(session->schema);
		sql = p + strlen(EXTSCHEMA);
	}
	strcpy(out, sql);

	res = PQexecParams(session->conn, text, nparams, NULL, params, NULL, NULL, 0);
	free(text);
	return res;
}

/*
 * session_try that reports an error: returns the result of a successful
 * statement; on error, reports it and returns NULL.
 */
PGresult *
session_exec(Session *session, const char *sql, int nparams,
			 const char *const *params)
{
	PGresult   *res = session_try(session, sql, nparams, params);
	ExecStatusType status = PQresultStatus(res);

	if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK)
	{
		report_error(res, session->conn);
		PQclear(res);
		return NULL;
	}
	return res;
}
