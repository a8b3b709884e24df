#!/usr/bin/env bash
# Fetches android.jar (API 23, Debian bullseye's libandroid-23-java) and dx (bullseye's dalvik-exchange) into a
# cache directory with a PRIVATE apt state: its own sources list, lists and archive cache under the cache dir.
# The system's apt sources and state are left as they are. Prints the cache directory.
#   android_demo/fetch_sdk_jars.sh [CACHE_DIR]     (default: $EDGEDET_ANDROID_CACHE or ~/.cache/edgedet-android)
set -euo pipefail
cache="${1:-${EDGEDET_ANDROID_CACHE:-$HOME/.cache/edgedet-android}}"
mkdir -p "$cache"
cache="$(cd "$cache" && pwd)"
if [ -f "$cache/sdk/usr/lib/android-sdk/platforms/android-23/android.jar" ] && [ -f "$cache/sdk/usr/lib/android-sdk/build-tools/debian/lib/dx.jar" ]; then
    echo "$cache"
    exit 0
fi
apt_dir="$cache/apt"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$apt_dir/debs"
echo "deb http://deb.debian.org/debian bullseye main" > "$apt_dir/sources.list"
: > "$apt_dir/status"
opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=/nonexistent"
      -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::State::status=$apt_dir/status"
      -o "Dir::Cache=$apt_dir" -o "Dir::Cache::archives=$apt_dir/archives" -o "APT::Get::List-Cleanup=false"
      -o "Debug::NoLocking=true" -o "APT::Sandbox::User=root")
apt-get "${opts[@]}" -q update >&2
(cd "$apt_dir/debs" && apt-get "${opts[@]}" -q download libandroid-23-java dalvik-exchange >&2)
mkdir -p "$cache/sdk"
for deb in "$apt_dir"/debs/*.deb; do
    dpkg-deb -x "$deb" "$cache/sdk"
done
echo "$cache"
