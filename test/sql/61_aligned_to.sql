-- tl_run.aligned_to is a plain number: it neither reveals nor locks runs a
-- role cannot see, and tl_analyze aligns a run only to a run its analyst
-- sees (doc/security.md).
CREATE ROLE al_alice;
CREATE ROLE al_bob;
SELECT tl_grant_usage('al_alice'), tl_grant_usage('al_bob');
-- alice's first epoch of a dataset, placed
SET SESSION AUTHORIZATION al_alice;
INSERT INTO tl_run (model, dataset, subset, epoch) VALUES ('al_model', 'shared name', 'test', 1) RETURNING id AS alice_run \gset
INSERT INTO tl_result (run, sample_id, label, output, perception)
SELECT :alice_run, i, i % 2, ARRAY[0.5]::real[], ARRAY[sin(i), cos(i), sin(2 * i)]::real[] FROM generate_series(1, 30) i;
SELECT status, aligned_to FROM tl_run WHERE id = :alice_run;
RESET SESSION AUTHORIZATION;

SET SESSION AUTHORIZATION al_bob;
-- probing: a hidden run and a run that does not exist look the same
INSERT INTO tl_run (model, dataset, aligned_to) VALUES ('al_model', 'probe', :alice_run) RETURNING aligned_to IS NOT NULL AS accepted;
INSERT INTO tl_run (model, dataset, aligned_to) VALUES ('al_model', 'probe', 2000000000) RETURNING aligned_to IS NOT NULL AS accepted;
SELECT count(*) AS visible FROM tl_run WHERE id = :alice_run;
-- bob's second epoch of the same model, dataset and subset: alice's first
-- epoch is not his to align to
BEGIN;
INSERT INTO tl_run (model, dataset, subset, epoch) VALUES ('al_model', 'shared name', 'test', 2) RETURNING id AS bob_run \gset
INSERT INTO tl_result (run, sample_id, label, output, perception)
SELECT :bob_run, i, i % 2, ARRAY[0.5]::real[], ARRAY[cos(i), sin(i), sin(3 * i)]::real[] FROM generate_series(1, 30) i;
COMMIT;
SELECT status, aligned_to FROM tl_run WHERE id = :bob_run;
SELECT tl_analyze(:bob_run) AS placed, (SELECT aligned_to FROM tl_run WHERE id = :bob_run) AS aligned_to;
RESET SESSION AUTHORIZATION;

-- alice's run is not locked by bob's references: she deletes it
SET SESSION AUTHORIZATION al_alice;
DELETE FROM tl_run WHERE id = :alice_run;
RESET SESSION AUTHORIZATION;
-- her own second epoch aligns to her first
SET SESSION AUTHORIZATION al_alice;
INSERT INTO tl_run (model, dataset, subset, epoch) VALUES ('al_model', 'shared name', 'test', 1) RETURNING id AS alice_run \gset
INSERT INTO tl_result (run, sample_id, label, output, perception)
SELECT :alice_run, i, i % 2, ARRAY[0.5]::real[], ARRAY[sin(i), cos(i), sin(2 * i)]::real[] FROM generate_series(1, 30) i;
INSERT INTO tl_run (model, dataset, subset, epoch) VALUES ('al_model', 'shared name', 'test', 2) RETURNING id AS alice_run2 \gset
INSERT INTO tl_result (run, sample_id, label, output, perception)
SELECT :alice_run2, i, i % 2, ARRAY[0.5]::real[], ARRAY[sin(i) + 0.01, cos(i), sin(2 * i)]::real[] FROM generate_series(1, 30) i;
SELECT aligned_to = :alice_run AS aligned_to_her_first FROM tl_run WHERE id = :alice_run2;
RESET SESSION AUTHORIZATION;

DELETE FROM tl_run WHERE created_by IN ('al_alice', 'al_bob');
SELECT tl_revoke_usage('al_alice'), tl_revoke_usage('al_bob');
DROP ROLE al_alice, al_bob;
