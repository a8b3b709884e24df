#!/usr/bin/env bash
# Builds the demo APK with Debian's tools, no Gradle and no Google Maven: compile (Java 8 bytecode against
# android.jar API 23 and a compile-only LiteRT STUB) -> dex -> package (.tflite stored uncompressed) -> zipalign
# -> sign with a generated debug key -> verify. The LiteRT stub is on the compile classpath only, never in the
# APK: this checks that the app builds; an APK that runs a model comes from Android Studio / Gradle
# (app/build.gradle pulls the real LiteRT). Tools: aapt, zipalign, apksigner (bookworm; installed here with apt
# when missing and run as root), android.jar + dx from bullseye via fetch_sdk_jars.sh (a private apt state).
#   android_demo/build_offline.sh            -> android_demo/build/edgedet-demo-debug.apk
# Env: EDGEDET_ANDROID_CACHE (jar + debug key cache, default ~/.cache/edgedet-android), MODEL_DIR (an export
# directory to bundle into assets/model; default: none, the app then loads a pushed model).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="$here/build/apk"
apk="$here/build/edgedet-demo-debug.apk"

missing=()
for tool in aapt zipalign apksigner keytool javac java; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "installing Debian's aapt zipalign apksigner (missing: ${missing[*]})"
        pkgs=(aapt zipalign apksigner default-jdk-headless)
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${pkgs[@]}" >/dev/null 2>&1 || {
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${pkgs[@]}" >/dev/null; }
    else
        echo "missing ${missing[*]}: sudo apt-get install aapt zipalign apksigner default-jdk-headless" >&2
        exit 2
    fi
fi
cache="$("$here/fetch_sdk_jars.sh")"
android_jar="$cache/sdk/usr/lib/android-sdk/platforms/android-23/android.jar"
dx_jar="$cache/sdk/usr/lib/android-sdk/build-tools/debian/lib/dx.jar"

rm -rf "$build" && mkdir -p "$build"/{core,stub,app,dex,assets/model}
jc=(javac -source 8 -target 8 -bootclasspath "$android_jar" -Xlint:all,-options -Werror -encoding UTF-8)
echo "[1/6] javac: core, LiteRT stub (compile-only), app against android.jar API 23"
# the core against android.jar too: only Java APIs that Android API 23 has
"${jc[@]}" -d "$build/core" $(find "$here/core/src/main/java" -name '*.java')
"${jc[@]}" -d "$build/stub" $(find "$here/litert_stub/src/main/java" -name '*.java')
"${jc[@]}" -cp "$build/core:$build/stub" -d "$build/app" $(find "$here/app/src/main/java" -name '*.java')

echo "[2/6] dx: core + app (not the stub) -> classes.dex"
java -jar "$dx_jar" --dex --min-sdk-version=21 --output="$build/dex/classes.dex" "$build/core" "$build/app"

echo "[3/6] aapt: manifest + assets"
# a model dropped into app/src/main/assets/model/ (or given as MODEL_DIR) is bundled
find "$here/app/src/main/assets/model" -maxdepth 1 -type f ! -name README.md -exec cp {} "$build/assets/model/" \;
if [ -n "${MODEL_DIR:-}" ]; then
    cp "$MODEL_DIR/edgedet.json" "$build/assets/model/"
    model_file="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["model_file"])' "$MODEL_DIR/edgedet.json")"
    cp "$MODEL_DIR/$model_file" "$build/assets/model/"
fi
# what Gradle adds to the manifest from app/build.gradle (package, versions, SDK levels; target 23 = android.jar)
ns='xmlns:android="http://schemas.android.com/apk/res/android"'
sed "s|<manifest $ns>|<manifest $ns package=\"io.edgedet.demo\" android:versionCode=\"1\" android:versionName=\"0.1.0\">|" \
    "$here/app/src/main/AndroidManifest.xml" > "$build/AndroidManifest.xml"
grep -q 'package="io.edgedet.demo"' "$build/AndroidManifest.xml" || { echo "manifest: package not set" >&2; exit 1; }
aapt package -f -M "$build/AndroidManifest.xml" -I "$android_jar" -A "$build/assets" -0 tflite \
    --min-sdk-version 21 --target-sdk-version 23 -F "$build/unaligned.apk"
(cd "$build/dex" && aapt add "$build/unaligned.apk" classes.dex >/dev/null)

echo "[4/6] zipalign"
zipalign -f -p 4 "$build/unaligned.apk" "$build/aligned.apk"

echo "[5/6] apksigner sign (debug key)"
key="$cache/debug.keystore"
if [ ! -f "$key" ]; then
    keytool -genkeypair -keystore "$key" -storepass android -keypass android -alias androiddebugkey \
        -keyalg RSA -keysize 2048 -validity 10000 -dname "CN=edgedet debug" >/dev/null 2>&1
fi
apksigner sign --ks "$key" --ks-pass pass:android --key-pass pass:android --ks-key-alias androiddebugkey \
    --out "$apk" "$build/aligned.apk"

echo "[6/6] verify"
zipalign -c -p 4 "$apk"
apksigner verify --min-sdk-version 21 "$apk"
if unzip -l "$apk" | grep -q 'org/tensorflow'; then
    echo "the LiteRT stub leaked into the APK" >&2
    exit 1
fi
unzip -p "$apk" classes.dex > "$build/check.dex"
if command -v dexdump >/dev/null; then
    dexdump "$build/check.dex" >/dev/null  # parses every class: a malformed dex fails here
fi
for cls in io/edgedet/demo/MainActivity io/edgedet/demo/BenchmarkActivity io/edgedet/core/Decoder; do
    grep -q "L$cls;" "$build/check.dex" || { echo "classes.dex lacks $cls" >&2; exit 1; }
done
echo "OK $apk ($(stat -c %s "$apk") bytes): aligned, signed, verified; classes.dex holds core + app, no LiteRT stub"
