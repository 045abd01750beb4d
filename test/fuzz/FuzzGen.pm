# FuzzGen.pm
#	  Random psql scripts for the fuzz test (test/t/030_fuzz.pl): every SQL
#	  function of batchintory called with arguments drawn from pools of edge
#	  values, mixed with valid calls on registered jobs (batches really
#	  acquired, released with their attempt numbers), inserts, updates,
#	  deletes and DDL on the metadata tables, and transaction blocks.
#
#	  A script is a function of (seed, session, number of calls) only, so a
#	  run can be replayed; print one without a cluster with
#	    perl -Itest/fuzz -MFuzzGen -e 'print FuzzGen::script(123, 1, 1500)->{text}'
#
#	  Every statement is on one line (newlines in values are written as E''
#	  escapes), so the line number psql reports with an error names the call.
package FuzzGen;

use strict;
use warnings;

# Jobs the fuzz keeps valid (fuzz_restore + "ensure" calls put them back):
# name => [source literal, canonical register arguments after the name,
# settings that alter may set back, settings to reset]
our %valid_jobs = (
	j1 => [
		q{'assets'},
		q{'assets', 'id', 'bytes', max_count => 7, lease => '1.5s', max_attempts => 3, guard_timeout => '100ms', config => '{"job": "j1"}', on_failure => 'skip'},
		q{weight_column => 'bytes', max_count => 7, lease => '1.5s', max_attempts => 3, guard_timeout => '100ms', retry_backoff => '0', late_commit_guard => true, config => '{"job": "j1"}', on_failure => 'skip'},
		q{'{filter,max_weight,lower_bound,upper_bound}'}
	],
	j2 => [
		q{'assets'},
		q{'assets', 'id', filter => 'bytes % 3 <> 0', max_count => 25, lease => '2s', retry_backoff => '10ms', guard_timeout => '100ms', on_failure => 'skip'},
		q{filter => 'bytes % 3 <> 0', max_count => 25, lease => '2s', max_attempts => 3, retry_backoff => '10ms', guard_timeout => '100ms', late_commit_guard => true, config => '{}', on_failure => 'skip'},
		q{'{weight_column,max_weight,lower_bound,upper_bound}'}
	],
	j3 => [
		q{'assets'},
		q{'assets', 'id', 'bytes', lower_bound => 10, upper_bound => 400, max_weight => 300, lease => '1s', guard_timeout => '100ms', on_failure => 'skip'},
		q{weight_column => 'bytes', upper_bound => 400, max_weight => 300, lease => '1s', max_attempts => 3, retry_backoff => '0', guard_timeout => '100ms', late_commit_guard => true, config => '{}', on_failure => 'skip'},
		q{'{filter,max_count}'}
	],
	j4 => [
		q{'parts'},
		q{'parts', 'id', 'bytes', max_count => 9, lease => '1s', guard_timeout => '100ms', on_failure => 'skip'},
		q{weight_column => 'bytes', max_count => 9, lease => '1s', max_attempts => 3, retry_backoff => '0', guard_timeout => '100ms', late_commit_guard => true, config => '{}', on_failure => 'skip'},
		q{'{filter,max_weight,lower_bound,upper_bound}'}
	],
	j5 => [
		q{'explicit'},
		q{'explicit', 'id', 'w', max_count => 4, max_weight => 20, late_commit_guard => false, lease => '1s', on_failure => 'skip'},
		q{weight_column => 'w', max_count => 4, max_weight => 20, lease => '1s', max_attempts => 3, retry_backoff => '0', late_commit_guard => false, config => '{}', on_failure => 'skip'},
		q{'{filter,lower_bound,upper_bound}'}
	],
	j6 => [
		q{'"odd ""name"" ✓"'},
		q{'"odd ""name"" ✓"', 'key col', 'weight col', max_count => 3, max_attempts => 2, retry_backoff => '1ms', lease => '1s', guard_timeout => '100ms', on_failure => 'skip'},
		q{weight_column => 'weight col', max_count => 3, max_attempts => 2, retry_backoff => '1ms', lease => '1s', guard_timeout => '100ms', late_commit_guard => true, config => '{}', on_failure => 'skip'},
		q{'{filter,max_weight,lower_bound,upper_bound}'}
	],
	j7 => [
		q{'assets2'},
		q{'assets2', 'id', 'w', lease => '1s', guard_timeout => '100ms', config => '{"whole": true}', on_failure => 'skip'},
		q{weight_column => 'w', lease => '1s', max_attempts => 3, retry_backoff => '0', guard_timeout => '100ms', late_commit_guard => true, on_failure => 'skip'},
		q{'{filter,max_count,max_weight,lower_bound,upper_bound}'}
	],
);
our @valid_names = sort keys %valid_jobs;

