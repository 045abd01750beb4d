# make install-client: the client and its manual page next to psql's, and
# where those are not on the PATH (Debian: /usr/lib/postgresql/N/bin)
# relative links in $(prefix)/bin and $(prefix)/share/man/man1, so that
# "batchintory" works under cron's PATH and "man batchintory" finds the page;
# DESTDIR, CLIENT_LINKS=no, files of others left alone, uninstall.  Then the
# installation of this tree on the machine (make install, before the tests)
# as cron sees it, and a manual page that describes every command and option
# of --help.
use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;

my $top = abs_path(dirname(__FILE__) . '/../..');
my $man_page = slurp_file("$top/client/batchintory.1");

# run ARGS...: (exit code, stdout, stderr)
sub run
{
	my ($out, $err) = ('', '');
	IPC::Run::run([@_], '<', \undef, '>', \$out, '2>', \$err);
	return ($? >> 8, $out, $err);
}

# make TARGET VAR=VALUE... in the tree (the client is built)
sub make
{
	return run('make', '-s', '--no-print-directory', '-C', $top, @_);
}

# where the client goes, and where its links go: the prefix PostgreSQL was
# configured with (Debian: /usr), when its bin is not the bindir
my ($rc, $out, $err) = run('pg_config', '--bindir', '--mandir', '--configure');
my ($bindir, $mandir, $configure) = split /\n/, $out, 3;
my ($prefix) = $configure =~ /'--prefix=([^']*)'/;
my $linkdir = $prefix ? "$prefix/bin" : '';
my $manlinkdir = $prefix ? "$prefix/share/man/man1" : '';
ok($bindir && $mandir, "install directories: $bindir $mandir, links in " . ($linkdir || 'none'));
my $version = (slurp_file("$top/batchintory.control") =~ /default_version\s*=\s*'([^']+)'/)[0];

