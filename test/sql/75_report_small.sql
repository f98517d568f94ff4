-- The report of a run with few labelled samples (1 to 12; it failed at 10
-- or fewer): label issues use fewer neighbours, k below the sample count.
\getenv fixtures TL_FIXTURES
SELECT tl_model_load('rs_tiny', :'fixtures' || '/tiny_dense.h5') AS revision;
CREATE FUNCTION rs_run(n integer) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    id integer;
BEGIN
    INSERT INTO tl_run (model, dataset, input_query)
    VALUES ('rs_tiny', 'small ' || n, format('SELECT i, ARRAY[i, 0, -i]::real[] FROM generate_series(1, %s) i', n))
    RETURNING tl_run.id INTO id;
    INSERT INTO tl_result (run, sample_id, label) SELECT id, i, i % 2 FROM generate_series(1, n) i;
    RETURN id;
END $$;
SELECT count(rs_run(n)) AS runs FROM generate_series(1, 12) n;
SELECT r.dataset, r.status, r.analysis_error, length(tl_html_report(r.id)) > length(tl_report_template()) AS report
  FROM tl_run r WHERE r.dataset LIKE 'small %' ORDER BY r.id;
-- the report lists label issues once there are 2 labelled samples
SELECT r.dataset, position('"suggested"' IN tl_html_report(r.id)) > 0 AS lists_issues
  FROM tl_run r WHERE r.dataset IN ('small 1', 'small 2', 'small 3', 'small 10') ORDER BY r.id;
DELETE FROM tl_run WHERE dataset LIKE 'small %';
DELETE FROM tl_model WHERE name = 'rs_tiny';
DROP FUNCTION rs_run(integer);