# the statements that register the valid jobs
sub valid_registrations
{
	return map { "SELECT batchintory_register('$_', $valid_jobs{$_}[1]);" }
	  @valid_names;
}

#
# random choices
#
sub pick { return $_[ int(rand(scalar @_)) ]; }
sub chance { return rand() < $_[0]; }
sub between { my ($lo, $hi) = @_; return $lo + int(rand($hi - $lo + 1)); }

# pick from [weight, value] pairs
sub weighted
{
	my $total = 0;
	$total += $_->[0] for @_;
	my $r = rand($total);
	for (@_)
	{
		return $_->[1] if ($r -= $_->[0]) < 0;
	}
	return $_[-1][1];
}

#
# pools of values, as SQL text
#
my @bigint_edge = (
	'NULL', '0', '-1', '1', '2147483647', '-2147483648', '2147483648',
	"'9223372036854775807'", "'-9223372036854775808'",
	"'9223372036854775806'", "'-9223372036854775807'", "'4611686018427387904'",
	"'abc'", "1e3", "'1000000000'");
my @int_edge = ('NULL', '0', '-1', '1', '2', '2147483647', "'-2147483648'",
	'-2147483647', "'2147483646'", "'x'");
my @numeric_edge = (
	'NULL', '0', '-1', '1', '0.5', '1e-100', "'NaN'", "'Infinity'",
	"'-Infinity'", '1e100', "'-0.0001'", "'9223372036854775807.5'",
	"'1e1000'", "'-0'");
my @interval_edge = (
	'NULL', "'0'", "'-1 day'", "'1 microsecond'", "'300000 years'",
	"'100000000 years'", "'-300000 years'", "'178000000 years'",
	"'-178000000 years'", "'1 mon -30 days'", "'2147483647 days'",
	"'-2147483648 months'", "'1 day -86400 seconds'", "'2147483647 hours'",
	"'-1 microsecond'", "'1 year'", "'garbage'");
my @interval_ok = ("'1s'", "'2s'", "'500ms'", "'1.5s'", "'100ms'", "'10ms'", "'0'");
my @name_edge = (
	"''", "' '", "'a''b'", q{'"quoted"'}, "'ünïcødé ☃'", "repeat('x', 10000)",
	"E'tab\\there'", "E'new\\nline'", "'job; DROP TABLE assets'", 'NULL',
	"'nojob'", "'J1'", "' j1'", "'%s%s%n%d'", "'\\'", "'🚀'", "repeat('é', 100)",
	"'j1 '", "'--'", "'\$1'", "'j1'::text || chr(8203)");
my @regclass_good = ("'assets'", "'assets2'", "'parts'", "'explicit'",
	q{'"odd ""name"" ✓"'});
my @regclass_edge = (
	"'parts_1'", "'parts_2'", "'assets_view'", "'some_seq'", "'pg_class'",
	"'batchintory.job'", "'batchintory.batch'", "'tmp_assets'", "'nokey'",
	"'textkey'", "'cached'", "'mv'", "'inh_parent'", "'inh_child'",
	"'unlogged'", "'assets_pkey'", "0", "'12345'", "NULL", "'nosuch'",
	"'public.assets'", "'pg_temp.tmp_assets'", "'assets_id_seq'",
	"'batchintory.jobs'", "'information_schema.tables'", "'parts_3'",
	"'parts_default'");
my @column_good = ("'id'", "'bytes'", "'w'", "'key col'", "'weight col'");
my @column_edge = (
	"'label'", "'ts'", "'ratio'", "'big'", "'nosuch'", "''", "'ID'",
	q{'"id"'}, "'id; --'", "' id'", "repeat('c', 100)", "'note'", "'ctid'",
	"'xmin'", "'tableoid'", "NULL", "'bytes2'", "'extra'", "'key'", "'ünï'");
my @filter_good = (
	"'bytes > 10'", "'bytes % 2 = 0'", "'id % 3 <> 1'", "'true'",
	"'label IS NOT NULL'", "'bytes BETWEEN 5 AND 80'",
	"E'bytes > 1 -- trailing comment'", "'fuzz_stable(bytes)'",
	"'id > 0 AND (bytes IS NULL OR bytes >= 0)'");
