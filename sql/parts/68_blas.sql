-- ---------------------------------------------------------------------------
-- Which OpenBLAS kernels run (src/pg/pg_blas.c).  OpenBLAS 0.3.21 falls back
-- to slower kernels on CPUs it does not know; OPENBLAS_CORETYPE in the
-- server's environment chooses them (doc/performance.md).
-- ---------------------------------------------------------------------------
CREATE FUNCTION @extschema@.tl_blas_info(
    OUT config text, OUT core text, OUT cpu_features text, OUT coretype_setting text,
    OUT threads integer, OUT fallback boolean, OUT advice text)
RETURNS record
AS 'MODULE_PATHNAME', 'pg_tl_blas_info'
LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.tl_blas_info() IS
    'OpenBLAS in this backend: its build (config), the kernels it chose (core), what the CPU can do (avx512, avx2, sse), OPENBLAS_CORETYPE as the server has it, threads, and whether the kernels are a slower fallback (with the setting that fixes it).';
