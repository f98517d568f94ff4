#!/usr/bin/python3
"""run_docs.py — the documentation as tests (doc/docs_as_tests.md).

  /usr/bin/python3 test/docs/run_docs.py --host H --port P [--data DIR] [FILE.md ...]

Runs every ```sql block of README.md, doc/*.md and contrib/**/README.md (or
of the files given) with psql, one psql session per file, in order, as a
user following the file would, and compares what each block shows:

  ```sql                 runs; any ERROR fails the file
  ```sql norun: REASON   not run; counted and listed with its reason
  ```out                 right after a ```sql block: what that block prints
                         (psql's default aligned format), compared
  ```python              runs with /usr/bin/python3, PGHOST/PGPORT/PGUSER/
                         PGDATABASE set to the file's database
  SELECT ...;  -- → V    a statement whose line ends with "→ V" must print
                         the single value V (numbers: to the digits shown)

README.md runs in a fresh empty database.  Every other file runs in a fresh
copy of a template made by the README's ```sql setup blocks (the quick
start: CREATE EXTENSION, the reviews, the models, the vocabulary), so a
file may use those objects.  psql runs in a scratch directory in which
../shared/data is the shared data and every top-level entry of the
repository is linked, so paths are written as from the repository's top
directory.  Files written with \\o or \\g ending in .html or .svg must be
well-formed pages / pictures (no psql headers or padding).

A file whose text holds "<!-- docs-test: checked by SCRIPT -->" is checked
by that script instead (counted as delegated); one with "<!-- docs-test:
needs PATH -->" is skipped (counted and named) when PATH is absent, as is
every file that uses the shared data when it is absent.

Prints one line per file ("doc FILE ... ok (...)" / "FAILED" with a diff)
and a summary; exit status 0 when nothing failed.
"""
import argparse
import difflib
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MARK = "@@tl-docs@@"
FENCE = re.compile(r"^( *)(```+)\s*([^`\n]*)$")
VALUE = re.compile(r"--.*→\s*(.+?)\s*$")
DELEGATE = re.compile(r"^<!--\s*docs-test:\s*checked by\s+(.+?)\s*-->", re.M)
NEEDS = re.compile(r"^<!--\s*docs-test:\s*needs\s+(.+?)\s*-->", re.M)


class Block:
    def __init__(self, lang, info, text, line):
        self.lang, self.info, self.text, self.line = lang, info, text, line
        self.expected = None        # the ```out block that follows, if any
        self.expected_line = None


def doc_files(args):
    if args.files:
        return args.files
    files = ["README.md"] + sorted(glob.glob("doc/*.md")) + sorted(glob.glob("contrib/**/README.md", recursive=True))
    return [f for f in files if os.path.exists(os.path.join(REPO, f))]


def parse(path):
    """The fenced blocks of a Markdown file, with their ```out blocks attached."""
    lines = open(os.path.join(REPO, path), encoding="utf-8").read().split("\n")
    blocks, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, ticks, info = len(m.group(1)), m.group(2), m.group(3).strip()
        start, body = i + 1, []
        i += 1
        while i < len(lines) and not re.match(r"^ *%s\s*$" % ticks, lines[i]):
            body.append(lines[i][indent:] if lines[i][:indent].strip() == "" else lines[i])
            i += 1
        i += 1
        lang = info.split()[0].rstrip(":") if info else ""
        b = Block(lang, info, "\n".join(body), start)
        if lang == "out" and blocks and blocks[-1].lang == "sql" and blocks[-1].expected is None:
            blocks[-1].expected, blocks[-1].expected_line = b.text, start
            continue
        blocks.append(b)
    return blocks


def norun_reason(b):
    m = re.match(r"sql\s+norun:?\s*(.*)", b.info)
    return (m.group(1) or "no reason given") if m else None


