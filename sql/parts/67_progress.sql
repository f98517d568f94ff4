-- ---------------------------------------------------------------------------
-- Progress of long work (src/pg/pg_progress.c).  tl_evaluate, tl_analyze,
-- tl_infer_batch, tl_perception_batch, tl_label_issues, table-wide
-- saliency and the report say how far they are: in the session as NOTICE
-- lines every tensorlens.progress_interval (default 10 s, 0 = none), and to
-- every session through the view tl_progress.  The numbers live in
-- PostgreSQL's per-backend progress slot (the shared memory behind
-- pg_stat_progress_*): nothing needs to be preloaded.  A role sees the work
-- of the roles whose privileges it has, or all with pg_read_all_stats.
-- ---------------------------------------------------------------------------
CREATE FUNCTION @extschema@.tl_progress_status(
    OUT pid integer, OUT function text, OUT run integer, OUT phase text,
    OUT done bigint, OUT total bigint, OUT total_estimated boolean,
    OUT started timestamptz, OUT phase_started timestamptz, OUT updated timestamptz,
    OUT estimated_end timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pg_tl_progress_status'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION @extschema@.tl_progress_status() IS
    'The tensorlens work in progress in every backend the caller may see (as pg_stat_activity): function, run, phase, done of total (the planner''s estimate while total_estimated), start, last update, and the end the phase''s rate so far predicts.';

CREATE VIEW @extschema@.tl_progress WITH (security_invoker = true) AS
SELECT s.pid, s.function, s.run, s.phase, s.done, s.total, s.total_estimated,
       pg_catalog.round(LEAST(100.0, 100.0 * s.done / NULLIF(s.total, 0)), 1) AS percent,
       s.started, s.phase_started, s.updated, s.estimated_end
  FROM @extschema@.tl_progress_status() s;
COMMENT ON VIEW @extschema@.tl_progress IS
    'Long tensorlens work running now, one row per backend: pid, function (the outermost call), run, phase (the innermost), done, total, percent, started, updated, estimated_end.';

CREATE FUNCTION @extschema@.tl_progress_begin(function text, run integer DEFAULT NULL)
RETURNS integer
AS 'MODULE_PATHNAME', 'pg_tl_progress_begin'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION @extschema@.tl_progress_begin(text, integer) IS
    'Begins a progress report of this session (shown by tl_progress until tl_progress_end or the end of the transaction); reports nest. Used by tl_analyze and the report; pipelines may use it too.';

CREATE FUNCTION @extschema@.tl_progress_step(phase text, done bigint, total bigint DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'pg_tl_progress_step'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION @extschema@.tl_progress_step(text, bigint, bigint) IS
    'Sets the phase and the count done (of total, NULL = unknown) of the innermost progress report of this session.';

CREATE FUNCTION @extschema@.tl_progress_end()
RETURNS void
AS 'MODULE_PATHNAME', 'pg_tl_progress_end'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION @extschema@.tl_progress_end() IS
    'Ends the innermost progress report of this session.';
