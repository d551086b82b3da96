#!/bin/sh
# Build a release on the controller: Shipyard's wheel plus every locked dependency as a wheel for
# CPython 3.11 on x86_64 glibc (Debian 12), packed in one tarball the hosts install offline
# (docs/decisions/0042). Usage: build-release.sh REPOSITORY OUTPUT_DIRECTORY
set -eu
repo=$1
out=$2
uv=${UV:-uv}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/release/wheels"
"$uv" --directory "$repo" build --wheel --out-dir "$work/release/wheels" >/dev/null
"$uv" --directory "$repo" export --frozen --no-dev --no-emit-project --no-hashes \
    --output-file "$work/requirements.txt" >/dev/null
# pip matches the platform tags it is given and no others: name every glibc up to Debian 12's 2.36.
platforms=""
for minor in $(seq 5 36); do platforms="$platforms --platform manylinux_2_${minor}_x86_64"; done
# shellcheck disable=SC2086 # one word per flag
"${PYTHON:-python3}" -m pip download --quiet --disable-pip-version-check --only-binary=:all: \
    $platforms --platform manylinux2014_x86_64 --platform manylinux2010_x86_64 --platform manylinux1_x86_64 \
    --python-version 3.11 --implementation cp --abi cp311 --abi abi3 --abi none \
    --dest "$work/release/wheels" --requirement "$work/requirements.txt"
cp "$repo/deploy/gunicorn.conf.py" "$work/release/gunicorn.conf.py"
mkdir -p "$out"
tar -C "$work/release" -czf "$out/release.tar.gz.part" .
mv "$out/release.tar.gz.part" "$out/release.tar.gz"
