/*
 * args.c
 *	  The client's command line: global options, the command, its arguments
 *	  and options checked against the command table, and the help texts.
 */
#include "client.h"

#include <ctype.h>
#include <stddef.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#ifndef BATCHINTORY_VERSION
#define BATCHINTORY_VERSION "unknown"
#endif

static int
count_specs(const ArgSpec *specs)
{
	int			n = 0;

	while (specs && (specs[n].name || specs[n].metavar))
		n++;
	return n;
}

/*
 * Whether the first argument of the command is a job's name: then --job
 * NAME gives it too, for a name that starts with "-"
 */
static bool
takes_job(const CommandSpec *cmd)
{
	return cmd && cmd->positional && cmd->positional[0].metavar &&
		strcmp(cmd->positional[0].metavar, "JOB") == 0;
}

/* "JOB [ID]", the required options and what else the command takes */
static void
print_synopsis(FILE *out, const CommandSpec *cmd)
{
	int			npos = count_specs(cmd->positional);
	int			nopt = count_specs(cmd->options);
	bool		optional_options = false;
	int			i;

	fprintf(out, "batchintory [GENERAL-OPTION]... %s", cmd->name);
	for (i = 0; i < npos; i++)
		fprintf(out, i >= npos - cmd->optional_positional ? " [%s]" : " %s",
				cmd->positional[i].metavar);
	for (i = 0; i < nopt; i++)
	{
		if (cmd->options[i].required)
			fprintf(out, " --%s %s", cmd->options[i].name, cmd->options[i].metavar);
		else
			optional_options = true;
	}
	if (optional_options)
		fputs(" [OPTION]...", out);
	if (cmd->takes_command)
		fputs(" -- COMMAND [ARG]...", out);
	fputc('\n', out);
}

/* The options every command takes (before or after it), for --help */
static void
print_global_options(void)
{
	printf("\nGeneral options (before or after the command):\n"
		   "      --json             print one JSON object per line instead of tables\n"
		   "  -x, --expanded         print tables as one \"column | value\" record per\n"
		   "                         row (default: when a table is wider than the terminal)\n"
		   "      --no-expanded      always print tables as tables\n"
		   "  -?, --help             show this help, or the help of COMMAND\n"
		   "  -V, --version          show the version\n"
		   "\nConnection options (as psql's; default: the PG* environment variables):\n"
		   "  -h, --host=HOSTNAME    database server host or socket directory\n"
		   "  -p, --port=PORT        database server port\n"
		   "  -U, --username=USER    database user name\n"
		   "  -d, --dbname=DBNAME    database name, or a connection string or URI\n"
		   "                         (\"host=db dbname=meta\", postgresql://db/meta)\n"
		   "  -w, --no-password      never prompt for a password\n"
		   "  -W, --password         prompt for a password before connecting\n");
}

static void
print_help(void)
{
	const CommandSpec *cmd;

	printf("batchintory hands out batches of the rows of a metadata table to workers.\n\n"
		   "Usage:\n"
		   "  batchintory [GENERAL-OPTION]... COMMAND [ARG]... [OPTION]...\n\n"
		   "Commands:\n");
	for (cmd = commands; cmd->name; cmd++)
		printf("  %-11s %s\n", cmd->name, cmd->summary);
	print_global_options();
	printf("\nA job whose name starts with \"-\" is given as --job NAME (every command\n"
		   "that takes JOB accepts it), or after \"--\", which ends the options (not\n"
		   "with run: its \"--\" comes before COMMAND).\n\n"
		   "Exit status: 0 done (run: also when there was nothing to do), 1 acquire\n"
		   "or peek found no batch, 2 usage error, 3 connection or server error\n"
		   "(also: unknown job), 4 run: a batch failed and did not succeed later in\n"
		   "the run, 5 verify: assets of succeeded batches changed, 75 acquire, run:\n"
		   "no batch now, the late-commit guard timed out (try again later), 126\n"
		   "and 127 run: COMMAND cannot be executed or was not found (no attempt\n"
		   "charged).\n\n"
		   "\"batchintory COMMAND --help\" shows the options of a command;\n"
		   "\"man batchintory\" is the whole manual.\n");
}

