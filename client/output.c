/*
 * output.c
 *	  What the client prints: aligned tables and records for people, JSON
 *	  Lines (one object per row) for scripts.
 */
#include "client.h"

#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* How a value of a column of type `type` is written in JSON */
JsonKind
json_kind(Oid type)
{
	switch (type)
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case OIDOID:
		case FLOAT4OID:
		case FLOAT8OID:
		case NUMERICOID:
			return JSON_NUMBER;
		case BOOLOID:
			return JSON_BOOL;
		case JSONOID:
		case JSONBOID:
			return JSON_RAW;
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			return JSON_TIME;
		default:
			return JSON_STRING;
	}
}

static void
json_string(FILE *out, const char *s)
{
	const unsigned char *p;

	fputc('"', out);
	for (p = (const unsigned char *) s; *p; p++)
	{
		switch (*p)
		{
			case '"':
				fputs("\\\"", out);
				break;
			case '\\':
				fputs("\\\\", out);
				break;
			case '\b':
				fputs("\\b", out);
				break;
			case '\f':
				fputs("\\f", out);
				break;
			case '\n':
				fputs("\\n", out);
				break;
			case '\r':
				fputs("\\r", out);
				break;
			case '\t':
				fputs("\\t", out);
				break;
			default:
				if (*p < 0x20)
					fprintf(out, "\\u%04x", *p);
				else
					fputc(*p, out);
		}
	}
	fputc('"', out);
}

void
json_begin(JsonObject *obj, FILE *out)
{
	obj->out = out;
	obj->first = true;
	fputc('{', out);
}

/*
 * A timestamp as the server prints it in DateStyle ISO ("2026-11-27
 * 14:24:19.886191+00") in ISO 8601, as jsonb and JavaScript write it
 * ("2026-11-27T14:24:19.886191+00:00"): the same form in every command, the
 * timestamps inside details' jsonb included.  Anything else (infinity, BC
 * dates) is left as it is.
 */
static void
json_time(FILE *out, const char *value)
{
	const char *space = strchr(value, ' ');
	const char *offset;
	char		buf[128];

	if (space == NULL || strchr(space + 1, ' ') != NULL ||
		strlen(value) > sizeof(buf) - 8)
	{
		json_string(out, value);
		return;
	}
	snprintf(buf, sizeof(buf), "%.*sT%s", (int) (space - value), value, space + 1);
	offset = strpbrk(buf + (space - value) + 1, "+-");
	/* "+00" -> "+00:00" */
	if (offset && strlen(offset) == 3)
		strcat(buf, ":00");
	json_string(out, buf);
}

/*
 * Add "key": value; a NULL value is null.  Numbers that JSON cannot spell
 * (NaN, Infinity) become strings; booleans come as PostgreSQL's t and f.
 */
void
json_field(JsonObject *obj, const char *key, const char *value, JsonKind kind)
{
	if (!obj->first)
		fputs(", ", obj->out);
	obj->first = false;
	json_string(obj->out, key);
	fputs(": ", obj->out);
	if (value == NULL)
		fputs("null", obj->out);
	else if (kind == JSON_BOOL)
		fputs(strcmp(value, "t") == 0 ? "true" : "false", obj->out);
	else if (kind == JSON_TIME)
		json_time(obj->out, value);
	else if (kind == JSON_RAW ||
			 (kind == JSON_NUMBER && strpbrk(value, "NI") == NULL))
		fputs(value, obj->out);
	else
		json_string(obj->out, value);
}

void
json_end(JsonObject *obj)
{
	fputs("}\n", obj->out);
}

/* Width of s on a terminal, in the client encoding */
int
display_width(const char *s, int encoding)
{
	int			width = 0;

	while (*s)
	{
		int			w = PQdsplen(s, encoding);

		width += w > 0 ? w : 0;
		s += PQmblen(s, encoding);
	}
	return width;
}

static void
print_padded(const char *s, int width, int target, bool right)
{
	if (right)
		printf("%*s%s", target - width, "", s);
	else
		printf("%s%*s", s, target - width, "");
}

/* Every row of res as a JSON object on a line of its own */
static void
print_json_rows(const PGresult *res)
{
	int			row;
	int			col;

	for (row = 0; row < PQntuples(res); row++)
	{
		JsonObject	obj;

		json_begin(&obj, stdout);
		for (col = 0; col < PQnfields(res); col++)
			json_field(&obj, PQfname(res, col),
					   PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col),
					   json_kind(PQftype(res, col)));
		json_end(&obj);
	}
}

/*
 * The width of the terminal standard output goes to (COLUMNS if set, as
 * psql does), or 0 when it is not a terminal
 */
static int
terminal_width(void)
{
	const char *columns = getenv("COLUMNS");
	struct winsize ws;

	if (!isatty(STDOUT_FILENO))
		return 0;
	if (columns && atoi(columns) > 0)
		return atoi(columns);
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	return 0;
}

/*
 * The table as psql's expanded mode (\x) prints it: a record per row, one
 * "column | value" line per column
 */