my @filter_edge = (
	'NULL', "''", "' '", "'bytes >'", "'((('", "')'", "'true) OR (true'",
	"'1'", "'NULL'", "'bytes'", "'true; DELETE FROM assets'",
	"'true); DELETE FROM assets; --'", "E'true\\n) OR (true'", "'--'",
	"'/* open comment'", "'''unterminated'", "'\$1 > 0'", "'id > \$2'",
	"'count(*) > 0'", "'row_number() OVER () > 1'",
	"'generate_series(1, 2) > 0'", "'random() < 0.5'", "'fuzz_volatile()'",
	"'nextval(''some_seq'') > 0'", "'clock_timestamp() > ts'",
	"'txid_current() > 0'", "'(SELECT count(*) FROM pg_class) > 0'",
	"'id IN (SELECT id FROM assets2)'", "'EXISTS (SELECT 1 FROM nokey)'",
	"'nosuch = 1'", "'1/0 = 1'", "'1/(bytes - bytes) = 1'",
	"'label::int > 0'", "'fuzz_error(bytes)'", "'bytes > ''x'''",
	"'true AND pg_catalog.now() IS NOT NULL'", "'ts > now() - ''1 day''::interval'",
	"'x FROM assets'", "'1 UNION SELECT 2'", "'true AS x'", "'*'",
	"'DISTINCT true'", "repeat('true AND ', 1000) || 'true'",
	"'ünï = 1'", "'\"weight col\" > 1'", "'\"key col\" % 2 = 0'", "'w > 3'",
	"'current_user = ''postgres'''", "'set_config(''work_mem'', ''1MB'', true) IS NOT NULL'",
	"'pg_advisory_xact_lock(1) IS NULL'");
my @jsonb_edge = (
	"'{}'", q{'{"a": 1}'}, "'[]'", "'1'", "'null'", q{'"s"'}, 'NULL',
	q{'{"nested": {"k": [1, 2, 3]}}'}, "jsonb_build_object('big', repeat('x', 5000))",
	q{'{"a": "\u00e9"}'}, "'[{}]'", "'true'", "'not json'");
my @status_edge = (
	"'succeeded'", "'failed'", "'SUCCEEDED'", "''", 'NULL', "'processing'",
	"'abandoned'", "'superseded'", "' failed'", "'succeeded '", "'ok'",
	"repeat('f', 10000)", "'failed;'", "'Failed'");
my @reset_edge = (
	"'{filter}'", "'{weight_column,max_count,max_weight}'", "'{source}'",
	"'{nosuch}'", 'ARRAY[NULL]::text[]', "'{}'", 'NULL',
	"'{lower_bound,upper_bound}'", "'{lease}'", "'{id_column}'",
	"'{max_count,max_count}'", "'{{filter},{lease}}'", "'{config}'",
	"'{guard_timeout}'", "'{\"\"}'");
my @worker_edge = ("'w1'", "'w2'", 'NULL', "''", "repeat('w', 10000)",
	"'ünï ☃'", "E'a\\tb'");
my @message_edge = ("'done'", 'NULL', "''", "repeat('m', 100000)",
	"E'line\\nbreak'", "'%s%n'", "'ünï ☃'");

# helpers drawing from the pools, biased towards valid values
sub bigint_val { return chance(0.5) ? between(1, 500) : pick(@bigint_edge); }
sub count_val { return chance(0.7) ? between(1, 40) : pick(@bigint_edge); }
sub int_val { return chance(0.5) ? between(1, 5) : pick(@int_edge); }
sub numeric_val
{
	return chance(0.5) ? pick(10, 50, 100, 300, 1000, 12.5) : pick(@numeric_edge);
}
sub interval_val { return chance(0.5) ? pick(@interval_ok) : pick(@interval_edge); }
sub lease_val
{
	return chance(0.6) ? pick("'1s'", "'2s'", "'500ms'") : pick(@interval_edge);
}
sub regclass_val { return chance(0.6) ? pick(@regclass_good) : pick(@regclass_edge); }
sub column_val { return chance(0.6) ? pick(@column_good) : pick(@column_edge); }
sub filter_val { return chance(0.4) ? pick(@filter_good) : pick(@filter_edge); }
sub jsonb_val { return chance(0.3) ? "'{}'" : pick(@jsonb_edge); }
sub bool_val { return pick('true', 'false', 'NULL'); }
my @role_edge = ("'postgres'", "'fuzz_user'", "'pg_monitor'", "'nosuchrole'", 'NULL',
	"'public'", '0', "'\"fuzz_user\"'", "''");
sub role_val { return pick(@role_edge); }

my @fuzz_names = ("'f1'", "'f2'", "'f3'", "'f4'", "'f5'");

# a job name: mostly a valid job, else one the fuzz registers, else odd
sub job_val
{
	return weighted(
		[ 70, "'" . pick(@valid_names) . "'" ],
		[ 12, pick(@fuzz_names) ],
		[ 18, pick(@name_edge) ]);
}

# a batch id: one this session holds, one from the inventory, or an edge
sub batch_val
{
	my ($slot) = @_;
	return weighted(
		[ 45, ":b$slot" ],
		[ 20, "(SELECT max(batch_id) FROM batchintory.batch)" ],
		[ 10, "(SELECT min(batch_id) FROM batchintory.batch WHERE status = '"
			  . pick('failed', 'succeeded', 'superseded', 'processing') . "')" ],
		[ 10, between(1, 400) ],
		[ 15, pick('0', '-1', 'NULL', "'9223372036854775807'", "'-9223372036854775808'") ]);
}

