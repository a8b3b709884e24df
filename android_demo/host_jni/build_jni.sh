#!/usr/bin/env bash
# Builds the host-only JNI shim over the ai-edge-litert wheel's libLiteRt.so (see litert_jni.c).
#   android_demo/host_jni/build_jni.sh PYTHON OUT_DIR   -> OUT_DIR/libedgedet_litert_jni.so; prints its path
# Exits 3 (the caller skips) when the wheel is not ai-edge-litert 2.3.0 (the C ABI this shim was checked against),
# or when gcc or the JDK's JNI headers are missing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
python="${1:?usage: $0 PYTHON OUT_DIR}"
out="${2:?usage: $0 PYTHON OUT_DIR}"
pinned="2.3.0"
lib_dir="$("$python" - "$pinned" <<'PY'
import sys
from importlib import metadata
from pathlib import Path
try:
    version = metadata.version("ai-edge-litert")
except metadata.PackageNotFoundError:
    sys.exit("ai-edge-litert is not installed")
if version != sys.argv[1]:
    sys.exit(f"ai-edge-litert {version} installed; the JNI shim is checked against {sys.argv[1]} only")
import ai_edge_litert
print(Path(ai_edge_litert.__file__).parent)
PY
)" || exit 3
java_home="$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")"
if ! command -v gcc >/dev/null || [ ! -f "$java_home/include/jni.h" ]; then
    echo "gcc or $java_home/include/jni.h missing" >&2
    exit 3
fi
mkdir -p "$out"
gcc -O2 -Wall -Werror -shared -fPIC -I"$java_home/include" -I"$java_home/include/linux" "$here/litert_jni.c" \
    -L"$lib_dir" -l:libLiteRt.so -Wl,-rpath,"$lib_dir" -o "$out/libedgedet_litert_jni.so"
echo "$out/libedgedet_litert_jni.so"
