-- A concurrent writer for the late-commit guard runs: one new asset per
-- committed transaction, its key drawn from the sequence.
INSERT INTO files_big (bytes, kind) VALUES (4096, 'image');
