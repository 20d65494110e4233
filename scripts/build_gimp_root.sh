#!/usr/bin/env bash
# Build (once) and then reuse a Debian trixie root with GIMP 3.0.4, for the plug-in's tests
# and the dialog screenshot. See ../shared/docs/gimp3-headless.md.
#
# Usage: scripts/build_gimp_root.sh [ROOT] [--gui]
#   ROOT   defaults to $NST_GIMP_ROOT or <repo>/.cache/gimp3-root (git-ignored)
#   --gui  also installs xvfb imagemagick xdotool openbox x11-utils (for screenshots)
#
# Idempotent: each stage leaves a marker file in ROOT/.nst-markers/, and a completed
# stage is skipped next time. Needs root, network access to deb.debian.org, and
# debootstrap (installed with apt-get when missing). Exit status 0 when the root is ready.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROOT="${NST_GIMP_ROOT:-$REPO/.cache/gimp3-root}"
GUI=0
for arg in "$@"; do
    case "$arg" in
        --gui) GUI=1 ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) ROOT="$arg" ;;
    esac
done
MIRROR="${NST_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
MARKERS="$ROOT/.nst-markers"

say() { echo "[build_gimp_root] $*"; }
in_root() { chroot "$ROOT" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
    DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 "$@"; }

if [ "$(id -u)" != 0 ]; then
    say "error: must run as root (debootstrap and chroot need it)" >&2
    exit 2
fi

if [ -f "$MARKERS/gimp" ] && { [ "$GUI" = 0 ] || [ -f "$MARKERS/gui" ]; }; then
    say "root already complete at $ROOT ($(in_root gimp-console-3.0 --version 2>/dev/null | head -1))"
    exit 0
fi

# Serialise concurrent builders (e.g. two pytest sessions).
mkdir -p "$(dirname "$ROOT")"
exec 9>"$ROOT.lock"
say "taking lock $ROOT.lock"
flock 9

if [ ! -f "$MARKERS/debootstrap" ]; then
    if ! command -v debootstrap >/dev/null; then
        say "installing debootstrap on the host: apt-get update && apt-get install -y debootstrap"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap
    fi
    if [ -e "$ROOT" ]; then
        say "removing incomplete root $ROOT"
        rm -rf --one-file-system "$ROOT"
    fi
    say "debootstrap --variant=minbase trixie $ROOT $MIRROR"
    start=$SECONDS
    debootstrap --variant=minbase trixie "$ROOT" "$MIRROR"
    mkdir -p "$MARKERS"
    touch "$MARKERS/debootstrap"
    say "debootstrap done in $((SECONDS - start)) s"
fi

if [ ! -f "$MARKERS/gimp" ]; then
    start=$SECONDS
    say "chroot apt-get update"
    in_root apt-get update -qq
    say "chroot apt-get install -y --no-install-recommends gimp"
    in_root apt-get install -y -qq --no-install-recommends gimp
    in_root apt-get clean
    in_root gimp-console-3.0 --version
    touch "$MARKERS/gimp"
    say "gimp installed in $((SECONDS - start)) s"
fi

if [ "$GUI" = 1 ] && [ ! -f "$MARKERS/gui" ]; then
    start=$SECONDS
    say "chroot apt-get install -y --no-install-recommends xvfb imagemagick xdotool openbox x11-utils"
    in_root apt-get update -qq
    in_root apt-get install -y -qq --no-install-recommends \
        xvfb imagemagick xdotool openbox x11-utils xauth fonts-dejavu-core
    in_root apt-get clean
    touch "$MARKERS/gui"
    say "GUI tools installed in $((SECONDS - start)) s"
fi

say "root ready at $ROOT ($(du -sh --one-file-system "$ROOT" | cut -f1))"
