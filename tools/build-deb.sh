#!/bin/bash
# Build the Debian packages (dc-plugin-host, libdc-plugin-host-dev) from this
# tree with `dpkg-buildpackage -us -uc`, in a scratch copy so that nothing is
# written into the checkout or its parent directory, and check them with
# lintian.
#
# Usage: tools/build-deb.sh [OPTIONS] OUTDIR
#   --binary-only   build only the binary packages (dpkg-buildpackage -b)
#   --nocheck       do not run the unit suites during the build
#   --no-lintian    skip lintian
#   -h, --help      this text
#
# OUTDIR receives the .deb files (and with a source build the .dsc and
# .tar.xz), the .changes, the .buildinfo, build.log and lintian.log.  Exit
# status: 0 when the build succeeded and lintian reported nothing at its
# default level (errors and warnings), 1 otherwise.  Needs the build
# dependencies of debian/control (tools/install-deps.sh installs them).
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }

binary_only=0 nocheck=0 lint=1
while [ $# -gt 0 ]; do
        case $1 in
        --binary-only) binary_only=1 ;;
        --nocheck) nocheck=1 ;;
        --no-lintian) lint=0 ;;
        -h | --help) usage; exit 0 ;;
        -*) echo "build-deb: unknown option $1" >&2; usage >&2; exit 2 ;;
        *) break ;;
        esac
        shift
done
[ $# -eq 1 ] || { usage >&2; exit 2; }
mkdir -p "$1"
out=$(realpath -e "$1")
src=$(cd "$(dirname "$0")/.." && pwd)

for tool in dpkg-buildpackage dh; do
        command -v "$tool" >/dev/null || { echo "build-deb: $tool missing: run tools/install-deps.sh" >&2; exit 1; }
done
[ "$lint" = 0 ] || command -v lintian >/dev/null || { echo "build-deb: lintian missing: run tools/install-deps.sh" >&2; exit 1; }

work=$(mktemp -d -t dc-build-deb.XXXXXX)
trap 'rm -rf -- "$work"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

version=$(dpkg-parsechangelog -l "$src/debian/changelog" -S Version)
tree="$work/dc-plugin-host-$version"
mkdir "$tree"
# The files of the checkout, committed or not, without what git ignores
# (build directories, node_modules); a plain copy when this is no checkout.
if git -C "$src" rev-parse --show-toplevel >/dev/null 2>&1; then
        (cd "$src" && git ls-files -z --cached --others --exclude-standard) |
                (cd "$src" && xargs -0 -r sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh) |
                tar -C "$src" --null -T - -cf - | tar -C "$tree" -xf -
else
        tar -C "$src" --exclude='./build*' --exclude=node_modules --exclude='./obj-*' -cf - . | tar -C "$tree" -xf -
fi

opts=(-us -uc)
[ "$binary_only" = 0 ] || opts+=(-b)
DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:-} parallel=$(nproc)"
export DEB_BUILD_OPTIONS
[ "$nocheck" = 0 ] || DEB_BUILD_OPTIONS+=" nocheck"
start=$(date +%s)
if ! (cd "$tree" && dpkg-buildpackage "${opts[@]}") >"$out/build.log" 2>&1; then
        tail -n 40 "$out/build.log" >&2
        echo "build-deb: dpkg-buildpackage failed; the whole log is $out/build.log" >&2
        exit 1
fi
echo "build-deb: built in $(( $(date +%s) - start )) s" >&2
find "$work" -maxdepth 1 -type f -exec mv -t "$out" {} +
changes=$(ls "$out"/dc-plugin-host_"${version}"_*.changes)
ls "$out"/*.deb >&2

if [ "$lint" = 1 ]; then
        # The default level: errors and warnings fail the build of the package.
        lintian --fail-on error,warning "$changes" >"$out/lintian.log" 2>&1 || {
                cat "$out/lintian.log" >&2
                echo "build-deb: lintian is not clean (above; $out/lintian.log)" >&2
                exit 1
        }
        echo "build-deb: lintian clean" >&2
fi
