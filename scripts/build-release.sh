#!/usr/bin/env bash
# build-release.sh [OUTDIR] - the one release build of statesnap: optimised and
# hardened (PIE, full RELRO, stack protector, FORTIFY), used by the Dockerfile
# and by CI. Writes OUTDIR/statesnap (default build/release/statesnap).
#
# The source list, the libraries and the warning flags come from the Makefile
# itself (it is read, never edited), so this build cannot drift from `make`:
# a Makefile fragment on stdin adds one target with its own object directory.
# Objects are rebuilt when a source, a header or the flags change.
set -euo pipefail

cd "$(dirname "$0")/.."
OUT=${1:-build/release}
case "$OUT" in
    /*) ;;
    *) OUT=$(pwd)/$OUT ;;
esac

# Build dependencies: installed when missing and root, named otherwise.
scripts/deps.sh build

# -U first: some toolchains predefine _FORTIFY_SOURCE, and a redefinition
# with another level would be a warning, hence an error under -Werror.
HARDEN_CFLAGS="-O2 -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE"
HARDEN_LDFLAGS="-pie -Wl,-z,relro,-z,now"
JOBS=${JOBS:-2}

mkdir -p "$OUT"
# A flag change must rebuild every object: the objects depend on this stamp,
# rewritten only when its content differs.
stamp=$OUT/flags
want="$HARDEN_CFLAGS | $HARDEN_LDFLAGS | ${CC:-cc}"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    printf '%s\n' "$want" >"$stamp"
fi

make --no-print-directory -j"$JOBS" -f Makefile -f - "$OUT/statesnap" <<EOF
RELEASE_OUT := $OUT
RELEASE_CFLAGS := $HARDEN_CFLAGS \$(CSTD) \$(WARN)
RELEASE_LDFLAGS := $HARDEN_LDFLAGS
RELEASE_OBJ := \$(SRC:%.c=\$(RELEASE_OUT)/obj/%.o)

\$(RELEASE_OUT)/statesnap: \$(RELEASE_OBJ)
	\$(CC) \$(RELEASE_CFLAGS) \$(RELEASE_LDFLAGS) -o \$@ \$^ \$(LIBS)

\$(RELEASE_OUT)/obj/%.o: %.c \$(RELEASE_OUT)/flags
	@mkdir -p \$(dir \$@)
	\$(CC) \$(RELEASE_CFLAGS) \$(PKGCFLAGS) -MMD -MP -c -o \$@ \$<

-include \$(RELEASE_OBJ:.o=.d)
EOF

# The hardening is a claim; check it on the result rather than trust the flags.
bin=$OUT/statesnap
readelf -h "$bin" | grep -q 'Type:[[:space:]]*DYN' || { echo "build-release: $bin is not PIE" >&2; exit 1; }
readelf -lW "$bin" | grep -q GNU_RELRO || { echo "build-release: $bin has no RELRO segment" >&2; exit 1; }
readelf -dW "$bin" | grep -Eq 'BIND_NOW|FLAGS.*NOW' || { echo "build-release: $bin is not BIND_NOW" >&2; exit 1; }
echo "build-release: $bin ($(stat -c %s "$bin") bytes, PIE, full RELRO)"
