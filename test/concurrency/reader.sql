-- An analyst reading the views while pipelines write.
\set ON_ERROR_STOP on
\set QUIET on
SELECT count(*) FROM tl_population WHERE dataset = 'concurrency' \g /dev/null
SELECT * FROM tl_class_metrics \g /dev/null
SELECT count(*) FROM tl_run WHERE dataset = 'concurrency' AND status = 'ready' \g /dev/null