# the attempt number for a batch held in a slot
sub attempt_val
{
	my ($slot) = @_;
	return weighted(
		[ 75, ":a$slot" ],
		[ 10, ":a$slot + 1" ],
		[ 5,  ":a$slot - 1" ],
		[ 10, pick(@int_edge) ]);
}

# "name => value" for a random subset of the given settings
sub named_args
{
	my ($p, @settings) = @_;
	my @args;
	for my $s (@settings)
	{
		my ($name, $gen) = @$s;
		push @args, "$name => " . $gen->() if chance($p);
	}
	return @args;
}

my @job_settings = (
	[ weight_column => \&column_val ],
	[ filter => \&filter_val ],
	[ lower_bound => \&bigint_val ],
	[ upper_bound => \&bigint_val ],
	[ max_count => \&count_val ],
	[ max_weight => \&numeric_val ],
	[ max_attempts => \&int_val ],
	[ lease => \&lease_val ],
	[ config => \&jsonb_val ],
	[ retry_backoff => \&interval_val ],
	[ late_commit_guard => \&bool_val ],
	[ guard_timeout => \&interval_val ],
	[ on_failure => sub { pick("'halt'", "'skip'", "'stop'", 'NULL', "''") } ]);

#
# the calls; each returns a list of lines (statements)
#
my $slots = 4;

sub op_acquire_valid
{
	my $k = int(rand($slots));
	my $job = "'" . pick(@valid_names) . "'";
	my @args = named_args(0.25,
		[ max_count => sub { between(1, 20) } ],
		[ worker => sub { pick("'w1'", "'w2'") } ],
		[ batches => sub { between(1, 3) } ]);
	return "SELECT coalesce(max(batch), 0) AS b$k, coalesce(max(attempt), 0) AS a$k"
	  . " FROM batchintory_acquire(" . join(', ', $job, @args) . ") \\gset";
}

sub op_acquire_random
{
	my $k = int(rand($slots));
	my @args = named_args(0.4,
		[ max_count => \&count_val ],
		[ max_weight => \&numeric_val ],
		[ worker => sub { pick(@worker_edge) } ],
		[ batches => \&int_val ]);
	return "SELECT coalesce(max(batch), 0) AS b$k, coalesce(max(attempt), 0) AS a$k"
	  . " FROM batchintory_acquire(" . join(', ', job_val(), @args) . ") \\gset";
}

sub op_acquire_positional
{
	my @args = (job_val(), count_val(), numeric_val(), pick(@worker_edge), int_val());
	splice(@args, between(1, 5));
	return "SELECT * FROM batchintory_acquire(" . join(', ', @args) . ")";
}

sub op_release_slot
{
	my $k = int(rand($slots));
	my $status = chance(0.85) ? pick("'succeeded'", "'succeeded'", "'failed'") : pick(@status_edge);
	my @args = (batch_val($k), attempt_val($k), $status);
	push @args, pick(@message_edge) if chance(0.3);
	push @args, "result => " . jsonb_val() if chance(0.1);
	return "SELECT batchintory_release(" . join(', ', @args) . ")";
}

# release or heartbeat a processing batch from the inventory with its
# current attempt (the other session's, or one this session lost track of)
sub op_inventory_batch
{
	my $fn = chance(0.7)
	  ? "batchintory_release(batch_id, attempt, '" . pick('succeeded', 'failed') . "')"
	  : "batchintory_heartbeat(batch_id, attempt)";
	my $order = pick('batch_id', 'batch_id DESC', 'lease_until');
	return "SELECT $fn FROM (SELECT batch_id, attempt FROM batchintory.batch"
	  . " WHERE status = 'processing' ORDER BY $order LIMIT 1) x";
}

sub op_heartbeat
{
	my $k = int(rand($slots));
	return "SELECT batchintory_heartbeat(" . batch_val($k) . ", " . attempt_val($k) . ")";
}

