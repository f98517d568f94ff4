#!/usr/bin/env bash
# contrib/bi/check_queries.sh [HOST [PORT [DB]]]
#
# Checks the BI integration against a database with tensorlens runs in it
# (default: the demo cluster of contrib/demo.sh, database tensorlens_demo):
#
#  - the Grafana dashboard JSON and the provisioning YAML files parse (the alert rules' queries run too);
#    every panel and variable uses the provisioned data source (uid
#    tensorlens); every variable a query uses is defined;
#  - contrib/bi/readonly_role.sql runs, twice (it must be idempotent), as
#    postgres;
#  - every SQL query of contrib/bi/README.md (its ```sql blocks) and of the
#    dashboard (panel targets and variable queries) runs as the read-only
#    role tensorlens_bi, once per ready run (an image run and text runs in
#    the demo), with Grafana's $run / $compare_to and Metabase's {{run}}
#    replaced by run ids.  README blocks that start with "-- as a superuser"
#    run as postgres instead.  Each query must succeed and, except where
#    noted, return rows.
#
# Prints one line per query and run and exits non-zero on any failure.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../packages.sh"
. "$HERE/../cluster.sh"
HOST=${1:-/var/lib/tensorlens}
PORT=${2:-5488}
DB=${3:-tensorlens_demo}

# tl_label_issues and tl_failure_clusters run in the installed library: keep
# another checkout from installing its own meanwhile (TL_INSTALL_LOCK_HELD=1:
# the caller holds the lock, as in contrib/demo.sh)
tl_lock_install
psql -X -q -v ON_ERROR_STOP=1 -h "$HOST" -p "$PORT" -U postgres -d "$DB" -o /dev/null \
  -f "$HERE/readonly_role.sql" -f "$HERE/readonly_role.sql"
echo "readonly_role.sql: ran twice as postgres"

exec /usr/bin/python3 - "$HERE" "$HOST" "$PORT" "$DB" <<'PY'
import json, os, re, subprocess, sys, time

here, host, port, db = sys.argv[1:5]
failures = 0

def fail(msg):
    global failures
    failures += 1
    print("FAIL " + msg)

def psql(user, sql):
    """Runs sql as user; returns (ok, output, seconds)."""
    t = time.time()
    p = subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", host, "-p", port,
                        "-U", user, "-d", db, "-f", "-"], input=sql, capture_output=True, text=True)
    return p.returncode == 0, (p.stdout if p.returncode == 0 else p.stderr).strip(), time.time() - t

# ---- the files parse ----------------------------------------------------------
dash_file = os.path.join(here, "grafana", "tensorlens-dashboard.json")
with open(dash_file) as f:
    dash = json.load(f)
print("grafana/tensorlens-dashboard.json: valid JSON, %d panels, variables %s"
      % (len(dash["panels"]), [v["name"] for v in dash["templating"]["list"]]))
try:
    import yaml
    ds = yaml.safe_load(open(os.path.join(here, "grafana/provisioning/datasources/tensorlens.yaml")))
    prov = yaml.safe_load(open(os.path.join(here, "grafana/provisioning/dashboards/tensorlens.yaml")))
    uid = ds["datasources"][0]["uid"]
    assert ds["datasources"][0]["type"] in ("postgres", "grafana-postgresql-datasource")
    assert prov["providers"][0]["type"] == "file" and prov["providers"][0]["options"]["path"]
    print("grafana/provisioning/*.yaml: valid YAML, data source uid %r, dashboards from %s"
          % (uid, prov["providers"][0]["options"]["path"]))
    alerts = yaml.safe_load(open(os.path.join(here, "grafana/provisioning/alerting/tensorlens-alerts.yaml")))
    alert_queries = [(r["title"], q["model"]["rawSql"]) for g in alerts["groups"] for r in g["rules"]
                     for q in r["data"] if q["datasourceUid"] == uid]
except ImportError:
    uid = "tensorlens"
    alert_queries = []
    print("python3-yaml is not installed: the YAML files were not parsed")

