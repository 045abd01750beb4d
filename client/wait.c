/*
 * wait.c
 *	  Waiting for new assets: SIGINT and SIGTERM as requests to stop, LISTEN
 *	  on a job's channel, a wait until a notification, a timeout or a stop.
 */
#include "client.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* the last stop signal (SIGINT, SIGTERM) that arrived, and how many did */
static volatile sig_atomic_t last_signal = 0;
static volatile sig_atomic_t signal_count = 0;

/* the handler writes to [1] to end a poll() on [0] (the self-pipe trick) */
static int	wake_pipe[2] = {-1, -1};

static void
handle_stop(int signo)
{
	int			save_errno = errno;
	ssize_t		written = 0;

	last_signal = signo;
	signal_count++;
	/* if the pipe is full, a wake-up is pending anyway */
	if (wake_pipe[1] >= 0)
		written = write(wake_pipe[1], "", 1);
	(void) written;
	errno = save_errno;
}

/*
 * Catch SIGINT and SIGTERM from now on: they no longer end the client, they
 * ask it to stop (stop_signal).  System calls they interrupt fail with
 * EINTR instead of being restarted.
 */
void
catch_stop_signals(void)
{
	struct sigaction sa;
	int			i;

	if (pipe(wake_pipe) == 0)
		for (i = 0; i < 2; i++)
		{
			fcntl(wake_pipe[i], F_SETFD, FD_CLOEXEC);
			fcntl(wake_pipe[i], F_SETFL, O_NONBLOCK);
		}
	else
		wake_pipe[0] = wake_pipe[1] = -1;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handle_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/* The signal that asked to stop, or 0 */
int
stop_signal(void)
{
	return last_signal;
}

/* How many stop signals arrived so far */
int
stop_signal_count(void)
{
	return signal_count;
}

/* Seconds on a clock that only goes forward */
double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * LISTEN on the channel of job (batchintory_channel), where the extension
 * sends a notification after each committed insert into the job's table
 * when the job has notify on.  Returns false after reporting an error.
 */
bool
listen_for_assets(Session *session, const char *job)
{
	PGresult   *res = session_exec(session,
								   "SELECT @extschema@.batchintory_channel($1)",
								   1, &job);
	char	   *channel;
	char	   *sql;

	if (res == NULL)
		return false;
	/* no channel: the recheck timer alone finds new assets */
	if (PQgetisnull(res, 0, 0))
	{
		PQclear(res);
		return true;
	}
	channel = PQescapeIdentifier(session->conn, PQgetvalue(res, 0, 0),
								 strlen(PQgetvalue(res, 0, 0)));
	PQclear(res);
	if (channel == NULL)
	{
		report_error(NULL, session->conn);
		return false;
	}
	sql = xmalloc(strlen(channel) + sizeof("LISTEN "));
	sprintf(sql, "LISTEN %s", channel);
	PQfreemem(channel);
	res = session_exec(session, sql, 0, NULL);
	free(sql);
	if (res == NULL)
		return false;
	PQclear(res);
	return true;
}

/*
 * Drop the notifications received so far: the next acquire sees the
 * assets they announced.
 */
void
forget_notifications(Session *session)
{
	PGnotify   *notify;

	PQconsumeInput(session->conn);
	while ((notify = PQnotifies(session->conn)) != NULL)
		PQfreemem(notify);
}

/* An acquire found work: the next notification is answered at once */
void
wait_found_work(WaitState *state)
{
	state->backoff = 0;
	state->woken = false;
}

/*
 * Wait until a notification arrives (also one that came while the last
 * query ran), seconds pass, or a stop signal arrives, whichever is first.
 * Called after an acquire that found no work.  WAKE_ERROR after reporting
 * a broken connection.
 *
 * Any role may NOTIFY the job's channel, so a notification is only a hint.
 * If the last wait ended with a notification (and so its acquire found
 * nothing), a notification is answered only after state->backoff seconds
 * -- BACKOFF_MIN, doubling up to BACKOFF_MAX or seconds if shorter -- and
 * every notification that arrives meanwhile counts as one.  An acquire that
 * finds work (wait_found_work) or a wait that ends on the timer, with no
 * notification for a whole interval, ends the back-off.  A flood of
 * notifications thus costs one acquire per BACKOFF_MAX seconds after the
 * first few, and new work waits at most that long during one.
 */
WakeReason
wait_for_assets(Session *session, WaitState *state, double seconds)
{
	double		start = now_seconds();
	double		deadline = start + seconds;
	double		not_before;
	bool		notified = false;
	WakeReason	reason;

	if (state->woken)
		state->backoff = fmin(fmax(2 * state->backoff, BACKOFF_MIN), BACKOFF_MAX);
	not_before = start + fmin(state->backoff, seconds);

	for (;;)
	{
		struct pollfd fds[2];
		PGnotify   *notify;
		double		now;
		double		until;
		char		buf[64];

		if (PQconsumeInput(session->conn) == 0)
		{
			report_error(NULL, session->conn);
			reason = WAKE_ERROR;
			break;
		}
		while ((notify = PQnotifies(session->conn)) != NULL)
		{
			PQfreemem(notify);
			notified = true;
		}
		if (last_signal)
		{
			reason = WAKE_STOP;
			break;
		}
		now = now_seconds();
		if (notified && now >= not_before)
		{
			reason = WAKE_NOTIFIED;
			break;
		}
		if (now >= deadline)
		{
			reason = WAKE_TIMER;
			break;
		}
		until = notified ? not_before : deadline;

		fds[0].fd = PQsocket(session->conn);
		fds[0].events = POLLIN;
		fds[1].fd = wake_pipe[0];
		fds[1].events = POLLIN;
		if (poll(fds, wake_pipe[0] >= 0 ? 2 : 1, (int) ceil((until - now) * 1000)) < 0 &&
			errno != EINTR)
		{
			fprintf(stderr, "batchintory: could not wait for notifications: %s\n",
					strerror(errno));
			reason = WAKE_ERROR;
			break;
		}
		while (wake_pipe[0] >= 0 && read(wake_pipe[0], buf, sizeof(buf)) > 0)
			;
	}
	state->woken = reason == WAKE_NOTIFIED;
	if (reason == WAKE_TIMER)
		state->backoff = 0;
	return reason;
}
