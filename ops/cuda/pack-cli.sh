#!/usr/bin/env bash
# Packs a folder of the command line's jars for the GPU machine as .device/NAME.tar.xz (the folder becomes cli/ there):
# the kernels' fatbin and the built-in model are left out of the jars (the source tree carried beside them holds the
# fatbin), and the jars are stored uncompressed so that xz compresses across them; DIR is used up. Usage: pack-cli.sh DIR NAME
set -euo pipefail
dir=$1
name=$2
python3 - "$dir" <<'PY'
import sys, zipfile, pathlib, shutil
for j in pathlib.Path(sys.argv[1]).glob('*.jar'):
    t = j.with_suffix('.stored')
    with zipfile.ZipFile(j) as src, zipfile.ZipFile(t, 'w', zipfile.ZIP_STORED) as dst:
        for i in src.infolist():
            if i.filename.endswith('convoy.fatbin') or '/default-model/' in i.filename:
                continue
            dst.writestr(i, src.read(i.filename), compress_type=zipfile.ZIP_STORED)
    shutil.move(t, j)
PY
root=$(git rev-parse --show-toplevel)
staging=$(mktemp -d)
trap 'rm -rf "$staging"' EXIT
mv "$dir" "$staging/cli"
tar -C "$staging" -cf - cli | xz -9 -T4 > "$root/.device/$name.tar.xz"
