#!/usr/bin/python3
"""sql/build_upgrade.py OLD NEW MANUAL > UPGRADE

Builds the upgrade script from a released install script (OLD, frozen) to
the install script being built (NEW, from sql/parts), so that no function
body is copied by hand into an upgrade and none can drift.

The output is MANUAL (sql/upgrades/FROM--TO.sql: what cannot be derived —
changes to tables and types, data migrations), then, in NEW's order, every
statement of NEW that OLD lacks or has otherwise:
  - a function whose signature exists: CREATE OR REPLACE (DROP first when
    its result type changed), a new one: as it is; one OLD has and NEW
    lacks: DROP FUNCTION;
  - a view, policy, trigger or aggregate that changed: dropped and created
    again (a view keeps its grants), with its comment;
  - other statements (GRANT, REVOKE, ALTER, indexes, config dumps,
    comments...): those NEW has and OLD has not, as they are;
  - a table that changed must be handled in MANUAL (an ALTER TABLE naming
    it): otherwise this fails.
A line "-- @generated" in MANUAL places the generated statements there
instead of after it.  test/sql/90_upgrade.sql proves the result: the
catalog of an upgraded database equals that of a fresh install.
"""
import re
import sys


def statements(sql):
    """Splits a script into statements (comments, quotes, dollar quotes)."""
    out, start, i, n = [], 0, 0, len(sql)
    while i < n:
        c = sql[i]
        if sql.startswith('--', i):
            i = sql.find('\n', i)
            i = n if i < 0 else i + 1
        elif sql.startswith('/*', i):
            i = sql.index('*/', i) + 2
        elif c in "'\"":
            j = i + 1
            while True:
                j = sql.index(c, j)
                if sql.startswith(c * 2, j):
                    j += 2
                    continue
                break
            i = j + 1
        elif c == '$' and re.match(r'\$[A-Za-z_]*\$', sql[i:]) and not re.match(r'\w', sql[i - 1:i]):
            tag = re.match(r'\$[A-Za-z_]*\$', sql[i:]).group(0)
            i = sql.index(tag, i + len(tag)) + len(tag)
        elif c == ';':
            out.append(sql[start:i + 1])
            start = i = i + 1
        else:
            i += 1
    return [s for s in (strip_comments(x) for x in out) if s]


def strip_comments(stmt):
    """The statement without the comment (and psql meta-command) lines before it."""
    lines = stmt.strip('\n').split('\n')
    while lines and (not lines[0].strip() or lines[0].lstrip().startswith(('--', '\\'))):
        lines.pop(0)
    return '\n'.join(lines).strip()


TYPE_WORDS = {'double', 'character', 'bit', 'timestamp', 'time', 'interval'}


def arg_types(args):
    """'run integer, k integer DEFAULT 10, OUT x text' -> 'integer,integer'"""
    parts, depth, cur = [], 0, ''
    for ch in args:
        if ch == ',' and depth == 0:
            parts.append(cur)
            cur = ''
            continue
        depth += ch in '([' and 1 or ch in ')]' and -1 or 0
        cur += ch
    parts.append(cur)
    types = []
    for p in parts:
        p = re.split(r'\s+(?:DEFAULT\b|=)', p.strip(), maxsplit=1, flags=re.I)[0].strip()
        if not p:
            continue
        words = p.split()
        if words[0].upper() in ('IN', 'OUT', 'INOUT', 'VARIADIC'):
            if words[0].upper() == 'OUT':
                continue
            words = words[1:]
        if len(words) >= 2 and words[0].lower() not in TYPE_WORDS:
            words = words[1:]
        types.append(' '.join(words).lower())
    return ','.join(types)


def balanced(text, open_at):
    """The text inside the parenthesis at open_at, and the index after it."""
    depth = 0
    for j in range(open_at, len(text)):
        depth += {'(': 1, ')': -1}.get(text[j], 0)
        if depth == 0:
            return text[open_at + 1:j], j + 1
    raise ValueError('unbalanced parentheses: ' + text[:80])


NAME = r'(@extschema@\.[A-Za-z_0-9]+|[A-Za-z_0-9]+)'


def identify(stmt):
    """(kind, key) of what a statement defines; kind 'other' keys by text."""
    s = re.sub(r'^CREATE\s+OR\s+REPLACE\s+', 'CREATE ', stmt, flags=re.I)
    m = re.match(r'CREATE\s+(FUNCTION|AGGREGATE)\s+' + NAME + r'\s*\(', s, re.I)
    if m:
        args, _ = balanced(s, m.end() - 1)
        return m.group(1).lower(), '%s(%s)' % (m.group(2), arg_types(args))
    m = re.match(r'CREATE\s+(?:CONSTRAINT\s+)?(VIEW|TABLE|POLICY|TRIGGER|TYPE|SEQUENCE|INDEX)\s+' + NAME +
                 r'(?:\s+ON\s+' + NAME + ')?', s, re.I)
    if m:
        kind = m.group(1).lower()
        if kind in ('policy', 'trigger'):
            m2 = re.search(r'\bON\s+' + NAME, s, re.I)
            return kind, '%s ON %s' % (m.group(2), m2.group(1))
        return kind, m.group(2)
    m = re.match(r'COMMENT\s+ON\s+(FUNCTION|AGGREGATE)\s+' + NAME + r'\s*\(', s, re.I)
    if m:
        args, after = balanced(s, m.end() - 1)
        return 'comment', '%s %s(%s)' % (m.group(1).lower(), m.group(2), arg_types(args))
    m = re.match(r'COMMENT\s+ON\s+(\w+)\s+(.*?)\s+IS\b', s, re.I | re.S)
    if m:
        return 'comment', '%s %s' % (m.group(1).lower(), ' '.join(m.group(2).split()))
    return 'other', ' '.join(s.split())