# the set-returning functions in other query shapes: in the select list,
# under LIMIT and EXISTS, through a cursor, a prepared statement, LATERAL
sub op_query_shapes
{
	my $job = chance(0.8) ? "'" . pick(@valid_names) . "'" : job_val();
	my $k = int(rand($slots));
	my $fn = pick("batchintory_acquire($job)", "batchintory_acquire($job, batches => 3)",
		"batchintory_peek($job)", "batchintory_backlog($job)", "batchintory_verify($job)",
		"batchintory_lookup($job, 10)", "batchintory_assets(:b$k)");
	return weighted(
		[ 2, "SELECT $fn" ],
		[ 1, "SELECT ($fn).*" ],
		[ 2, "SELECT * FROM $fn LIMIT 1" ],
		[ 1, "SELECT EXISTS (SELECT FROM $fn)" ],
		[ 1, "SELECT count(*) FROM generate_series(1, 3) g, LATERAL $fn" ],
		[ 1, "SELECT * FROM $fn WHERE false" ],
		[ 1, "BEGIN; DECLARE c CURSOR FOR SELECT * FROM $fn; FETCH 1 FROM c; CLOSE c; COMMIT" ],
		[ 1, "WITH a AS (SELECT * FROM $fn) SELECT count(*) FROM a, a b" ],
		[ 1, "SELECT batchintory_assets(:b$k, NULL::" . pick('record', 'assets') . ")" ],
		[ 1, "SELECT * FROM batchintory_assets(:b$k, NULL::record) AS t(id bigint, bytes int)" ],
		[ 1, "SELECT * FROM batchintory_assets(:b$k, ROW(1, 'x'))" ],
		[ 1, "SELECT * FROM batchintory_assets(:b$k, NULL::assets) WHERE bytes > 50 ORDER BY id DESC LIMIT 3" ],
		[ 2, "DEALLOCATE ALL; PREPARE p$k AS SELECT * FROM batchintory_acquire(\$1, max_count => \$2); "
			  . join('; ', map { "EXECUTE p$k($job, " . pick('1', '5', 'NULL') . ")" } 1 .. between(1, 7))
			  . "; DEALLOCATE p$k" ]);
}

# functions added in 0.2.0 and internal helpers (42883 on a version that
# lacks them)
sub op_helpers
{
	return pick(
		"SELECT batchintory_channel(" . job_val() . ")",
		"SELECT batchintory.retry_delay(" . interval_val() . ", " . int_val() . ")",
		"SELECT * FROM batchintory.job_estimate("
		  . pick(int_val(), "(SELECT max(job_id) FROM batchintory.job)",
			"(SELECT min(job_id) FROM batchintory.job)") . ")",
		"SELECT batchintory.may_see(" . role_val() . ")",
		"SELECT batchintory.check_job(" . job_val() . ")");
}

sub op_peek
{
	my @args = named_args(0.3, [ max_count => \&count_val ], [ max_weight => \&numeric_val ]);
	return "SELECT * FROM batchintory_peek(" . join(', ', job_val(), @args) . ")";
}

sub op_backlog
{
	my @args = (job_val());
	push @args, bool_val() if chance(0.5);
	return "SELECT * FROM batchintory_backlog(" . join(', ', @args) . ")";
}

sub op_lookup
{
	my $id = chance(0.7) ? between(1, 600) : pick(@bigint_edge);
	return chance(0.7)
	  ? "SELECT * FROM batchintory_lookup(" . job_val() . ", $id)"
	  : "SELECT * FROM batchintory_lookup_all(" . regclass_val() . ", $id)";
}

sub op_batch_functions
{
	my $k = int(rand($slots));
	my $batch = batch_val($k);
	return weighted(
		[ 3, "SELECT count(*) FROM batchintory_assets($batch)" ],
		[ 3, "SELECT * FROM batchintory_assets($batch, NULL::"
			  . pick('assets', 'assets', 'parts', 'assets2', 'explicit', 'int', 'text', 'record',
				  'nokey', 'assets_view', 'batchintory.job', '"odd ""name"" ✓"') . ")" ],
		[ 1, "SELECT * FROM batchintory_assets($batch, " . pick('1', "'x'::text", 'NULL') . ")" ],
		[ 3, "SELECT batchintory_predicate($batch)" ],
		[ 2, "SELECT fuzz_predicate_rows($batch)" ],
		[ 3, "SELECT batchintory_details($batch)" ]);
}

sub op_requeue
{
	my $k = int(rand($slots));
	return "SELECT batchintory_" . pick('requeue', 'requeue', 'skip') . "(" . batch_val($k) . ")";
}

sub op_rewind
{
	my $id = chance(0.6)
	  ? "(SELECT max(first_id) FROM batchintory.batch)"
	  : chance(0.5) ? between(1, 600) : pick(@bigint_edge);
	return "SELECT batchintory_rewind(" . job_val() . ", $id)";
}

sub op_verify
{
	my @args = (job_val());
	push @args, (chance(0.5) ? "requeue => " : "") . bool_val() if chance(0.5);
	return "SELECT * FROM batchintory_verify(" . join(', ', @args) . ")";
}

sub op_views
{
	return pick(
		"SELECT * FROM batchintory.jobs",
		"SELECT count(*) FROM batchintory.jobs",
		"SELECT * FROM batchintory.batches WHERE job = " . job_val(),
		"SELECT * FROM batchintory.attempts ORDER BY acquired_at DESC LIMIT 5",
		"SELECT batchintory.check_job(" . job_val() . ")");
}

