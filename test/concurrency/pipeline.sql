-- One pipeline: three epochs, one transaction each (psql -v name=... -v n=...).
\set ON_ERROR_STOP on
\set QUIET on
BEGIN;
INSERT INTO tl_run (model, dataset, epoch) VALUES (:'name', 'concurrency', 1) RETURNING id AS run \gset
INSERT INTO tl_result (run, sample_id, label, output, perception)
SELECT :run, id, id % 2, ARRAY[0.5 + 0.4 * sin(id * 1)]::real[],
       ARRAY[sin(id), cos(id * 1), sin(id) * cos(id), 1]::real[]
  FROM generate_series(1, :n) id;
COMMIT;
BEGIN;
INSERT INTO tl_run (model, dataset, epoch) VALUES (:'name', 'concurrency', 2) RETURNING id AS run \gset
INSERT INTO tl_result (run, sample_id, label, output, perception)
SELECT :run, id, id % 2, ARRAY[0.5 + 0.4 * sin(id * 2)]::real[],
       ARRAY[sin(id), cos(id * 2), sin(id) * cos(id), 2]::real[]
  FROM generate_series(1, :n) id;
COMMIT;
BEGIN;
INSERT INTO tl_run (model, dataset, epoch) VALUES (:'name', 'concurrency', 3) RETURNING id AS run \gset
INSERT INTO tl_result (run, sample_id, label, output, perception)
SELECT :run, id, id % 2, ARRAY[0.5 + 0.4 * sin(id * 3)]::real[],
       ARRAY[sin(id), cos(id * 3), sin(id) * cos(id), 3]::real[]
  FROM generate_series(1, :n) id;
COMMIT;
