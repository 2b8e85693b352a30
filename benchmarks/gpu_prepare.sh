#!/usr/bin/env bash
# Prepare what benchmarks/gpu_check.sh needs on an offline GPU machine, from a machine with
# PyPI access, in the project root:
#   .whl/   wheels for Python 3.12 (x86_64) of the test tools the GPU machine lacks
#           (nbval, ipykernel, ipywidgets and their dependencies), and pydensecrf2's source
#           archive (built there, where Cython and a compiler exist)
#   .voc/   a copy of a VOC-layout folder for the short training run and the CRF photo
# Both folders are git-ignored and never committed; carry them with the run.
#   bash benchmarks/gpu_prepare.sh [VOC_FOLDER]
set -euo pipefail
cd "$(dirname "$0")/.."
voc="${1:-../shared/data/voc2012-subset}"
py="${PYTHON:-.venv/bin/python}"
rm -rf .whl && mkdir -p .whl/sdist
platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 \
         manylinux1_x86_64 manylinux_2_5_x86_64; do platforms+=(--platform "$p"); done
# With dependencies, resolved for the GPU machine's Python; torch and friends are there already.
"$py" -m pip download -q --only-binary=:all: --python-version 3.12 --implementation cp \
    "${platforms[@]}" -d .whl nbval ipykernel nbclient nbformat 'ipywidgets>=8,<9'
# Packages the GPU image already has: keep its versions (two versions stop the install there).
for name in numpy pillow packaging pygments typing_extensions setuptools six python_dateutil pytest pluggy iniconfig coverage \
            attrs psutil pyyaml jinja2 markupsafe; do
    rm -f .whl/"${name}"-*.whl .whl/"${name//_/-}"-*.whl
done
"$py" -m pip download -q --no-deps --no-binary=:all: --no-build-isolation -d .whl/sdist 'pydensecrf2>=1.1' \
    || echo "note: no pydensecrf2 source archive; the CRF comparison will be skipped there"
rm -rf .voc && mkdir -p .voc && cp -r "$voc" .voc/voc
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
grep -qx '/.voc/' .git/info/exclude 2>/dev/null || echo '/.voc/' >> .git/info/exclude
du -sh .whl .voc