static void
print_command_help(const CommandSpec *cmd)
{
	int			nopt = count_specs(cmd->options);
	int			i;

	printf("%s\n\nUsage:\n  ", cmd->summary);
	print_synopsis(stdout, cmd);
	if (nopt > 0 || takes_job(cmd))
		printf("\nOptions:\n");
	if (takes_job(cmd))
		printf("  %-27s %s\n", "--job NAME",
			   "JOB, also one that starts with \"-\"");
	for (i = 0; i < nopt; i++)
	{
		const ArgSpec *opt = &cmd->options[i];
		char		left[64];

		if (opt->kind == ARG_MAYBE_SECONDS)
			snprintf(left, sizeof(left), "--%s[=%s]", opt->name, opt->metavar);
		else
			snprintf(left, sizeof(left), "--%s%s%s", opt->name,
					 opt->metavar ? " " : "", opt->metavar ? opt->metavar : "");
		printf("  %-27s %s\n", left, opt->help);
	}
	if (cmd->notes)
		printf("\n%s", cmd->notes);
	printf("\nGeneral and connection options: \"batchintory --help\". The manual:\n"
		   "\"man batchintory\".\n");
}

#ifdef __GNUC__
static int	usage_error(const CommandSpec *cmd, const char *fmt,...)
			__attribute__((format(printf, 2, 3)));
static int	option_error(const CommandSpec *cmd, const char *fmt,...)
			__attribute__((format(printf, 2, 3)));
static int	report_usage_error(const CommandSpec *cmd, const char *hint,
							   const char *fmt, va_list ap)
			__attribute__((format(printf, 3, 0)));
#endif

