#!/bin/sh
# Build a release on the controller: Shipyard's wheel plus every locked dependency as a wheel for
# CPython 3.11 on x86_64 glibc (Debian 12), packed in one tarball the hosts install offline
# (docs/decisions/0042). Usage: build-release.sh REPOSITORY OUTPUT_DIRECTORY
# The app role runs it on the controller when OUTPUT_DIRECTORY/release.tar.gz is missing; a
# controller without internet (the test cluster runs Ansible inside its namespace) runs it first:
#   deploy/ansible/build-release.sh . ~/.cache/shipyard/releases/$(git rev-parse HEAD)
# (the cluster harness does that itself, keyed on the release's inputs: deploy/cluster/release.py).
set -eu
repo=$1
out=$2
# The project's own uv and pip (make install puts both in .tools/) unless told otherwise.
uv=${UV:-$(command -v uv || echo "$repo/.tools/bin/uv")}
if [ -z "${PYTHON:-}" ] && [ -x "$repo/.tools/bin/python" ]; then PYTHON=$repo/.tools/bin/python; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/release/wheels"
"$uv" --directory "$repo" build --wheel --out-dir "$work/release/wheels" >/dev/null
"$uv" --directory "$repo" export --frozen --no-dev --no-emit-project --no-hashes \
    --output-file "$work/requirements.txt" >/dev/null
# pip evaluates the requirements' markers for the Python running it, not the target: resolve them
# for Debian 12's Python (3.11.2, which needs what 3.11.3 does not, e.g. redis's async-timeout).
"${PYTHON:-python3}" - "$work/requirements.txt" "$work/target.txt" <<'PY'
import sys
try:
    from packaging.markers import Marker
except ImportError:
    from pip._vendor.packaging.markers import Marker
target = {"python_full_version": "3.11.2", "python_version": "3.11", "sys_platform": "linux",
          "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix",
          "implementation_name": "cpython", "platform_python_implementation": "CPython"}
kept = []
for line in open(sys.argv[1]):
    line = line.split("#")[0].strip()
    if not line:
        continue
    requirement, _, marker = line.partition(";")
    if not marker.strip() or Marker(marker.strip()).evaluate(target):
        kept.append(requirement.strip())
open(sys.argv[2], "w").write("\n".join(kept) + "\n")
PY
# pip matches the platform tags it is given and no others: name every glibc up to Debian 12's 2.36.
platforms=""
for minor in $(seq 5 36); do platforms="$platforms --platform manylinux_2_${minor}_x86_64"; done
# shellcheck disable=SC2086 # one word per flag
"${PYTHON:-python3}" -m pip download --quiet --disable-pip-version-check --only-binary=:all: \
    $platforms --platform manylinux2014_x86_64 --platform manylinux2010_x86_64 --platform manylinux1_x86_64 \
    --python-version 3.11 --implementation cp --abi cp311 --abi abi3 --abi none \
    --no-deps --dest "$work/release/wheels" --requirement "$work/target.txt"
mkdir -p "$work/release/deploy"
cp "$repo/deploy/gunicorn.conf.py" "$work/release/deploy/gunicorn.conf.py"
mkdir -p "$out"
tar -C "$work/release" -czf "$out/release.tar.gz.part" .
mv "$out/release.tar.gz.part" "$out/release.tar.gz"
