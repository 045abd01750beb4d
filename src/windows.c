/*
 * windows.c
 *	  Calendar windows of a time-keyed job (window_size): the window a key
 *	  lies in, the newest complete one, and the checks of their settings.
 */
#include "postgres.h"

#include "batchintory.h"

#include "common/int.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/fmgrprotos.h"
#include "utils/timestamp.h"

/*
 * A window of whole days or months is counted on the wall clock of its time
 * zone (a day in Europe/Berlin is 23 or 25 hours at a DST change); a window
 * of a fixed time (hours, minutes, seconds) in absolute time, aligned to its
 * origin
 */
static bool
counts_calendar(const Interval *size)
{
	return size->month != 0 || size->day != 0;
}

/* A timestamptz as a timestamp on the wall clock of zone */
static Timestamp
wall_clock(const char *zone, TimestampTz time)
{
	return DatumGetTimestamp(DirectFunctionCall2(timestamptz_zone,
												 CStringGetTextDatum(zone),
												 TimestampTzGetDatum(time)));
}

/* A time on the wall clock of zone as a timestamptz */
static TimestampTz
absolute_time(const char *zone, Timestamp wall)
{
	return DatumGetTimestampTz(DirectFunctionCall2(timestamp_zone,
												   CStringGetTextDatum(zone),
												   TimestampGetDatum(wall)));
}

/*
 * The scale windows are counted on: the wall clock of their zone
 * (calendar windows, and every window of a timestamp or date key) or
 * absolute time (fixed windows of a timestamptz key)
 */
static bool
on_wall_clock(const BiWindows *window, BiKeyKind kind)
{
	return kind != KEY_TIMESTAMPTZ ||
		counts_calendar(DatumGetIntervalP(window->size));
}

/* A key in units as a time on the scale its windows are counted on */
static Timestamp
key_to_scale(const BiWindows *window, BiKeyKind kind, int64 key)
{
	if (kind == KEY_DATE)
		return DatumGetTimestamp(DirectFunctionCall1(date_timestamp,
													 bi_key_param(kind, key)));
	if (kind == KEY_TIMESTAMPTZ && on_wall_clock(window, kind))
		return wall_clock(window->time_zone, key);
	return key;
}

/* A time on that scale as a key in units (a date: the day it falls on) */
static int64
scale_to_key(const BiWindows *window, BiKeyKind kind, Timestamp time)
{
	if (kind == KEY_DATE)
		return bi_key_units(kind, DirectFunctionCall1(timestamp_date,
													  TimestampGetDatum(time)));
	if (kind == KEY_TIMESTAMPTZ && on_wall_clock(window, kind))
		return absolute_time(window->time_zone, time);
	return time;
}

/* The origin windows are aligned to, on their scale */
static Timestamp
origin_on_scale(const BiWindows *window, BiKeyKind kind)
{
	if (!on_wall_clock(window, kind))
		return window->has_origin ? window->origin :
			absolute_time(window->time_zone, 0);
	return window->has_origin ? wall_clock(window->time_zone, window->origin) : 0;
}

/* time plus months months */
static Timestamp
plus_months(Timestamp time, int64 months)
{
	Interval	span = {0};

	if (months > PG_INT32_MAX || months < PG_INT32_MIN)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
	span.month = (int32) months;
	return DatumGetTimestamp(DirectFunctionCall2(timestamp_pl_interval,
												 TimestampGetDatum(time),
												 IntervalPGetDatum(&span)));
}

