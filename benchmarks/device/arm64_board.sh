#!/usr/bin/env bash
# An emulated ARM64 Linux board for `edgedet bench --target ssh://...`: a Debian bookworm arm64 root under
# qemu-user with its own sshd on 127.0.0.1. For parity and for testing the ssh path, NEVER for latency
# (emulation is ~250-800x slower than the host; every record measured on it carries "emulated": true).
#
#   benchmarks/device/arm64_board.sh up       build the root once (~8 min, ~520 MB), then start sshd (seconds)
#   benchmarks/device/arm64_board.sh down     stop sshd, unmount
#   benchmarks/device/arm64_board.sh status   prints the ssh target when the board answers, exit 1 otherwise
#   benchmarks/device/arm64_board.sh target   prints the --target value and the --ssh-key to use
#
# Needs root (chroot, mounts, binfmt) and apt (Debian). The root is cached at $EDGEDET_ARM64_ROOT
# (default ~/.cache/edgedet/arm64-root) and rebuilt only when missing. Facts and pitfalls: ../shared/ARM64.md.
# Env: EDGEDET_ARM64_ROOT, EDGEDET_ARM64_PORT (2222), PYTHON (the host python whose pip fetches the ARM wheels).
set -euo pipefail

cache="${EDGEDET_CACHE:-$HOME/.cache/edgedet}"
root="${EDGEDET_ARM64_ROOT:-$cache/arm64-root}"
port="${EDGEDET_ARM64_PORT:-2222}"
key="$cache/arm64-key"
python="${PYTHON:-python3}"
# ARM wheels the guest runs with; pinned to what the host runs so parity compares one version with itself.
wheels=(numpy==2.4.6 onnxruntime==1.32.0 ai-edge-litert==2.3.0 opencv-python-headless==5.0.0.93)

log() { echo "arm64_board: $*" >&2; }
die() { log "error: $*"; exit 2; }

