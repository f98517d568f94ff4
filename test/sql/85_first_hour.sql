-- The first hour of a new user (issue 20): the mistakes one makes on the way
-- get errors that name the fix, never internal SQL; no silent NULL losses;
-- unlabelled samples are never failures; one behaviour for unknown runs.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS tensorlens;
RESET client_min_messages;
\getenv fixtures TL_FIXTURES
\set emb_hex `od -An -v -tx1 :'fixtures'/layers/embedding_conv1d_gmp.h5 | tr -d ' \n'`
\set tiny_hex `od -An -v -tx1 :'fixtures'/tiny_dense.h5 | tr -d ' \n'`
-- errors as "SQLSTATE: message (hint)", so each test states its code and the fix it suggests
CREATE FUNCTION fh_error(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    msg text; hint text;
BEGIN
    EXECUTE q;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
    RETURN SQLSTATE || ': ' || msg || coalesce(nullif(' (hint: ' || hint || ')', ' (hint: )'), '');
END $$;
SELECT tl_model_import('fh_emb', decode(:'emb_hex', 'hex')) AS emb, tl_model_import('fh_dense', decode(:'tiny_hex', 'hex')) AS dense;
SELECT idx, name, kind, output_shape FROM tl_layers('fh_emb') WHERE idx <= 1;
-- a vocabulary larger than the model's Embedding (input_dim 20)
SELECT tl_vocab_import('fh_vocab', (SELECT jsonb_object_agg('w' || i, i) FROM generate_series(1, 40) i)) AS words;

-- ---- tokenising for a model: ids bounded by its Embedding, length its input -------------
SELECT tl_tokenize('fh_vocab', 'w1 w2 w30 w16 w17') AS all_ids,
       tl_tokenize('fh_vocab', 'w1 w2 w30 w16 w17', model => 'fh_emb') AS for_the_model,
       tl_tokenize('fh_vocab', 'w1 w2 w30 w16 w17', 8, 20) AS same_as_num_words_20_maxlen_8;
-- positional, too; the model's output equals the explicit form's
SELECT tl_infer('fh_emb', tl_tokenize('fh_vocab', 'w1 w2 w30 w16 w17', 'fh_emb'))
       = tl_infer('fh_emb', tl_tokenize('fh_vocab', 'w1 w2 w30 w16 w17', 8, 20)) AS same_output;
-- a longer document is cut to the model's length (pad_sequences keeps the end)
SELECT cardinality(tl_tokenize('fh_vocab', repeat('w3 ', 30), model => 'fh_emb')) AS fitted_length;
-- NULL as the third argument (the old maxlen => NULL) still means: no length, all ids
SELECT tl_tokenize('fh_vocab', 'w1 w30', NULL) AS null_third_argument;
-- a model that takes numbers, an unknown model
SELECT fh_error($$SELECT tl_tokenize('fh_vocab', 'w1', model => 'fh_dense')$$);
SELECT fh_error($$SELECT tl_tokenize('fh_vocab', 'w1', model => 'no_such_model')$$);
-- forgetting it: an out-of-range id says how to tokenise for the model
SELECT fh_error($$SELECT tl_infer('fh_emb', tl_tokenize('fh_vocab', 'w1 w30'))$$);
SELECT fh_error($$SELECT * FROM tl_infer_batch('fh_emb', 'SELECT 1, tl_tokenize(''fh_vocab'', ''w1 w30'')')$$);
-- text is not an input
SELECT fh_error($$SELECT tl_infer('fh_emb', 'great movie')$$);
SELECT fh_error($$SELECT tl_infer('fh_emb', 'great movie'::text)$$);
SELECT fh_error($$SELECT tl_infer('fh_emb', '{1,2,3}')$$);

-- ---- duplicate ranks in a word index ----------------------------------------------------
SELECT fh_error($$SELECT tl_vocab_import('fh_dup', '{"good": 1, "great": 1, "bad": 2}')$$);
SELECT count(*) AS nothing_stored FROM tl_vocab WHERE vocab = 'fh_dup';

-- ---- tl_evaluate ----------------------------------------------------------------------
\set samples 'SELECT i, ARRAY[i % 20, (i * 7) % 20, (i * 3) % 20, (i * 11) % 20, (i * 5) % 20, (i * 13) % 20, (i * 17) % 20, (i * 19) % 20], i % 2 FROM generate_series(1, 60) i'
SELECT last_value AS seq_before FROM tl_run_id_seq \gset
-- a query that cannot run, or returns the wrong columns, fails before a run id is taken
SELECT fh_error($$SELECT tl_evaluate('fh_emb', 'SELECT i, ARRAY[1,2] FROM generate_series(1, 3) i', 'fh')$$);
SELECT fh_error($$SELECT tl_evaluate('fh_emb', 'SELECT i, ARRAY[1,2], ''x''::text FROM generate_series(1, 3) i', 'fh')$$);
SELECT fh_error($$SELECT tl_evaluate('fh_emb', 'SELECT i, ARRAY[1,2], 1 FROM no_such_table', 'fh')$$);
SELECT last_value = :seq_before AS no_run_id_used FROM tl_run_id_seq;
-- duplicate sample ids: a unique violation naming the id, not internal SQL; nothing stays
SELECT fh_error($$SELECT tl_evaluate('fh_emb', 'SELECT i % 5, ARRAY[1,2,3], 1 FROM generate_series(1, 8) i', 'fh', loss => 'binary_crossentropy')$$);
-- a model without a training loss and no loss given: the loss of its output kind (a sigmoid
-- unit: binary crossentropy), said in a NOTICE with the way to choose another; no NULL losses
SELECT training_config IS NULL AS no_training_config FROM tl_model WHERE name = 'fh_emb';
SELECT tl_evaluate('fh_emb', :'samples', 'fh default loss') AS default_loss_run \gset
SELECT count(label) AS labelled, count(loss) AS losses FROM tl_result WHERE run = :default_loss_run;
SELECT count(*) AS no_runs_left FROM tl_run WHERE dataset = 'fh';
-- unlabelled samples need no loss
SELECT tl_evaluate('fh_emb', replace(:'samples', 'i % 2 FROM', 'NULL::int FROM'), 'fh unlabelled') AS unlabelled_run \gset
SELECT count(*) AS results, count(label) AS labelled, count(loss) AS losses, count(x) AS placed
  FROM tl_result WHERE run = :unlabelled_run;
SELECT tl_evaluate('fh_emb', :'samples', 'fh', loss => 'binary_crossentropy', class_names => '{no,yes}') AS run \gset
-- the default is the loss named explicitly (hand-checked formula in 32_loss)
SELECT bool_and(d.loss = e.loss) AS default_is_binary_crossentropy, count(*) AS compared
  FROM tl_result d JOIN tl_result e USING (sample_id)
 WHERE d.run = :default_loss_run AND e.run = :run AND d.label IS NOT NULL;
SELECT count(*) AS results, count(loss) AS losses FROM tl_result WHERE run = :run;

-- ---- unlabelled samples are never failures ----------------------------------------------
SELECT count(*) AS failures_without_labels FROM tl_failures(:unlabelled_run);
SELECT sum(failures) AS failures, bool_and(error_rate IS NULL) AS no_error_rate_without_labels,
       sum(size) AS placed
  FROM tl_failure_clusters(:unlabelled_run, 3);
SELECT count(*) AS class_rows_without_labels FROM tl_class_metrics WHERE run = :unlabelled_run;
SELECT count(*) FILTER (WHERE correct) AS correct, count(*) FILTER (WHERE NOT correct) AS wrong,
       count(*) FILTER (WHERE correct IS NULL) AS unknown
  FROM tl_population WHERE run = :unlabelled_run;
-- a run with some labels: failures only among them; error rates over them
UPDATE tl_result SET label = NULL WHERE run = :run AND sample_id::int % 3 = 0;
SELECT (SELECT count(*) FROM tl_failures(:run))
       = (SELECT count(*) FROM tl_result WHERE run = :run AND label IS NOT NULL AND label <> prediction) AS failures_are_labelled_and_wrong,
       (SELECT count(*) FROM tl_failures(:run) WHERE label IS NULL) AS unlabelled_failures;
SELECT sum(failures) = (SELECT count(*) FROM tl_failures(:run)) AS cluster_failures_match,
       bool_and(error_rate <= 1) AS rates_are_shares
  FROM tl_failure_clusters(:run, 2);
-- one behaviour for unknown runs: 42704 from each
SELECT fh_error($$SELECT * FROM tl_failures(987654)$$);
SELECT fh_error($$SELECT * FROM tl_failure_clusters(987654)$$);
SELECT fh_error($$SELECT * FROM tl_label_issues(987654)$$);
SELECT fh_error($$SELECT tl_html_report(987654)$$);

-- ---- tl_class_metrics: every measure double precision, accuracy one-vs-rest -------------
SELECT attname, format_type(atttypid, atttypmod) AS type FROM pg_attribute
 WHERE attrelid = 'tl_class_metrics'::regclass AND attnum > 0 ORDER BY attnum;
SELECT class, count, accuracy = (SELECT avg(((label = m.class) = (prediction = m.class))::int)
                                   FROM tl_result WHERE run = :run AND label IS NOT NULL) AS one_vs_rest
  FROM tl_class_metrics m WHERE run = :run ORDER BY class;

-- ---- tl_html_report: a preview query of the wrong shape is said plainly ---------------
SELECT fh_error(format('SELECT tl_html_report(%s, %L)', :run, 'SELECT 1'));
SELECT fh_error(format('SELECT tl_html_report(%s, %L)', :run, 'SELECT 1, 2, 3'));
SELECT left(tl_html_report(:run, 'SELECT i, ''sample '' || i FROM generate_series(1, 60) i'), 15) AS page;

-- ---- tl_embed_pca: the columns are checked before the fit ------------------------------
CREATE TABLE fh_vectors AS SELECT sample_id, perception FROM tl_result WHERE run = :run;
SELECT fh_error($$SELECT tl_embed_pca('fh_vectors', 'perception', '{x,y}')$$);
SELECT fh_error($$SELECT tl_embed_pca('fh_vectors', 'no_vector', '{sample_id}')$$);
ALTER TABLE fh_vectors ADD x real, ADD y real;
SELECT tl_pca_n(tl_embed_pca('fh_vectors', 'perception', '{x,y}')) AS placed;

-- ---- settings: SHOW works in a new session once tl_settings() has loaded the library ----
\c
SELECT fh_error('SHOW tensorlens.fusion') LIKE '42704%' AS unknown_before_the_library_loads;
SELECT name, setting, unit FROM tl_settings() WHERE name IN ('tensorlens.fusion', 'tensorlens.max_batch_memory');
SHOW tensorlens.fusion;
