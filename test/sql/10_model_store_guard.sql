-- The model store reads only the bytes it is given, and its rows are the
-- extension's: a file that points outside itself is refused, and a direct
-- INSERT into tl_model is refused or made exactly what tl_model_import would
-- make (doc/security.md).
\getenv fixtures TL_FIXTURES
\set tiny_hex `od -An -v -tx1 :'fixtures'/tiny_dense.h5 | tr -d ' \n'`
CREATE ROLE mg_nobody;
CREATE ROLE mg_user;
SELECT tl_grant_usage('mg_user');
-- the files that would make libhdf5 read others (make_hostile.py, outside_the_file):
-- external storage naming the data directory's PG_VERSION and /etc/passwd, a
-- virtual dataset, an external link, a filter plugin (LZF), and a .keras
-- whose weights use external storage
CREATE TABLE mg_files (file text PRIMARY KEY, hex text);
\set files `cd :'fixtures'/hostile && for f in x_*; do printf "%s('%s', '%s')" "$sep" "$f" "$(od -An -v -tx1 "$f" | tr -d ' \n')"; sep=,; done`
INSERT INTO mg_files VALUES :files;
GRANT SELECT ON mg_files TO PUBLIC;

-- a role with no grant at all inspects them; a role with usage imports them
SET SESSION AUTHORIZATION mg_nobody;
SELECT file, expect_error(format('SELECT tl_model_inspect(decode(%L, ''hex''))', hex)) AS inspect
  FROM mg_files ORDER BY file;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION mg_user;
SELECT file, expect_error(format('SELECT tl_model_import(''mg_outside'', decode(%L, ''hex''))', hex)) AS import
  FROM mg_files ORDER BY file;
SELECT file, expect_error(format('INSERT INTO tl_model (name, data) VALUES (''mg_outside'', decode(%L, ''hex''))', hex)) AS insert
  FROM mg_files ORDER BY file;
RESET SESSION AUTHORIZATION;
SELECT count(*) AS stored FROM tl_model WHERE name = 'mg_outside';

-- ---- direct INSERTs --------------------------------------------------------
SELECT tl_model_import('mg_tiny', decode(:'tiny_hex', 'hex')) AS revision;
SET SESSION AUTHORIZATION mg_user;
-- a forged compiled form, revision, shapes or creator: not even insertable
SELECT expect_error($$INSERT INTO tl_model (name, revision, format, keras_version, data, config, input_shape, output_shape, compiled, compiled_for)
                      SELECT name, 2, format, keras_version, data, config, input_shape, output_shape, '\x00', sha256
                        FROM tl_model WHERE name = 'mg_tiny'$$) AS fake_compiled;
SELECT expect_error($$INSERT INTO tl_model (name, revision, data)
                      SELECT name, 2147483647, data FROM tl_model WHERE name = 'mg_tiny'$$) AS huge_revision;
SELECT expect_error($$INSERT INTO tl_model (name, data, created_by)
                      SELECT name, data, 'postgres' FROM tl_model WHERE name = 'mg_tiny'$$) AS forged_creator;
-- (name, data) is an import: the revision and everything else come from the bytes
INSERT INTO tl_model (name, data) VALUES ('mg_tiny', decode(:'tiny_hex', 'hex')) RETURNING revision, format, input_shape, created_by;
SELECT revision, compiled_for = sha256 AS compiled_from_these_bytes, compiled IS NOT NULL AS compiled
  FROM tl_model WHERE name = 'mg_tiny' ORDER BY revision;
SELECT expect_error($$INSERT INTO tl_model (name, data) VALUES ('mg_junk', '\x00010203')$$) AS junk;
SELECT expect_error($$UPDATE tl_model SET compiled = NULL WHERE name = 'mg_tiny'$$) AS update;
RESET SESSION AUTHORIZATION;
-- a trigger makes the same of any role's INSERT that names no revision,
-- even one granted every column (here a superuser-like grant to mg_user)
GRANT INSERT ON tl_model TO mg_user;
SET SESSION AUTHORIZATION mg_user;
INSERT INTO tl_model (name, revision, format, keras_version, data, config, input_shape, output_shape, compiled, compiled_for, created_by)
SELECT name, 2147483647, 'forged', '9', data, '{}', '{1}', '{1}', '\x00', sha256, 'postgres'
  FROM tl_model WHERE name = 'mg_tiny' AND revision = 1
RETURNING revision, format, keras_version, input_shape, created_by, compiled <> '\x00' AS compiled_rebuilt;
RESET SESSION AUTHORIZATION;
REVOKE INSERT ON tl_model FROM mg_user;
SELECT tl_grant_usage('mg_user');
-- the name still imports for everyone, and the newest revision is the real one
SET SESSION AUTHORIZATION mg_user;
SELECT tl_model_import('mg_tiny', decode(:'tiny_hex', 'hex')) AS revision;
SELECT round((tl_infer('mg_tiny', '{1,0,-1}'::real[]))[1]::numeric, 6) AS y;
RESET SESSION AUTHORIZATION;
-- the owner (pg_dump's restore) may write a row with its revision as it is
INSERT INTO tl_model (name, revision, format, keras_version, data, config, input_shape, output_shape)
SELECT 'mg_restored', 7, format, keras_version, data, config, input_shape, output_shape
  FROM tl_model WHERE name = 'mg_tiny' AND revision = 1 RETURNING name, revision;

DELETE FROM tl_model WHERE name IN ('mg_tiny', 'mg_restored');
DROP TABLE mg_files;
SELECT tl_revoke_usage('mg_user');
DROP ROLE mg_nobody, mg_user;
