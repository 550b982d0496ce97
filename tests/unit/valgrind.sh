#!/bin/sh
# valgrind.sh - every C unit test under valgrind memcheck: no errors, no leaks;
# then the binary itself through a first create, a repeat that reuses entries
# and a chain prefix, verify and restore (the paths the unit tests do not
# drive end to end). Last line: "VALGRIND: N passed, M failed" (one per test
# binary and per command).
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
# The binary: a small root whose chain is large enough for pdeflate on two
# threads, so the repeat continues its deflate stream from the prefix.
bin=build/test/statesnap
if [ -x "$bin" ]; then
    d=$(mktemp -d "${TMPDIR:-/tmp}/statesnap-vgbin.XXXXXX") || exit 1
    python3 tests/fixtures/make_state.py --out "$d/root" --seed 7 --chain-bytes 3000000 >/dev/null
    echo '{"compress_threads": 2}' >"$d/cfg.json"
    step() {
        what=$1
        shift
        if STATESNAP_TEST_RESTORE_QUIET_MS=0 valgrind -q --leak-check=full --show-leak-kinds=definite,indirect \
                --errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
                "$bin" --config "$d/cfg.json" --root "$d/root" --store "$d/store" "$@" \
                >/tmp/statesnap-vg.$$ 2>&1; then
            pass=$((pass + 1))
        else
            echo "valgrind statesnap $what:"
            tail -30 /tmp/statesnap-vg.$$
            fail=$((fail + 1))
        fi
    }
    step "first create" create --name vg_one
    python3 tests/fixtures/make_state.py --out "$d/root" --advance 300 >/dev/null
    step "repeat create" create --name vg_two
    if unzip -p "$d/store/vg_two.zip" manifest.json | grep -q '"reused": "prefix"'; then
        pass=$((pass + 1))
    else
        echo "valgrind statesnap: the repeat reused no chain prefix, so its path was not driven"
        fail=$((fail + 1))
    fi
    step "verify" verify vg_two
    step "restore" restore --name vg_one --yes
    rm -rf "$d"
fi
rm -f /tmp/statesnap-vg.$$
[ $((pass + fail)) -eq 0 ] && { echo "valgrind: no unit tests built"; fail=1; }
echo "VALGRIND: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
