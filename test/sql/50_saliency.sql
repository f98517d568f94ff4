-- Sample analysis: tl_token_saliency, tl_pixel_saliency, tl_ig_completeness,
-- tl_saliency_eval and tl_html_saliency.  First properties that must hold on
-- the small fixture models, then the shared IMDB and MNIST models against an
-- independent PyTorch autograd reference (test/reference/torch), integrated
-- gradients' completeness and the faithfulness of the methods.
-- (test_grad checks every layer's backward pass against finite differences.)
\getenv fixtures TL_FIXTURES
SELECT tl_model_load('sal_tok', :'fixtures' || '/layers/embedding_conv1d_gmp.h5') AS tok,
       tl_model_load('sal_rnn', :'fixtures' || '/grad/embedding_lstm_softmax.h5') AS rnn,
       tl_model_load('sal_img', :'fixtures' || '/layers/conv2d_same_s2.h5') AS img,
       tl_model_load('sal_soft', :'fixtures' || '/layers/activation_softmax.h5') AS soft;
CREATE FUNCTION logit(p real) RETURNS float8 LANGUAGE sql IMMUTABLE AS $$ SELECT ln(p / (1 - p)) $$;

-- one row per position of the fitted sequence: pre-padded with 0 to the
-- model's length 8 (padding rows have token 0), or pre-truncated
SELECT pos, token FROM tl_token_saliency('sal_tok', '{1,5,7,9,3}', 1) ORDER BY pos;
SELECT array_agg(token ORDER BY pos) AS kept
  FROM tl_token_saliency('sal_tok', '{1,2,3,4,5,6,7,8,9,10,11}', 1);

-- one sigmoid unit: class 0 scores -z, so its attributions are class 1's
-- negated (the gradient norm is the same)
SELECT m AS method,
       bool_and(CASE WHEN m = 'gradient' THEN abs(c0.score - c1.score)
                     ELSE abs(c0.score + c1.score) END <= 1e-6) AS class0_mirrors_class1
  FROM unnest(ARRAY['gradient', 'grad_input', 'integrated_gradients', 'occlusion']) m,
       tl_token_saliency('sal_tok', '{1,5,7,9,3}', 1, m) c1
  JOIN tl_token_saliency('sal_tok', '{1,5,7,9,3}', 0, m) c0 USING (pos)
 GROUP BY m ORDER BY m;

-- occlusion: the drop in the logit when one token becomes the OOV id 2,
-- against tl_infer on the edited sequence; padding and OOV positions score 0
WITH x AS (SELECT '{0,0,0,1,5,2,9,3}'::int[] AS ids)
SELECT bool_and(abs(s.score - CASE WHEN s.token IN (0, 2) THEN 0 ELSE
           logit((tl_infer('sal_tok', x.ids))[1]) -
           logit((tl_infer('sal_tok', x.ids[1:s.pos - 1] || 2 || x.ids[s.pos + 1:8]))[1]) END) <= 1e-5)
       AS occlusion_is_the_logit_drop
  FROM x, tl_token_saliency('sal_tok', x.ids, 1, 'occlusion') s;

-- gradient norms and class activation maps are >= 0; random is seeded and
-- depends on the input; grad_cam's default layer is the last convolution
SELECT bool_and(score >= 0) AS gradient_nonnegative
  FROM tl_token_saliency('sal_tok', '{1,5,7,9,3}', 1, 'gradient');
SELECT m AS method, bool_and(d.score >= 0) AS nonnegative,
       bool_and(d.score = e.score) AS default_layer_is_conv1d
  FROM unnest(ARRAY['grad_cam', 'layer_cam']) m,
       tl_token_saliency('sal_tok', '{1,5,7,9,3}', 0, m) d
  JOIN tl_token_saliency('sal_tok', '{1,5,7,9,3}', 0, m, layer => 'conv1d') e USING (pos)
 GROUP BY m ORDER BY m;
SELECT bool_and(a.score >= 0 AND a.score < 1) AS in_unit_interval,
       bool_and(a.score = b.score) AS same_seed_same_scores,
       bool_or(a.score <> c.score) AS other_seed_differs,
       bool_or(a.score <> d.score) AS other_input_differs
  FROM tl_token_saliency('sal_tok', '{1,5,7,9,3}', 1, 'random', seed => 7) a
  JOIN tl_token_saliency('sal_tok', '{1,5,7,9,3}', 1, 'random', seed => 7) b USING (pos)
  JOIN tl_token_saliency('sal_tok', '{1,5,7,9,3}', 1, 'random', seed => 8) c USING (pos)
  JOIN tl_token_saliency('sal_tok', '{1,5,7,9,4}', 1, 'random', seed => 7) d USING (pos);

-- integrated gradients add up to score(x) - score(baseline)
SELECT abs(gap) < 1e-3 AS complete, round(score::numeric, 4) = round(logit((tl_infer('sal_tok', '{1,5,7,9,3}'::int[]))[1])::numeric, 4) AS score_is_the_logit
  FROM tl_ig_completeness('sal_tok', '{1,5,7,9,3}'::int[], 1, 64);
SELECT abs(sum(score) - (SELECT attribution_sum FROM tl_ig_completeness('sal_tok', '{1,5,7,9,3}'::int[], 1))) < 1e-5
       AS scores_sum_as_reported
  FROM tl_token_saliency('sal_tok', '{1,5,7,9,3}', 1, 'integrated_gradients');

-- a recurrent token model with a softmax over 3 classes: every method but
-- the convolution maps gives one finite score per position
SELECT m AS method, count(*) AS rows, bool_and(score = score AND abs(score) < 1e6) AS finite
  FROM unnest(ARRAY['gradient', 'grad_input', 'integrated_gradients', 'occlusion', 'random']) m,
       tl_token_saliency('sal_rnn', '{3,4,5,6,7,8}', 2, m)
 GROUP BY m ORDER BY m;

-- images: the result is shaped like the input (dimensions and lower bounds)
WITH img AS (SELECT format('{%s}', string_agg(r, ',')) ::real[] AS x
               FROM (SELECT format('{%s}', string_agg(c, ',' ORDER BY j)) AS r, i
                       FROM (SELECT i, j, format('{%s,%s}', round(sin(i * 7 + j)::numeric, 3),
                                                 round(cos(i * 3 - j)::numeric, 3)) AS c
                               FROM generate_series(1, 7) i, generate_series(1, 7) j) e
                      GROUP BY i ORDER BY i) rows)
SELECT m AS method, array_dims(tl_pixel_saliency('sal_img', x, 5, m)) AS dims
  FROM img, unnest(ARRAY['gradient', 'grad_input', 'integrated_gradients', 'occlusion', 'grad_cam', 'layer_cam', 'random']) m
 ORDER BY m;
SELECT array_dims(tl_pixel_saliency('sal_soft', '[0:3]={0.5,-1,2,0.25}'::real[], 1)) AS dims;
-- a softmax over linear logits: the logit is linear in the input, so
-- occlusion (blanking one input), grad x input and integrated gradients
-- all equal w_ik x_i, and the attributions add up to z_k - b_k exactly
SELECT max(abs(g - o)) < 1e-5 AS occlusion_equals_grad_input,
       max(abs(g - i)) < 1e-5 AS ig_equals_grad_input
  FROM unnest(tl_pixel_saliency('sal_soft', '{0.5,-1,2,0.25}', 4, 'grad_input'),
              tl_pixel_saliency('sal_soft', '{0.5,-1,2,0.25}', 4, 'occlusion'),
              tl_pixel_saliency('sal_soft', '{0.5,-1,2,0.25}', 4, 'integrated_gradients')) t(g, o, i);
SELECT gap < 1e-5 AS complete FROM tl_ig_completeness('sal_soft', '{0.5,-1,2,0.25}'::real[], 4, 8);

-- faithfulness of one ranking
SELECT n_tokens, cardinality(comprehensiveness_at) AS bins,
       abs(comprehensiveness - (SELECT avg(v) FROM unnest(comprehensiveness_at) v)) < 1e-6 AS comp_is_the_mean,
       abs(sufficiency - (SELECT avg(v) FROM unnest(sufficiency_at) v)) < 1e-6 AS suff_is_the_mean,
       abs(score - logit((tl_infer('sal_tok', '{1,5,7,9,3}'::int[]))[1])) < 1e-5 AS score_is_the_logit,
       abs(empty_score - logit((tl_infer('sal_tok', '{0,0,0,0,0,0,0,0}'::int[]))[1])) < 1e-5 AS empty_is_all_padding
  FROM tl_saliency_eval('sal_tok', '{1,5,7,9,3}', 1);

-- the heat map: escaped words, red towards the target, blue against
SELECT tl_html_saliency(ARRAY['<script>alert(1)</script>', 'good & "fun"', 'plain', 'it''s'],
                        ARRAY[0.5, -0.25, NULL, 0]::real[], 'positive', 'negative <b>') AS html;
SELECT strpos(tl_html_saliency(ARRAY['<script>'], ARRAY[1]::real[]), '<script>') = 0 AS no_raw_tag,
       tl_html_saliency('{}'::text[], '{}'::real[]) LIKE '<div class="tl-saliency"%' AS empty_ok;

-- NULL arguments (but layer) give no rows / NULL, as a strict function would
SELECT count(*) AS no_rows FROM tl_token_saliency('sal_tok', NULL, 1);
SELECT tl_pixel_saliency('sal_soft', '{1,2,3,4}', NULL) IS NULL AS null_result;

-- bad input: an ERROR with a fitting SQLSTATE
SELECT expect_error($$SELECT * FROM tl_token_saliency('sal_tok', '{1,2}', 1, 'magic')$$);
SELECT expect_error($$SELECT * FROM tl_token_saliency('sal_tok', '{1,2}', 2)$$);
SELECT expect_error($$SELECT tl_pixel_saliency('sal_soft', '{1,2,3,4}', 6)$$);
SELECT expect_error($$SELECT tl_pixel_saliency('sal_soft', '{1,2,3,4}', -1)$$);
SELECT expect_error($$SELECT * FROM tl_token_saliency('sal_tok', '{1,2}', 1, 'grad_cam', layer => 'dense')$$);
SELECT expect_error($$SELECT * FROM tl_token_saliency('sal_tok', '{1,2}', 1, 'grad_cam', layer => 'nope')$$);
SELECT expect_error($$SELECT * FROM tl_token_saliency('sal_rnn', '{1,2}', 1, 'grad_cam')$$);
SELECT expect_error($$SELECT * FROM tl_token_saliency('sal_soft', '{1,2,3,4}', 1)$$);
SELECT expect_error($$SELECT tl_pixel_saliency('sal_tok', '{1,2}', 1)$$);
SELECT expect_error($$SELECT tl_pixel_saliency('sal_soft', '{1,NaN,3,4}', 1)$$);
SELECT expect_error($$SELECT tl_pixel_saliency('sal_soft', '{1,2,3}', 1)$$);
SELECT expect_error($$SELECT * FROM tl_token_saliency('sal_tok', '{1,2}', 1, 'integrated_gradients', 0)$$);
SELECT expect_error($$SELECT * FROM tl_token_saliency('sal_tok', '{1,2}', 1, 'grad_input', 100000)$$);
SELECT expect_error($$SELECT * FROM tl_ig_completeness('sal_tok', '{1,2}'::int[], 1, -5)$$);
SELECT expect_error($$SELECT * FROM tl_token_saliency('sal_tok', '{1,25}', 1)$$);
SELECT expect_error($$SELECT * FROM tl_saliency_eval('sal_tok', '{0,0}', 1)$$);
SELECT expect_error($$SELECT * FROM tl_saliency_eval('sal_soft', '{1,2}', 1)$$);
SELECT expect_error($$SELECT tl_html_saliency(ARRAY['a', 'b'], ARRAY[1]::real[])$$);
SELECT expect_error($$SELECT tl_html_saliency(ARRAY['a'], ARRAY['NaN']::real[])$$);

-- The shared models against the PyTorch reference (grad_input per token for
-- every IMDB model taking token ids, first 60 reviews, target = the label;
-- grad_input per pixel for the .h5 MNIST CNN), integrated gradients'
-- completeness and the faithfulness of the methods on real reviews.
\getenv sal TL_SAL
\getenv prep TL_PREP
\getenv data TL_DATA
\if :{?sal}
SELECT set_config('tl.data', :'data', false) IS NOT NULL AS ok;
CREATE TABLE sal_ref (model text, id int, target int, input int[], expected real[]);
\set sal_imdb :sal/saliency_imdb.tsv
COPY sal_ref FROM :'sal_imdb';
SELECT count(tl_model_load('sal_' || model, current_setting('tl.data') || '/models/imdb/' || model || '.h5')) AS loaded
  FROM (SELECT DISTINCT model FROM sal_ref) m;
SELECT r.model, count(*) AS reviews,
       min(c.r) >= 0.999 AS pearson_r_over_0_999,
       max(c.rel_err) <= 1e-3 AS max_rel_err_under_1e_3
  FROM sal_ref r CROSS JOIN LATERAL (
         SELECT corr(s.score, e.v) AS r, max(abs(s.score - e.v)) / max(abs(e.v)) AS rel_err
           FROM tl_token_saliency('sal_' || r.model, r.input, r.target) s
           JOIN unnest(r.expected) WITH ORDINALITY e(v, pos) USING (pos)) c
 GROUP BY r.model ORDER BY r.model;

CREATE TABLE sal_mnist (id int, target int, pixels real[], expected real[]);
\set sal_mnist :sal/saliency_mnist.tsv
COPY sal_mnist FROM :'sal_mnist';
\set neuroedge :data/models/mnist/mnist_cnn_small__neuroedge.h5
SELECT tl_model_load('sal_mnist', :'neuroedge') AS rev;
SELECT count(*) AS digits, min(c.r) >= 0.999 AS pearson_r_over_0_999,
       max(c.rel_err) <= 1e-3 AS max_rel_err_under_1e_3
  FROM sal_mnist m CROSS JOIN LATERAL (
         SELECT corr(a, b) AS r, max(abs(a - b)) / max(abs(b)) AS rel_err
           FROM unnest(tl_pixel_saliency('sal_mnist', m.pixels, m.target), m.expected) u(a, b)) c;

-- 200 real reviews for the Conv1D model (tokenised by test/reference)
CREATE TABLE sal_reviews (id int, label int, input int[], expected real[]);
\set conv_reviews :prep/imdb_conv1d__datadonk23.tsv
COPY sal_reviews FROM :'conv_reviews';
DELETE FROM sal_reviews WHERE id >= 200;
-- integrated gradients at 64 steps: the attributions add up to
-- score(x) - score(baseline) within 2 %, over the reviews and for every
-- review whose score is not within 0.1 of the baseline's (near it the
-- relative gap divides by almost nothing)
CREATE TABLE sal_ig AS
SELECT r.id, c.* FROM sal_reviews r, tl_ig_completeness('sal_imdb_conv1d__datadonk23', r.input, r.label, 64) c
 WHERE r.id < 40;