SKIP:
{
	skip "bindir $bindir is on the PATH already: nothing to link", 1
	  if !$linkdir || $bindir eq $linkdir;

	# --- into a DESTDIR ------------------------------------------------------
	my $dest = tempdir(CLEANUP => 1);
	($rc, $out, $err) = make('install-client', "DESTDIR=$dest");
	is($rc, 0, 'make install-client DESTDIR=...: exit 0') or diag($err);
	ok(-x "$dest$bindir/batchintory", 'the client in bindir');
	ok(-f "$dest$mandir/man1/batchintory.1", 'the manual page in mandir');
	my $page = slurp_file("$dest$mandir/man1/batchintory.1");
	like($page, qr/^\.TH BATCHINTORY 1 "" "batchintory \Q$version\E"/m,
		'the manual page names the version of the control file');
	for my $link ([ "$linkdir/batchintory", "$bindir/batchintory" ],
		[ "$manlinkdir/batchintory.1", "$mandir/man1/batchintory.1" ])
	{
		my ($path, $target) = @$link;
		ok(-l "$dest$path", "$path: a symbolic link");
		unlike(readlink("$dest$path") // '', qr{^/}, "$path: relative (it holds in a package)");
		is(abs_path("$dest$path"), abs_path("$dest$target"), "$path -> $target");
	}
	($rc, $out, $err) = run('env', '-i', "PATH=$dest$linkdir:/bin", 'batchintory', '--version');
	is($out, "batchintory $version\n", 'the link runs the client');

	# again: the same links, no complaint
	($rc, $out, $err) = make('install-client', "DESTDIR=$dest");
	is($rc, 0, 'install-client again: exit 0');
	is($err, '', 'install-client again: no warning');
	ok(-l "$dest$linkdir/batchintory", 'install-client again: the link');

	# uninstall: links and files gone
	($rc, $out, $err) = make('uninstall-client', "DESTDIR=$dest");
	is($rc, 0, 'uninstall-client: exit 0');
	ok(!-e "$dest$linkdir/batchintory" && !-l "$dest$linkdir/batchintory",
		'uninstall-client: the link is gone');
	ok(!-e "$dest$bindir/batchintory", 'uninstall-client: the client is gone');
	ok(!-l "$dest$manlinkdir/batchintory.1", 'uninstall-client: the page\'s link is gone');

	# a batchintory of someone else in $(prefix)/bin is left alone
	$dest = tempdir(CLEANUP => 1);
	make_path("$dest$linkdir");
	open(my $fh, '>', "$dest$linkdir/batchintory") or die;
	print $fh "#!/bin/sh\necho theirs\n";
	close $fh;
	($rc, $out, $err) = make('install-client', "DESTDIR=$dest");
	is($rc, 0, 'a file of another in the way: install-client exit 0');
	like($err, qr/\Q$linkdir\E\/batchintory exists and is not a symbolic link: left alone/,
		'a file of another in the way: a warning');
	ok(!-l "$dest$linkdir/batchintory", 'a file of another in the way: left alone');
	is(slurp_file("$dest$linkdir/batchintory"), "#!/bin/sh\necho theirs\n",
		'a file of another in the way: unchanged');
	unlink "$dest$linkdir/batchintory";
	symlink('/bin/true', "$dest$linkdir/batchintory") or die;
	($rc, $out, $err) = make('install-client', "DESTDIR=$dest");
	like($err, qr/links to \/bin\/true: left alone/, 'a link to another program: a warning');
	is(readlink("$dest$linkdir/batchintory"), '/bin/true', 'a link to another program: left alone');
	($rc, $out, $err) = make('uninstall-client', "DESTDIR=$dest");
	is(readlink("$dest$linkdir/batchintory"), '/bin/true',
		'uninstall-client leaves a link to another program alone');

	# CLIENT_LINKS=no: only the files
	$dest = tempdir(CLEANUP => 1);
	($rc, $out, $err) = make('install-client', "DESTDIR=$dest", 'CLIENT_LINKS=no');
	is($rc, 0, 'CLIENT_LINKS=no: exit 0');
	ok(-x "$dest$bindir/batchintory", 'CLIENT_LINKS=no: the client');
	ok(!-e "$dest$linkdir/batchintory", 'CLIENT_LINKS=no: no link');

	# --- the installation on this machine, as cron sees it --------------------
	skip "$linkdir is not on cron's PATH", 3 if $linkdir ne '/usr/bin' && $linkdir ne '/bin';
	($rc, $out, $err) = run('env', '-i', 'PATH=/usr/bin:/bin', 'sh', '-c', 'batchintory --version');
	is($rc, 0, 'cron\'s PATH (/usr/bin:/bin) finds the installed client')
	  or diag("$err (make install of this tree makes the link $linkdir/batchintory)");
	is($out, "batchintory $version\n", 'cron\'s PATH: the client of this tree');
  SKIP:
	{
		skip 'man is not installed', 1 if system('man -w man >/dev/null 2>&1') != 0;
		($rc, $out, $err) = run('env', '-i', 'PATH=/usr/bin:/bin', 'man', '-w', 'batchintory');
		like($out, qr{/man1/batchintory\.1$}, 'man batchintory finds the page');
	}
}

# --- the manual page describes every command and option of --help ----------

($rc, $out, $err) = run('groff', '-man', '-ww', '-z', "$top/client/batchintory.1");
is($err, '', 'the manual page: no warning from groff');
($rc, my $help, $err) = run("$top/client/batchintory", '--help');
like($help, qr/"man batchintory"/, '--help points to the manual page');
my @commands = $help =~ /^  ([a-z-]+) {2,}\S/mg;
cmp_ok(scalar @commands, '>=', 19, 'the commands of --help');
(my $plain = $man_page) =~ s/\\-/-/g;
for my $command (@commands)
{
	like($plain, qr/^\.SS \Q$command\E(?: |$)/m, "manual page: a section for $command");
	($rc, $out, $err) = run("$top/client/batchintory", $command, '--help');
	for my $option ($out =~ /^  (--[a-z-]+)/mg)
	{
		next if $option eq '--job';
		like($plain, qr/\Q$option\E\b/, "manual page: $command $option");
	}
}
for my $option ($help =~ /^  (?:-., )?(--[a-z-]+)/mg)
{
	like($plain, qr/\Q$option\E\b/, "manual page: $option");
}
for my $code (0, 1, 2, 3, 4, 5, 126, 127)
{
	like($plain, qr/^\.SH EXIT STATUS\n(?s:.*)^\.B \Q$code\E$/m, "manual page: exit status $code");
}

# a header of the extension changed (a git pull): make rebuilds every object
# of the library, not only those whose .c file changed -- objects compiled
# against the old layout of a struct handed out overlapping batches
(undef, my $database) = make('-p', '-q', 'src/module.o');
my ($objs) = $database =~ /^OBJS = (.*)$/m;
my @objects = split ' ', $objs // '';
ok(@objects > 10, 'the Makefile lists the library\'s objects') or diag(scalar @objects);
for my $header (glob("$top/src/*.h"), glob("$top/src/inventory/*.h"))
{
	my $name = substr($header, length($top) + 1);
	($rc, $out, $err) = make('-n', '-W', $name, @objects);
	my @rebuilt = grep { $out =~ /-o \Q$_\E / } @objects;
	is(scalar @rebuilt, scalar @objects, "a change of $name rebuilds every object");
}

done_testing();