static void
print_expanded(const Table *table, int ncols, const int *name_widths, int encoding)
{
	int			width = 0;
	int			value_width = 0;
	int			row;
	int			col;

	for (col = 0; col < ncols; col++)
	{
		if (name_widths[col] > width)
			width = name_widths[col];
		for (row = 0; row < table->nrows; row++)
		{
			const char *v = TABLE_CELL(table, row, col);
			int			w = v ? display_width(v, encoding) : 0;

			if (w > value_width)
				value_width = w;
		}
	}
	for (row = 0; row < table->nrows; row++)
	{
		char		header[64];
		int			len = snprintf(header, sizeof(header), "-[ RECORD %d ]", row + 1);
		int			i;

		fputs(header, stdout);
		for (i = len; i < width + 1; i++)
			putchar('-');
		putchar('+');
		for (i = 0; i < value_width + 1; i++)
			putchar('-');
		putchar('\n');
		for (col = 0; col < ncols; col++)
		{
			const char *v = TABLE_CELL(table, row, col);

			printf("%s%*s |", table->names[col], width - name_widths[col], "");
			if (v && *v)
				printf(" %s", v);
			putchar('\n');
		}
	}
}

/* The column of table named name, or -1 */
static int
column_named(const Table *table, const char *name)
{
	int			col;

	for (col = 0; col < table->ncols; col++)
		if (strcmp(table->names[col], name) == 0)
			return col;
	return -1;
}

/*
 * The columns of table worth showing as a table: all but trailing
 * first_key and last_key columns that only repeat first_id and last_id
 * (an integer key spelled as itself; a time key's are shown)
 */
static int
columns_shown(const Table *table)
{
	int			ncols = table->ncols;
	int			first_id = column_named(table, "first_id");
	int			last_id = column_named(table, "last_id");
	int			row;

	if (ncols < 2 || first_id < 0 || last_id < 0 ||
		strcmp(table->names[ncols - 2], "first_key") != 0 ||
		strcmp(table->names[ncols - 1], "last_key") != 0)
		return ncols;
	for (row = 0; row < table->nrows; row++)
	{
		const char *cells[4] = {TABLE_CELL(table, row, first_id),
			TABLE_CELL(table, row, ncols - 2),
			TABLE_CELL(table, row, last_id),
		TABLE_CELL(table, row, ncols - 1)};
		int			i;

		for (i = 0; i < 4; i += 2)
			if ((cells[i] == NULL) != (cells[i + 1] == NULL) ||
				(cells[i] != NULL && strcmp(cells[i], cells[i + 1]) != 0))
				return ncols;
	}
	return ncols - 2;
}

/*
 * Print a table: JSON Lines in JSON mode, else a header, columns separated
 * by two spaces, numbers aligned to the right and NULLs left empty -- or,
 * expanded (-x, or wider than the terminal), a record per row.  A time
 * key's first_key and last_key are shown, an integer key's are not: they
 * repeat first_id and last_id.
 */
void
print_table(const Session *session, const Table *table)
{
	int			encoding = PQclientEncoding(session->conn);
	int			ncols = session->json ? table->ncols : columns_shown(table);
	int			nrows = table->nrows;
	int		   *widths;
	int		   *name_widths;
	int			total = 0;
	int			row;
	int			col;

	if (session->json)
	{
		for (row = 0; row < nrows; row++)
		{
			JsonObject	obj;

			json_begin(&obj, stdout);
			for (col = 0; col < ncols; col++)
				json_field(&obj, table->names[col], TABLE_CELL(table, row, col),
						   table->kinds[col]);
			json_end(&obj);
		}
		return;
	}

	widths = xmalloc((ncols + 1) * sizeof(int));
	name_widths = xmalloc((ncols + 1) * sizeof(int));
	for (col = 0; col < ncols; col++)
	{
		widths[col] = name_widths[col] = display_width(table->names[col], encoding);
		for (row = 0; row < nrows; row++)
		{
			const char *v = TABLE_CELL(table, row, col);
			int			w = v ? display_width(v, encoding) : 0;

			if (w > widths[col])
				widths[col] = w;
		}
		total += widths[col] + (col > 0 ? 2 : 0);
	}
	if (nrows > 0 &&
		(session->expanded == EXPANDED_ON ||
		 (session->expanded == EXPANDED_AUTO && terminal_width() > 0 &&
		  total > terminal_width())))
	{
		print_expanded(table, ncols, name_widths, encoding);
		free(widths);
		free(name_widths);
		return;
	}

	for (row = -1; row < nrows; row++)
	{
		int			ncells = ncols;

		/* no trailing blanks: empty cells at the end are left out */
		while (row >= 0 && ncells > 1 &&
			   (TABLE_CELL(table, row, ncells - 1) == NULL ||
				*TABLE_CELL(table, row, ncells - 1) == '\0'))
			ncells--;
		for (col = 0; col < ncells; col++)
		{
			const char *s = row < 0 ? table->names[col] : TABLE_CELL(table, row, col);
			bool		last = col == ncells - 1;
			bool		right = row >= 0 && table->kinds[col] == JSON_NUMBER;

			if (s == NULL)
				s = "";
			if (col > 0)
				fputs("  ", stdout);
			/* nor after a left-aligned last cell */
			print_padded(s, display_width(s, encoding),
						 last && !right ? display_width(s, encoding) : widths[col],
						 right);
		}
		putchar('\n');
		if (row < 0)
		{
			for (col = 0; col < ncols; col++)
			{
				int			i;

				if (col > 0)
					fputs("  ", stdout);
				for (i = 0; i < widths[col]; i++)
					putchar('-');
			}
			putchar('\n');
		}
	}
	free(widths);
	free(name_widths);
}

