#!/bin/sh
# valgrind.sh - every C unit test under valgrind memcheck: no errors, no leaks.
# Last line: "VALGRIND: N passed, M failed" (one per test binary).
set -u
cd "$(dirname "$0")/../.." || exit 1
pass=0
fail=0
for t in build/test/unit/test_*; do
    [ -x "$t" ] || continue
    if valgrind -q --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
            --error-exitcode=99 "$t" >/tmp/statesnap-vg.$$ 2>&1; then
        pass=$((pass + 1))
    else
        echo "valgrind $(basename "$t"):"
        # valgrind's own report, or (a test that failed by itself) its end
        if grep -qE "==[0-9]+==" /tmp/statesnap-vg.$$; then
            grep -E "==[0-9]+==" /tmp/statesnap-vg.$$ | head -30
        else
            tail -30 /tmp/statesnap-vg.$$
        fi
        fail=$((fail + 1))
    fi
done
rm -f /tmp/statesnap-vg.$$
[ $((pass + fail)) -eq 0 ] && { echo "valgrind: no unit tests built"; fail=1; }
echo "VALGRIND: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
