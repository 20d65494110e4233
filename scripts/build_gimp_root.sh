#!/usr/bin/env bash
# Build (once) and then reuse a Debian root with a real GIMP 3, for the plug-in's tests and
# the screenshots. See ../shared/docs/gimp3-headless.md.
#
# Usage: scripts/build_gimp_root.sh [--suite trixie|sid] [--gui] [ROOT]
#   --suite  trixie: GIMP 3.0.4 with Python 3.13 (the default); sid: GIMP 3.2.x with Python 3.14
#   --gui    also installs xvfb imagemagick xdotool openbox x11-utils (for screenshots)
#   ROOT     defaults to $NST_GIMP_ROOTS/SUITE, else ~/.cache/neural-style-gimp/roots/SUITE,
#            outside the clone, so a fresh clone on the same machine reuses it
#
# Idempotent: each stage leaves a marker file in ROOT/.nst-markers/, and a completed
# stage is skipped next time. Needs root, network access to deb.debian.org, and
# debootstrap (installed with apt-get when missing). Exit status 0 when the root is ready.
set -euo pipefail

SUITE=trixie
GUI=0
ROOT=""
while [ $# -gt 0 ]; do
    case "$1" in
        --gui) GUI=1 ;;
        --suite) SUITE="$2"; shift ;;
        --suite=*) SUITE="${1#--suite=}" ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) ROOT="$1" ;;
    esac
    shift
done
case "$SUITE" in
    trixie|sid|forky) ;;
    *) echo "[build_gimp_root] error: --suite must be trixie, sid or forky, not $SUITE" >&2; exit 2 ;;
esac
ROOTS="${NST_GIMP_ROOTS:-${XDG_CACHE_HOME:-$HOME/.cache}/neural-style-gimp/roots}"
ROOT="${ROOT:-$ROOTS/$SUITE}"
MIRROR="${NST_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
MARKERS="$ROOT/.nst-markers"
# sid's and forky's Release files read as expired on these machines.
APT_OPTIONS=(-o Acquire::Check-Valid-Until=false)

say() { echo "[build_gimp_root] $*"; }
in_root() { chroot "$ROOT" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
    DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 "$@"; }
gimp_version() { in_root sh -c 'gimp-console --version 2>/dev/null || gimp-console-3.0 --version' | head -1; }

if [ "$(id -u)" != 0 ]; then
    say "error: must run as root (debootstrap and chroot need it)" >&2
    exit 2
fi

if [ -f "$MARKERS/gimp" ] && { [ "$GUI" = 0 ] || [ -f "$MARKERS/gui" ]; }; then
    say "root already complete at $ROOT ($(gimp_version))"
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
    say "debootstrap --variant=minbase $SUITE $ROOT $MIRROR"
    start=$SECONDS
    debootstrap --variant=minbase "$SUITE" "$ROOT" "$MIRROR"
    mkdir -p "$MARKERS"
    touch "$MARKERS/debootstrap"
    say "debootstrap done in $((SECONDS - start)) s"
fi

if [ ! -f "$MARKERS/gimp" ]; then
    start=$SECONDS
    say "chroot apt-get update"
    in_root apt-get "${APT_OPTIONS[@]}" update -qq
    say "chroot apt-get install -y --no-install-recommends gimp python3-gi gir1.2-gimp-3.0"
    in_root apt-get "${APT_OPTIONS[@]}" install -y -qq --no-install-recommends \
        gimp python3-gi gir1.2-gimp-3.0
    in_root apt-get clean
    gimp_version
    touch "$MARKERS/gimp"
    say "gimp installed in $((SECONDS - start)) s"
fi

if [ "$GUI" = 1 ] && [ ! -f "$MARKERS/gui" ]; then
    start=$SECONDS
    say "chroot apt-get install -y --no-install-recommends xvfb imagemagick xdotool openbox x11-utils"
    in_root apt-get "${APT_OPTIONS[@]}" update -qq
    in_root apt-get "${APT_OPTIONS[@]}" install -y -qq --no-install-recommends \
        xvfb imagemagick xdotool openbox x11-utils xauth fonts-dejavu-core
    in_root apt-get clean
    touch "$MARKERS/gui"
    say "GUI tools installed in $((SECONDS - start)) s"
fi

say "root ready at $ROOT ($(du -sh --one-file-system "$ROOT" | cut -f1)): $(gimp_version)"