/*
 * A table of the rows of res: the caller may change its cells before
 * printing it, then frees it with table_free (its strings stay res's)
 */
Table *
table_from_result(const PGresult *res)
{
	Table	   *table = xmalloc(sizeof(Table));
	int			row;
	int			col;

	table->ncols = table->stride = PQnfields(res);
	table->nrows = PQntuples(res);
	table->names = xmalloc((table->ncols + 1) * sizeof(char *));
	table->kinds = xmalloc((table->ncols + 1) * sizeof(JsonKind));
	table->cells = xmalloc((table->stride * table->nrows + 1) * sizeof(char *));
	for (col = 0; col < table->ncols; col++)
	{
		table->names[col] = PQfname(res, col);
		table->kinds[col] = json_kind(PQftype(res, col));
		for (row = 0; row < table->nrows; row++)
			TABLE_CELL(table, row, col) =
				PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
	}
	return table;
}

void
table_free(Table *table)
{
	free(table->names);
	free(table->kinds);
	free(table->cells);
	free(table);
}

/* Print the rows of res as a table (print_table) */
void
print_result(const Session *session, const PGresult *res)
{
	Table	   *table = table_from_result(res);

	print_table(session, table);
	table_free(table);
}

/*
 * Print "name: value" lines, the values aligned after the longest name
 */
static void
print_name_values(int encoding, int n, const char *const *names,
				  const char *const *values)
{
	int			width = 0;
	int			i;

	for (i = 0; i < n; i++)
	{
		int			w = display_width(names[i], encoding);

		if (w > width)
			width = w;
	}
	for (i = 0; i < n; i++)
		/* no trailing blanks after the name of an empty value */
		printf("%s:%*s%s\n", names[i],
			   *values[i] ? width - display_width(names[i], encoding) + 1 : 0,
			   "", values[i]);
}

/*
 * Print the first row of table as "name: value" lines, one per column (JSON
 * mode: as print_table does)
 */
void
print_table_record(const Session *session, const Table *table)
{
	const char **values;
	int			col;

	if (session->json || table->nrows == 0)
	{
		print_table(session, table);
		return;
	}
	values = xmalloc((table->ncols + 1) * sizeof(char *));
	for (col = 0; col < table->ncols; col++)
		values[col] = TABLE_CELL(table, 0, col) ? TABLE_CELL(table, 0, col) : "";
	print_name_values(PQclientEncoding(session->conn), table->ncols,
					  table->names, values);
	free(values);
}

/* The first row of res as print_table_record prints it */
void
print_record(const Session *session, const PGresult *res)
{
	Table	   *table = table_from_result(res);

	print_table_record(session, table);
	table_free(table);
}

/*
 * Print the rows of res, each a name (column 0), its value as text
 * (column 1) and as JSON (column 2): "name: value" lines, or in JSON mode
 * one object of them all.
 */
void
print_pairs(const Session *session, const PGresult *res)
{
	int			n = PQntuples(res);
	const char **names;
	const char **values;
	int			row;

	names = xmalloc((n + 1) * sizeof(char *));
	values = xmalloc((n + 1) * sizeof(char *));
	for (row = 0; row < n; row++)
	{
		names[row] = PQgetvalue(res, row, 0);
		values[row] = PQgetvalue(res, row, session->json ? 2 : 1);
	}
	if (session->json)
	{
		JsonObject	obj;

		json_begin(&obj, stdout);
		for (row = 0; row < n; row++)
			json_field(&obj, names[row], values[row], JSON_RAW);
		json_end(&obj);
	}
	else
		print_name_values(PQclientEncoding(session->conn), n, names, values);
	free(names);
	free(values);
}

/*
 * The last column of the first row of res alone on a line (JSON mode: the
 * row as an object)
 */
void
print_value(const Session *session, const PGresult *res)
{
	if (session->json)
		print_json_rows(res);
	else
		printf("%s\n", PQgetvalue(res, 0, PQnfields(res) - 1));
}

/* Run sql with params, print its rows with print, and free it */
int
print_query(Session *session, const char *sql, int nparams,
			const char *const *params, PrintFunc print)
{
	PGresult   *res = session_exec(session, sql, nparams, params);

	if (res == NULL)
		return EXIT_SERVER;
	print(session, res);
	PQclear(res);
	return EXIT_OK;
}
