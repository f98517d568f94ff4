-- test/load/analyst.sql — one pgbench transaction of an analyst: a model
-- prediction for one sample, and the mislabel search on the newest analysed
-- run (the role's own: row-level security).
\set id random(1, 500)
SELECT tl_infer('emb', tokens) FROM load_samples WHERE id = :id;
SELECT count(*) FROM tl_label_issues((SELECT max(id) FROM tl_run WHERE dataset = 'load' AND status = 'ready'), 10);
