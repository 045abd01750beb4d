# batchintory: PGXS build of the extension, its command-line client and tests

EXTENSION = batchintory
EXTVERSION = $(shell sed -n "s/^default_version[[:space:]]*=[[:space:]]*'\([^']*\)'.*/\1/p" $(EXTENSION).control)

MODULE_big = batchintory
OBJS = src/module.o src/security.o src/spi_util.o src/settings.o \
	src/inventory/tables.o src/inventory/jobs.o src/inventory/batch_row.o src/inventory/batches.o \
	src/inventory/attempts.o src/source.o src/jobcache.o src/scan.o \
	src/sequence.o src/guard.o src/job.o src/acquire.o src/release.o src/notify.o \
	src/keys.o src/windows.o src/late.o src/verify.o src/estimates.o src/observe.o src/newest.o src/pipeline.o src/schedule.o

# only the SQL-callable functions and _PG_init leave the library
SHLIB_LINK += -Wl,--version-script=$(srcdir)/src/exports.list

# what make install puts on a server: src/scripts/ -- the install script of
# this version is built from src/scripts/install/*.sql; the scripts of
# released versions (src/scripts/released/) are kept as they are
DATA_built = $(EXTENSION)--$(EXTVERSION).sql $(EXTENSION)--0.2.0--$(EXTVERSION).sql
DATA = $(wildcard src/scripts/released/*.sql)
EXTRA_CLEAN = $(DATA_built)

# pg_regress: sql/*.sql (tests only) against expected/*.out; isolation: test/specs/*.spec
# against test/expected/*.out; TAP: test/t/*.pl
REGRESS = core verify observe dashboard security hardening inventory notify pipeline failures \
	stored_pipelines key_ranges time_keys windows late \
	walkthrough
ISOLATION = acquire_concurrent acquire_isolation lease_fencing late_commit \
	partition_guard register_race release_race reregister_race verify_race drop_race \
	lock_tag late_arrivals
ISOLATION_OPTS = --inputdir=test
TAP_TESTS = 1
PROVE_TESTS = test/t/*.pl

PG_CPPFLAGS = -I$(srcdir)/src -DBI_EXTVERSION='"$(EXTVERSION)"' \
	-Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers
ifdef WERROR
PG_CPPFLAGS += -Werror
endif

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# a change of one of our headers rebuilds every object and bitcode file
# (PGXS tracks header dependencies only for a server built with
# --enable-depend, which Debian's is not): a tree updated by git pull must
# not link objects compiled against the old layout of a struct
$(OBJS) $(OBJS:.o=.bc): $(wildcard src/*.h src/inventory/*.h)

# the regression suite once more with every function of the extension run
# under a hostile search_path (sql/hostile_setup.sql)
installcheck-hostile:
	$(MAKE) installcheck REGRESS="hostile_setup $(filter-out walkthrough,$(REGRESS))" \
		ISOLATION= TAP_TESTS=
.PHONY: installcheck-hostile

$(EXTENSION)--$(EXTVERSION).sql: $(sort $(wildcard src/scripts/install/*.sql))
	cat $^ > $@

# the update from the last release: the tables changed, then this
# version's functions and views (which the install scripts from 10_ on
# create or replace); frozen into src/scripts/released/ on release, as
# those of 0.1.0 and 0.2.0 were
UPGRADE_FROM_0_2_0 = src/scripts/upgrade/0.2.0--0.3.0.sql \
	$(filter-out src/scripts/install/00_%,$(sort $(wildcard src/scripts/install/*.sql)))
$(EXTENSION)--0.2.0--$(EXTVERSION).sql: $(UPGRADE_FROM_0_2_0)
	cat $^ > $@

# the command-line client, built against libpq, and its manual page
CLIENT_OBJS = client/batchintory.o client/args.o client/db.o client/output.o \
	client/jobs.o client/batches.o client/inspect.o client/wait.o \
	client/progress.o client/command.o client/run.o

all: client/batchintory

client/%.o: client/%.c client/client.h
	$(CC) $(CFLAGS) $(PG_CPPFLAGS) -DBATCHINTORY_VERSION='"$(EXTVERSION)"' \
		-I$(shell $(PG_CONFIG) --includedir) -c -o $@ $<

client/batchintory: $(CLIENT_OBJS)
	$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) -L$(shell $(PG_CONFIG) --libdir) -lpq -lm

# Installed next to psql and its manual page (pg_config --bindir, --mandir).
# Where those are not on the PATH and MANPATH (Debian: /usr/lib/postgresql/N/
# bin), a relative symbolic link in <prefix>/bin and <prefix>/share/man/man1
# (/usr/bin, /usr/share/man/man1; the prefix PostgreSQL was configured with,
# which PGXS does not define) makes "batchintory" and "man batchintory" work
# as psql's do, also under cron's PATH (/usr/bin:/bin); an existing file
# there that is not such a link is left alone (client/install-link.sh).
# CLIENT_LINKS=no leaves the links out (a package of one PostgreSQL version
# that provides its own).
CLIENT_LINKS ?= yes
CLIENT_PREFIX ?= $(shell $(PG_CONFIG) --configure | sed -n "s/.*'--prefix=\([^']*\)'.*/\1/p")
CLIENT_LINK_BINDIR ?= $(if $(CLIENT_PREFIX),$(CLIENT_PREFIX)/bin)
CLIENT_LINK_MANDIR ?= $(if $(CLIENT_PREFIX),$(CLIENT_PREFIX)/share/man/man1)
CLIENT_LINK = $(SHELL) $(srcdir)/client/install-link.sh

install: install-client
install-client: client/batchintory
	$(MKDIR_P) '$(DESTDIR)$(bindir)' '$(DESTDIR)$(mandir)/man1'
	$(INSTALL_PROGRAM) client/batchintory '$(DESTDIR)$(bindir)/batchintory'
	sed 's/@EXTVERSION@/$(EXTVERSION)/g' $(srcdir)/client/batchintory.1 > '$(DESTDIR)$(mandir)/man1/batchintory.1'
	chmod 644 '$(DESTDIR)$(mandir)/man1/batchintory.1'
ifeq ($(CLIENT_LINKS)$(if $(CLIENT_LINK_BINDIR),,no),yes)
	$(CLIENT_LINK) install '$(DESTDIR)' '$(bindir)/batchintory' '$(CLIENT_LINK_BINDIR)/batchintory'
	$(CLIENT_LINK) install '$(DESTDIR)' '$(mandir)/man1/batchintory.1' '$(CLIENT_LINK_MANDIR)/batchintory.1'
endif

uninstall: uninstall-client
uninstall-client:
ifneq ($(CLIENT_LINK_BINDIR),)
	$(CLIENT_LINK) uninstall '$(DESTDIR)' '$(bindir)/batchintory' '$(CLIENT_LINK_BINDIR)/batchintory'
	$(CLIENT_LINK) uninstall '$(DESTDIR)' '$(mandir)/man1/batchintory.1' '$(CLIENT_LINK_MANDIR)/batchintory.1'
endif
	rm -f '$(DESTDIR)$(bindir)/batchintory' '$(DESTDIR)$(mandir)/man1/batchintory.1'

clean: clean-client
clean-client:
	rm -f client/batchintory $(CLIENT_OBJS)

.PHONY: install-client uninstall-client clean-client

# the source archive batchintory-<version>.zip of HEAD (committed files only),
# under a top directory batchintory-<version>/, META.json at its root
DISTNAME = $(EXTENSION)-$(EXTVERSION)
dist:
	@git diff --quiet HEAD -- 2>/dev/null || \
		echo "make dist: warning: uncommitted changes are not in $(DISTNAME).zip (it archives HEAD)" >&2
	git archive --format=zip --prefix=$(DISTNAME)/ -o $(DISTNAME).zip HEAD

.PHONY: dist