sub op_register
{
	my $name = chance(0.6) ? pick(@fuzz_names) : job_val();
	my @args = ($name);
	if (chance(0.8))
	{
		push @args, regclass_val(), column_val();
		push @args, named_args(0.2, @job_settings);
	}
	else
	{
		push @args, named_args(0.3, [ source => \&regclass_val ], [ id_column => \&column_val ],
			@job_settings);
	}
	push @args, "notify => " . bool_val() if chance(0.1);
	return "SELECT batchintory_register(" . join(', ', @args) . ")";
}

sub op_alter
{
	my @args = (chance(0.5) ? pick(@fuzz_names) : job_val());
	push @args, named_args(0.15, [ source => \&regclass_val ], [ id_column => \&column_val ],
		@job_settings, [ reset => sub { pick(@reset_edge) } ]);
	push @args, "notify => " . bool_val() if chance(0.1);
	push @args, "owner => " . role_val() if chance(0.1);
	return "SELECT batchintory_alter(" . join(', ', @args) . ")";
}

sub op_drop
{
	return "SELECT batchintory_drop(" . (chance(0.85) ? pick(@fuzz_names) : job_val()) . ")";
}

# put a valid job back: drop it when its table is gone, it reads another
# table or it ran off to a far-out key; register it when it is missing; or
# alter its settings back
sub ensure_lines
{
	my ($j, $alter) = @_;
	my ($source, $register, $settings, $reset) = @{ $valid_jobs{$j} };
	return (
		"SELECT batchintory_drop(name) FROM batchintory.job WHERE name = '$j' AND"
		  . " (source IS DISTINCT FROM to_regclass($source) OR frontier > 1000000000);",
		"SELECT batchintory_register('$j', $register)"
		  . " WHERE NOT EXISTS (SELECT FROM batchintory.job WHERE name = '$j');",
		$alter ? ("SELECT batchintory_alter('$j', $settings, reset => $reset);") : ());
}

sub op_ensure
{
	return map { ensure_lines(pick(@valid_names), chance(0.5)) } 1 .. between(1, 3);
}

sub op_sleep { return "SELECT pg_sleep(" . pick('0.05', '0.2', '0.5') . ")"; }

sub op_restore { return "SELECT fuzz_restore()"; }

# drop a valid job and register it again at once, while the other session
# may be acquiring it (the drop + re-register race)
sub op_recycle
{
	my $j = pick(@valid_names);
	return "SELECT batchintory_drop('$j'); SELECT batchintory_register('$j', $valid_jobs{$j}[1]);";
}