SELECT count(*) AS reviews,
       sum(abs(attribution_sum - (score - baseline))) / sum(abs(score - baseline)) < 0.02 AS total_gap_under_2pct,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY gap) < 0.02 AS median_gap_under_2pct,
       bool_and(gap < 0.02) FILTER (WHERE abs(score - baseline) >= 0.1) AS each_clear_review_under_2pct
  FROM sal_ig;
-- faithfulness: gradient methods beat a random ranking on comprehensiveness
CREATE TABLE sal_faith AS
SELECT m AS method, r.id, e.*
  FROM sal_reviews r, unnest(ARRAY['grad_input', 'integrated_gradients', 'random']) m,
       tl_saliency_eval('sal_imdb_conv1d__datadonk23', r.input, r.label, m) e;
SELECT count(DISTINCT id) AS reviews,
       avg(comprehensiveness) FILTER (WHERE method = 'grad_input') >
       avg(comprehensiveness) FILTER (WHERE method = 'random') AS grad_input_beats_random,
       avg(comprehensiveness) FILTER (WHERE method = 'integrated_gradients') >
       avg(comprehensiveness) FILTER (WHERE method = 'random') AS ig_beats_random
  FROM sal_faith;
\else
\echo NOTICE: shared data or the PyTorch reference absent: saliency tests on real models skipped
\endif
