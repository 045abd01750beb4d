-- The jobs view, every job (what a dashboard polls).
SELECT * FROM batchintory.jobs;
