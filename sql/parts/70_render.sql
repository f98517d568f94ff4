-- ---------------------------------------------------------------------------
-- Pictures from SQL
-- ---------------------------------------------------------------------------
CREATE FUNCTION @extschema@.tl_svg_scatter_add(internal, float8, float8, float8, text, text)
RETURNS internal AS 'MODULE_PATHNAME', 'pg_tl_svg_scatter_add'
LANGUAGE C CALLED ON NULL INPUT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION @extschema@.tl_svg_scatter_add(internal, float8, float8, float8, text, text, text)
RETURNS internal AS 'MODULE_PATHNAME', 'pg_tl_svg_scatter_add'
LANGUAGE C CALLED ON NULL INPUT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION @extschema@.tl_svg_scatter_final(internal)
RETURNS text AS 'MODULE_PATHNAME', 'pg_tl_svg_scatter_final'
LANGUAGE C CALLED ON NULL INPUT IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE @extschema@.tl_svg_scatter(x float8, y float8, size float8, colour text, label text) (
    SFUNC = @extschema@.tl_svg_scatter_add,
    STYPE = internal,
    FINALFUNC = @extschema@.tl_svg_scatter_final
);
COMMENT ON AGGREGATE @extschema@.tl_svg_scatter(float8, float8, float8, text, text) IS
    'A self-contained SVG scatter plot: dots sized by size (e.g. loss, biggest drawn on top), coloured by colour (categories get a legend, numbers a colour bar), label as each dot''s tooltip. Feed it rows in a fixed order (ORDER BY inside the call) for identical output.';
CREATE AGGREGATE @extschema@.tl_svg_scatter(x float8, y float8, size float8, colour text, label text, title text) (
    SFUNC = @extschema@.tl_svg_scatter_add,
    STYPE = internal,
    FINALFUNC = @extschema@.tl_svg_scatter_final
);
COMMENT ON AGGREGATE @extschema@.tl_svg_scatter(float8, float8, float8, text, text, text) IS
    'tl_svg_scatter with a title (taken from the first row).';