/* The window [*start, *end) on its scale that holds time */
static void
window_around(const Interval *size, Timestamp origin, Timestamp time,
			  Timestamp *start, Timestamp *end)
{
	if (size->month != 0)
	{
		struct pg_tm at;
		struct pg_tm from;
		fsec_t		fsec;
		int64		months;
		int64		n;

		if (timestamp2tm(time, NULL, &at, &fsec, NULL, NULL) != 0 ||
			timestamp2tm(origin, NULL, &from, &fsec, NULL, NULL) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
					 errmsg("timestamp out of range")));
		months = ((int64) at.tm_year - from.tm_year) * MONTHS_PER_YEAR +
			(at.tm_mon - from.tm_mon);
		n = months / size->month - (months % size->month < 0 ? 1 : 0);
		*start = plus_months(origin, n * size->month);
		if (*start > time)
			*start = plus_months(origin, --n * size->month);
		*end = plus_months(origin, (n + 1) * size->month);
		return;
	}
	*start = DatumGetTimestamp(DirectFunctionCall3(timestamp_bin,
												   IntervalPGetDatum(size),
												   TimestampGetDatum(time),
												   TimestampGetDatum(origin)));
	*end = DatumGetTimestamp(DirectFunctionCall2(timestamp_pl_interval,
												 TimestampGetDatum(*start),
												 IntervalPGetDatum(size)));
}

/*
 * bi_window_of
 *		The window that holds key (of kind): its first and last key, in units
 *		(the last is the next window's first minus one unit)
 */
void
bi_window_of(const BiWindows *window, BiKeyKind kind, int64 key, int64 *first,
			 int64 *last)
{
	Timestamp	start;
	Timestamp	end;

	if (TIMESTAMP_NOT_FINITE(key))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("key %s lies in no window", bi_key_text(kind, key)),
				 errhint("A job with window_size cuts finite times only; a filter can leave the others out.")));
	window_around(DatumGetIntervalP(window->size), origin_on_scale(window, kind),
				  key_to_scale(window, kind, key), &start, &end);
	*first = scale_to_key(window, kind, start);
	*last = scale_to_key(window, kind, end) - 1;
}

/*
 * bi_window_complete_limit
 *		The last key (of kind) of the newest window complete at now: its
 *		end plus the delay has passed (a timestamp or date key's end read on
 *		the wall clock of the windows' time zone)
 */
int64
bi_window_complete_limit(const BiWindows *window, BiKeyKind kind, TimestampTz now)
{
	TimestampTz cutoff;
	int64		key;
	int64		first;
	int64		last;

	cutoff = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_mi_interval,
													 TimestampTzGetDatum(now),
													 window->delay));
	if (kind == KEY_TIMESTAMPTZ)
		key = cutoff;
	else
	{
		Timestamp	wall = wall_clock(window->time_zone, cutoff);

		key = kind == KEY_DATE ?
			bi_key_units(kind, DirectFunctionCall1(timestamp_date, TimestampGetDatum(wall))) :
			wall;
	}
	bi_window_of(window, kind, key, &first, &last);
	return first - 1;
}

/*
 * bi_window_check
 *		Check a window_size for a key of kind: a time key, and a size of
 *		whole months, whole days, or a fixed time (not for a date); and that
 *		zone is a time zone
 */
void
bi_window_check(BiKeyKind kind, Datum size_datum, const char *zone)
{
	Interval   *size = DatumGetIntervalP(size_datum);
	bool		months = size->month != 0;
	bool		days = size->day != 0;
	bool		time = size->time != 0;

	if (!BI_KEY_IS_TIME(kind))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("window_size needs a time key"),
				 errdetail("Windows are spans of time; this job's key is an integer."),
				 errhint("Cut an integer key with max_count, max_weight or max_keys.")));
	if (size->month < 0 || size->day < 0 || size->time < 0 ||
		(!months && !days && !time))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("window_size must be greater than zero")));
	if ((months && (days || time)) || (days && time))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("window_size must be whole months, whole days or a time of day"),
				 errdetail("Months and days are counted on the calendar of window_time_zone, times in absolute time; a window cannot mix them."),
				 errhint("Use e.g. '1 month', '7 days' or '6 hours'.")));
	if (kind == KEY_DATE && time)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("window_size of a date key must be whole days or months")));
	(void) wall_clock(zone, 0);
}