# ---- the queries ----------------------------------------------------------------
queries = []          # (source, name, sql, as_admin, may_be_empty)
variables = {v["name"] for v in dash["templating"]["list"]}
for v in dash["templating"]["list"]:
    if (v.get("datasource") or {}).get("uid") != uid:
        fail("variable %s does not use data source %s" % (v["name"], uid))
    queries.append(("grafana", "variable " + v["name"], v["query"], False, False))
for p in dash["panels"]:
    if (p.get("datasource") or {}).get("uid") != uid:
        fail("panel %r does not use data source %s" % (p["title"], uid))
    for t in p.get("targets", []):
        if (t.get("datasource") or {}).get("uid") != uid:
            fail("panel %r, query %s does not use data source %s" % (p["title"], t["refId"], uid))
        queries.append(("grafana", "panel " + p["title"], t["rawSql"], False, False))
for _, name, sql, _, _ in list(queries):
    for used in re.findall(r"\$\{?(\w+)", sql):
        if used not in variables:
            fail("%s uses $%s, which the dashboard does not define" % (name, used))

for title, sql in alert_queries:
    queries.append(("alert", title, sql, False, False))

readme = open(os.path.join(here, "README.md")).read()
for n, m in enumerate(re.finditer(r"^```sql\n(.*?)^```", readme, re.S | re.M), 1):
    block = m.group(1).strip()
    first = block.splitlines()[0]
    name = first[3:].strip() if first.startswith("-- ") else "sql block %d" % n
    queries.append(("README", name, block, block.startswith("-- as a superuser"), "may return no rows" in block))

# ---- the runs to try them on ------------------------------------------------------
ok, out, _ = psql("tensorlens_bi", "SELECT id || ' ' || model || ' ' || dataset FROM tl_run WHERE status = 'ready' ORDER BY id")
if not ok:
    print(out)
    sys.exit("the read-only role cannot read tl_run")
runs = [line.split(" ", 2) for line in out.splitlines()]
model_of = {r: m for r, m, d in runs}
runs = [(r, d) for r, m, d in runs]
if not runs:
    sys.exit("no ready run in %s: run bash contrib/demo.sh first" % db)
print("runs: %s" % ", ".join("%s (%s)" % (r, d) for r, d in runs))

def other_run(run, dataset):
    """Another run on the dataset to compare with, of another model when there
    is one (two runs of one model on the same samples may agree everywhere)."""
    same = [r for r, d in runs if d == dataset and r != run]
    same.sort(key=lambda r: model_of[r] == model_of[run])
    return same[0] if same else run

checked = 0
for source, name, sql, admin, may_be_empty in queries:
    per_run = bool(re.search(r"\$\{?run\b|\{\{\s*run\s*\}\}", sql))
    for run, dataset in (runs if per_run else runs[:1]):
        q = sql
        for var, value in (("run", run), ("compare_to", other_run(run, dataset))):
            q = re.sub(r"\$\{%s\}|\$%s\b|\{\{\s*%s\s*\}\}" % (var, var, var), value, q)
        q = q.replace("[[", "").replace("]]", "")       # Metabase's optional clauses, kept
        label = "%-8s %-62s %s" % (source, name[:62], ("run " + run) if per_run else "")
        if admin:
            q = q.replace("tensorlens_demo", db)     # the README's example names the demo database
            ok, out, secs = psql("postgres", q if q.rstrip().endswith(";") else q + ";")
            rows = None
        else:
            body = q.rstrip().rstrip(";")
            if ";" in re.sub(r"--[^\n]*|'[^']*'", "", body):
                fail("%s: more than one statement" % label)
                continue
            ok, out, secs = psql("tensorlens_bi", "SELECT count(*) FROM (\n%s\n) q;" % body)
            rows = int(out) if ok else None
        checked += 1
        # with no other run on the run's dataset, $compare_to is the run itself: nothing to compare
        empty_ok = may_be_empty or (("compare_to" in sql or name == "variable compare_to")
                                     and other_run(run, dataset) == run)
        if not ok:
            fail("%s\n     %s" % (label, out.replace("\n", "\n     ")))
        elif rows == 0 and not empty_ok:
            fail("%s: no rows" % label)
        else:
            print("ok   %s %6s rows %6.2f s" % (label, "-" if rows is None else rows, secs))
print("%d query runs checked (%d queries), %d failed" % (checked, len(queries), failures))
sys.exit(1 if failures else 0)
PY
