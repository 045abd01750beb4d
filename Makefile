# batchintory: PGXS build of the extension, its command-line client and tests

EXTENSION = batchintory
EXTVERSION = $(shell sed -n "s/^default_version[[:space:]]*=[[:space:]]*'\([^']*\)'.*/\1/p" $(EXTENSION).control)

MODULE_big = batchintory
OBJS = src/batchintory.o src/spi_util.o src/filter.o src/job.o src/cut.o \
	src/guard.o src/acquire.o src/release.o

DATA_built = $(EXTENSION)--$(EXTVERSION).sql
EXTRA_CLEAN = $(DATA_built)

# pg_regress: sql/*.sql against expected/*.out; isolation: test/specs/*.spec
# against test/expected/*.out; TAP: test/t/*.pl
REGRESS = core
ISOLATION =
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
