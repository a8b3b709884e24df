#!/usr/bin/env bash
# Runs the app's benchmark mode on a phone over adb and appends its records to a JSONL file on the host: the
# device side of `edgedet bench --target adb` (each line reads with edgedet.bench.result.read_jsonl).
#   android_demo/bench_adb.sh EXPORT_DIR OUT.jsonl [THREADS...]      (default threads: 1 2 4)
# Env: ADB (default adb), ANDROID_SERIAL (which device), WARMUP (10), RUNS (100), TIMEOUT_S (per run, 300).
# Needs the demo app installed (README "Android demo"). EXPORT_DIR: a TFLite export directory (edgedet.json + .tflite).
set -euo pipefail
adb="${ADB:-adb}"
export_dir="${1:?usage: $0 EXPORT_DIR OUT.jsonl [THREADS...]}"
jsonl="${2:?usage: $0 EXPORT_DIR OUT.jsonl [THREADS...]}"
shift 2
threads=("$@")
[ ${#threads[@]} -gt 0 ] || threads=(1 2 4)
pkg=io.edgedet.demo
files="/sdcard/Android/data/$pkg/files"
name="$(basename "$(cd "$export_dir" && pwd)")"
remote="$files/models/$name"
model_file="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["model_file"])' "$export_dir/edgedet.json")"

"$adb" shell pm path "$pkg" >/dev/null || { echo "$pkg is not installed: adb install the demo APK first" >&2; exit 2; }
"$adb" shell mkdir -p "$remote" "$files/bench"
"$adb" push "$export_dir/edgedet.json" "$export_dir/$model_file" "$remote/" >/dev/null
for t in "${threads[@]}"; do
    out="$files/bench/result_t$t.json"
    "$adb" shell rm -f "$out" "$out.error"
    "$adb" shell am force-stop "$pkg"
    "$adb" shell am start -W -n "$pkg/.BenchmarkActivity" --es model "$remote" --ei threads "$t" \
        --ei warmup "${WARMUP:-10}" --ei runs "${RUNS:-100}" --es out "$out" >/dev/null
    deadline=$((SECONDS + ${TIMEOUT_S:-300}))
    while true; do
        if "$adb" shell "test -f $out" 2>/dev/null; then
            break
        fi
        if "$adb" shell "test -f $out.error" 2>/dev/null; then
            echo "benchmark failed on the device: $("$adb" shell cat "$out.error")" >&2
            exit 1
        fi
        [ $SECONDS -lt $deadline ] || { echo "no $out after ${TIMEOUT_S:-300} s" >&2; exit 1; }
        sleep 1
    done
    tmp="$(mktemp)"
    "$adb" pull "$out" "$tmp" >/dev/null
    cat "$tmp" >> "$jsonl"
    rm -f "$tmp"
    echo "threads=$t: $(python3 -c 'import json,sys; r=json.loads(open(sys.argv[1]).readlines()[-1]); print(r["device"], "mean", round(r["mean_ms"], 2), "ms")' "$jsonl")"
done
"$adb" shell am force-stop "$pkg"
