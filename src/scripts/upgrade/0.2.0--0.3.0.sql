-- batchintory 0.2.0 -> 0.3.0, first part: the inventory's tables.  The
-- functions and views of 0.3.0 follow (src/scripts/install/10..30).
\echo Use "ALTER EXTENSION batchintory UPDATE TO '0.3.0'" to load this file. \quit
