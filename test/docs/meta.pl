#!/usr/bin/env perl
# META.json against the PGXN Meta Spec 1.0 (https://pgxn.org/spec/): the
# required keys and the type of every key the spec knows, no key it does not
# know (but custom x_ keys), and the versions equal to default_version of
# batchintory.control. Prints TAP ("ok N - ..."); needs only core Perl.
#
#   perl test/docs/meta.pl [META.json]
use strict;
use warnings;
use File::Basename qw(dirname);
use JSON::PP;

my $top = dirname(dirname(dirname(__FILE__)));
my $file = $ARGV[0] // "$top/META.json";

my $t = 0;
my $failed = 0;
my @problems;

sub ok
{
	my ($cond, $what) = @_;
	$t++;
	print(($cond ? "ok" : "not ok") . " $t - $what\n");
	if (!$cond)
	{
		$failed++;
		print "# $_\n" for @problems;
	}
	@problems = ();
	return $cond;
}

sub slurp
{
	my ($path) = @_;
	open(my $fh, '<', $path) or return undef;
	local $/;
	my $text = <$fh>;
	close $fh;
	return $text;
}

# the spec's types
my $semver = qr/^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;
my $term = qr/^[^\/\\\s\p{Cntrl}]{2,}$/;
my $tag = qr/^[^\/\\\p{Cntrl}]{2,255}$/;
my $uri = qr/^[a-zA-Z][a-zA-Z0-9+.-]*:\S+$/;
my %licenses = map { $_ => 1 } qw(agpl_3 apache_1_1 apache_2_0 artistic_1 artistic_2 bsd
  freebsd gfdl_1_2 gfdl_1_3 gpl_1 gpl_2 gpl_3 lgpl_2_1 lgpl_3_0 mit mozilla_1_0 mozilla_1_1
  openssl perl_5 postgresql qpl_1_0 ssleay sun zlib open_source restricted unrestricted unknown);

sub problem { push @problems, @_; return 0; }
sub is_string { my ($v) = @_; return defined $v && !ref $v && length($v) > 0; }
sub is_object { return ref $_[0] eq 'HASH'; }
sub is_array { return ref $_[0] eq 'ARRAY'; }

# keys: KEY => checker; a key not listed (and not x_...) is a problem
sub check_keys
{
	my ($where, $obj, %known) = @_;
	return problem("$where: must be an object") unless is_object($obj);
	for my $k (sort keys %$obj)
	{
		next if $k =~ /^[xX]_./;
		if (!$known{$k})
		{
			problem("$where: unknown key \"$k\"");
			next;
		}
		$known{$k}->("$where.$k", $obj->{$k});
	}
	return 1;
}

sub check_string
{
	my ($where, $v) = @_;
	is_string($v) or problem("$where: must be a non-empty string");
}

sub check_version
{
	my ($where, $v) = @_;
	is_string($v) && $v =~ $semver or problem("$where: must be a semantic version (x.y.z), not " . encode_json([$v]));
}

sub check_uri
{
	my ($where, $v) = @_;
	is_string($v) && $v =~ $uri or problem("$where: must be a URI");
}

sub check_path
{
	my ($where, $v) = @_;
	return problem("$where: must be a relative path with / separators")
	  unless is_string($v) && $v !~ m{^/} && $v !~ m{\\} && $v !~ m{(^|/)\.\.(/|$)};
	-e "$top/$v" or problem("$where: \"$v\" does not exist in the repository");
}

sub check_version_range
{
	my ($where, $v) = @_;
	return if defined $v && !ref $v && $v =~ /^0$/;
	return problem("$where: must be a version (range) or 0") unless is_string($v);
	for my $part (split /\s*,\s*/, $v)
	{
		$part =~ /^(?:(?:==|!=|>=|<=|>|<)\s*)?(\S+)$/ && $1 =~ $semver
		  or problem("$where: \"$part\" is not a version or a version range");
	}
}

my $text = slurp($file);
ok(defined $text, "META.json exists") or do { print "1..$t\n"; exit 1; };
my $meta = eval { JSON::PP->new->utf8->decode($text) };
ok(is_object($meta), 'META.json is a JSON object') or do { print "# $@\n"; print "1..$t\n"; exit 1; };

# required keys
for my $k (qw(name abstract version maintainer license provides meta-spec))
{
	exists $meta->{$k} or problem("missing required key \"$k\"");
}
ok(!@problems, 'it has every required key: name, abstract, version, maintainer, license, provides, meta-spec');

my %bugtracker = (web => \&check_uri, mailto => \&check_string);
my %repository = (url => \&check_uri, web => \&check_uri, type => sub {
		my ($w, $v) = @_;
		is_string($v) && $v eq lc $v or problem("$w: must be a lower-case string");
	});
my %phase = map {
	my $rel = $_;
	$rel => sub {
		my ($w, $v) = @_;
		return problem("$w: must be an object of prerequisites") unless is_object($v) && %$v;
		for my $name (sort keys %$v)
		{
			$name =~ $term or problem("$w: \"$name\" is not a valid name");
			check_version_range("$w.$name", $v->{$name});
		}
	}
} qw(requires recommends suggests conflicts);

