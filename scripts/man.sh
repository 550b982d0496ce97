#!/bin/sh
# man.sh BIN OUTDIR - the man page and the shell completions of the statesnap
# binary BIN, generated from the binary itself (so from the parser's own
# tables): OUTDIR/statesnap.1 (help2man over `BIN --help`, with every
# command's page from `BIN help --all` as its COMMANDS section),
# OUTDIR/statesnap.bash and OUTDIR/_statesnap (`BIN completion bash|zsh`).
# Used by `make man` and the Dockerfile's build stage.
set -eu

if [ $# -ne 2 ]; then
    echo "usage: scripts/man.sh BIN OUTDIR" >&2
    exit 2
fi
BIN=$1
OUT=$2
# help2man: installed when missing and root, named otherwise.
"$(dirname "$0")/deps.sh" man
mkdir -p "$OUT"
inc=$(mktemp "${TMPDIR:-/tmp}/statesnap-man.XXXXXXXX")
trap 'rm -f "$inc"' EXIT

# help --all as roff: one no-fill block, backslashes and leading dots escaped.
{
    echo "[COMMANDS]"
    echo ".nf"
    "$BIN" help --all | sed -e 's/\\/\\e/g' -e "s/^\([.']\)/\\\\\&\1/"
    echo ".fi"
    echo "[SEE ALSO]"
    echo "The README (\"Exit codes\", \"Config reference\") and docs/DESIGN.md in the source tree."
} >"$inc"

help2man --no-info --section=1 --name="snapshot and restore a trading bot's state" \
    --include="$inc" --output="$OUT/statesnap.1" "$BIN"
"$BIN" completion bash >"$OUT/statesnap.bash"
"$BIN" completion zsh >"$OUT/_statesnap"
echo "man.sh: wrote $OUT/statesnap.1, $OUT/statesnap.bash, $OUT/_statesnap"