/* Report a bad command line, with a hint if not NULL; returns EXIT_USAGE */
static int
report_usage_error(const CommandSpec *cmd, const char *hint, const char *fmt,
				   va_list ap)
{
	fputs("batchintory: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	if (hint)
		fprintf(stderr, "%s\n", hint);
	if (cmd)
	{
		fputs("Usage: ", stderr);
		print_synopsis(stderr, cmd);
	}
	fprintf(stderr, "Try \"batchintory %s%s--help\" for more information.\n",
			cmd ? cmd->name : "", cmd ? " " : "");
	return EXIT_USAGE;
}

/* Report a bad command line; returns EXIT_USAGE */
static int
usage_error(const CommandSpec *cmd, const char *fmt,...)
{
	va_list		ap;
	int			rc;

	va_start(ap, fmt);
	rc = report_usage_error(cmd, NULL, fmt, ap);
	va_end(ap);
	return rc;
}

/*
 * Report an argument taken for an unknown option; for a command that takes
 * a job, say how to give one whose name starts with "-".  Returns
 * EXIT_USAGE.
 */
static int
option_error(const CommandSpec *cmd, const char *fmt,...)
{
	va_list		ap;
	int			rc;

	va_start(ap, fmt);
	rc = report_usage_error(cmd, takes_job(cmd) ?
							"A job whose name starts with \"-\" is given as --job NAME." :
							NULL, fmt, ap);
	va_end(ap);
	return rc;
}

/* Parse a whole string as a 64-bit integer */
bool
parse_int64(const char *s, long long *result)
{
	char	   *end;

	errno = 0;
	*result = strtoll(s, &end, 10);
	return *s != '\0' && !isspace((unsigned char) *s) && *end == '\0' &&
		errno == 0;
}

/* A positive, finite number of seconds, or -1 if s is not one */
double
parse_seconds(const char *s)
{
	char	   *end;
	double		seconds;

	errno = 0;
	seconds = strtod(s, &end);
	if (*s == '\0' || *end != '\0' || errno != 0 || !isfinite(seconds) ||
		seconds <= 0)
		return -1;
	return seconds;
}

/* Check that value has the form kind asks for; what names it for errors */
static bool
check_kind(const CommandSpec *cmd, ArgKind kind, const char *what,
		   const char *value, int *exit_code)
{
	long long	number;

	if (kind == ARG_INT && !parse_int64(value, &number))
		*exit_code = usage_error(cmd, "invalid value \"%s\" for %s: must be an integer",
								 value, what);
	else if (kind == ARG_COUNT && (!parse_int64(value, &number) || number < 1))
		*exit_code = usage_error(cmd, "invalid value \"%s\" for %s: must be a positive integer",
								 value, what);
	else if (kind == ARG_NATURAL && (!parse_int64(value, &number) || number < 0))
		*exit_code = usage_error(cmd, "invalid value \"%s\" for %s: must be an integer, 0 or more",
								 value, what);
	else if ((kind == ARG_SECONDS || (kind == ARG_MAYBE_SECONDS && *value)) &&
			 parse_seconds(value) < 0)
		*exit_code = usage_error(cmd, "invalid value \"%s\" for %s: must be a positive number of seconds",
								 value, what);
	else
		return true;
	return false;
}

static const CommandSpec *
find_command(const char *name)
{
	const CommandSpec *cmd;

	for (cmd = commands; cmd->name; cmd++)
		if (strcmp(cmd->name, name) == 0)
			return cmd;
	return NULL;
}

/* Take arg as the next positional argument of the command */
static bool
add_positional(Invocation *inv, int *npos, const char *arg, int *exit_code)
{
	const CommandSpec *cmd = inv->command;
	const ArgSpec *spec;

	if (*npos >= count_specs(cmd->positional))
	{
		*exit_code = usage_error(cmd, "too many arguments, starting with \"%s\"", arg);
		return false;
	}
	spec = &cmd->positional[*npos];
	if (!check_kind(cmd, spec->kind, spec->metavar, arg, exit_code))
		return false;
	inv->positional[(*npos)++] = arg;
	return true;
}

/*
 * Keep arg as a positional argument of the command, to be checked when the
 * whole command line is read (a --job option may come after the others)
 */
static bool
add_argument(Invocation *inv, const char **args, int *nargs, const char *arg,
			 int *exit_code)
{
	if (*nargs >= MAX_ARGS)
	{
		*exit_code = usage_error(inv->command, "too many arguments, starting with \"%s\"",
								 arg);
		return false;
	}
	args[(*nargs)++] = arg;
	return true;
}

/*
 * Option argv[*i] of the command ("--name" or "--name=value"); a value that
 * is not attached is the next argument.
 */
static bool
add_option(Invocation *inv, int argc, char **argv, int *i, int *exit_code)
{
	const CommandSpec *cmd = inv->command;
	const char *arg = argv[*i] + 2;
	const char *eq = strchr(arg, '=');
	size_t		len = eq ? (size_t) (eq - arg) : strlen(arg);
	const char *value = eq ? eq + 1 : NULL;
	int			nopt = count_specs(cmd ? cmd->options : NULL);
	int			k;
	char		what[64];

	for (k = 0; k < nopt; k++)
		if (strlen(cmd->options[k].name) == len &&
			strncmp(cmd->options[k].name, arg, len) == 0)
			break;
	if (k == nopt)
	{
		*exit_code = option_error(cmd, "unrecognized option \"--%.*s\"%s%s",
								 (int) len, arg, cmd ? " for command " : "",
								 cmd ? cmd->name : "");
		return false;
	}
	/* "--wait" waits without limit, "--wait=SECONDS" that long */
	if (cmd->options[k].kind == ARG_MAYBE_SECONDS && value == NULL)
	{
		inv->options[k] = "";
		return true;
	}
	if (cmd->options[k].kind == ARG_FLAG)
	{
		if (value)
		{
			*exit_code = usage_error(cmd, "option \"--%s\" takes no value",
									 cmd->options[k].name);
			return false;
		}
		inv->options[k] = "";
		return true;
	}
	if (value == NULL)
	{
		if (*i + 1 >= argc)
		{
			*exit_code = usage_error(cmd, "option \"--%s\" needs a value",
									 cmd->options[k].name);
			return false;
		}
		value = argv[++*i];
	}
	snprintf(what, sizeof(what), "--%s", cmd->options[k].name);
	if (!check_kind(cmd, cmd->options[k].kind, what, value, exit_code))
		return false;
	inv->options[k] = value;
	return true;
}

/* A connection option of psql: its short and long name, where it goes */
typedef struct ConnFlag
{
	char		short_name;
	const char *long_name;
	size_t		offset;			/* of its value in ConnOptions */
} ConnFlag;

static const ConnFlag conn_flags[] = {
	{'h', "host", offsetof(ConnOptions, host)},
	{'p', "port", offsetof(ConnOptions, port)},
	{'U', "username", offsetof(ConnOptions, user)},
	{'d', "dbname", offsetof(ConnOptions, dbname)},
	{0}
};

/*
 * Take argv[*i] if it is an option of every command: --json, -x, help,
 * version, or a connection option as psql spells them ("-h HOST",
 * "-hHOST", "--host HOST", "--host=HOST").  Returns 1 if it was one, 0 if
 * not, -1 if the command line ends here (an error, or --version).
 */
static int
global_option(Invocation *inv, int argc, char **argv, int *i, bool *json,
			  bool *help, int *exit_code)
{
	const char *arg = argv[*i];
	const ConnFlag *flag;

	if (strcmp(arg, "--json") == 0)
		*json = true;
	else if (strcmp(arg, "-x") == 0 || strcmp(arg, "--expanded") == 0)
		inv->expanded = EXPANDED_ON;
	else if (strcmp(arg, "--no-expanded") == 0)
		inv->expanded = EXPANDED_OFF;
	else if (strcmp(arg, "-?") == 0 || strcmp(arg, "--help") == 0)
		*help = true;
	else if (strcmp(arg, "-V") == 0 || strcmp(arg, "--version") == 0)
	{
		printf("batchintory %s\n", BATCHINTORY_VERSION);
		return -1;
	}
	else if (strcmp(arg, "-w") == 0 || strcmp(arg, "--no-password") == 0)
		inv->conn.prompt = PROMPT_NEVER;
	else if (strcmp(arg, "-W") == 0 || strcmp(arg, "--password") == 0)
		inv->conn.prompt = PROMPT_ALWAYS;
	else
	{
		for (flag = conn_flags; flag->short_name; flag++)
		{
			size_t		len = strlen(flag->long_name);
			const char *value = NULL;
			const char **field = (const char **) ((char *) &inv->conn + flag->offset);

			if (arg[0] == '-' && arg[1] == flag->short_name)
				value = arg[2] ? arg + 2 : NULL;
			else if (strncmp(arg, "--", 2) == 0 &&
					 strncmp(arg + 2, flag->long_name, len) == 0 &&
					 (arg[2 + len] == '\0' || arg[2 + len] == '='))
				value = arg[2 + len] == '=' ? arg + 3 + len : NULL;
			else
				continue;
			if (value == NULL)
			{
				if (*i + 1 >= argc)
				{
					*exit_code = usage_error(inv->command, "option \"%s\" needs a value",
											 arg);
					return -1;
				}
				value = argv[++*i];
			}
			*field = value;
			return 1;
		}
		return 0;
	}
	return 1;
}

/*
 * Parse the command line into inv and the --json flag.  Returns true if the
 * command is to be run; else false with the exit code in *exit_code (after
 * an error message, or after --help and --version).
 */
bool
parse_command_line(int argc, char **argv, Invocation *inv, bool *json,
				   int *exit_code)
{
	const char *args[MAX_ARGS]; /* the positional arguments, as given */
	int			nargs = 0;
	const char *job = NULL;		/* --job NAME */
	int			npos = 0;
	int			taken;
	bool		help = false;
	int			i;

	memset(inv, 0, sizeof(*inv));
	*json = false;
	*exit_code = EXIT_OK;

	for (i = 1; i < argc; i++)
	{
		const char *arg = argv[i];

		if (strcmp(arg, "--") == 0)
		{
			if (inv->command == NULL)
			{
				*exit_code = usage_error(NULL, "no command given before \"--\"");
				return false;
			}
			if (inv->command->takes_command)
			{
				inv->child_argv = &argv[i + 1];
				break;
			}
			/* the rest are arguments, even if they start with "-" */
			while (++i < argc)
				if (!add_argument(inv, args, &nargs, argv[i], exit_code))
					return false;
			break;
		}
		/* the job as an option: a name may start with "-" */
		else if (takes_job(inv->command) &&
				 (strcmp(arg, "--job") == 0 || strncmp(arg, "--job=", 6) == 0))
		{
			if (arg[5] == '=')
				job = arg + 6;
			else if (++i < argc)
				job = argv[i];
			else
			{
				*exit_code = usage_error(inv->command, "option \"--job\" needs a value");
				return false;
			}
		}
		else if ((taken = global_option(inv, argc, argv, &i, json, &help,
										exit_code)) != 0)
		{
			if (taken < 0)
				return false;
		}
		else if (strncmp(arg, "--", 2) == 0)
		{
			if (!add_option(inv, argc, argv, &i, exit_code))
				return false;
		}
		/* "-5" is a (negative) number, not an option */
		else if (arg[0] == '-' && !isdigit((unsigned char) arg[1]))
		{
			*exit_code = option_error(inv->command, "invalid option \"%s\"", arg);
			return false;
		}
		else if (inv->command == NULL)
		{
			inv->command = find_command(arg);
			if (inv->command == NULL)
			{
				*exit_code = usage_error(NULL, "unrecognized command \"%s\"", arg);
				return false;
			}
		}
		else if (!add_argument(inv, args, &nargs, arg, exit_code))
			return false;
	}

	if (help)
	{
		if (inv->command)
			print_command_help(inv->command);
		else
			print_help();
		return false;
	}
	if (inv->command == NULL)
	{
		*exit_code = usage_error(NULL, "no command given");
		return false;
	}
	/* --job NAME is the first positional argument, JOB */
	if (job != NULL && !add_positional(inv, &npos, job, exit_code))
		return false;
	for (i = 0; i < nargs; i++)
		if (!add_positional(inv, &npos, args[i], exit_code))
			return false;
	inv->npositional = count_specs(inv->command->positional);
	if (npos < inv->npositional - inv->command->optional_positional)
	{
		*exit_code = usage_error(inv->command, "missing argument %s",
								 inv->command->positional[npos].metavar);
		return false;
	}
	for (i = 0; i < count_specs(inv->command->options); i++)
		if (inv->command->options[i].required && inv->options[i] == NULL)
		{
			*exit_code = usage_error(inv->command, "option \"--%s\" is required",
									 inv->command->options[i].name);
			return false;
		}
	if (inv->command->needs_option)
	{
		for (i = 0; i < count_specs(inv->command->options); i++)
			if (inv->options[i] != NULL)
				break;
		if (i == count_specs(inv->command->options))
		{
			*exit_code = usage_error(inv->command, "no option given: nothing to change");
			return false;
		}
	}
	if (inv->command->takes_command &&
		(inv->child_argv == NULL || inv->child_argv[0] == NULL))
	{
		*exit_code = usage_error(inv->command, "missing command to run after \"--\"");
		return false;
	}
	return true;
}

/* The value of option --name of the invoked command; NULL if not given */
const char *
option_value(const Invocation *inv, const char *name)
{
	int			k;

	for (k = 0; k < count_specs(inv->command->options); k++)
		if (strcmp(inv->command->options[k].name, name) == 0)
			return inv->options[k];
	fprintf(stderr, "batchintory: internal error: command %s has no option --%s\n",
			inv->command->name, name);
	abort();
}