check_keys('META.json', $meta,
	name => sub { my ($w, $v) = @_; is_string($v) && $v =~ $term or problem("$w: must be a term (2+ characters, no slash, backslash, space)"); },
	abstract => \&check_string,
	description => \&check_string,
	generated_by => \&check_string,
	version => \&check_version,
	maintainer => sub {
		my ($w, $v) = @_;
		return if is_string($v);
		return problem("$w: must be a string or a non-empty array of strings")
		  unless is_array($v) && @$v;
		is_string($_) or problem("$w: every maintainer must be a non-empty string") for @$v;
	},
	license => sub {
		my ($w, $v) = @_;
		return if is_string($v) && $licenses{$v};
		if (is_array($v) && @$v)
		{
			$licenses{ $_ // '' } or problem("$w: unknown license " . encode_json([$_])) for @$v;
			return;
		}
		if (is_object($v) && %$v)
		{
			check_uri("$w.$_", $v->{$_}) for sort keys %$v;
			return;
		}
		problem("$w: must be a known license name, a list of them, or an object of name => URI");
	},
	provides => sub {
		my ($w, $v) = @_;
		return problem("$w: must be a non-empty object") unless is_object($v) && %$v;
		for my $ext (sort keys %$v)
		{
			$ext =~ $term or problem("$w: \"$ext\" is not a valid extension name");
			my $e = $v->{$ext};
			is_object($e) && exists $e->{file} && exists $e->{version}
			  or problem("$w.$ext: must have \"file\" and \"version\"");
			check_keys("$w.$ext", $e,
				file => \&check_path,
				version => \&check_version,
				abstract => \&check_string,
				docfile => \&check_path);
		}
	},
	'meta-spec' => sub {
		my ($w, $v) = @_;
		is_object($v) && exists $v->{version} or return problem("$w: must be an object with \"version\"");
		check_keys($w, $v,
			version => sub { my ($w2, $x) = @_; is_string($x) && $x =~ /^1\.0\.\d+$/ or problem("$w2: must be 1.0.x"); },
			url => sub { my ($w2, $x) = @_; is_string($x) && $x =~ m{^https?://pgxn\.org/meta/spec\.txt$} or problem("$w2: must be https://pgxn.org/meta/spec.txt"); });
	},
	release_status => sub {
		my ($w, $v) = @_;
		is_string($v) && $v =~ /^(stable|testing|unstable)$/ or problem("$w: must be stable, testing or unstable");
	},
	tags => sub {
		my ($w, $v) = @_;
		return problem("$w: must be a non-empty array") unless is_array($v) && @$v;
		is_string($_) && $_ =~ $tag or problem("$w: invalid tag " . encode_json([$_])) for @$v;
	},
	no_index => sub {
		my ($w, $v) = @_;
		check_keys($w, $v, map {
			$_ => sub {
				my ($w2, $x) = @_;
				return if is_string($x);
				is_array($x) && !grep { !is_string($_) } @$x or problem("$w2: must be a string or an array of strings");
			}
		} qw(file directory));
	},
	prereqs => sub {
		my ($w, $v) = @_;
		check_keys($w, $v, map {
			$_ => sub { my ($w2, $x) = @_; check_keys($w2, $x, %phase); }
		} qw(configure build test runtime develop));
	},
	resources => sub {
		my ($w, $v) = @_;
		return problem("$w: must be a non-empty object") unless is_object($v) && %$v;
		check_keys($w, $v,
			homepage => \&check_uri,
			bugtracker => sub { my ($w2, $x) = @_; check_keys($w2, $x, %bugtracker); },
			repository => sub {
				my ($w2, $x) = @_;
				check_keys($w2, $x, %repository);
				is_object($x) && (exists $x->{web} || (exists $x->{url} && exists $x->{type}))
				  or problem("$w2: needs \"web\", or \"url\" and \"type\"");
			});
	});
ok(!@problems, 'every key has the type the PGXN Meta Spec 1.0 gives it, and no key is unknown');

# what the project promises in it
my $pg = eval { $meta->{prereqs}{runtime}{requires}{PostgreSQL} } // '';
$pg =~ /^(?:>=\s*)?15\.\d+\.\d+$/ or problem("prereqs.runtime.requires.PostgreSQL is \"$pg\", not 15.x.y");
($meta->{license} // '') eq 'postgresql' or problem('license is not "postgresql"')
  if !ref $meta->{license};
ref $meta->{license} and problem('license is not the string "postgresql"');
exists $meta->{provides}{batchintory} or problem('provides has no "batchintory"');
is_object($meta->{resources}) or problem('no resources');
is_array($meta->{tags}) or problem('no tags');
ok(!@problems, 'license postgresql, runtime prerequisite PostgreSQL 15, provides batchintory, resources and tags');

my $control = slurp("$top/batchintory.control") // '';
my ($default) = $control =~ /^default_version\s*=\s*'([^']*)'/m;
problem('batchintory.control has no default_version') unless defined $default;
$default //= '';
for my $where ([ 'version', $meta->{version} ],
	[ 'provides.batchintory.version', eval { $meta->{provides}{batchintory}{version} } ])
{
	my ($k, $v) = @$where;
	($v // '') eq $default
	  or problem("META.json $k is \"" . ($v // '') . "\", batchintory.control says default_version = '$default'");
}
ok(!@problems, "its versions equal default_version of batchintory.control ($default)");

print "1..$t\n";
exit($failed ? 1 : 0);