def statements(sql):
    """The statements of a block: (text, index of its first line, its last line).

    A statement ends at a ";" outside quotes, dollar quotes and comments, or
    with a psql meta-command (a line starting with a backslash, e.g. \\gset
    or \\g); comment lines before a statement belong to it."""
    lines = sql.split("\n")
    out, start, quote, block_comment = [], 0, None, 0
    for n, line in enumerate(lines):
        ends = False
        if True:
            i = 0
            while i < len(line):
                c = line[i]
                if block_comment:
                    if line.startswith("*/", i):
                        block_comment -= 1
                        i += 1
                elif quote == "'":
                    if c == "'":
                        quote = None
                elif quote is not None:
                    if line.startswith(quote, i):
                        i += len(quote) - 1
                        quote = None
                elif line.startswith("--", i):
                    break
                elif line.startswith("/*", i):
                    block_comment += 1
                    i += 1
                elif c == "'":
                    quote = "'"
                elif c == "$":
                    m = re.match(r"\$[A-Za-z_]*\$", line[i:])
                    if m:
                        quote = m.group(0)
                        i += len(quote) - 1
                elif c == "\\":
                    ends = True         # a meta-command (\\gset, \\g file) ends the statement
                    break
                elif c == ";":
                    ends = True
                elif not c.isspace():
                    ends = False
                i += 1
        if ends and quote is None and block_comment == 0:
            out.append(("\n".join(lines[start:n + 1]), start, line))
            start = n + 1
    rest = "\n".join(lines[start:])
    if rest.strip():
        out.append((rest, start, lines[-1]))
    return out


# ---- comparing ---------------------------------------------------------------
def normalise(text):
    out = []
    for line in text.split("\n"):
        line = re.sub(r"^psql:[^:]*:\d+: ", "", line.rstrip())
        if line.startswith("Time: "):
            continue
        out.append(line)
    while out and out[0] == "":
        out.pop(0)
    while out and out[-1] == "":
        out.pop()
    return out


def matches(expected, actual):
    """expected (lines, '...' = any lines) against actual lines."""
    if not expected:
        return not actual
    if expected[0].strip() in ("...", "…"):
        return any(matches(expected[1:], actual[k:]) for k in range(len(actual) + 1))
    return bool(actual) and expected[0] == actual[0] and matches(expected[1:], actual[1:])


def compare_output(expected_text, actual_text):
    """None if the block printed what the doc shows, else a readable diff."""
    exp = normalise(expected_text)
    act = normalise(actual_text)
    if not any(l.startswith("CONTEXT:  ") for l in exp):
        act = [l for l in act if not l.startswith("CONTEXT:  ")]
    if not any(re.match(r"^\(\d+ rows?\)$", l) for l in exp):
        act = [l for l in act if not re.match(r"^\(\d+ rows?\)$", l)]
        # the blank line psql prints after each table, without its footer
        act = [l for k, l in enumerate(act) if l != "" or (k + 1 < len(act) and act[k + 1] != "")]
    if matches(exp, act):
        return None
    return "\n".join(difflib.unified_diff(exp, act, "shown in the doc", "printed", lineterm="", n=2))


def value_of(output):
    """The value the last statement of a segment printed (aligned format: the row under the ---- line)."""
    lines = [l for l in output.split("\n") if l.strip() != ""]
    for k in range(len(lines) - 1, -1, -1):
        if re.match(r"^-+$", lines[k].strip()):
            rows = [r for r in lines[k + 1:] if not re.match(r"^\(\d+ rows?\)$", r)]
            return rows[0].strip() if len(rows) == 1 else "\n".join(r.strip() for r in rows)
    return None


def same_value(shown, got):
    """got equals shown; numbers (also the elements of {...} arrays) to the digits shown."""
    if got is None:
        return False
    if shown == got:
        return True
    if shown.startswith("{") and got.startswith("{"):
        a, b = shown.strip("{}").split(","), got.strip("{}").split(",")
        return len(a) == len(b) and all(same_value(x.strip(), y.strip()) for x, y in zip(a, b))
    try:
        digits = len(shown.split(".")[1]) if "." in shown else 0
        return round(float(got), digits) == float(shown)
    except ValueError:
        return False


def check_page(path):
    """A file written by \\o / \\g: a whole page or picture, nothing of psql's around it."""
    text = open(path, encoding="utf-8", errors="replace").read().strip()
    if path.endswith(".html"):
        ok = re.match(r"(?i)^<!doctype html>", text) and text.endswith("</html>")
    else:
        ok = re.match(r"^(<\?xml[^>]*>\s*)?<svg", text) and text.endswith("</svg>")
    return None if ok else "%s is not a well-formed %s file: starts %r, ends %r" % (
        os.path.basename(path), path.rsplit(".", 1)[1], text[:40], text[-40:])


