-- Vocabularies and Keras IMDB tokenisation.
-- A small vocabulary written here: ranks 1..6, ids = rank + 3
SELECT tl_vocab_import('toy', '{"the": 1, "movie": 2, "was": 3, "great": 4, "don''t": 5, "br": 6}') AS words;
SELECT word, id FROM tl_vocab WHERE vocab = 'toy' ORDER BY id;
-- Keras rules: lower-case, filters (punctuation, tab, newline) become spaces,
-- split on spaces only, start token 1, unknown words 2; "<br />" is "br";
-- the apostrophe is not a filter character
SELECT tl_tokenize('toy', 'The movie WAS great!<br />Don''t miss it.') AS ids;
SELECT tl_detokenize('toy', tl_tokenize('toy', 'The movie WAS great!<br />Don''t miss it.')) AS words;
-- num_words: ids >= num_words become 2; maxlen: pre-padding, pre-truncation
SELECT tl_tokenize('toy', 'the movie was great', NULL, 6) AS num_words_6,
       tl_tokenize('toy', 'the movie', 6) AS padded,
       tl_tokenize('toy', 'the movie was great', 3) AS truncated;
-- only U+0020 separates words (as in Keras): a non-breaking space does not
SELECT tl_tokenize('toy', 'the' || chr(160) || 'movie') AS nbsp_kept_inside;
-- a re-import replaces the vocabulary
SELECT tl_vocab_import('toy', '{"the": 1, "movie": 2}', 3) AS words;
SELECT count(*) FROM tl_vocab WHERE vocab = 'toy';
SELECT tl_vocab_import('toy', '{"the": 1, "movie": 2, "was": 3, "great": 4, "don''t": 5, "br": 6}') AS words;

-- bad input
SELECT expect_error($$SELECT tl_tokenize('no_such_vocab', 'text')$$);
SELECT expect_error($$SELECT tl_tokenize('toy', NULL)$$);
SELECT expect_error($$SELECT tl_tokenize('toy', '')$$);
SELECT expect_error($$SELECT tl_tokenize('toy', ' ... !!! ')$$);
SELECT expect_error($$SELECT tl_tokenize('toy', 'the movie', -5)$$);
SELECT expect_error($$SELECT tl_tokenize('toy', 'the movie', 0)$$);
SELECT expect_error($$SELECT tl_tokenize('toy', 'the movie', NULL, 0)$$);
SELECT expect_error($$SELECT tl_detokenize('toy', '{1,-4}')$$);
SELECT expect_error($$SELECT tl_vocab_import('bad', '[1,2]')$$);
SELECT expect_error($$SELECT tl_vocab_import('bad', '{"a": "x"}')$$);
SELECT expect_error($$SELECT tl_vocab_import('bad', '{"a": 1.5}')$$);
SELECT expect_error($$SELECT tl_vocab_import('bad', '{"a": 1}', -1)$$);

\getenv prep TL_PREP
\getenv data TL_DATA
\if :{?prep}
-- the real Keras IMDB word index
\set word_index_file :data/datasets/imdb/imdb_word_index.json
SELECT tl_vocab_import('imdb', pg_read_file(:'word_index_file')::jsonb) AS words;
-- the reviews, raw (tabs never occur inside the text; csv mode with an
-- unused quote character keeps backslashes as they are)
CREATE TABLE reviews (id int PRIMARY KEY, label int, text text);
\set reviews_file :data/datasets/imdb/imdb_reviews_5000.tsv
COPY reviews FROM :'reviews_file' WITH (FORMAT csv, DELIMITER E'\t', QUOTE E'\x01', HEADER true);
SELECT count(*) AS reviews, sum(label) AS positive FROM reviews;
-- 500 of 500 reviews tokenised exactly as the Python reference of the Keras rules
CREATE TABLE tokens_ref (id int, ids int[]);
\set tokens_file :prep/tokens_500.tsv
COPY tokens_ref FROM :'tokens_file';
SELECT count(*) AS reviews, count(*) FILTER (WHERE tl_tokenize('imdb', r.text) = t.ids) AS identical
  FROM tokens_ref t JOIN reviews r USING (id);
-- and with each model's num_words/maxlen, all 5000 reviews, as the models were fed
SELECT i.model, count(*) AS reviews,
       count(*) FILTER (WHERE tl_tokenize('imdb', r.text, m.maxlen, m.num_words) = i.input) AS identical
  FROM imdb_ref i JOIN reviews r USING (id)
  JOIN (VALUES ('imdb_conv1d__datadonk23', 500, 2000),
               ('imdb_embed_lstm__anushree1001', 300, 5000)) m(model, maxlen, num_words) USING (model)
 GROUP BY i.model ORDER BY 1;
-- a model with a fixed input length pads a raw token sequence itself
SELECT bool_and(tl_infer('imdb_conv1d__datadonk23', tl_tokenize('imdb', text, NULL, 2000))
                = tl_infer('imdb_conv1d__datadonk23', tl_tokenize('imdb', text, 500, 2000))) AS maxlen_from_model
  FROM reviews WHERE id < 20;
SELECT tl_detokenize('imdb', (tl_tokenize('imdb', text))[1:12]) AS first_words
  FROM reviews WHERE id = 0;
\else
\echo NOTICE: shared data absent (set TL_DATA_DIR or put ../shared/data beside the repo): real-data tokenisation tests skipped
\endif