sub op_insert
{
	my $n = between(1, 30);
	return weighted(
		[ 6, "INSERT INTO assets (bytes, label, ratio, big) SELECT (g * 37) % 100, 'i' || g,"
			  . " g / 3.0, g FROM generate_series(1, $n) g" ],
		[ 1, "INSERT INTO assets (bytes) VALUES (" . pick('NULL', '-5', '0', '2147483647') . ")" ],
		[ 2, "INSERT INTO parts (bytes) SELECT g % 10 FROM generate_series(1, $n) g" ],
		[ 1, "INSERT INTO parts_" . pick(1, 2) . " (bytes) VALUES (" . pick('1', 'NULL', '-1') . ")" ],
		[ 2, "INSERT INTO explicit (id, w) SELECT m + g, g % 7 FROM (SELECT coalesce(max(id)"
			  . " FILTER (WHERE id < 1000000000), 0) AS m FROM explicit) x, generate_series(1, $n) g"
			  . " ON CONFLICT DO NOTHING" ],
		[ 2, "INSERT INTO assets2 (w, note) SELECT " . pick('g % 13', 'NULL', '-g', "'NaN'")
			  . ", 'n' FROM generate_series(1, $n) g" ],
		[ 1, q{INSERT INTO "odd ""name"" ✓" ("weight col") SELECT g % 5 FROM generate_series(1, } . $n . ") g" ],
		[ 1, "INSERT INTO tmp_assets (bytes) SELECT g FROM generate_series(1, $n) g" ],
		[ 1, "INSERT INTO inh_child (bytes) VALUES ($n)" ]);
}

# explicit keys: far ahead of the sequence, negative, the extremes
sub op_insert_edge
{
	my $table = pick('assets', 'explicit');
	my $key = weighted(
		[ 3, "(SELECT coalesce(max(id) FILTER (WHERE id < 1000000000), 0) + " . between(1, 50)
			  . " FROM $table)" ],
		[ 1, pick('0', '-5', "'-9223372036854775808'", "'9223372036854775807'", '1000000') ]);
	my $weight = $table eq 'assets' ? 'bytes' : 'w';
	return "INSERT INTO $table (id, $weight) VALUES ($key, "
	  . pick('1', 'NULL', '-1', '99') . ") ON CONFLICT DO NOTHING";
}

sub op_update_delete
{
	return pick(
		"UPDATE assets SET bytes = bytes + 1 WHERE id % 17 = " . between(0, 16),
		"DELETE FROM assets WHERE id % 23 = " . between(0, 22),
		"UPDATE assets SET id = -id WHERE id = (SELECT min(id) FROM assets WHERE id > 0)",
		"UPDATE assets SET bytes = -1 WHERE id = (SELECT max(id) FROM assets)",
		"UPDATE assets SET bytes = NULL WHERE id % 29 = 0",
		"DELETE FROM parts WHERE id % 11 = " . between(0, 10),
		"UPDATE explicit SET w = w + 1 WHERE id % 5 = 0",
		"DELETE FROM explicit WHERE id = (SELECT min(id) FROM explicit)");
}

sub op_ddl
{
	return weighted(
		[ 3, "ALTER TABLE assets ADD COLUMN IF NOT EXISTS extra int" ],
		[ 2, "ALTER TABLE assets DROP COLUMN IF EXISTS extra" ],
		[ 1, "ALTER TABLE assets DROP COLUMN bytes" ],
		[ 2, "ALTER TABLE assets RENAME COLUMN bytes TO bytes2" ],
		[ 2, "ALTER TABLE assets RENAME COLUMN bytes2 TO bytes" ],
		[ 1, "ALTER TABLE assets RENAME COLUMN id TO key" ],
		[ 1, "ALTER TABLE assets RENAME COLUMN key TO id" ],
		[ 1, "ALTER TABLE assets ALTER COLUMN bytes TYPE numeric" ],
		[ 1, "ALTER TABLE assets ALTER COLUMN bytes TYPE text" ],
		[ 1, "ALTER TABLE assets ALTER COLUMN bytes TYPE int USING bytes::numeric::int" ],
		[ 1, "ALTER TABLE assets ALTER COLUMN id TYPE integer" ],
		[ 1, "ALTER TABLE assets ALTER COLUMN id TYPE bigint" ],
		[ 1, "ALTER TABLE assets DROP CONSTRAINT assets_pkey" ],
		[ 1, "ALTER TABLE assets ADD PRIMARY KEY (id)" ],
		[ 1, "ALTER SEQUENCE assets_id_seq CACHE " . pick(1, 20) ],
		[ 1, "TRUNCATE assets" . pick('', ' RESTART IDENTITY') ],
		[ 1, "DROP TABLE assets CASCADE" ],
		[ 1, "ANALYZE assets" ],
		[ 1, "CREATE TABLE IF NOT EXISTS parts_3 PARTITION OF parts FOR VALUES FROM (100000) TO (200000)" ],
		[ 1, "ALTER TABLE parts DETACH PARTITION parts_3" ],
		[ 1, "ALTER TABLE parts ATTACH PARTITION parts_3 FOR VALUES FROM (100000) TO (200000)" ],
		[ 1, "DROP TABLE IF EXISTS parts_3" ],
		[ 1, "CREATE TABLE IF NOT EXISTS parts_default PARTITION OF parts DEFAULT" ],
		[ 1, "DROP TABLE IF EXISTS parts_default" ],
		[ 1, "ALTER TABLE explicit ALTER COLUMN w TYPE " . pick('text', 'numeric', 'float8') . " USING w::text::" . pick('numeric', 'float8') ],
		[ 1, "ALTER TABLE assets2 RENAME TO assets2_moved" ],
		[ 1, "ALTER TABLE assets2_moved RENAME TO assets2" ],
		[ 1, "REFRESH MATERIALIZED VIEW mv" ]);
}

# the simple calls, by weight; blocks draw their inner calls from these
my @simple_ops = (
	[ 18,  \&op_acquire_valid ],
	[ 5,   \&op_acquire_random ],
	[ 1.5, \&op_acquire_positional ],
	[ 15,  \&op_release_slot ],
	[ 4,   \&op_inventory_batch ],
	[ 4,   \&op_heartbeat ],
	[ 4,   \&op_peek ],
	[ 3,   \&op_query_shapes ],
	[ 1.5, \&op_helpers ],
	[ 3,   \&op_backlog ],
	[ 4,   \&op_lookup ],
	[ 6,   \&op_batch_functions ],
	[ 3,   \&op_requeue ],
	[ 1.5, \&op_rewind ],
	[ 2.5, \&op_verify ],
	[ 2.5, \&op_views ],
	[ 5,   \&op_register ],
	[ 5,   \&op_alter ],
	[ 1.5, \&op_drop ],
	[ 9,   \&op_insert ],
	[ 2,   \&op_insert_edge ],
	[ 2,   \&op_update_delete ],
	[ 3,   \&op_ddl ],
	[ 5,   \&op_ensure ]);

sub simple_op
{
	my $op = weighted(@simple_ops);
	return $op->();
}

# transaction blocks: a writer that keeps its rows uncommitted for a few
# calls, acquire and release in one transaction, a rolled back acquire,
# the wrong isolation level, a role without privileges
sub op_block
{
	my $k = int(rand($slots));
	my $job = "'" . pick(@valid_names) . "'";
	return weighted(
		[ 3, sub {
			(   "BEGIN",
				pick(
					"INSERT INTO assets (bytes) VALUES (1)",
					"INSERT INTO parts (bytes) VALUES (2)",
					"INSERT INTO parts_1 (bytes) VALUES (3)",
					"INSERT INTO explicit (id, w) SELECT coalesce(max(id) FILTER (WHERE id < 1000000000), 0) + 1, 1"
					  . " FROM explicit ON CONFLICT DO NOTHING"),
				(map { simple_op() } 1 .. between(1, 3)),
				pick("COMMIT", "COMMIT", "ROLLBACK"));
		} ],
		[ 3, sub {
			(   "BEGIN",
				"SELECT coalesce(max(batch), 0) AS b$k, coalesce(max(attempt), 0) AS a$k"
				  . " FROM batchintory_acquire($job) \\gset",
				"SELECT batchintory_release(:b$k, :a$k, '" . pick('succeeded', 'failed') . "')",
				(chance(0.5) ? op_acquire_valid() : ()),
				pick("COMMIT", "COMMIT", "ROLLBACK"));
		} ],
		[ 1, sub {
			("BEGIN; SELECT count(*) FROM batchintory_acquire($job, batches => 2); ROLLBACK");
		} ],
		[ 1, sub {
			(   "BEGIN ISOLATION LEVEL " . pick('REPEATABLE READ', 'SERIALIZABLE')
				  . "; SELECT * FROM " . pick("batchintory_acquire($job)", "batchintory_peek($job)",
					"batchintory_backlog($job)") . "; COMMIT");
		} ],
		[ 1, sub {
			(   "BEGIN; SET LOCAL ROLE fuzz_user; "
				  . pick(
					"SELECT * FROM batchintory_acquire($job)",
					"SELECT * FROM batchintory_peek($job)",
					"SELECT batchintory_release(:b$k, :a$k, 'failed')",
					"SELECT batchintory_drop($job)",
					"SELECT batchintory_alter($job, max_count => 3)",
					"SELECT * FROM batchintory_backlog($job)",
					"SELECT * FROM batchintory_lookup($job, 5)",
					"SELECT batchintory_register('f1', 'assets', 'id')",
					"SELECT * FROM batchintory.jobs")
				  . "; COMMIT");
		} ])->();
}

my @top_ops = (
	[ 91.5, \&simple_op ],
	[ 2.5, \&op_restore ],
	[ 0.7, \&op_recycle ],
	[ 0.5, \&op_sleep ],
	[ 5.5, \&op_block ]);

# the recycler: a third session that only drops valid jobs and registers
# them again, a little apart, so that drops race every function the other
# sessions call
my @recycler_ops = (
	[ 3, \&op_recycle ],
	[ 1, sub { return "SELECT pg_sleep(" . pick('0.01', '0.03', '0.1') . ")"; } ]);

#
# script(seed, session, calls, recycler)
#	  The psql script of one session: a header (settings, a temp table,
#	  slot variables) then `calls` calls (with recycler, of the recycler's
#	  kind).  Returns {text, lines, calls}, where lines maps a script line
#	  number to the call number.
#
sub script
{
	my ($seed, $session, $calls, $recycler) = @_;
	my @ops = $recycler ? @recycler_ops : @top_ops;
	srand($seed * 7919 + $session);
	my @header = (
		'\set VERBOSITY verbose',
		'\set ECHO errors',
		'\o /dev/null',
		"SET application_name = 'fuzz$session';",
		"SET statement_timeout = '2s';",
		"SET lock_timeout = '500ms';",
		'CREATE TEMP TABLE tmp_assets (id bigserial PRIMARY KEY, bytes int);',
		(map { "\\set b$_ 0\n\\set a$_ 0" } 0 .. $slots - 1));
	my $text = join("\n", @header) . "\n";
	my $line = () = $text =~ /\n/g;
	my %lines;
	for my $call (1 .. $calls)
	{
		my $op = weighted(@ops);
		for my $stmt ($op->())
		{
			my $sql = $stmt =~ /\\gset$/ || $stmt =~ /;$/ ? $stmt : "$stmt;";
			die "multi-line statement: $sql" if $sql =~ /\n/;
			$text .= "$sql\n";
			$lines{ ++$line } = $call;
		}
		$text .= "\\echo \@$call\n";
		$line++;
	}
	$text .= "\\echo done\n";
	return { text => $text, lines => \%lines, calls => $calls };
}

1;