def returns(stmt):
    m = re.search(r'\bRETURNS\s+(.*?)\s*(?:\bLANGUAGE\b|\bAS\b)', stmt, re.I | re.S)
    return ' '.join(m.group(1).split()).lower() if m else ''


def norm(stmt):
    return ' '.join(re.sub(r'^CREATE\s+OR\s+REPLACE\s+', 'CREATE ', stmt, flags=re.I).split())


def without_comments(stmt):
    """A table's definition without its -- comments (they are not in the catalog)."""
    return norm(re.sub(r'--[^\n]*', '', stmt))


def index_by_key(stmts):
    return {identify(s): s for s in stmts}


def comment_key(kind, key):
    return ('comment', '%s %s' % (kind, key))


def recreate_view(name, stmt):
    """DROP and CREATE a view in one block that gives its grants back."""
    return ('DO $tl_upgrade$\nDECLARE\n    acl pg_catalog.aclitem[] := (SELECT c.relacl FROM pg_catalog.pg_class c\n'
            "                                  WHERE c.oid = '%s'::pg_catalog.regclass);\n"
            '    g record;\nBEGIN\n    DROP VIEW %s;\n    %s\n'
            '    FOR g IN SELECT * FROM pg_catalog.aclexplode(acl) LOOP\n'
            "        EXECUTE pg_catalog.format('GRANT %%s ON %s TO %%s', g.privilege_type,\n"
            "            CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(g.grantee)) END);\n"
            '    END LOOP;\nEND\n$tl_upgrade$;' % (name, name, stmt.replace('\n', '\n    '), name))


def build(old_sql, new_sql, manual):
    old = statements(old_sql)
    new = statements(new_sql)
    old_by = index_by_key(old)
    new_keys = {identify(s) for s in new}
    old_norm = {norm(s) for s in old}
    manual_text = ' '.join(manual.split()).lower()
    out, errors, remade = [], [], set()

    for s in new:
        kind, key = identify(s)
        before = old_by.get((kind, key))
        if norm(s) in old_norm and key not in remade:
            continue            # the same statement (a shell type and its definition share a key)
        if kind == 'other':
            out.append(s)
        elif kind == 'comment':
            out.append(s)
        elif before is not None and norm(before) == norm(s):
            continue
        elif kind == 'function':
            if before is not None and returns(before) != returns(s):
                out.append('DROP FUNCTION %s;' % key)
                remade.add('function ' + key)
            out.append(re.sub(r'^CREATE\s+(OR\s+REPLACE\s+)?FUNCTION', 'CREATE OR REPLACE FUNCTION', s, flags=re.I))
        elif before is None:
            out.append(s)
        elif kind == 'view':
            out.append(recreate_view(key, s))
            remade.add('view ' + key)
        elif kind in ('policy', 'trigger', 'aggregate'):
            out.append('DROP %s %s;' % (kind.upper(), key))
            out.append(s)
            remade.add('%s %s' % (kind, key))
        elif kind == 'table':
            name = key.split('.')[-1].lower()
            if without_comments(before) == without_comments(s):
                continue
            if not re.search(r'alter table (?:@extschema@\.)?%s\b' % re.escape(name), manual_text):
                errors.append('table %s changed: write its ALTER TABLE in the manual upgrade' % key)
        else:
            errors.append('%s %s changed: handle it in the manual upgrade' % (kind, key))
    # what is gone
    for (kind, key), s in old_by.items():
        if (kind, key) in new_keys or kind in ('other', 'comment'):
            continue
        if kind in ('function', 'aggregate', 'view', 'policy', 'trigger'):
            drop = 'DROP %s %s;' % (kind.upper(), key)
            if drop.lower() not in manual.lower():
                out.insert(0, drop)
        else:
            errors.append('%s %s is gone: drop it in the manual upgrade' % (kind, key))
    if errors:
        sys.exit('build_upgrade: ' + '\n  '.join(errors))
    generated = '\n\n'.join(out) + '\n'
    marker = '-- @generated\n'
    header = '-- ---- generated by sql/build_upgrade.py from the install scripts ----\n'
    if marker in manual:
        head, tail = manual.split(marker, 1)
        return head + header + generated + tail
    return manual.rstrip('\n') + '\n\n' + header + generated


if __name__ == '__main__':
    old_file, new_file, manual_file = sys.argv[1:4]
    with open(old_file) as f:
        old_sql = f.read()
    with open(new_file) as f:
        new_sql = f.read()
    with open(manual_file) as f:
        manual = f.read()
    sys.stdout.write(build(old_sql, new_sql, manual))
