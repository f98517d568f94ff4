-- Progress of long work: NOTICE lines every tensorlens.progress_interval,
-- and tl_progress, read from a second session (dblink).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS tensorlens;
CREATE EXTENSION IF NOT EXISTS dblink;
RESET client_min_messages;
\getenv fixtures TL_FIXTURES
CREATE FUNCTION progress_error(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
SELECT tl_model_import('ptiny', pg_read_binary_file(:'fixtures' || '/tiny_dense.h5')) > 0 AS imported;
CREATE TABLE p_samples AS
SELECT i AS id, ARRAY[sin(i), cos(i), sin(2 * i)]::real[] AS x, i % 2 AS label
  FROM generate_series(1, 1000) i;
ANALYZE p_samples;

-- nothing runs: the view is empty
SELECT count(*) AS running FROM tl_progress;

-- in the session: a NOTICE per batch when each batch takes longer than the
-- interval (every row sleeps 0.5 ms), the last one saying the count reached
-- the total; times are in the DETAIL lines, which terse verbosity leaves out
\set VERBOSITY terse
SET tensorlens.progress_interval = '1ms';
SELECT count(*) FROM tl_infer_batch('ptiny', 'SELECT id, x, pg_sleep(0.0005) FROM p_samples');
-- 0 turns the lines off
SET tensorlens.progress_interval = 0;
SELECT count(*) FROM tl_infer_batch('ptiny', 'SELECT id, x, pg_sleep(0.0005) FROM p_samples');
RESET tensorlens.progress_interval;
\set VERBOSITY default

-- from a second session: tl_evaluate in the background (dblink), held at
-- row 600 by an advisory lock this session holds (the rows come in table
-- order): two batches of 256 rows are done, of the planner's estimate of 1000
SELECT dblink_connect('bg', pg_catalog.format('host=%s port=%s dbname=%s user=%s',
       split_part(current_setting('unix_socket_directories'), ',', 1),
       current_setting('port'), current_database(), current_user)) AS connected;
SELECT pg_advisory_lock(6767) IS NOT NULL AS locked;
SELECT dblink_send_query('bg', $$SELECT tl_evaluate('ptiny',
    'SELECT id, x, label, CASE WHEN id = 600 THEN pg_advisory_lock_shared(6767) END FROM p_samples',
    'progress test', loss => 'mse')$$) AS sent;
DO $$
BEGIN
    FOR i IN 1..6000 LOOP       -- at most 60 s
        EXIT WHEN EXISTS (SELECT FROM tl_progress WHERE function = 'tl_evaluate' AND done = 512);
        PERFORM pg_sleep(0.01);
    END LOOP;
END $$;
-- (the run's row is not committed yet: only its number is known here)
SELECT function, run IS NOT NULL AS has_run, phase, done, total, total_estimated, percent,
       started <= updated AS started_first, estimated_end > started AS has_estimated_end
  FROM tl_progress
 WHERE pid <> pg_backend_pid();
-- an ordinary role sees only the work of its own roles
CREATE ROLE progress_outsider;
SET ROLE progress_outsider;
SELECT count(*) AS others_work_seen FROM tl_progress_status();
RESET ROLE;
SELECT pg_advisory_unlock(6767) AS unlocked;
SELECT placed > 0 AS finished FROM dblink_get_result('bg') AS t(placed integer);
SELECT count(*) AS no_more_results FROM dblink_get_result('bg') AS t(placed integer);
SELECT count(*) AS results FROM tl_result t JOIN tl_run r ON r.id = t.run WHERE r.dataset = 'progress test';
SELECT count(*) AS still_running FROM tl_progress WHERE pid <> pg_backend_pid();

-- tl_progress_begin/step/end (what tl_analyze uses; a pipeline may too):
-- the other session sees the count reach the total, and nothing once it ended
BEGIN;
SELECT tl_progress_begin('my pipeline', NULL) > 0 AS begun;
SELECT tl_progress_step('epoch 3', 1000, 1000);
SELECT d.* FROM dblink('bg', $$SELECT function, run, phase, done, total, total_estimated, percent
                                 FROM tl_progress$$)
       AS d(function text, run integer, phase text, done bigint, total bigint, total_estimated boolean, percent numeric);
SELECT tl_progress_end();
SELECT count(*) AS after_end FROM dblink('bg', 'SELECT 1 FROM tl_progress') AS d(one integer);
-- reports nest; an error or the end of the transaction ends them all
SELECT tl_progress_begin('outer', 7) > 0, tl_progress_begin('inner') > 0;
SELECT tl_progress_step('half', 5, 10);
SELECT function, run, phase, done, total FROM tl_progress WHERE pid = pg_backend_pid();
COMMIT;
SELECT count(*) AS after_commit FROM tl_progress WHERE pid = pg_backend_pid();
BEGIN;
SELECT tl_progress_begin('doomed') > 0;
SAVEPOINT s;
SELECT tl_progress_begin('inner') > 0;
ROLLBACK TO s;
SELECT function, phase FROM tl_progress WHERE pid = pg_backend_pid();
ROLLBACK;
SELECT count(*) AS after_rollback FROM tl_progress WHERE pid = pg_backend_pid();

-- misuse: each a clear ERROR
SELECT progress_error($$SELECT tl_progress_step('x', 1)$$);
SELECT progress_error($$SELECT tl_progress_end()$$);
SELECT progress_error($$SELECT tl_progress_begin(NULL)$$);
SELECT progress_error($$SELECT tl_progress_begin('')$$);
SELECT progress_error($$SELECT tl_progress_begin('f', -1)$$);
SELECT progress_error($$DO 'BEGIN PERFORM tl_progress_begin(''f''); PERFORM tl_progress_step(''p'', -1); END'$$);
SELECT progress_error($$DO 'BEGIN PERFORM tl_progress_begin(''f''); PERFORM tl_progress_step(''p'', 1, -5); END'$$);
SELECT progress_error($$DO 'BEGIN FOR i IN 1..9 LOOP PERFORM tl_progress_begin(''deep''); END LOOP; END'$$);
-- a long name is cut to fit, never overflows
BEGIN;
SELECT tl_progress_begin(repeat('f', 1000)) > 0;
SELECT tl_progress_step(repeat('p', 1000), 1);
SELECT length(function) AS function_chars, length(phase) AS phase_chars FROM tl_progress WHERE pid = pg_backend_pid();
ROLLBACK;
-- ... at a character boundary (in UTF-8, 15 two-byte characters fit in 31 bytes)
BEGIN;
SELECT tl_progress_begin(repeat('é', 100)) > 0;
SELECT CASE WHEN current_setting('server_encoding') = 'UTF8'
            THEN function = repeat('é', 15) ELSE octet_length(function) <= 31 END AS cut_between_characters
  FROM tl_progress WHERE pid = pg_backend_pid();
ROLLBACK;
SELECT dblink_disconnect('bg');
DROP ROLE progress_outsider;