host_tools() {
    local need=()
    command -v qemu-aarch64-static >/dev/null || need+=(qemu-user-static binfmt-support)
    command -v mmdebstrap >/dev/null || need+=(mmdebstrap arch-test)
    command -v ssh >/dev/null || need+=(openssh-client)
    if [ ${#need[@]} -gt 0 ]; then
        log "installing host tools: ${need[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null \
            || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null; } \
            || die "could not apt-get install ${need[*]}; install them by hand"
    fi
    mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
    [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || update-binfmts --enable qemu-aarch64
}

build_root() {
    [ -x "$root/usr/bin/python3" ] && [ -f "$root/.edgedet-built" ] && return 0
    local sources=/etc/apt/sources.list.d/debian.sources
    [ -f "$sources" ] || sources=/etc/apt/sources.list
    log "building the arm64 root in $root (once; ~3-7 min)"
    rm -rf "$root.tmp"
    mkdir -p "$(dirname "$root")"
    mmdebstrap --quiet --arch=arm64 --variant=apt --include=python3,openssh-server,procps bookworm "$root.tmp" \
        "$sources" || die "mmdebstrap failed; see its output above"
    rm -rf "$root" && mv "$root.tmp" "$root"
    touch "$root/.edgedet-built"
}

install_wheels() {
    [ -f "$root/opt/site/.edgedet-wheels" ] && [ "$(cat "$root/opt/site/.edgedet-wheels")" = "${wheels[*]}" ] && return 0
    log "installing ARM64 wheels into $root/opt/site: ${wheels[*]}"
    rm -rf "$root/opt/site"
    "$python" -m pip install -q --disable-pip-version-check --only-binary=:all: \
        --platform manylinux2014_aarch64 --platform manylinux_2_17_aarch64 --platform manylinux_2_27_aarch64 \
        --platform manylinux_2_28_aarch64 --platform manylinux_2_31_aarch64 --platform manylinux_2_34_aarch64 \
        --python-version 3.11 --implementation cp --abi cp311 --target "$root/opt/site" "${wheels[@]}" \
        || die "pip could not fetch the aarch64 wheels ${wheels[*]}"
    echo "${wheels[*]}" > "$root/opt/site/.edgedet-wheels"
}

ssh_key() {
    [ -f "$key" ] || ssh-keygen -q -t ed25519 -N "" -f "$key" -C edgedet-arm64-board
    install -d -m 700 "$root/root/.ssh"
    install -m 600 "$key.pub" "$root/root/.ssh/authorized_keys"
}

# onnxruntime reads /proc/cpuinfo to pick kernels and segfaults on the host's x86 text under qemu 7.2: show it an
# ARM one (Cortex-A76 cores with the dot-product extension, no SVE, like QEMU_CPU below).
fake_cpuinfo() {
    local f="$cache/arm64-cpuinfo" n
    : > "$f"
    for n in $(seq 0 $(($(nproc) - 1))); do
        printf 'processor\t: %s\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x4\nCPU part\t: 0xd0b\nCPU revision\t: 1\n\n' "$n" >> "$f"
    done
    echo "$f"
}

mount_all() {
    mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"
    mountpoint -q "$root/sys" || mount -t sysfs sysfs "$root/sys"
    mountpoint -q "$root/dev" || mount --rbind /dev "$root/dev"
    mountpoint -q "$root/proc/cpuinfo" || mount --bind "$(fake_cpuinfo)" "$root/proc/cpuinfo"
}

unmount_all() {
    local m
    for m in "$root/proc/cpuinfo" "$root/proc"; do mountpoint -q "$m" && umount "$m"; done
    mountpoint -q "$root/dev" && umount -R "$root/dev"
    mountpoint -q "$root/sys" && umount "$root/sys"
    return 0
}

answers() {
    ssh -i "$key" -p "$port" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
        -o LogLevel=ERROR -o ConnectTimeout=20 root@127.0.0.1 true 2>/dev/null
}

start_sshd() {
    if [ -f "$root/run/sshd.pid" ] && kill -0 "$(cat "$root/run/sshd.pid")" 2>/dev/null; then
        return 0
    fi
    mkdir -p "$root/run/sshd"
    # sshd clears the environment of its sessions: SetEnv hands them the emulated CPU (no SVE, whose kernels
    # emulate ~10x slower) and the wheels' folder.
    chroot "$root" /usr/bin/env -i QEMU_CPU=cortex-a76 PATH=/usr/sbin:/usr/bin:/sbin:/bin /usr/sbin/sshd \
        -p "$port" -o ListenAddress=127.0.0.1 -o PasswordAuthentication=no -o UsePAM=no \
        -o PidFile=/run/sshd.pid -o "SetEnv=QEMU_CPU=cortex-a76 PYTHONPATH=/opt/site"
    local i
    for i in $(seq 1 60); do answers && return 0; sleep 1; done
    die "sshd in $root does not answer on 127.0.0.1:$port; see $root/var/log or run it with -d"
}

case "${1:-}" in
    up)
        [ "$(id -u)" = 0 ] || die "needs root (chroot, mounts, binfmt): run it as root"
        host_tools
        build_root
        install_wheels
        ssh_key
        mount_all
        start_sshd
        log "up: --target ssh://root@127.0.0.1:$port --ssh-key $key  (emulated: never quote its latency)"
        ;;
    down)
        if [ -f "$root/run/sshd.pid" ]; then
            kill "$(cat "$root/run/sshd.pid")" 2>/dev/null || true
            rm -f "$root/run/sshd.pid"
        fi
        unmount_all
        log "down"
        ;;
    status)
        answers && { echo "ssh://root@127.0.0.1:$port"; exit 0; }
        exit 1
        ;;
    target)
        echo "ssh://root@127.0.0.1:$port $key"
        ;;
    *)
        echo "usage: $0 up|down|status|target" >&2
        exit 2
        ;;
esac
