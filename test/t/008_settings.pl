# A job's settings are one list (src/settings.c, shown by
# batchintory.settings()): batchintory_register and batchintory_alter take
# exactly those arguments, with those types and defaults; the command-line
# client offers an option for each, its help states the same defaults and
# the same resettable settings; the Python client casts each keyword to the
# same type.  A setting added in one place only fails here.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('settings');
$node->init;
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION batchintory');

my @settings = map { [ split /\|/, $_, -1 ] } split /\n/, $node->safe_psql('postgres',
	'SELECT setting, type::text, coalesce(default_value, \'\'), required, resettable'
	  . ' FROM batchintory.settings()');
cmp_ok(scalar(@settings), '>=', 15, 'batchintory.settings() lists the settings');

# the SQL functions: argument names, types and defaults, in the list's order
my $register = $node->safe_psql('postgres',
	q{SELECT pg_get_function_arguments('batchintory_register'::regproc)});
my $alter = $node->safe_psql('postgres',
	q{SELECT pg_get_function_arguments('batchintory_alter'::regproc)});
my @register_args = split /, (?=\w+ )/, $register;
my @alter_args = split /, (?=\w+ )/, $alter;
is($register_args[0], 'job text', 'register takes the job first');
is($alter_args[0], 'job text', 'alter takes the job first');
my %alter_args = map { /^(\w+) (.*?)(?: DEFAULT (.*))?$/ ? ($1 => [ $2, $3 ]) : () } @alter_args;
for my $i (0 .. $#settings)
{
	my ($name, $type, $default, $required) = @{ $settings[$i] };
	my ($arg, $arg_type, $arg_default) =
	  ($register_args[ $i + 1 ] // '') =~ /^(\w+) (.*?)(?: DEFAULT (.*))?$/;
	is("$arg $arg_type", "$name $type", "register's argument $i is $name, of type $type");
	if ($required eq 't')
	{
		ok(!defined $arg_default, "register needs $name");
		next;
	}
	is($node->safe_psql('postgres', "SELECT ($arg_default) IS NOT DISTINCT FROM ("
		  . ($default eq '' ? 'NULL' : $default) . ")::$type"),
		't', "register's default for $name is the list's (" . ($default || 'NULL') . ")");
	is($alter_args{$name}[0] // '', $type, "alter takes $name, of type $type");
	is($node->safe_psql('postgres', "SELECT ($alter_args{$name}[1]) IS NULL"), 't',
		"alter's $name is NULL when left out (unchanged)")
	  if defined $alter_args{$name};
}

# the command-line client: an option for each, the defaults and resets it states
my $register_help = `batchintory register --help 2>&1`;
my $alter_help = `batchintory alter --help 2>&1`;
my $flags = { source => 'table' };
for my $s (@settings)
{
	my ($name, $type, $default) = @$s;
	my $flag = '--' . ($flags->{$name} // $name =~ s/_/-/gr);
	like($register_help, qr/^\s+\Q$flag\E\b/m, "register --help offers $flag ($name)");
	like($alter_help, qr/^\s+\Q$flag\E\b/m, "alter --help offers $flag ($name)");
	next if $default eq '';
	# the default the help states, as a value of the setting's type
	my ($stated) = $register_help =~ /\Q$flag\E\s+('[^']*'|[^\s,.]+)[,.]/s;
	ok(defined $stated, "register --help states the default of $flag");
	$stated //= 'NULL';
	$stated = $stated eq 'on' ? 'true' : $stated eq 'off' ? 'false' : $stated;
	$stated = "'$stated'" unless $stated =~ /^'/;
	is($node->safe_psql('postgres', "SELECT ${stated}::$type = $default"), 't',
		"the default register --help states for $flag is the function's ($default)");
}
my ($resets) = $alter_help =~ /--reset clears settings\s*\(([^)]*)\)/s;
$resets = join(',', sort split /,\s*/, $resets // '');
is($resets, join(',', sort map { $_->[0] } grep { $_->[4] eq 't' } @settings),
	'alter --help names the settings that can be reset');

# the Python client's keywords and their casts
my $python = `/usr/bin/python3 -c 'import sys; sys.path.insert(0, "python"); from batchintory.client import _ARG_TYPES; print("\\n".join(k + "=" + v for k, v in _ARG_TYPES.items()))' 2>&1`;
my %python = map { split /=/, $_, 2 } split /\n/, $python;
for my $s (@settings)
{
	my ($name, $type) = @$s;
	ok(exists $python{$name}, "the Python client knows keyword $name");
	is($node->safe_psql('postgres', "SELECT '" . ($python{$name} // 'unknown') . "'::regtype = '$type'::regtype"),
		't', "the Python client casts $name to $type");
}

$node->stop;
done_testing();