# ---- running -----------------------------------------------------------------
class Runner:
    def __init__(self, a):
        self.a = a
        self.work = tempfile.mkdtemp(prefix="tl-docs-")
        top = os.path.join(self.work, "top")
        os.makedirs(top)
        for e in os.listdir(REPO):
            if e not in (".git",):
                os.symlink(os.path.join(REPO, e), os.path.join(top, e))
        os.makedirs(os.path.join(self.work, "shared"))
        if a.data:
            os.symlink(os.path.abspath(a.data), os.path.join(self.work, "shared", "data"))
        self.top = top

    def env(self, db):
        e = dict(os.environ, PGHOST=self.a.host, PGPORT=str(self.a.port), PGUSER=self.a.user, PGDATABASE=db)
        e.pop("PGOPTIONS", None)
        return e

    def admin(self, sql):
        subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", "postgres", "-c", sql],
                       env=self.env("postgres"), check=True, capture_output=True, text=True)

    def fresh_db(self, name, template=None):
        self.admin('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)
        self.admin('CREATE DATABASE "%s"%s' % (name, ' TEMPLATE "%s"' % template if template else ""))

    def roles(self):
        p = subprocess.run(["psql", "-X", "-At", "-d", "postgres", "-c", "SELECT rolname FROM pg_roles"],
                           env=self.env("postgres"), check=True, capture_output=True, text=True)
        return set(p.stdout.split())

    def drop_roles_since(self, before, kept_db=None):
        """Roles a file created (CREATE ROLE in an example) go with its database
        (from a database that is kept, with what they own and were granted)."""
        for role in sorted(self.roles() - before):
            if kept_db:
                subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", 'DROP OWNED BY "%s"' % role],
                               env=self.env(kept_db), check=True, capture_output=True, text=True)
            self.admin('DROP ROLE IF EXISTS "%s"' % role)

    def psql_script(self, db, script):
        path = os.path.join(self.work, "doc.sql")
        with open(path, "w") as f:
            f.write(script)
        p = subprocess.run(["stdbuf", "-o0", "psql", "-X", "-q", "-f", path], env=self.env(db), cwd=self.top,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        return p.stdout

    def run_file(self, path, blocks, db):
        """Runs the blocks of one file in db; returns (problems, counts)."""
        problems, counts = [], {"run": 0, "compared": 0, "values": 0, "norun": [], "python": 0}
        script, stmts = [], []          # stmts: (block, statement text, first doc line, shown value)
        for b in blocks:
            if b.lang != "sql":
                continue
            reason = norun_reason(b)
            if reason is not None:
                counts["norun"].append("line %d: %s" % (b.line, reason))
                continue
            counts["run"] += 1
            for text, first, last_line in statements(b.text):
                m = VALUE.search(last_line)
                script.append("\\echo '%s %d'" % (MARK, len(stmts)))
                script.append(text)
                stmts.append((b, text, b.line + first, m.group(1) if m else None))
            script.append(";")          # ends a last statement written without one
        script.append("\\echo '%s end'" % MARK)
        out = self.psql_script(db, "\n".join(script) + "\n") if stmts else ""
        # the output of each statement, between the markers
        parts, cur, key = {}, [], None
        for line in out.split("\n"):
            m = re.match(r"^%s (\d+|end)$" % MARK, line)
            if m:
                if key is not None:
                    parts[key] = "\n".join(cur)
                key = int(m.group(1)) if m.group(1) != "end" else None
                cur = []
            else:
                cur.append(line)
        if key is not None:
            parts[key] = "\n".join(cur)
        if stmts and "%s end" % MARK not in out:
            problems.append("psql stopped early:\n" + out[-2000:])
        for b in dict.fromkeys(st[0] for st in stmts):
            mine = [(k, st) for k, st in enumerate(stmts) if st[0] is b]
            shown_output = []
            for k, (_, text, line, shown) in mine:
                got_text = parts.get(k, "")
                errors = [l for l in got_text.split("\n") if re.search(r"(ERROR|FATAL|PANIC):|^psql:.*: error:", l)]
                if shown is not None:
                    counts["values"] += 1
                    got = value_of(got_text)
                    if errors or not same_value(shown, got):
                        problems.append("%s:%d: shows → %s, printed %s" % (
                            path, line, shown, repr(got) if got is not None and not errors else "\n" + got_text.strip()))
                    continue
                shown_output.append(got_text)
                if errors and b.expected is None:
                    problems.append("%s:%d: the statement fails:\n%s\n%s" % (
                        path, line, text.strip(), "\n".join(got_text.strip().split("\n")[-12:])))
            if b.expected is not None:
                counts["compared"] += 1
                diff = compare_output(b.expected, "\n".join(shown_output))
                if diff:
                    problems.append("%s:%d: the block prints something else than the ```out block at line %d shows:\n%s"
                                    % (path, b.line, b.expected_line, diff))
        # python blocks, after the SQL (they use what it made)
        for b in blocks:
            if b.lang == "python" and "norun" not in b.info:
                counts["python"] += 1
                p = subprocess.run(["/usr/bin/python3", "-c", b.text], env=self.env(db), cwd=self.top,
                                   capture_output=True, text=True)
                if p.returncode != 0:
                    problems.append("%s:%d: the python block fails:\n%s" % (path, b.line, p.stderr.strip()[-1500:]))
                elif b.expected is not None:
                    counts["compared"] += 1
                    diff = compare_output(b.expected, p.stdout)
                    if diff:
                        problems.append("%s:%d: the python block prints something else:\n%s" % (path, b.line, diff))
        # pages written by \o and \g
        for f in sorted(glob.glob(os.path.join(self.top, "*.html")) + glob.glob(os.path.join(self.top, "*.svg"))):
            if not os.path.islink(f):
                bad = check_page(f)
                if bad:
                    problems.append("%s: %s" % (path, bad))
                os.remove(f)
        return problems, counts


def main():
    ap = argparse.ArgumentParser(description="the documentation as tests")
    ap.add_argument("--host", default=os.environ.get("PGHOST", "/tmp"))
    ap.add_argument("--port", default=os.environ.get("PGPORT", "5432"))
    ap.add_argument("--user", default="postgres")
    ap.add_argument("--data", default=os.path.join(REPO, "..", "shared", "data"))
    ap.add_argument("--keep", help="keep README.md's database under this name (for later checks)")
    ap.add_argument("files", nargs="*")
    a = ap.parse_args()
    os.chdir(REPO)
    have_data = os.path.exists(os.path.join(a.data, "datasets", "imdb", "imdb_reviews_5000.tsv"))
    if not have_data:
        a.data = None
    r = Runner(a)
    files = doc_files(a)
    parsed = {f: parse(f) for f in files}
    setup = [b for b in parse("README.md") if b.info.split()[:2] == ["sql", "setup"]]
    passed, failed, skipped, delegated = [], [], [], []
    template = "tl_docs_template"
    roles_before = r.roles()
    try:
        if have_data:
            r.fresh_db(template)
            probs, _ = r.run_file("README.md (setup blocks)", setup, template)
            if probs:
                print("doc setup (README.md's ```sql setup blocks) ... FAILED")
                print("\n".join(probs))
                failed.append("README.md setup")
        for n, f in enumerate(files):
            text = open(f, encoding="utf-8").read()
            d = DELEGATE.search(text)
            if d:
                print("doc %s ... checked by %s" % (f, d.group(1)))
                delegated.append(f)
                continue
            blocks = parsed[f]
            runnable = [b for b in blocks if b.lang in ("sql", "python")]
            if not runnable:
                continue
            uses_data = "shared/data" in text or f != "README.md"
            if not have_data and uses_data:
                print("doc %s ... SKIPPED: the shared data (../shared/data or TL_DATA_DIR) is absent" % f)
                skipped.append(f)
                continue
            absent = [n for n in NEEDS.findall(text) if not os.path.exists(n)]
            if absent:
                print("doc %s ... SKIPPED: %s is absent" % (f, ", ".join(absent)))
                skipped.append(f)
                continue
            db = a.keep if (f == "README.md" and a.keep) else "tl_docs_%d" % n
            r.fresh_db(db, None if f == "README.md" else template)
            probs, c = r.run_file(f, blocks, db)
            what = "%d sql blocks, %d outputs compared, %d values checked" % (c["run"], c["compared"], c["values"])
            if c["python"]:
                what += ", %d python blocks" % c["python"]
            if c["norun"]:
                what += "; not run: %d (%s)" % (len(c["norun"]), "; ".join(c["norun"]))
            if probs:
                print("doc %s ... FAILED (%s)" % (f, what))
                for p in probs:
                    print("   " + p.replace("\n", "\n   "))
                failed.append(f)
            else:
                print("doc %s ... ok (%s)" % (f, what))
                passed.append(f)
            if db != a.keep:
                r.admin('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % db)
            r.drop_roles_since(roles_before, db if db == a.keep else None)
        if have_data:
            r.admin('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % template)
    finally:
        shutil.rmtree(r.work, ignore_errors=True)
    print("docs: %d passed, %d failed, %d skipped%s, %d delegated" % (
        len(passed), len(failed), len(skipped), " (%s)" % ", ".join(skipped) if skipped else "", len(delegated)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
