-- tl_blas_info: the OpenBLAS kernels this backend runs.  The suite starts its
-- cluster with OPENBLAS_CORETYPE set where OpenBLAS 0.3.21 would fall back
-- (contrib/packages.sh: tl_openblas_env), so the kernels are never a fallback
-- here; on a CPU it mis-detects, without the setting, "fallback" would be t.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS tensorlens;
RESET client_min_messages;
SELECT config LIKE 'OpenBLAS %' AS openblas, core <> '' AS has_core,
       cpu_features IN ('avx512', 'avx2', 'sse') AS known_features,
       threads, fallback, advice
  FROM tl_blas_info();
-- the core named is the one in the build's description
SELECT position(core IN config) > 0 AS core_in_config FROM tl_blas_info();
-- threads follow tensorlens.blas_threads
SET tensorlens.blas_threads = 2;
SELECT threads FROM tl_blas_info();
RESET tensorlens.blas_threads;
SELECT threads FROM tl_blas_info();
-- any role may ask (it reads nothing stored); it takes no argument to misuse
CREATE ROLE blas_reader;
SET ROLE blas_reader;
SELECT fallback IS NOT NULL AS answered FROM tl_blas_info();
SELECT (tl_blas_info()).threads AS threads_as_reader;
RESET ROLE;
DROP ROLE blas_reader;
