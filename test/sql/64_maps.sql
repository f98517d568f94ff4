-- Population maps: UMAP and t-SNE, standalone on any table and as tl_analyze's
-- map, warm starts between epochs, placing a run into another run's map, bad
-- input and privileges.  Self-contained: blobs planted here.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS tensorlens;
RESET client_min_messages;
-- errors as "SQLSTATE: message", run ids as N (they depend on earlier tests)
CREATE FUNCTION map_error(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || regexp_replace(SQLERRM, 'run \d+', 'run N', 'g');
END $$;
-- a statement stopped by statement_timeout: its SQLSTATE, and whether it
-- stopped within 2 s of the timeout
CREATE FUNCTION stopped_by_timeout(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN
    EXECUTE q;
    RETURN 'no error';
EXCEPTION WHEN query_canceled THEN
    RETURN SQLSTATE || CASE WHEN clock_timestamp() - t0 < interval '2.3 s' THEN ' in time' ELSE ' late' END;
END $$;
-- blob b of width w: 10 on axis b, a deterministic spread below 1 elsewhere
CREATE FUNCTION blob_vec(b integer, i integer, w integer, salt integer DEFAULT 0) RETURNS real[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT array_agg(((CASE WHEN j = b THEN 10 ELSE 0 END)
                      + (abs(hashint4(i * 131 + j * 7 + salt)) % 1000) / 1000.0)::real ORDER BY j)
      FROM generate_series(0, w - 1) j
$$;
-- the points whose nearest other point in the map lies in another blob
CREATE FUNCTION misplaced(tbl text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
    EXECUTE format($q$
        SELECT count(*) FROM %1$s a, LATERAL (
            SELECT b.blob FROM %1$s b WHERE b.id <> a.id
             ORDER BY (a.x - b.x) ^ 2 + (a.y - b.y) ^ 2 + coalesce((a.z - b.z) ^ 2, 0), b.id LIMIT 1) nn
         WHERE nn.blob <> a.blob$q$, tbl) INTO n;
    RETURN n;
END $$;

-- ---- standalone: any table ------------------------------------------------------
CREATE TABLE blobs (id integer PRIMARY KEY, blob integer, vec real[], x real, y real, z double precision);
INSERT INTO blobs SELECT i, i % 3, blob_vec(i % 3, i, 6) FROM generate_series(1, 150) i;
SELECT tl_embed_umap('blobs', 'vec') AS written;
SELECT count(x) AS placed, count(z) AS z_untouched, misplaced('blobs') AS misplaced FROM blobs;
-- the same rows in another physical order give the same map, bit for bit
CREATE TABLE blobs_again (LIKE blobs);
INSERT INTO blobs_again SELECT id, blob, vec FROM blobs ORDER BY id DESC;
SELECT tl_embed_umap('blobs_again', 'vec') AS written;
SELECT count(*) FILTER (WHERE a.x = b.x AND a.y = b.y) AS identical, count(*) AS of
  FROM blobs a JOIN blobs_again b USING (id);
-- another seed, another map
SELECT tl_embed_umap('blobs_again', 'vec', seed => 1) AS written;
SELECT count(*) FILTER (WHERE a.x = b.x AND a.y = b.y) AS identical_other_seed
  FROM blobs a JOIN blobs_again b USING (id);
-- 3-D, and t-SNE; a filter maps some rows and leaves the others alone
SELECT tl_embed_umap('blobs', 'vec', '{x,y,z}', n_neighbors => 10, min_dist => 0.3) AS written;
SELECT count(z) AS with_z, misplaced('blobs') AS misplaced FROM blobs;
UPDATE blobs SET x = NULL, y = NULL, z = NULL;
SELECT tl_embed_tsne('blobs', 'vec', filter => 'id <= 120', perplexity => 20) AS written;
SELECT count(x) AS placed, misplaced('(SELECT * FROM blobs WHERE id <= 120)') AS misplaced FROM blobs;
SELECT tl_embed_tsne('blobs', 'vec', '{x,y,z}') AS written;
SELECT misplaced('blobs') AS misplaced_3d;

-- placing new rows into a map: rows matching fixed keep their coordinates
-- bit for bit, the others land among their own blob
INSERT INTO blobs SELECT i, i % 3, blob_vec(i % 3, i, 6, 99) FROM generate_series(151, 180) i;
CREATE TABLE before AS SELECT id, x, y, z FROM blobs WHERE id <= 150;
SELECT tl_embed_tsne('blobs', 'vec', '{x,y,z}', fixed => 'id <= 150') AS written;
SELECT count(*) AS moved FROM blobs b JOIN before o USING (id)
 WHERE b.x <> o.x OR b.y <> o.y OR b.z <> o.z;
SELECT count(*) AS new_misplaced FROM blobs a, LATERAL (
    SELECT o.blob FROM blobs o WHERE o.id <= 150
     ORDER BY (a.x - o.x) ^ 2 + (a.y - o.y) ^ 2 + (a.z - o.z) ^ 2 LIMIT 1) nn
 WHERE a.id > 150 AND nn.blob <> a.blob;
SELECT tl_embed_umap('blobs', 'vec', '{x,y,z}', fixed => 'true') AS nothing_to_place;

-- ---- bad input: each an ERROR with its SQLSTATE --------------------------------
CREATE VIEW blobs_view AS SELECT * FROM blobs;
SELECT map_error($$SELECT tl_embed_umap('blobs', 'vec', '{x}')$$);
SELECT map_error($$SELECT tl_embed_umap('blobs', 'vec', '{x,y,z,x}')$$);
SELECT map_error($$SELECT tl_embed_umap('blobs', 'vec', '{x,NULL}')$$);
SELECT map_error($$SELECT tl_embed_umap('blobs', NULL)$$);
SELECT map_error($$SELECT tl_embed_umap('blobs_view', 'vec')$$);
SELECT map_error($$SELECT tl_embed_umap('blobs', 'no_such_column')$$);
SELECT map_error($$SELECT tl_embed_umap('blobs', 'vec', filter => 'id < 10')$$);
SELECT map_error($$SELECT tl_embed_umap('blobs', 'vec', filter => 'false')$$);
SELECT map_error($$SELECT tl_embed_umap('blobs', 'vec', n_neighbors => 1)$$);
SELECT map_error($$SELECT tl_embed_umap('blobs', 'vec', min_dist => 1)$$);
SELECT map_error($$SELECT tl_embed_umap('blobs', 'vec', iterations => -1)$$);
SELECT map_error($$SELECT tl_embed_tsne('blobs', 'vec', perplexity => 0)$$);
SELECT map_error($$SELECT tl_embed_tsne('blobs', 'vec', filter => 'id <= 30')$$);
UPDATE blobs SET x = NULL WHERE id = 1;
SELECT map_error($$SELECT tl_embed_tsne('blobs', 'vec', fixed => 'id < 50')$$);
UPDATE blobs SET vec = vec || '{1}'::real[] WHERE id = 2;
SELECT map_error($$SELECT tl_embed_umap('blobs', 'vec')$$);
UPDATE blobs SET vec = '{1,NaN,0,0,0,0}' WHERE id = 2;
SELECT map_error($$SELECT tl_embed_umap('blobs', 'vec')$$);
UPDATE blobs SET vec = blob_vec(2, 2, 6) WHERE id = 2;

-- ---- statement_timeout inside the optimisation ----------------------------------
-- (100,000 iterations would take minutes; the optimisation checks for
-- interrupts every epoch/iteration)
SET statement_timeout = '300ms';
SELECT stopped_by_timeout($$SELECT tl_embed_tsne('blobs', 'vec', iterations => 100000)$$) AS tsne;
SELECT stopped_by_timeout($$SELECT tl_embed_umap('blobs', 'vec', iterations => 100000)$$) AS umap;
RESET statement_timeout;
SELECT count(*) AS rows_intact FROM blobs WHERE vec IS NOT NULL;

-- ---- runs: tl_analyze(run, map => ...) ------------------------------------------
-- a pipeline asks for a UMAP in tl_run.map; the analysis at commit draws it
-- and keeps the PCA in pca_x/pca_y/pca_z
BEGIN;
INSERT INTO tl_run (model, dataset, subset, epoch, class_names, map)
VALUES ('blob_model', 'blobs', 'train', 1, '{a,b,c}', 'umap') RETURNING id AS train1 \gset
INSERT INTO tl_result (run, sample_id, label, output, perception)
SELECT :train1, 's' || i, i % 3, ARRAY[0.8, 0.1, 0.1]::real[], blob_vec(i % 3, i, 8) FROM generate_series(1, 240) i;
COMMIT;
SELECT status, analysis_error, map, map_reference FROM tl_run WHERE id = :train1;
SELECT count(x) AS x, count(z) AS z, count(pca_x) AS pca_x, count(*) FILTER (WHERE x <> pca_x) AS map_not_pca
  FROM tl_result WHERE run = :train1;
CREATE VIEW run_points WITH (security_invoker = true) AS
SELECT run, sample_id AS id, label AS blob, x, y, z FROM tl_result;
SELECT misplaced('(SELECT * FROM run_points WHERE run = ' || :train1 || ')') AS misplaced;
SELECT map, count(*) AS dots, count(pca_x) AS with_pca FROM tl_population WHERE run = :train1 GROUP BY map;
-- the same run analysed again: the same map, bit for bit
CREATE TABLE first_map AS SELECT sample_id, x, y, z FROM tl_result WHERE run = :train1;
SELECT tl_analyze(:train1, map => 'umap', align => false) AS placed;
SELECT count(*) FILTER (WHERE a.x = b.x AND a.y = b.y AND a.z = b.z) AS identical
  FROM tl_result a JOIN first_map b USING (sample_id) WHERE a.run = :train1;

-- the next epoch starts from this one's map: the dots stay where they were
-- (every vector changes by up to 3 %; 20 samples are new and placed among
-- their neighbours); an independently drawn map of the same epoch moves them
-- more
CREATE FUNCTION displacement(a integer, b integer) RETURNS float8 LANGUAGE sql AS $$
    SELECT avg(sqrt((p.x - q.x) ^ 2 + (p.y - q.y) ^ 2 + (p.z - q.z) ^ 2))
           / (SELECT sqrt(variance(x) + variance(y) + variance(z)) FROM tl_result WHERE run = b)
      FROM tl_result p JOIN tl_result q USING (sample_id) WHERE p.run = a AND q.run = b
$$;
BEGIN;
INSERT INTO tl_run (model, dataset, subset, epoch, class_names, map)
VALUES ('blob_model', 'blobs', 'train', 2, '{a,b,c}', 'umap') RETURNING id AS train2 \gset
INSERT INTO tl_result (run, sample_id, label, output, perception)
SELECT :train2, 's' || i, i % 3, ARRAY[0.8, 0.1, 0.1]::real[],
       (SELECT array_agg(v * (1 + 0.03 * ((i + o) % 3 - 1))::real ORDER BY o)
          FROM unnest(blob_vec(i % 3, i, 8)) WITH ORDINALITY u(v, o))
  FROM generate_series(1, 260) i;
COMMIT;
SELECT status, aligned_to = :train1 AS warm_from_epoch_1, map FROM tl_run WHERE id = :train2;
SELECT misplaced('(SELECT * FROM run_points WHERE run = ' || :train2 || ')') AS misplaced;
CREATE TABLE warm AS SELECT displacement(:train2, :train1) AS d;
SELECT tl_analyze(:train2, map => 'umap', align => false) AS placed_independently;
SELECT w.d < 0.2 AS warm_stays, displacement(:train2, :train1) > 2 * w.d AS independent_moves_more FROM warm w;

-- test into train: the test run is placed into the train run's map; the
-- train run's points do not move
CREATE TABLE train_before AS SELECT sample_id, x, y, z FROM tl_result WHERE run = :train1;
BEGIN;
INSERT INTO tl_run (model, dataset, subset, epoch, class_names)
VALUES ('blob_model', 'blobs', 'test', 1, '{a,b,c}') RETURNING id AS test1 \gset
INSERT INTO tl_result (run, sample_id, label, output, perception)
SELECT :test1, 't' || i, i % 3, ARRAY[0.8, 0.1, 0.1]::real[], blob_vec(i % 3, i, 8, 7) FROM generate_series(1, 60) i;
COMMIT;
SELECT tl_analyze(:test1, map => 'umap', reference_run => :train1) AS placed;
SELECT map, map_reference = :train1 AS placed_into_train FROM tl_run WHERE id = :test1;
SELECT count(*) AS train_moved FROM tl_result a JOIN train_before b USING (sample_id)
 WHERE a.run = :train1 AND (a.x <> b.x OR a.y <> b.y OR a.z <> b.z);
SELECT count(*) AS test_misplaced FROM tl_result a, LATERAL (
    SELECT o.label FROM tl_result o WHERE o.run = :train1
     ORDER BY (a.x - o.x) ^ 2 + (a.y - o.y) ^ 2 + (a.z - o.z) ^ 2 LIMIT 1) nn
 WHERE a.run = :test1 AND nn.label <> a.label;
-- t-SNE in 2-D through tl_analyze; z is NULL
SELECT tl_analyze(:test1, 2, map => 'tsne') AS placed;
SELECT map, count(x) AS x, count(z) AS z FROM tl_population WHERE run = :test1 GROUP BY map;
SELECT misplaced('(SELECT * FROM run_points WHERE run = ' || :test1 || ')') AS misplaced;
-- back to PCA: x/y/z are the PCA again
SELECT tl_analyze(:test1, map => 'pca') AS placed;
SELECT map, count(*) FILTER (WHERE x = pca_x AND y = pca_y) AS x_is_pca FROM tl_population WHERE run = :test1 GROUP BY map;

-- tl_evaluate(…, map => 'tsne'): the new run is drawn as a t-SNE at once
\getenv fixtures TL_FIXTURES
SELECT tl_model_load('maps_tiny', :'fixtures' || '/tiny_dense.h5') AS revision \gset
SELECT tl_evaluate('maps_tiny', $$SELECT i, ARRAY[sin(i), cos(i), (i % 7) / 7.0]::real[], i % 2 FROM generate_series(1, 60) i$$,
                   'tiny maps', loss => 'binary_crossentropy', map => 'tsne') AS tiny_run \gset
SELECT status, map, count(x) AS x, count(pca_x) AS pca_x FROM tl_run JOIN tl_result ON run = id
 WHERE id = :tiny_run GROUP BY status, map;

-- bad input to tl_analyze / tl_evaluate
SELECT map_error(format('SELECT tl_analyze(%s, map => %L)', :train1, 'mds'));
SELECT map_error(format('SELECT tl_analyze(%s, 1, map => %L)', :train1, 'umap'));
SELECT map_error(format('SELECT tl_analyze(%s, 4, map => %L)', :train1, 'umap'));
SELECT map_error(format('SELECT tl_analyze(%s, map => %L, reference_run => %s)', :test1, 'pca', :train1));
SELECT map_error(format('SELECT tl_analyze(%s, map => %L, reference_run => %s)', :test1, 'tsne', :train1));
SELECT map_error(format('SELECT tl_analyze(%s, map => %L, reference_run => 987654)', :test1, 'umap'));
SELECT map_error(format('SELECT tl_analyze(%s, map => %L, reference_run => %s)', :train1, 'umap', :train1));
SELECT map_error($$SELECT tl_evaluate('blob_model', 'SELECT 1, ''{1}''::real[], 0', 'blobs', map => 'mds')$$);
INSERT INTO tl_run (model, dataset, map) VALUES ('blob_model', 'few', 'umap') RETURNING id AS few \gset
INSERT INTO tl_result (run, sample_id, label, perception)
SELECT :few, 'f' || i, 0, blob_vec(0, i, 8) FROM generate_series(1, 10) i;
SELECT map_error(format('SELECT tl_analyze(%s)', :few));
INSERT INTO tl_run (model, dataset) VALUES ('blob_model', 'blind') RETURNING id AS blind \gset
INSERT INTO tl_result (run, sample_id, label, output) VALUES (:blind, 'a', 0, '{1,0,0}'), (:blind, 'b', 1, '{0,1,0}');
SELECT map_error(format('SELECT tl_analyze(%s, map => %L)', :blind, 'tsne'));
SELECT tl_analyze(:blind) AS pca_places_nothing;
-- the analysis at commit records a failed map and keeps the results
SELECT status, analysis_error FROM tl_run WHERE id = :few;

-- ---- privileges: an ordinary role maps and reads only the runs it sees ----------
SET client_min_messages = warning;
DROP ROLE IF EXISTS maps_alice;
DROP ROLE IF EXISTS maps_bob;
DROP ROLE IF EXISTS maps_nobody;
RESET client_min_messages;
CREATE ROLE maps_alice;
CREATE ROLE maps_bob;
CREATE ROLE maps_nobody;
SELECT tl_grant_usage('maps_alice'), tl_grant_usage('maps_bob');
GRANT SELECT ON run_points TO maps_bob;
SET ROLE maps_alice;
BEGIN;
INSERT INTO tl_run (model, dataset, map) VALUES ('blob_model', 'alice', 'tsne') RETURNING id AS alice_run \gset
INSERT INTO tl_result (run, sample_id, label, perception)
SELECT :alice_run, 'a' || i, i % 3, blob_vec(i % 3, i, 8) FROM generate_series(1, 90) i;
COMMIT;
SELECT status, map, (SELECT count(x) FROM tl_result WHERE run = :alice_run) AS placed FROM tl_run WHERE id = :alice_run;
SET ROLE maps_bob;
-- another role's run does not exist for bob: not to analyse, map, place into or read
SELECT map_error(format('SELECT tl_analyze(%s, map => %L)', :alice_run, 'umap'));
SELECT map_error(format('SELECT tl_analyze_map(%s, %L)', :alice_run, 'umap'));
SELECT map_error(format('SELECT tl_embed_umap(%L, %L, filter => %L)', 'tl_result', 'perception', 'run = ' || :alice_run));
SELECT count(*) AS alice_rows_bob_sees FROM run_points WHERE run = :alice_run;
BEGIN;
INSERT INTO tl_run (model, dataset) VALUES ('blob_model', 'bob') RETURNING id AS bob_run \gset
INSERT INTO tl_result (run, sample_id, label, perception)
SELECT :bob_run, 'b' || i, i % 3, blob_vec(i % 3, i, 8, 3) FROM generate_series(1, 45) i;
COMMIT;
SELECT map_error(format('SELECT tl_analyze(%s, map => %L, reference_run => %s)', :bob_run, 'tsne', :alice_run));
-- bob's own run maps; alice's coordinates are untouched by anything bob did
SELECT tl_analyze(:bob_run, 2, map => 'tsne') AS bob_placed;
SET ROLE maps_nobody;
SELECT map_error($$SELECT tl_embed_umap('blobs', 'vec')$$);
RESET ROLE;
SELECT count(x) AS alice_still_placed FROM tl_result WHERE run = :alice_run;
DELETE FROM tl_run WHERE created_by IN ('maps_alice', 'maps_bob');
SELECT tl_revoke_usage('maps_alice'), tl_revoke_usage('maps_bob');
REVOKE ALL ON run_points FROM maps_bob;
DROP ROLE maps_alice;
DROP ROLE maps_bob;
DROP ROLE maps_nobody;

-- ---- a real run: the IMDB CNN run of 40_analysis (2000 reviews) as a UMAP --------
\getenv prep TL_PREP
\if :{?prep}
SELECT id AS imdb_run FROM tl_run WHERE dataset = 'imdb reviews' ORDER BY id LIMIT 1 \gset
SELECT tl_analyze(:imdb_run, 2, map => 'umap') AS placed;
SELECT status, map, count(x) AS x, count(pca_x) AS pca_x
  FROM tl_run JOIN tl_result ON run = id WHERE id = :imdb_run GROUP BY status, map;
-- the reviews' 10 nearest neighbours in the map mostly share their label
-- (a map that lost the model's view of sentiment would give about half)
WITH p AS (SELECT sample_id, label, x, y FROM tl_result WHERE run = :imdb_run)
SELECT avg(m.same) > 0.75 AS neighbours_share_labels
  FROM p a,
       LATERAL (SELECT avg((b.label = a.label)::int) AS same FROM (SELECT label FROM p b WHERE b.sample_id <> a.sample_id
                 ORDER BY (a.x - b.x) ^ 2 + (a.y - b.y) ^ 2 LIMIT 10) b) m
 WHERE a.sample_id::int < 500;
\else
\echo NOTICE: shared data absent: the real IMDB map is skipped
\endif
