#!/usr/bin/env bash
# test/lint/sizes.sh [DIR...] — C files over 800 lines and functions over
# 120 lines (default: src/ test/unit/ test/fuzz/ bench/).  A long function
# passes when the comment just above it says why it is one function: a line
# with "long function:".  Prints each offender; exits 1 if there is one.
# The code follows pgindent's layout: a definition's braces sit in column 0.
set -u
cd "$(dirname "$0")/../.."
MAX_FILE=800
MAX_FUNC=120
dirs=${*:-src test/unit test/fuzz bench}
# shellcheck disable=SC2086
files=$(find $dirs -name '*.c' -not -path '*/build/*' | sort)
bad=0
for f in $files; do
  n=$(wc -l <"$f")
  if [ "$n" -gt $MAX_FILE ]; then
    echo "$f: $n lines (at most $MAX_FILE: split it by concept)"
    bad=1
  fi
done
# shellcheck disable=SC2086
awk -v max=$MAX_FUNC '
  FNR == 1 { comment = ""; name = ""; start = 0; }
  /^\/\*/ { comment = "" }
  /^(\/\*| \*)/ { comment = comment $0 "\n"; next }
  /^[A-Za-z_][A-Za-z_0-9]*[ \t]*\(/ && start == 0 { name = $0; sub(/\(.*/, "", name); why = comment ~ /long function:/ }
  /^\{/ && name != "" { start = FNR }
  /^\}/ && start > 0 {
    len = FNR - start - 1
    if (len > max && !why) {
      printf "%s:%d: %s is %d lines (at most %d, or a comment above it saying \"long function: why\")\n", FILENAME, start, name, len, max
      bad = 1
    }
    start = 0; name = ""; comment = ""
  }
  /;[ \t]*$/ && start == 0 { comment = "" }
  END { exit bad }
' $files || bad=1
exit $bad
