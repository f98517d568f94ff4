-- test/load/pipeline.sql — one pgbench transaction = one epoch of a training
-- pipeline: a run and its 500 results in one transaction; the analysis
-- (perception PCA, alignment to the client's previous epoch) runs at commit.
BEGIN;
INSERT INTO tl_run (model, dataset, subset) VALUES ('emb', 'load', 'client ' || :client_id) RETURNING id AS run \gset
INSERT INTO tl_result (run, sample_id, label, output, loss, perception)
SELECT :run, s.id, s.label, s.output, s.loss, s.perception FROM load_samples s;
COMMIT;
