-- ---------------------------------------------------------------------------
-- Settings.  They are defined when the library loads (_PG_init), at a
-- session's first call of one of its C functions: tl_settings() is such a
-- call, so SHOW tensorlens.* works after it (or preload the library).
-- ---------------------------------------------------------------------------
CREATE FUNCTION @extschema@.tl_settings()
RETURNS TABLE (name text, setting text, unit text, description text)
AS 'MODULE_PATHNAME', 'pg_tl_settings'
LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION @extschema@.tl_settings() IS
    'The tensorlens.* settings of this session (name, value, unit, description); loads the library, so that SHOW tensorlens.* works afterwards in a new session.';
