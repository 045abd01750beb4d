/*
 * output.c
 *	  What the client prints: aligned tables and records for people, JSON
 *	  Lines (one object per row) for scripts.
 */
#include "client.h"

#include <stdlib.h>
#include <string.h>

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
 * Print the rows of res: JSON Lines in JSON mode, else a table with a
 * header, columns separated by two spaces, numbers aligned to the right and
 * NULLs left empty.
 */
void
print_result(const Session *session, const PGresult *res)
{
	int			encoding = PQclientEncoding(session->conn);
	int			nrows = PQntuples(res);
	int			ncols = PQnfields(res);
	int		   *widths;
	int			row;
	int			col;

	if (session->json)
	{
		print_json_rows(res);
		return;
	}

	widths = xmalloc((ncols + 1) * sizeof(int));
	for (col = 0; col < ncols; col++)
	{
		widths[col] = display_width(PQfname(res, col), encoding);
		for (row = 0; row < nrows; row++)
		{
			int			w = display_width(PQgetvalue(res, row, col), encoding);

			if (w > widths[col])
				widths[col] = w;
		}
	}

	for (row = -1; row < nrows; row++)
	{
		int			ncells = ncols;

		/* no trailing blanks: empty cells at the end are left out */
		while (row >= 0 && ncells > 1 && *PQgetvalue(res, row, ncells - 1) == '\0')
			ncells--;
		for (col = 0; col < ncells; col++)
		{
			const char *s = row < 0 ? PQfname(res, col) : PQgetvalue(res, row, col);
			bool		last = col == ncells - 1;
			bool		right = row >= 0 && json_kind(PQftype(res, col)) == JSON_NUMBER;

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
 * Print the first row of res as "name: value" lines, one per column (JSON
 * mode: as print_result does).
 */
void
print_record(const Session *session, const PGresult *res)
{
	int			n = PQnfields(res);
	const char **names;
	const char **values;
	int			col;

	if (session->json)
	{
		print_json_rows(res);
		return;
	}
	names = xmalloc((n + 1) * sizeof(char *));
	values = xmalloc((n + 1) * sizeof(char *));
	for (col = 0; col < n; col++)
	{
		names[col] = PQfname(res, col);
		values[col] = PQgetvalue(res, 0, col);
	}
	print_name_values(PQclientEncoding(session->conn), n, names, values);
	free(names);
	free(values);
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
