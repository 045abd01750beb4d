/*
 * keys.c
 *	  A job's key type: integer keys as they are, time keys (timestamptz,
 *	  timestamp, date) as integers in their own units, and back to text.
 */
#include "postgres.h"

#include "batchintory.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(batchintory_timestamp_units);
PG_FUNCTION_INFO_V1(batchintory_date_units);
PG_FUNCTION_INFO_V1(batchintory_units_timestamptz);
PG_FUNCTION_INFO_V1(batchintory_units_timestamp);
PG_FUNCTION_INFO_V1(batchintory_units_date);
PG_FUNCTION_INFO_V1(batchintory_key_text);

/*
 * bi_key_kind
 *		The kind of key a column of type type (or of a domain over it) makes;
 *		KEY_NONE for a type that cannot be a key.
 */
BiKeyKind
bi_key_kind(Oid type)
{
	switch (getBaseType(type))
	{
		case INT2OID:
			return KEY_INT2;
		case INT4OID:
			return KEY_INT4;
		case INT8OID:
			return KEY_INT8;
		case TIMESTAMPTZOID:
			return KEY_TIMESTAMPTZ;
		case TIMESTAMPOID:
			return KEY_TIMESTAMP;
		case DATEOID:
			return KEY_DATE;
		default:
			return KEY_NONE;
	}
}

static int64 date_units(DateADT date);

/* bi_key_units: a key column's value in the job's units */
int64
bi_key_units(BiKeyKind kind, Datum value)
{
	switch (kind)
	{
		case KEY_INT2:
			return DatumGetInt16(value);
		case KEY_INT4:
			return DatumGetInt32(value);
		case KEY_DATE:
			return date_units(DatumGetDateADT(value));
		default:
			return DatumGetInt64(value);
	}
}

/*
 * bi_key_param_type
 *		The type of a parameter that carries a key to the user's SQL (a
 *		pipeline's $1, $2): the time key's type, bigint for integer keys
 */
Oid
bi_key_param_type(BiKeyKind kind)
{
	switch (kind)
	{
		case KEY_TIMESTAMPTZ:
			return TIMESTAMPTZOID;
		case KEY_TIMESTAMP:
			return TIMESTAMPOID;
		case KEY_DATE:
			return DATEOID;
		default:
			return INT8OID;
	}
}

/* bi_key_param: a key in units as a value of bi_key_param_type(kind) */
Datum
bi_key_param(BiKeyKind kind, int64 units)
{
	if (kind == KEY_DATE)
		return DirectFunctionCall1(batchintory_units_date, Int64GetDatum(units));
	return Int64GetDatum(units);
}

/*
 * bi_key_parse
 *		A key spelled as its type spells it ('2026-03-01 10:00+01' for a
 *		timestamptz key, '42' for an integer key), in units; the key type's
 *		input function reports what it cannot read
 */
int64
bi_key_parse(BiKeyKind kind, const char *spelled)
{
	switch (kind)
	{
		case KEY_TIMESTAMPTZ:
			return DatumGetInt64(DirectFunctionCall3(timestamptz_in, CStringGetDatum(spelled),
													 ObjectIdGetDatum(InvalidOid),
													 Int32GetDatum(-1)));
		case KEY_TIMESTAMP:
			return DatumGetInt64(DirectFunctionCall3(timestamp_in, CStringGetDatum(spelled),
													 ObjectIdGetDatum(InvalidOid),
													 Int32GetDatum(-1)));
		case KEY_DATE:
			return date_units(DatumGetDateADT(DirectFunctionCall1(date_in,
																  CStringGetDatum(spelled))));
		default:
			return DatumGetInt64(DirectFunctionCall1(int8in, CStringGetDatum(spelled)));
	}
}

/*
 * bi_key_of_value
 *		A value of any type given for a key (a bound), in units: as its type
 *		spells it, read by the key type's input -- a time for a time key
 *		(a date, timestamp or timestamptz converted as their casts do, in the
 *		session's TimeZone), an integer or its text for an integer key.  An
 *		untyped literal arrives as a cstring.
 */
int64
bi_key_of_value(BiKeyKind kind, Datum value, Oid type)
{
	BiKeyKind	given = bi_key_kind(type);
	Oid			output;
	bool		varlena;

	if (given == kind ||
		(given != KEY_NONE && !BI_KEY_IS_TIME(given) && !BI_KEY_IS_TIME(kind)))
		return bi_key_units(given, value);
	if (type == UNKNOWNOID || type == CSTRINGOID)
		return bi_key_parse(kind, DatumGetCString(value));
	getTypeOutputInfo(type, &output, &varlena);
	return bi_key_parse(kind, OidOutputFunctionCall(output, value));
}

/*
 * bi_key_units_sql
 *		SQL that turns the (quoted) key column into the job's units, a bigint
 */
char *
bi_key_units_sql(BiKeyKind kind, const char *key)
{
	if (!BI_KEY_IS_TIME(kind))
		return psprintf("%s::pg_catalog.int8", key);
	return psprintf("batchintory.key_units(%s)", key);
}

/*
 * bi_key_param_sql
 *		SQL that turns parameter $n, a key in units, into a value of the key's
 *		type, for comparisons the key's index serves
 */
char *
bi_key_param_sql(BiKeyKind kind, int n)
{
	switch (kind)
	{
		case KEY_TIMESTAMPTZ:
			return psprintf("batchintory.units_timestamptz($%d)", n);
		case KEY_TIMESTAMP:
			return psprintf("batchintory.units_timestamp($%d)", n);
		case KEY_DATE:
			return psprintf("batchintory.units_date($%d)", n);
		default:
			return psprintf("$%d", n);
	}
}

