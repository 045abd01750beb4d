# batchintory: PGXS build of the extension, its command-line client and tests

EXTENSION = batchintory
EXTVERSION = $(shell sed -n "s/^default_version[[:space:]]*=[[:space:]]*'\([^']*\)'.*/\1/p" $(EXTENSION).control)

MODULE_big = batchintory
OBJS = src/batchintory.o src/spi_util.o src/filter.o src/job.o src/cut.o \
	src/guard.o src/acquire.o src/release.o src/verify.o src/observe.o

DATA_built = $(EXTENSION)--$(EXTVERSION).sql
EXTRA_CLEAN = $(DATA_built)

# pg_regress: sql/*.sql against expected/*.out; isolation: test/specs/*.spec
# against test/expected/*.out; TAP: test/t/*.pl
REGRESS = core verify observe
ISOLATION = acquire_concurrent acquire_isolation lease_fencing late_commit
ISOLATION_OPTS = --inputdir=test
TAP_TESTS = 1
PROVE_TESTS = test/t/*.pl

PG_CPPFLAGS = -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers
ifdef WERROR
PG_CPPFLAGS += -Werror
endif

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

$(EXTENSION)--$(EXTVERSION).sql: $(sort $(wildcard sql/install/*.sql))
	cat $^ > $@

# the command-line client, built against libpq and installed next to psql
CLIENT_OBJS = client/batchintory.o client/args.o client/db.o client/output.o \
	client/jobs.o client/batches.o client/inspect.o client/wait.o \
	client/progress.o client/command.o client/run.o

all: client/batchintory

client/%.o: client/%.c client/client.h
	$(CC) $(CFLAGS) $(PG_CPPFLAGS) -DBATCHINTORY_VERSION='"$(EXTVERSION)"' \
		-I$(shell $(PG_CONFIG) --includedir) -c -o $@ $<

client/batchintory: $(CLIENT_OBJS)
	$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) -L$(shell $(PG_CONFIG) --libdir) -lpq -lm

install: install-client
install-client: client/batchintory
	$(MKDIR_P) '$(DESTDIR)$(bindir)'
	$(INSTALL_PROGRAM) client/batchintory '$(DESTDIR)$(bindir)/batchintory'

uninstall: uninstall-client
uninstall-client:
	rm -f '$(DESTDIR)$(bindir)/batchintory'

clean: clean-client
clean-client:
	rm -f client/batchintory $(CLIENT_OBJS)

.PHONY: install-client uninstall-client clean-client
