/*
 * progress.c
 *	  Progress for people: the bar of a backfill (status), and the live
 *	  progress line of run, kept on the last line of the terminal.
 */
#include "client.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define BAR_WIDTH 20

/*
 * The terminal's rows when run reserved its last line for the progress
 * line (a scroll region of the rows above it, where all other output of run
 * and of the commands it starts scrolls); 0 when no line is reserved.
 */
static int	reserved_rows = 0;

/* "[#####---------------]" for percent (0 to 100) into buf */
static void
format_bar(char *buf, size_t size, double percent)
{
	int			filled = (int) floor(percent / 100 * BAR_WIDTH);

	if (filled < 0)
		filled = 0;
	if (filled > BAR_WIDTH)
		filled = BAR_WIDTH;
	snprintf(buf, size, "[%.*s%.*s]",
			 filled, "####################",
			 BAR_WIDTH - filled, "--------------------");
}

/*
 * The progress of a backfill, as a bar like
 * "[##########----------] 50.0% (350/700 assets)", or with a total that is
 * estimated "[##########----------] ~50.0% (350/~700 assets)"
 */
void
print_progress_bar(const char *percent, const char *done, const char *total,
				   bool estimated)
{
	char		bar[BAR_WIDTH + 3];
	const char *mark = estimated ? "~" : "";

	format_bar(bar, sizeof(bar), atof(percent));
	printf("%s %s%s%% (%s/%s%s assets)\n", bar, mark, percent, done, mark, total);
}

/* The estimated backlog of the job into progress->left (-1 if unknown) */
static void
fetch_backlog(Progress *progress, Session *session, const char *job)
{
	PGresult   *res = session_try(session,
								  "SELECT asset_count FROM @extschema@.batchintory_backlog("
								  "job => $1, exact => false)",
								  1, &job);

	progress->left = -1;
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		progress->left = PQgetisnull(res, 0, 0) ? 0 : atof(PQgetvalue(res, 0, 0));
	PQclear(res);
}

/*
 * Start the progress of run over job; shown says whether a live line is
 * drawn (then also whether the job is a backfill, and its total).  Queries
 * that fail leave parts of the line out: progress is never an error.
 */
void
progress_start(Progress *progress, Session *session, const char *job,
			   bool shown)
{
	PGresult   *res;

	memset(progress, 0, sizeof(*progress));
	progress->shown = shown;
	progress->total = -1;
	progress->left = -1;
	if (!shown)
		return;
	res = session_try(session,
					  "SELECT kind OPERATOR(pg_catalog.=) 'backfill', total"
					  " FROM batchintory.jobs WHERE job OPERATOR(pg_catalog.=) $1",
					  1, &job);
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
	{
		progress->backfill = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
		if (!PQgetisnull(res, 0, 1))
			progress->total = atof(PQgetvalue(res, 0, 1));
	}
	PQclear(res);
	fetch_backlog(progress, session, job);
}

/* Count a batch of asset_count assets that took seconds */
void
progress_batch(Progress *progress, Session *session, const char *job,
			   const char *asset_count, double seconds)
{
	progress->batches++;
	progress->assets += atof(asset_count);
	progress->busy_seconds += seconds;
	if (progress->shown)
		fetch_backlog(progress, session, job);
}

/* "1h02m", "3m07s", "12s" */
static void
format_duration(char *buf, size_t size, double seconds)
{
	long		s = (long) ceil(seconds);

	if (s >= 3600)
		snprintf(buf, size, "%ldh%02ldm", s / 3600, s % 3600 / 60);
	else if (s >= 60)
		snprintf(buf, size, "%ldm%02lds", s / 60, s % 60);
	else
		snprintf(buf, size, "%lds", s);
}

/*
 * Reserve the last of rows rows for the progress line, as apt does: make
 * room with a new line, limit scrolling to the rows above (which puts the
 * cursor home), and put the cursor back where the output goes on.
 */
static void
reserve_line(int rows)
{
	printf("\n\0337\033[1;%dr\0338\033[1A", rows - 1);
	reserved_rows = rows;
}

/*
 * Draw the progress line on the last line of the terminal, e.g.
 * "[########------------] 40.0% 4 batches, 400 assets, 120.5 assets/s,
 * ~600 left, ETA 5s", then state if not NULL ("waiting for new assets"):
 * a bar and an ETA for a backfill only.  The rate is this run's (assets
 * per second spent on batches); what is left comes from the estimated
 * backlog.  Cut to the width of the terminal.  Called only while no
 * command runs, so that nothing else writes to the terminal meanwhile.
 */
void
progress_draw(const Progress *progress, const char *state)
{
	char		line[512];
	size_t		len = 0;
	double		rate = progress->busy_seconds > 0 ?
		progress->assets / progress->busy_seconds : 0;
	struct winsize ws;

	if (!progress->shown || ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) != 0 ||
		ws.ws_row < 3 || ws.ws_col < 2)
		return;
	if (progress->backfill && progress->total > 0 && progress->left >= 0)
	{
		double		percent = 100 * (progress->total - progress->left) / progress->total;

		if (percent < 0)
			percent = 0;
		format_bar(line, sizeof(line), percent);
		len = strlen(line);
		len += snprintf(line + len, sizeof(line) - len, " %.1f%% ", percent);
	}
	len += snprintf(line + len, sizeof(line) - len, "%lld batch%s, %.0f asset%s",
					progress->batches, progress->batches == 1 ? "" : "es",
					progress->assets, progress->assets == 1 ? "" : "s");
	if (rate > 0)
		len += snprintf(line + len, sizeof(line) - len, ", %.1f assets/s", rate);
	if (progress->left >= 0)
		len += snprintf(line + len, sizeof(line) - len, ", ~%.0f left",
						progress->left);
	if (progress->backfill && rate > 0 && progress->left > 0)
	{
		char		eta[32];

		format_duration(eta, sizeof(eta), progress->left / rate);
		len += snprintf(line + len, sizeof(line) - len, ", ETA %s", eta);
	}
	if (state)
		snprintf(line + len, sizeof(line) - len, ", %s", state);
	if ((size_t) ws.ws_col - 1 < sizeof(line))
		line[ws.ws_col - 1] = '\0';

	/* again after the terminal was resized */
	if (reserved_rows != ws.ws_row)
		reserve_line(ws.ws_row);
	printf("\0337\033[%d;1H\033[K%s\0338", ws.ws_row, line);
	fflush(stdout);
}

/* Give the last line back to the terminal, empty */
void
progress_end(void)
{
	if (reserved_rows == 0)
		return;
	printf("\0337\033[r\033[%d;1H\033[K\0338", reserved_rows);
	fflush(stdout);
	reserved_rows = 0;
}