/*
 * bi_key_text
 *		A key in units as its type shows it (in the session's TimeZone and
 *		DateStyle): 2026-03-29 02:00:00+02 for a timestamptz key
 */
char *
bi_key_text(BiKeyKind kind, int64 units)
{
	switch (kind)
	{
		case KEY_TIMESTAMPTZ:
			return DatumGetCString(DirectFunctionCall1(timestamptz_out,
													   TimestampTzGetDatum(units)));
		case KEY_TIMESTAMP:
			return DatumGetCString(DirectFunctionCall1(timestamp_out,
													   TimestampGetDatum(units)));
		case KEY_DATE:
			return DatumGetCString(DirectFunctionCall1(date_out,
													   DirectFunctionCall1(batchintory_units_date,
																		   Int64GetDatum(units))));
		default:
			return psprintf(INT64_FORMAT, units);
	}
}

/*
 * bi_key_literal
 *		A key in units as an SQL literal of the key's type, for a predicate
 *		that stands on its own: '2026-03-29 00:00:00+00'::timestamptz, written
 *		in UTC and ISO style whatever the session's settings
 */
char *
bi_key_literal(BiKeyKind kind, int64 units)
{
	int			save_datestyle = DateStyle;
	int			save_dateorder = DateOrder;
	char	   *text;
	char	   *literal;

	if (!BI_KEY_IS_TIME(kind))
		return psprintf(INT64_FORMAT, units);
	DateStyle = USE_ISO_DATES;
	DateOrder = DATEORDER_YMD;
	/* a timestamptz is shown in UTC: its zone, not the session's, says so */
	text = kind == KEY_TIMESTAMPTZ && !TIMESTAMP_NOT_FINITE(units) ?
		psprintf("%s+00", DatumGetCString(DirectFunctionCall1(timestamp_out,
															  TimestampGetDatum(units)))) :
		bi_key_text(kind, units);
	DateStyle = save_datestyle;
	DateOrder = save_dateorder;
	literal = psprintf("%s::%s", quote_literal_cstr(text),
					   kind == KEY_TIMESTAMPTZ ? "pg_catalog.timestamptz" :
					   kind == KEY_TIMESTAMP ? "pg_catalog.timestamp" : "pg_catalog.date");
	return literal;
}

/* A date's units: days since 2000-01-01, infinities at the ends of int64 */
static int64
date_units(DateADT date)
{
	if (DATE_IS_NOBEGIN(date))
		return PG_INT64_MIN;
	if (DATE_IS_NOEND(date))
		return PG_INT64_MAX;
	return date;
}

/* batchintory.key_units(timestamptz or timestamp) RETURNS bigint: microseconds */
Datum
batchintory_timestamp_units(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(PG_GETARG_INT64(0));
}

/* batchintory.key_units(date) RETURNS bigint: days since 2000-01-01 */
Datum
batchintory_date_units(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(date_units(PG_GETARG_DATEADT(0)));
}

/* batchintory.units_timestamptz(bigint) RETURNS timestamptz */
Datum
batchintory_units_timestamptz(PG_FUNCTION_ARGS)
{
	PG_RETURN_TIMESTAMPTZ(PG_GETARG_INT64(0));
}

/* batchintory.units_timestamp(bigint) RETURNS timestamp */
Datum
batchintory_units_timestamp(PG_FUNCTION_ARGS)
{
	PG_RETURN_TIMESTAMP(PG_GETARG_INT64(0));
}

/*
 * batchintory.units_date(bigint) RETURNS date: the ends of int64 and
 * anything beyond a date's range are its infinities
 */
Datum
batchintory_units_date(PG_FUNCTION_ARGS)
{
	int64		units = PG_GETARG_INT64(0);
	DateADT		date;

	if (units <= PG_INT32_MIN)
		DATE_NOBEGIN(date);
	else if (units >= PG_INT32_MAX)
		DATE_NOEND(date);
	else
		date = (DateADT) units;
	PG_RETURN_DATEADT(date);
}

/*
 * batchintory.key_text(source regclass, id_column name, units bigint)
 *		RETURNS text
 *		A key of a job over source.id_column, in units, as its type shows
 *		it; the views' first_key and last_key.  The column's type is kept
 *		for the rows of one query.  Strict.
 */
Datum
batchintory_key_text(PG_FUNCTION_ARGS)
{
	Oid			source = PG_GETARG_OID(0);
	const char *column = NameStr(*PG_GETARG_NAME(1));
	typedef struct
	{
		Oid			source;
		NameData	column;
		BiKeyKind	kind;
	}			KnownKey;
	KnownKey   *known = fcinfo->flinfo->fn_extra;

	if (known == NULL)
		known = fcinfo->flinfo->fn_extra =
			MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(KnownKey));
	if (known->source != source || strcmp(NameStr(known->column), column) != 0)
	{
		AttrNumber	attnum = get_attnum(source, column);

		known->source = source;
		namestrcpy(&known->column, column);
		known->kind = attnum == InvalidAttrNumber ? KEY_INT8 :
			bi_key_kind(get_atttype(source, attnum));
	}
	PG_RETURN_TEXT_P(cstring_to_text(bi_key_text(known->kind, PG_GETARG_INT64(2))));
}
