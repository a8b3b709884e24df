#!/usr/bin/env bash
# JUnit tests of the pure-Java core against fixtures made by the Python runtime.
#   android_demo/core/run_tests.sh FIXTURE_DIR [TEST_CLASS...]
# FIXTURE_DIR from `python -m tests.android.make_fixtures DIR`; EDGEDET_LITERT_JNI=PATH (host_jni/build_jni.sh)
# adds the test that runs the real .tflite from Java.
# Needs javac (any JDK >= 9; the classes are Java 8 bytecode) and Debian's junit4 (+ hamcrest) jars.
# Prints the closing line CI reads: 'N passed, N failed'; exits non-zero on any failure.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
fixtures="${1:?usage: $0 FIXTURE_DIR}"
junit="${JUNIT_JAR:-/usr/share/java/junit4.jar}"
hamcrest="${HAMCREST_JAR:-/usr/share/java/hamcrest-core.jar}"
for jar in "$junit" "$hamcrest"; do
    [ -f "$jar" ] || { echo "missing $jar: apt-get install junit4 (or set JUNIT_JAR / HAMCREST_JAR)" >&2; exit 2; }
done
out="${BUILD_DIR:-$here/../build/core-test}"
rm -rf "$out" && mkdir -p "$out"
cp="$junit:$hamcrest"
# shellcheck disable=SC2046
javac --release 8 -Xlint:all,-options -Werror -encoding UTF-8 -d "$out" -cp "$cp" \
    $(find "$here/src/main/java" "$here/src/test/java" -name '*.java')
shift
jni=()
if [ -n "${EDGEDET_LITERT_JNI:-}" ]; then
    jni=(-Dedgedet.litert.jni="$EDGEDET_LITERT_JNI")
fi
java -cp "$out:$cp" -Dedgedet.fixtures="$fixtures" "${jni[@]}" io.edgedet.core.RunAll "$@"
