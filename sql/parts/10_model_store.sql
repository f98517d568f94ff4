-- ---------------------------------------------------------------------------
-- The model store: every imported revision of every model, as bytes plus
-- what was read from them.  Dumped by pg_dump with the user's data.
-- ---------------------------------------------------------------------------
CREATE TABLE @extschema@.tl_model (
    name            text        NOT NULL
                    CONSTRAINT tl_model_name_check
                    CHECK (name <> '' AND pg_catalog.strpos(name, '@') = 0
                           AND pg_catalog.length(name) <= 200),
    revision        integer     NOT NULL CHECK (revision > 0),
    format          text        NOT NULL,
    keras_version   text        NOT NULL,
    -- generated, so the cache key can never disagree with the bytes
    sha256          bytea       NOT NULL
                    GENERATED ALWAYS AS (pg_catalog.sha256(data)) STORED,
    data            bytea       NOT NULL,
    config          jsonb       NOT NULL,
    training_config jsonb,
    input_shape     integer[]   NOT NULL,
    output_shape    integer[]   NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    created_by      name        NOT NULL DEFAULT CURRENT_USER,
    -- the model as parsed at import (weights as float32, config checked),
    -- which backends load instead of parsing the file; used only while
    -- compiled_for still equals sha256.  (Last, where the upgrade from
    -- 0.1.0 adds them: fresh and upgraded tables are alike.)
    compiled        bytea,
    compiled_for    bytea,
    PRIMARY KEY (name, revision)
);
COMMENT ON TABLE @extschema@.tl_model IS
    'Keras models stored by tl_model_import/tl_model_load; "name" means the newest revision, "name@N" revision N.';
-- model files are already dense: do not spend CPU trying to compress them
ALTER TABLE @extschema@.tl_model ALTER COLUMN data SET STORAGE EXTERNAL;
ALTER TABLE @extschema@.tl_model ALTER COLUMN compiled SET STORAGE EXTERNAL;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.tl_model', '');

CREATE FUNCTION @extschema@.tl_model_inspect(
    data bytea,
    OUT format text, OUT keras_version text, OUT config jsonb,
    OUT training_config jsonb, OUT input_shape integer[], OUT output_shape integer[],
    OUT compiled bytea)
RETURNS record
AS 'MODULE_PATHNAME', 'pg_tl_model_inspect'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.tl_model_inspect(bytea) IS
    'Parses a Keras .h5/.keras file (weights included) and reports what it holds, without storing it.';

CREATE FUNCTION @extschema@.tl_model_import(name text, data bytea)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    rev  integer;
BEGIN
    IF name IS NULL OR data IS NULL THEN
        RAISE EXCEPTION 'tl_model_import: name and data must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF name = '' OR strpos(name, '@') > 0 OR length(name) > 200 THEN
        RAISE EXCEPTION 'invalid model name "%"', name
            USING ERRCODE = 'invalid_name',
                  DETAIL = 'A model name has 1 to 200 characters and no "@" ("name@3" means revision 3).';
    END IF;
    -- the trigger tl_model_parse parses the file and numbers the revision
    INSERT INTO @extschema@.tl_model AS m (name, data) VALUES (name, data) RETURNING m.revision INTO rev;
    RETURN rev;
END
$$;
COMMENT ON FUNCTION @extschema@.tl_model_import(text, bytea) IS
    'Stores a Keras model (.h5 or .keras bytes) as a new revision of name; returns the revision.';

-- Every row comes from its bytes: whoever inserts (tl_model_import, or an
-- INSERT of (name, data)), the file is parsed — a file that cannot be run
-- is refused — and the revision, format, config, shapes and compiled form
-- are what the extension makes of it, never what the inserter says.  Only
-- the store's owner and superusers (pg_dump's restore) may insert a row
-- with its revision given, as it is.
CREATE FUNCTION @extschema@.tl_model_parse()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    info record;
    rev  integer;
BEGIN
    IF NEW.revision IS NOT NULL
       AND pg_has_role((SELECT c.relowner FROM pg_class c WHERE c.oid = TG_RELID), 'USAGE') THEN
        RETURN NEW;
    END IF;
    IF NEW.name IS NULL OR NEW.data IS NULL THEN
        RAISE EXCEPTION 'a model needs a name and data' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- parse before storing: a file that cannot be run is refused here
    info := @extschema@.tl_model_inspect(NEW.data);
    -- one importer per name at a time, so revisions count 1, 2, 3...
    PERFORM pg_advisory_xact_lock(hashtextextended('tensorlens.tl_model:' || NEW.name, 0));
    SELECT coalesce(max(m.revision), 0) INTO rev FROM @extschema@.tl_model m WHERE m.name = NEW.name;
    IF rev >= 2147483647 THEN
        RAISE EXCEPTION 'model "%" has no revision numbers left', NEW.name
            USING ERRCODE = 'program_limit_exceeded', HINT = 'Import it under another name.';
    END IF;
    NEW.revision := rev + 1;
    NEW.format := info.format;
    NEW.keras_version := info.keras_version;
    NEW.config := info.config;
    NEW.training_config := info.training_config;
    NEW.input_shape := info.input_shape;
    NEW.output_shape := info.output_shape;
    NEW.compiled := info.compiled;
    NEW.compiled_for := sha256(NEW.data);
    NEW.created_by := CURRENT_USER;
    NEW.created_at := now();
    RETURN NEW;
END
$$;
CREATE TRIGGER tl_model_parse
    BEFORE INSERT ON @extschema@.tl_model
    FOR EACH ROW EXECUTE FUNCTION @extschema@.tl_model_parse();

CREATE FUNCTION @extschema@.tl_read_model_file(path text)
RETURNS bytea
AS 'MODULE_PATHNAME', 'pg_tl_read_model_file'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION @extschema@.tl_read_model_file(text) IS
    'Reads a server file; needs superuser or pg_read_server_files, as COPY FROM a file does.';

CREATE FUNCTION @extschema@.tl_model_load(name text, path text)
RETURNS integer
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$ SELECT @extschema@.tl_model_import($1, @extschema@.tl_read_model_file($2)) $$;
COMMENT ON FUNCTION @extschema@.tl_model_load(text, text) IS
    'Imports a model from a file on the database server (needs pg_read_server_files).';

CREATE FUNCTION @extschema@.tl_layers(model text)
RETURNS TABLE (idx integer, name text, kind text, output_shape integer[], params bigint)
AS 'MODULE_PATHNAME', 'pg_tl_layers'
LANGUAGE C STRICT STABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.tl_layers(text) IS
    'The layers of a model as Keras summarises them; output_shape leaves out the batch dimension (NULL = any length).';

CREATE FUNCTION @extschema@.tl_model_cache()
RETURNS TABLE (name text, revision integer, bytes bigint, last_used bigint)
AS 'MODULE_PATHNAME', 'pg_tl_model_cache'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION @extschema@.tl_model_cache() IS
    'The models parsed and cached in this backend (bounded by tensorlens.model_cache_size), most recently used first by last_used.';

CREATE FUNCTION @extschema@.tl_model_cache_clear()
RETURNS integer
AS 'MODULE_PATHNAME', 'pg_tl_model_cache_clear'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION @extschema@.tl_model_cache_clear() IS
    'Drops every model cached in this backend; returns how many. The next use loads them again.';
