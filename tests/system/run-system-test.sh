#!/bin/bash
# System test: the Debian packages under real systemd.
#
# Builds the .debs from this tree (tools/build-deb.sh), checks them with
# lintian, builds two example plugins against the -dev package, then boots a
# Debian 12 root (mmdebstrap, cached between runs) with systemd as PID 1 in
# `systemd-nspawn --register=no --keep-unit -b` -- the two options let
# nspawn run without a host systemd or system bus -- installs the packages
# with apt inside it and drives the real system bus, polkitd and journald
# from the host with nsenter.  One function per check; the list of checks
# is at the bottom: add a function and one `check` line.
#
# Usage (as root):  tests/system/run-system-test.sh
#
# Environment:
#   DC_SOURCE_ROOT          the source tree (default: two levels up)
#   DC_SYSTEM_TEST_DEBS=D   use the .debs in D instead of building them
#   DC_SYSTEM_TEST_CACHE=D  cache of the mmdebstrap base root
#                           (default /var/cache/dc-plugin-host/system-test)
#   DC_SYSTEM_TEST_MIRROR=F apt sources for mmdebstrap (default: the host's
#                           /etc/apt/sources.list.d/debian.sources if present)
#   DC_SYSTEM_TEST_KEEP=1   keep the work directory (logs, container root)
#
# Output: TAP on stdout (meson protocol 'tap'), diagnostics on stderr.
# Checks the daemon cannot pass yet are marked "# TODO": they must fail
# (an unexpected pass fails the run, so the mark gets removed).  The whole
# test is skipped ("1..0 # SKIP") when not run as root; the container checks
# are skipped one by one only when systemd-nspawn cannot boot the root on
# this machine.  Exit status 0 when nothing failed, 1 otherwise.
set -euo pipefail

case ${1:-} in
-h | --help)
        sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
        exit 0
        ;;
"") ;;
*)
        echo "usage: $0 [--help] (settings come from the environment, see --help)" >&2
        exit 2
        ;;
esac

SRC=$(cd "${DC_SOURCE_ROOT:-$(dirname "$0")/../..}" && pwd)
CACHE=${DC_SYSTEM_TEST_CACHE:-/var/cache/dc-plugin-host/system-test}
SUITE=bookworm
# What the base root holds besides the packages' own dependencies: systemd
# as init, the system bus, polkitd, gdbus, and man for `systemd-analyze
# verify` (it checks Documentation=man: pages).  Bump BASE_FORMAT to force a
# new base when anything else about it changes.
BASE_PACKAGES=(systemd systemd-sysv dbus polkitd libglib2.0-bin man-db)
BASE_FORMAT=1
UNIT=dc-plugin-hostd.service
BUS_NAME=org.deviceconnect.PluginHost
BUS_PATH=/org/deviceconnect/PluginHost1
MANAGER=org.deviceconnect.PluginHost1.Manager
TEST_USER=dcuser

# fd 3 carries TAP; everything else goes to stderr (meson keeps it in the log).
exec 3>&1 1>&2

note() { printf '%s\n' "$*" >&2; }
bail() {
        echo "Bail out! $*" >&3
        exit 1
}
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# meson reads the TAP plan: a skip is "1..0 # SKIP" with status 0.
[ "$(id -u)" -eq 0 ] || { echo "1..0 # SKIP needs root (mmdebstrap, systemd-nspawn)" >&3; exit 0; }
for tool in mmdebstrap systemd-nspawn nsenter dpkg-buildpackage lintian jq cc pkg-config flock; do
        command -v "$tool" >/dev/null || bail "$tool is missing: run tools/install-deps.sh"
done

WORK=$(mktemp -d /var/tmp/dc-system-test.XXXXXX)
ROOT=$WORK/root
NSPAWN_PID=
NATS_PID=
CPID=
declare -A TIMES=()

cleanup() {
        local rc=$? i m
        if [ -n "$NSPAWN_PID" ] && kill -0 "$NSPAWN_PID" 2>/dev/null; then
                # SIGTERM makes nspawn halt the container cleanly.
                kill -TERM "$NSPAWN_PID" 2>/dev/null || true
                for ((i = 0; i < 300; i++)); do
                        kill -0 "$NSPAWN_PID" 2>/dev/null || break
                        sleep 0.1
                done
                kill -KILL "$NSPAWN_PID" 2>/dev/null || true
                wait "$NSPAWN_PID" 2>/dev/null || true
        fi
        if [ -n "$NATS_PID" ]; then
                kill "$NATS_PID" 2>/dev/null || true
                wait "$NATS_PID" 2>/dev/null || true
        fi
        # A killed nspawn can leave mounts below the root behind.
        awk -v r="$WORK/" 'index($5, r) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
                while read -r m; do umount -l "$m" 2>/dev/null || true; done
        if [ "${DC_SYSTEM_TEST_KEEP:-0}" = 1 ]; then
                note "kept $WORK"
        else
                rm -rf --one-file-system -- "$WORK"
        fi
        exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# wait_for SECONDS COMMAND...: poll COMMAND until it succeeds; 1 on timeout.
wait_for() {
        local deadline=$(( $(date +%s%N) + $1 * 1000000000 ))
        shift
        until "$@" >/dev/null 2>&1; do
                [ "$(date +%s%N)" -lt "$deadline" ] || return 1
                sleep 0.05
        done
}

# cexec COMMAND...: run COMMAND inside the booted container (all its
# namespaces, a clean environment), bounded in time.
cexec() {
        timeout "${CEXEC_TIMEOUT:-120}" nsenter -t "$CPID" -a -- /usr/bin/env -i \
                PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 SYSTEMD_PAGER= SYSTEMD_COLORS=0 "$@"
}
# cexec_as USER COMMAND...
cexec_as() {
        local user=$1
        shift
        cexec runuser -u "$user" -- "$@"
}
# cput PATH: write stdin to PATH inside the container (mode 0644, root).
cput() { cexec sh -c 'umask 022; mkdir -p "$(dirname "$1")"; cat > "$1"' sh "$1"; }
prop() { cexec systemctl show -p "$1" --value "$UNIT"; }
main_pid() { prop MainPID; }
hostctl() { cexec dc-plugin-hostctl "$@"; }
# logged_in INVOCATION_ID TEXT: the unit's run logged TEXT.
logged_in() { cexec journalctl --no-pager -o cat "_SYSTEMD_INVOCATION_ID=$1" | grep -qF -- "$2"; }

# ---- assertions (a check runs in a subshell: fail ends the check) -----------------
fail() {
        note "FAIL: $*"
        exit 1
}
expect_eq() { [ "$2" = "$3" ] || fail "$1: expected '$3', got '$2'"; }
expect_match() { [[ $2 =~ $3 ]] || fail "$1: expected to match /$3/, got: $2"; }
expect_no_match() { [[ ! $2 =~ $3 ]] || fail "$1: must not match /$3/, got: $2"; }
skip_check() {
        printf '%s' "$*" >"$WORK/skip-reason"
        exit 77
}

message_id() { sed -n "s/^#define DC_MESSAGE_$1 \"\\([0-9a-f]\\{32\\}\\)\"$/\\1/p" "$SRC/src/shared/names.h"; }

N=0
FAILED=0
TODO_PASSED=0
CONTAINER_SKIP=
# check NAME FUNCTION [TODO-REASON]
check() {
        local name=$1 fn=$2 todo=${3:-} rc start directive=
        N=$((N + 1))
        [ -z "$todo" ] || directive=" # TODO $todo"
        note ""
        note "--- $N $name"
        if [ -n "$CONTAINER_SKIP" ] && [[ $fn == c_* ]]; then
                echo "ok $N - $name # SKIP $CONTAINER_SKIP" >&3
                return 0
        fi
        start=$(now_ms)
        rm -f "$WORK/skip-reason"
        set +e
        (
                set -eE
                trap 'note "FAIL: unexpected failure (status $?) at line $LINENO (in ${FUNCNAME[*]}): $BASH_COMMAND"' ERR
                "$fn"
        )
        rc=$?
        set -e
        note "    ($(( $(now_ms) - start )) ms)"
        if [ "$rc" -eq 77 ]; then
                echo "ok $N - $name # SKIP $(cat "$WORK/skip-reason" 2>/dev/null)" >&3
        elif [ "$rc" -eq 0 ]; then
                echo "ok $N - $name$directive" >&3
                [ -z "$todo" ] || { TODO_PASSED=$((TODO_PASSED + 1)); note "passes now: remove its TODO mark"; }
        else
                echo "not ok $N - $name$directive" >&3
                [ -n "$todo" ] || FAILED=$((FAILED + 1))
                if [ -z "$todo" ] && [[ $fn == c_* ]] && [ -n "$CPID" ]; then
                        note "last journal lines of $UNIT:"
                        cexec journalctl -u "$UNIT" --no-pager -n 15 >&2 || true
                fi
        fi
}

# ==== set-up on the host ===========================================================

DEBS=$WORK/debs
mkdir -p "$DEBS"
if [ -n "${DC_SYSTEM_TEST_DEBS:-}" ]; then
        cp "$DC_SYSTEM_TEST_DEBS"/*.deb "$DC_SYSTEM_TEST_DEBS"/*.changes "$DEBS"/ 2>/dev/null ||
                cp "$DC_SYSTEM_TEST_DEBS"/*.deb "$DEBS"/
        TIMES[deb]=0
else
        t=$(now_ms)
        note "building the packages (tools/build-deb.sh --binary-only --nocheck)"
        nice "$SRC/tools/build-deb.sh" --binary-only --nocheck --no-lintian "$DEBS" ||
                bail "building the .debs failed (log: $DEBS/build.log)"
        TIMES[deb]=$(( $(now_ms) - t ))
fi
DEB_MAIN=$(ls "$DEBS"/dc-plugin-host_*.deb 2>/dev/null | head -n1)
DEB_DEV=$(ls "$DEBS"/libdc-plugin-host-dev_*.deb 2>/dev/null | head -n1)
[ -n "$DEB_MAIN" ] && [ -n "$DEB_DEV" ] || bail "no dc-plugin-host/libdc-plugin-host-dev .deb in $DEBS"
VERSION=$(dpkg-deb -f "$DEB_MAIN" Version)
VERSION=${VERSION%%-*}

# The base root: the packages above plus the first installable alternative
# of every dependency of ours, so that installing the .debs needs no network.
base_packages() {
        local deb clause alt
        printf '%s\n' "${BASE_PACKAGES[@]}"
        for deb in "$DEB_MAIN" "$DEB_DEV"; do
                dpkg-deb -f "$deb" Depends | tr ',' '\n' | while read -r clause; do
                        [ -n "$clause" ] || continue
                        found=
                        while read -r alt; do
                                alt=${alt%%[ (]*}
                                alt=${alt%%:*}
                                if apt-cache show --no-all-versions "$alt" >/dev/null 2>&1; then
                                        found=$alt
                                        break
                                fi
                        done < <(tr '|' '\n' <<<"$clause" | sed 's/^ *//')
                        # A purely virtual dependency (the system bus) is met
                        # by BASE_PACKAGES.
                        [ -z "$found" ] || echo "$found"
                done
        done
}
mapfile -t PKGS < <(base_packages | sort -u)
MIRROR=${DC_SYSTEM_TEST_MIRROR:-}
if [ -z "$MIRROR" ] && [ -r /etc/apt/sources.list.d/debian.sources ]; then
        MIRROR=/etc/apt/sources.list.d/debian.sources
fi
KEY=$({ echo "$BASE_FORMAT $SUITE"; printf '%s\n' "${PKGS[@]}"; [ -z "$MIRROR" ] || cat "$MIRROR"; } | sha256sum | cut -c1-16)
BASE=$CACHE/base-$KEY
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock -w 900 9 || bail "could not lock $CACHE/.lock"
t=$(now_ms)
if [ ! -e "$BASE.ok" ]; then
        note "creating the base root $BASE (${PKGS[*]})"
        rm -rf --one-file-system -- "$BASE" "$BASE.tmp"
        # shellcheck disable=SC2046  # no mirror argument = mmdebstrap's default
        nice mmdebstrap --variant=apt --include="$(IFS=,; echo "${PKGS[*]}")" \
                "$SUITE" "$BASE.tmp" $([ -z "$MIRROR" ] || echo "$MIRROR") >"$WORK/mmdebstrap.log" 2>&1 ||
                { tail -n 30 "$WORK/mmdebstrap.log"; bail "mmdebstrap failed"; }
        mv "$BASE.tmp" "$BASE"
        touch "$BASE.ok"
        # Older bases (other package lists) are not needed any more.
        for old in "$CACHE"/base-*.ok; do
                [ "$old" = "$BASE.ok" ] || rm -rf --one-file-system -- "${old%.ok}" "$old"
        done
        TIMES[base]="$(( $(now_ms) - t )) (created)"
else
        TIMES[base]="0 (cached $BASE)"
fi
t=$(now_ms)
cp -a --reflink=auto "$BASE" "$ROOT"
flock -u 9
TIMES[copy]=$(( $(now_ms) - t ))

mkdir -p "$ROOT/srv/dc-test/debs" "$ROOT/srv/dc-test/plugins"
cp "$DEB_MAIN" "$DEB_DEV" "$ROOT/srv/dc-test/debs/"

# A nats-server on the host: the container shares the host's network, so
# the daemon reaches it exactly when its unit lets it.
NATS_PORT=
if command -v nats-server >/dev/null; then
        nats-server -a 127.0.0.1 -p -1 -D -l "$WORK/nats.log" &
        NATS_PID=$!
        wait_for 10 grep -q "Server is ready" "$WORK/nats.log" || bail "nats-server did not start ($WORK/nats.log)"
        NATS_PORT=$(sed -n 's/.*Listening for client connections on 127.0.0.1:\([0-9]*\).*/\1/p' "$WORK/nats.log" | head -n1)
fi
nats_connections() { grep -c "Client connection created" "$WORK/nats.log" || true; }
nats_connections_above() { [ "$(nats_connections)" -gt "$1" ]; }

# ==== checks on the host ===========================================================

h_lintian() {
        local changes
        changes=$(ls "$DEBS"/*.changes 2>/dev/null | head -n1)
        [ -n "$changes" ] || skip_check "prebuilt .debs without a .changes file"
        lintian --fail-on error,warning "$changes" >"$WORK/lintian.log" 2>&1 ||
                { cat "$WORK/lintian.log" >&2; fail "lintian reports errors or warnings"; }
        note "lintian: clean at the default level"
}

h_package_contents() {
        local list p
        list=$(dpkg-deb -c "$DEB_MAIN" | awk '{ print $6 }')
        for p in ./lib/systemd/system/$UNIT ./usr/libexec/dc-plugin-hostd ./usr/bin/dc-plugin-hostctl \
                ./usr/share/dbus-1/system.d/$BUS_NAME.conf ./usr/share/dbus-1/system-services/$BUS_NAME.service \
                ./usr/share/polkit-1/actions/org.deviceconnect.pluginhost.policy \
                ./usr/lib/sysusers.d/dc-plugin-host.conf ./usr/lib/tmpfiles.d/dc-plugin-host.conf \
                ./usr/lib/systemd/catalog/dc-plugin-host.catalog \
                ./usr/share/man/man8/dc-plugin-hostd.8.gz ./usr/share/man/man1/dc-plugin-hostctl.1.gz \
                ./usr/share/man/man5/dc-plugin-host.conf.5.gz ./usr/share/man/man5/$BUS_NAME.5.gz \
                ./usr/share/bash-completion/completions/dc-plugin-hostctl \
                ./usr/share/dc-plugin-host/mesh-network.conf ./usr/share/dc-plugin-host/dc-plugin-host.conf.example \
                ./usr/lib/dc-plugin-host/plugins/; do
                grep -qxF "$p" <<<"$list" || fail "$p missing from $(basename "$DEB_MAIN")"
        done
        # Nothing in the live plugin roots, nothing in /etc: the mesh drop-in
        # and the configuration are examples, not conffiles.
        expect_eq "files below usr/lib/dc-plugin-host/plugins/" "$(grep -c '^./usr/lib/dc-plugin-host/plugins/.' <<<"$list" || true)" 0
        expect_eq "files below /etc" "$(grep -c '^./etc/' <<<"$list" || true)" 0
        list=$(dpkg-deb -c "$DEB_DEV" | awk '{ print $6 }')
        for p in ./usr/include/dc-plugin-host/plugin.h ./usr/share/doc/libdc-plugin-host-dev/examples/hello-world/hello-world.c \
                ./usr/share/doc/libdc-plugin-host-dev/examples/hello-world/manifest.json; do
                grep -qxF "$p" <<<"$list" || fail "$p missing from $(basename "$DEB_DEV")"
        done
        grep -q '/pkgconfig/dc-plugin-host.pc$' <<<"$list" || fail "dc-plugin-host.pc missing from $(basename "$DEB_DEV")"
}

# Build hello-world and sensor the way docs/examples.md tells a developer,
# against the -dev package's header and .pc (unpacked, not installed).
h_sdk_builds_examples() {
        local sdk=$WORK/sdk pc name out=$ROOT/srv/dc-test/plugins
        rm -rf "$sdk" && mkdir -p "$sdk"
        dpkg-deb -x "$DEB_DEV" "$sdk"
        pc=$(dirname "$(find "$sdk" -name dc-plugin-host.pc | head -n1)")
        for name in hello-world sensor; do
                cp -r "$sdk/usr/share/doc/libdc-plugin-host-dev/examples/$name" "$out/"
                # shellcheck disable=SC2046
                cc -shared -fPIC -fvisibility=hidden -O2 \
                        $(PKG_CONFIG_PATH=$pc PKG_CONFIG_SYSROOT_DIR=$sdk pkg-config --cflags dc-plugin-host) \
                        -o "$out/$name/$name.so" "$out/$name/$name.c" || fail "$name does not build against the -dev package"
                chmod 0644 "$out/$name/$name.so" "$out/$name/manifest.json"
                chmod 0755 "$out/$name"
        done
        expect_eq "api_level in the .pc" "$(PKG_CONFIG_PATH=$pc pkg-config --variable=api_level dc-plugin-host)" 1
}

# ==== boot =========================================================================

boot_container() {
        local t
        t=$(now_ms)
        systemd-nspawn -q -D "$ROOT" --register=no --keep-unit -b --console=passive \
                --machine="dc-systest-$$" >"$WORK/boot.log" 2>&1 &
        NSPAWN_PID=$!
        container_pid1() {
                CPID=$(pgrep -P "$NSPAWN_PID" -x systemd | head -n1)
                [ -n "$CPID" ]
        }
        if ! wait_for 30 container_pid1 || ! container_pid1; then
                CONTAINER_SKIP="systemd-nspawn cannot boot here: $(tail -n 3 "$WORK/boot.log" | tr '\n' ' ')"
                return 0
        fi
        # PID 1 answers on its private socket only once it is up; then wait
        # for the boot to finish (bounded; "degraded" is fine in a container).
        BOOT_STATE=
        system_booted() {
                BOOT_STATE=$(CEXEC_TIMEOUT=10 cexec systemctl is-system-running 2>/dev/null || true)
                [ "$BOOT_STATE" = running ] || [ "$BOOT_STATE" = degraded ]
        }
        if ! wait_for 90 system_booted; then
                CONTAINER_SKIP="the container did not finish booting (state '$BOOT_STATE'): $(tail -n 3 "$WORK/boot.log" | tr '\n' ' ')"
                return 0
        fi
        TIMES[boot]=$(( $(now_ms) - t ))
        note "container booted in ${TIMES[boot]} ms (PID 1 is $CPID on the host, state $BOOT_STATE)"
        # The non-root caller of the checks.
        printf 'u %s 1000 "dc-plugin-host system test user" /home/%s /bin/sh\n' "$TEST_USER" "$TEST_USER" |
                cput /etc/sysusers.d/dc-system-test.conf
        cexec systemd-sysusers >/dev/null
        cexec install -d -o "$TEST_USER" -g "$TEST_USER" -m 0755 "/home/$TEST_USER"
}

# ==== checks in the container ======================================================

c_apt_install() {
        cexec env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
                "/srv/dc-test/debs/$(basename "$DEB_MAIN")" "/srv/dc-test/debs/$(basename "$DEB_DEV")" \
                >"$WORK/apt.log" 2>&1 || { tail -n 30 "$WORK/apt.log" >&2; fail "apt-get install of the packages failed"; }
        cexec dpkg-query -W -f '${Status}\n' dc-plugin-host libdc-plugin-host-dev | grep -vqx "install ok installed" &&
                fail "a package is not fully installed"
        true
}

c_maintainer_scripts() {
        local pw uid d
        pw=$(cexec getent passwd dc-plugin-host) || fail "sysusers did not create the user dc-plugin-host"
        uid=$(cut -d: -f3 <<<"$pw")
        [ "$uid" -gt 0 ] && [ "$uid" -lt 1000 ] || fail "dc-plugin-host has uid $uid, not a system uid"
        for d in /etc/dc-plugin-host /etc/dc-plugin-host/plugins /etc/dc-plugin-host/trusted-keys.d \
                /etc/dc-plugin-host/plugin-config; do
                expect_eq "tmpfiles: $d" "$(cexec stat -c '%U:%G %a' "$d" 2>&1)" "root:root 755"
        done
        expect_eq "daemon-reload ran (NeedDaemonReload)" "$(prop NeedDaemonReload)" no
        expect_eq "unit enabled" "$(cexec systemctl is-enabled "$UNIT")" enabled
        expect_match "bus activation alias" "$(cexec readlink /etc/systemd/system/dbus-org.deviceconnect.PluginHost.service)" \
                "/$UNIT\$"
        cexec pkaction --action-id org.deviceconnect.pluginhost.install-plugins >/dev/null ||
                fail "polkitd does not know org.deviceconnect.pluginhost.install-plugins"
        local catalog id
        catalog=$(cexec journalctl --list-catalog --no-pager)
        for id in DAEMON_STARTED PLUGIN_LOADED PLUGIN_REJECTED PLUGIN_INSTALLED PLUGIN_REMOVED DAEMON_STOPPING; do
                grep -q "^$(message_id "$id") " <<<"$catalog" || fail "catalog entry $id is not in the journal's catalog database"
        done
}

# The postinst starts the service: it must come up at once, not after a
# Restart= (the bus only knows the new user after it re-read its policy).
c_first_start() {
        expect_eq "ActiveState after install" "$(prop ActiveState)" active
        expect_eq "NRestarts after install" "$(prop NRestarts)" 0
        local log
        log=$(cexec journalctl -u "$UNIT" --no-pager -o cat)
        expect_no_match "journal of the first start" "$log" "Cannot own|access denied"
}

c_unit_verifies() {
        local out
        out=$(cexec systemd-analyze verify "/lib/systemd/system/$UNIT" 2>&1) || fail "systemd-analyze verify failed: $out"
        expect_eq "systemd-analyze verify output (man pages installed)" "$out" ""
}

c_ready() {
        cexec systemctl restart "$UNIT" || fail "systemctl restart failed"
        expect_eq "Type" "$(prop Type)" notify
        expect_eq "ActiveState" "$(prop ActiveState)" active
        expect_eq "SubState" "$(prop SubState)" running
        expect_match "StatusText" "$(prop StatusText)" '^Processing requests \(0 plugin\(s\) loaded\)$'
        # READY=1 only after the initial scan (dc-plugin-hostd(8)).
        local inv log
        inv=$(prop InvocationID)
        log=$(cexec journalctl --no-pager -o cat "_SYSTEMD_INVOCATION_ID=$inv")
        expect_match "journal of this start" "$log" "Plugin system initialized"
}

c_sandbox_identity() {
        local pid status uid
        pid=$(main_pid)
        uid=$(cexec id -u dc-plugin-host)
        status=$(cexec cat "/proc/$pid/status")
        expect_eq "DynamicUser" "$(prop DynamicUser)" yes
        expect_match "Uid of the service (the static user, DynamicUser=yes)" "$(grep '^Uid:' <<<"$status")" \
                "^Uid:[[:space:]]+${uid}[[:space:]]+${uid}[[:space:]]+${uid}[[:space:]]+${uid}\$"
        local cap
        for cap in CapInh CapPrm CapEff CapBnd CapAmb; do
                expect_match "$cap" "$(grep "^$cap:" <<<"$status")" ":[[:space:]]+0+\$"
        done
        expect_match "NoNewPrivs" "$(grep '^NoNewPrivs:' <<<"$status")" ":[[:space:]]+1\$"
        expect_match "Seccomp (filter mode)" "$(grep '^Seccomp:' <<<"$status")" ":[[:space:]]+2\$"
}

c_sandbox_filesystem() {
        local pid out p
        pid=$(main_pid)
        expect_match "options of / in the service's mount namespace" \
                "$(cexec awk '$5 == "/" { print $6 }' "/proc/$pid/mountinfo")" '(^|,)ro(,|$)'
        # Writes as root inside the service's mount namespace: only the
        # state directory is writable (ProtectSystem=strict, ReadOnlyPaths=).
        for p in /usr/lib/dc-plugin-host/plugins /etc/dc-plugin-host /etc/dc-plugin-host/plugins /usr/bin /var/tmp/..; do
                if out=$(cexec nsenter -t "$pid" -m -- touch "$p/.dc-probe" 2>&1); then
                        cexec nsenter -t "$pid" -m -- rm -f "$p/.dc-probe"
                        fail "$p is writable inside the service"
                fi
                expect_match "writing $p inside the service" "$out" "Read-only file system"
        done
        cexec nsenter -t "$pid" -m -- sh -c 'touch /var/lib/dc-plugin-host/.dc-probe && rm /var/lib/dc-plugin-host/.dc-probe' ||
                fail "the state directory is not writable inside the service"
        expect_match "the state directory" "$(cexec readlink -f /var/lib/dc-plugin-host)" "^/var/lib/private/dc-plugin-host\$"
        # PrivateTmp=, ProtectHome=
        cexec sh -c 'echo probe > /tmp/.dc-probe-outside'
        cexec nsenter -t "$pid" -m -- test -e /tmp/.dc-probe-outside && fail "/tmp is shared with the service"
        cexec test -d "/home/$TEST_USER" || fail "test home missing"
        cexec nsenter -t "$pid" -m -- test -e "/home/$TEST_USER" && fail "/home is visible inside the service"
        true
}

c_no_network() {
        local pid
        pid=$(main_pid)
        [ "$(cexec readlink "/proc/$pid/ns/net")" != "$(cexec readlink /proc/1/ns/net)" ] ||
                fail "the service shares the host's network namespace"
        expect_eq "network interfaces of the service" \
                "$(cexec awk 'NR > 2 { sub(":", "", $1); print $1 }' "/proc/$pid/net/dev" | tr '\n' ' ')" "lo "
        expect_eq "RestrictAddressFamilies" "$(prop RestrictAddressFamilies)" AF_UNIX
        expect_match "IPAddressDeny" "$(prop IPAddressDeny)" "0\\.0\\.0\\.0/0"
        [ -n "$NATS_PORT" ] || skip_check "nats-server not installed: no live connection test"
        # A mesh configured, but no network: the daemon must not get through.
        trap 'cexec rm -f /etc/systemd/system/'"$UNIT"'.d/50-test-mesh.conf; cexec systemctl daemon-reload; cexec systemctl restart '"$UNIT" EXIT
        printf '[Service]\nEnvironment=NATS_URL=nats://127.0.0.1:%s\n' "$NATS_PORT" | cput "/etc/systemd/system/$UNIT.d/50-test-mesh.conf"
        cexec systemctl daemon-reload
        local before inv
        before=$(nats_connections)
        cexec systemctl restart "$UNIT"
        inv=$(prop InvocationID)
        # Logged after the failed connect: any connection would be seen by then.
        wait_for 20 logged_in "$inv" "Mesh server not reachable" ||
                fail "the daemon did not report the unreachable mesh server"
        expect_eq "connections seen by nats-server without the drop-in" "$(nats_connections)" "$before"
}

c_mesh_dropin() {
        [ -n "$NATS_PORT" ] || skip_check "nats-server not installed"
        trap 'cexec rm -f /etc/systemd/system/'"$UNIT"'.d/50-test-mesh.conf /etc/systemd/system/'"$UNIT"'.d/mesh-network.conf; cexec systemctl daemon-reload; cexec systemctl restart '"$UNIT" EXIT
        printf '[Service]\nEnvironment=NATS_URL=nats://127.0.0.1:%s\n' "$NATS_PORT" | cput "/etc/systemd/system/$UNIT.d/50-test-mesh.conf"
        cexec cp /usr/share/dc-plugin-host/mesh-network.conf "/etc/systemd/system/$UNIT.d/"
        cexec systemctl daemon-reload
        local before pid score
        before=$(nats_connections)
        cexec systemctl restart "$UNIT"
        pid=$(main_pid)
        expect_eq "network namespace with the drop-in" "$(cexec readlink "/proc/$pid/ns/net")" "$(cexec readlink /proc/1/ns/net)"
        wait_for 20 nats_connections_above "$before" ||
                fail "no connection reached nats-server with the mesh drop-in"
        expect_match "StatusText" "$(prop StatusText)" "mesh device plugin-host-1"
        score=$(cexec systemd-analyze security --no-pager "$UNIT" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
        note "exposure with the mesh drop-in: $score"
        echo "$score" >"$WORK/score-mesh"
        awk -v s="$score" 'BEGIN { exit !(s != "" && s <= 2.0) }' || fail "exposure $score with the mesh drop-in (limit 2.0)"
}

c_bus_root() {
        expect_eq "State property (2 = running)" \
                "$(cexec busctl get-property "$BUS_NAME" "$BUS_PATH" "$MANAGER" State)" "u 2"
        expect_eq "SignatureMode (production build, nothing pinned)" \
                "$(cexec busctl get-property "$BUS_NAME" "$BUS_PATH" "$MANAGER" SignatureMode)" 's "strict"'
        expect_eq "gdbus ListPlugins" "$(cexec gdbus call --system --dest "$BUS_NAME" --object-path "$BUS_PATH" \
                --method "$MANAGER.ListPlugins")" "(@a(so) [],)"
        expect_match "dc-plugin-hostctl status" "$(hostctl status)" "Signature mode: strict"
        cexec busctl call "$BUS_NAME" "$BUS_PATH" "$MANAGER" Rescan t 0 || fail "root may not Rescan"
}

c_bus_activation() {
        # the checks after this one need a running daemon, whatever happens here
        trap 'cexec systemctl start "$UNIT"' EXIT
        cexec systemctl stop "$UNIT"
        expect_eq "ActiveState after stop" "$(prop ActiveState)" inactive
        expect_eq "Version via bus activation" \
                "$(cexec busctl get-property "$BUS_NAME" "$BUS_PATH" "$MANAGER" Version)" "s \"$VERSION\""
        expect_eq "ActiveState after activation" "$(prop ActiveState)" active
}

c_nonroot_reads() {
        expect_eq "Version as $TEST_USER" \
                "$(cexec_as "$TEST_USER" busctl get-property "$BUS_NAME" "$BUS_PATH" "$MANAGER" Version)" "s \"$VERSION\""
        cexec_as "$TEST_USER" dc-plugin-hostctl list >/dev/null || fail "$TEST_USER may not list plugins"
}

nonroot_rescan_denied() { ! cexec_as "$TEST_USER" dc-plugin-hostctl --no-ask-password rescan; }

c_nonroot_denied() {
        local out
        out=$(cexec_as "$TEST_USER" busctl call "$BUS_NAME" "$BUS_PATH" "$MANAGER" Rescan t 0 2>&1) &&
                fail "busctl Rescan as $TEST_USER succeeded"
        expect_match "busctl Rescan as $TEST_USER" "$out" "Interactive authentication required|Access denied"
        out=$(cexec_as "$TEST_USER" gdbus call --system --dest "$BUS_NAME" --object-path "$BUS_PATH" \
                --method "$MANAGER.Rescan" 0 2>&1) && fail "gdbus Rescan as $TEST_USER succeeded"
        expect_match "gdbus Rescan (not interactive) as $TEST_USER" "$out" \
                "org\\.freedesktop\\.DBus\\.Error\\.(InteractiveAuthorizationRequired|AccessDenied)"
        out=$(cexec_as "$TEST_USER" dc-plugin-hostctl --no-ask-password rescan 2>&1) &&
                fail "dc-plugin-hostctl rescan as $TEST_USER succeeded"
        expect_match "dc-plugin-hostctl rescan as $TEST_USER" "$out" "^Failed to rescan"
}

c_strict_refuses_install() {
        local out
        out=$(hostctl install /srv/dc-test/plugins/hello-world 2>&1) && fail "an unpinned plugin was installed: $out"
        expect_match "install of an unpinned plugin" "$out" "not-in-allowlist"
        cexec test -e /var/lib/private/dc-plugin-host/plugins/hello-world && fail "the refused plugin is in the store"
        expect_no_match "list" "$(hostctl list)" "hello-world"
}

pin() { # pin ID...: the allowlist holds exactly these plugins
        local id json='' sep=''
        for id in "$@"; do
                json+="$sep\"$id\": \"$(hostctl hash "/srv/dc-test/plugins/$id/$id.so")\""
                sep=", "
        done
        echo "{$json}" | cput /etc/dc-plugin-host/signatures.json
}

c_install_pinned() {
        pin hello-world
        cexec systemctl restart "$UNIT"
        expect_eq "SignatureMode" "$(cexec busctl get-property "$BUS_NAME" "$BUS_PATH" "$MANAGER" SignatureMode)" 's "allowlist"'
        expect_match "install" "$(hostctl install /srv/dc-test/plugins/hello-world 2>&1)" "^Installed plugin hello-world"
        expect_match "invoke" "$(hostctl invoke hello-world hello_world '{"name":"Ada"}')" '"Hello, Ada!"'
        expect_eq "owner of the installed plugin" \
                "$(cexec stat -c %U /var/lib/private/dc-plugin-host/plugins/hello-world/hello-world.so)" dc-plugin-host
}

invoke_as_test_user() {
        cexec_as "$TEST_USER" dc-plugin-hostctl --no-ask-password invoke hello-world hello_world '{"name":"Bob"}' |
                grep -q 'Hello, Bob!'
}

c_polkit_rule() {
        invoke_as_test_user && fail "$TEST_USER may invoke before the rule exists"
        trap 'cexec rm -f /etc/polkit-1/rules.d/50-dc-system-test.rules' EXIT
        cput /etc/polkit-1/rules.d/50-dc-system-test.rules <<EOF
polkit.addRule(function(action, subject) {
        if (action.id.indexOf("org.deviceconnect.pluginhost.") === 0 && subject.user == "$TEST_USER")
                return polkit.Result.YES;
});
EOF
        # polkitd reloads rules by inotify: bounded wait for the new answer.
        wait_for 15 invoke_as_test_user || fail "$TEST_USER still may not invoke with the polkit rule"
        cexec_as "$TEST_USER" dc-plugin-hostctl --no-ask-password rescan || fail "$TEST_USER may not rescan with the rule"
        cexec rm -f /etc/polkit-1/rules.d/50-dc-system-test.rules
        wait_for 15 nonroot_rescan_denied || fail "$TEST_USER may still rescan after the rule was removed"
}

c_restart_keeps_plugins() {
        cexec systemctl restart "$UNIT"
        expect_match "StatusText after restart" "$(prop StatusText)" '\(1 plugin\(s\) loaded\)'
        expect_match "list after restart" "$(hostctl list)" "hello-world +loaded"
        expect_match "invoke after restart" "$(hostctl invoke hello-world echo '{"x":1}')" '"x"'
}

worker_of() { # worker_of PLUGIN: the pid of its dc-plugin-worker
        cexec busctl call "$BUS_NAME" "$BUS_PATH" "$MANAGER" Describe --json=short |
                jq -r '.data[0]' | jq -r --arg id "$1" '.plugins[] | select(.id == $id) | .worker.pid'
}

c_isolated_worker() {
        # The shipped unit's own sandbox around a worker's: it must still build its layers.
        trap 'cexec sed -i /^DefaultIsolation=/d /etc/dc-plugin-host/dc-plugin-host.conf; cexec systemctl reset-failed '"$UNIT"'; cexec systemctl restart '"$UNIT" EXIT
        cexec sh -c 'echo DefaultIsolation=process >>/etc/dc-plugin-host/dc-plugin-host.conf'
        cexec systemctl reset-failed "$UNIT" # the checks before restarted it often (StartLimitBurst=)
        cexec systemctl restart "$UNIT"
        expect_eq "Isolation" "$(cexec busctl get-property "$BUS_NAME" "$BUS_PATH/plugins/hello_2dworld" \
                org.deviceconnect.PluginHost1.Plugin Isolation)" 's "process"'
        expect_match "invoke in the worker" "$(hostctl invoke hello-world hello_world '{"name":"W"}')" '"Hello, W!"'
        local pid status
        pid=$(worker_of hello-world)
        [ -n "$pid" ] && [ "$pid" != null ] || fail "no worker pid in Describe"
        status=$(cexec cat "/proc/$pid/status")
        expect_match "worker seccomp" "$status" "Seccomp:[[:space:]]+2"
        expect_match "worker no_new_privs" "$status" "NoNewPrivs:[[:space:]]+1"
        expect_match "worker in the unit's cgroup" "$(cexec cat "/proc/$pid/cgroup")" "dc-plugin-hostd.service"
        expect_eq "worker environment" "$(cexec cat "/proc/$pid/environ" | tr '\0' '\n' | grep -c . || true)" 0
        local sb
        sb=$(cexec busctl call "$BUS_NAME" "$BUS_PATH" "$MANAGER" Describe --json=short | jq -r '.data[0]' |
                jq -c '.plugins[] | select(.id == "hello-world") | .worker')
        expect_match "sandbox layers" "$sb" '"seccomp":true'
        # Landlock as far as this environment offers it: the daemon's own
        # probe inside the unit and what the worker applied agree
        # (systemd-nspawn 252 filters the landlock calls: 0 here).
        local abi
        abi=$(cexec busctl call "$BUS_NAME" "$BUS_PATH" "$MANAGER" Describe --json=short | jq -r '.data[0]' |
                jq -r '.sandbox.landlock_abi')
        expect_match "landlock" "$sb" "\"landlock_abi\":$abi"
        note "Landlock ABI inside the container: $abi"
        # a worker killed from outside is started again; the daemon stays
        local n
        n=$(prop NRestarts)
        cexec sh -c "kill -SEGV $pid"
        wait_for 15 worker_restarted "$pid" || fail "the worker was not started again"
        expect_eq "daemon restarts" "$(prop NRestarts)" "$n"
        expect_entry PLUGIN_CRASHED '.PLUGIN_ID == "hello-world"'
}

worker_restarted() { local p; p=$(worker_of hello-world); [ -n "$p" ] && [ "$p" != null ] && [ "$p" != "$1" ]; }

restarted_after() { # restarted_after NRESTARTS OLDPID
        [ "$(prop NRestarts)" -gt "$1" ] && [ "$(prop SubState)" = running ] && [ "$(main_pid)" != "$2" ] &&
                [ "$(main_pid)" != 0 ]
}

c_crash_restart() {
        local pid n
        pid=$(main_pid)
        n=$(prop NRestarts)
        cexec sh -c "kill -SEGV $pid"
        wait_for 30 restarted_after "$n" "$pid" || fail "no restart after SIGSEGV (Restart=always)"
        expect_match "journal" "$(cexec journalctl -u "$UNIT" --no-pager -o cat -n 50)" "status=11/SEGV"
        expect_match "list after the crash" "$(hostctl list)" "hello-world +loaded"
}

watchdog_pinged_since() { [ "$(prop WatchdogTimestampMonotonic)" != "$1" ]; }

c_watchdog() {
        expect_eq "WatchdogUSec of the shipped unit" "$(prop WatchdogUSec)" 3min
        trap 'cexec rm -f /run/systemd/system/'"$UNIT"'.d/50-test-watchdog.conf; cexec systemctl daemon-reload; cexec systemctl restart '"$UNIT" EXIT
        printf '[Service]\nWatchdogSec=2s\n' | cput "/run/systemd/system/$UNIT.d/50-test-watchdog.conf"
        cexec systemctl daemon-reload
        cexec systemctl restart "$UNIT"
        expect_eq "WatchdogUSec with the test drop-in" "$(prop WatchdogUSec)" 2s
        local ts pid n
        ts=$(prop WatchdogTimestampMonotonic)
        wait_for 5 watchdog_pinged_since "$ts" || fail "no WATCHDOG=1 from the daemon within 5 s (WatchdogSec=2s)"
        pid=$(main_pid)
        n=$(prop NRestarts)
        # A stopped event loop sends no pings.
        cexec sh -c "kill -STOP $pid"
        wait_for 30 restarted_after "$n" "$pid" || fail "the watchdog did not restart a hung daemon"
        expect_match "journal" "$(cexec journalctl -u "$UNIT" --no-pager -o cat -n 50)" "Watchdog timeout"
}

c_admin_plugin_rejected() {
        cexec cp -r /srv/dc-test/plugins/sensor /etc/dc-plugin-host/plugins/
        hostctl rescan
        expect_match "list" "$(hostctl list)" "sensor +rejected +not-in-allowlist"
}

# journal_entries JQ-FILTER: matching entries of the daemon, one JSON per line.
journal_entries() {
        cexec journalctl -u "$UNIT" -o json --no-pager | jq -c "select(.SYSLOG_IDENTIFIER == \"dc-plugin-hostd\") | select($1)"
}
expect_entry() { # expect_entry NAME JQ-CONDITION
        local id
        id=$(message_id "$1")
        [ -n "$(journal_entries ".MESSAGE_ID == \"$id\" and ($2)" | head -n1)" ] ||
                fail "no journal entry MESSAGE_ID=$id ($1) with $2"
}

c_journal_fields() {
        local uid digest
        uid=$(cexec id -u dc-plugin-host)
        digest=$(hostctl hash /srv/dc-test/plugins/hello-world/hello-world.so)
        expect_entry DAEMON_STARTED ".DC_VERSION == \"$VERSION\""
        expect_entry POLICY_MODE '.DC_POLICY_MODE == "strict"'
        expect_entry POLICY_MODE '.DC_POLICY_MODE == "allowlist"'
        expect_entry PLUGIN_INSTALLED '.PLUGIN_ID == "hello-world" and .DC_OPERATION == "install" and (.DC_CALLER | startswith(":"))'
        expect_entry PLUGIN_LOADED ".PLUGIN_ID == \"hello-world\" and .DC_OPERATION == \"load\" and .PLUGIN_DIGEST == \"$digest\""
        expect_entry PLUGIN_REJECTED '.PLUGIN_ID == "sensor" and .DC_REASON == "not-in-allowlist"'
        expect_entry PLUGIN_UNLOADED '.PLUGIN_ID == "hello-world"'
        expect_entry DAEMON_STOPPING 'true'
        # Every entry of the daemon comes from the unit, as the static user.
        local bad
        bad=$(journal_entries "._SYSTEMD_UNIT != \"$UNIT\" or ._UID != \"$uid\"" | head -n1)
        [ -z "$bad" ] || fail "an entry not from $UNIT as uid $uid: $bad"
        # The refused install of c_strict_refuses_install is logged with its fields.
        [ -n "$(journal_entries '.DC_OPERATION == "install" and .DC_REASON == "not-in-allowlist" and .PLUGIN_ID == "hello-world"')" ] ||
                fail "no entry for the refused install with DC_OPERATION=install DC_REASON=not-in-allowlist"
}

c_refused_install_message_id() {
        local id
        id=$(message_id PLUGIN_REJECTED)
        [ -n "$(journal_entries ".DC_OPERATION == \"install\" and .DC_REASON == \"not-in-allowlist\" and .MESSAGE_ID == \"$id\"")" ] ||
                fail "the refused install has no MESSAGE_ID=$id (PLUGIN_REJECTED)"
}

c_catalog_text() {
        local out
        out=$(cexec journalctl -x -u "$UNIT" --no-pager "MESSAGE_ID=$(message_id PLUGIN_REJECTED)" PLUGIN_ID=sensor)
        expect_match "journalctl -x" "$out" "Subject: Plugin sensor was rejected"
        expect_match "journalctl -x" "$out" "Defined-By: dc-plugin-host"
        expect_match "journalctl -x" "$out" "Documentation: man:dc-plugin-hostd\\(8\\)"
        expect_match "journalctl -x" "$out" "\\(reason: not-in-allowlist\\)"
}

c_security_score() {
        local out score
        out=$(cexec systemd-analyze security --no-pager "$UNIT")
        score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' <<<"$out")
        [ -n "$score" ] || fail "no exposure level in: $out"
        note "exposure (online): $score"
        echo "$score" >"$WORK/score"
        awk -v s="$score" 'BEGIN { exit !(s <= 1.0) }' || fail "exposure $score (limit 1.0, as the offline gate)"
}

sensor_loaded() { hostctl list | grep -Eq "sensor +loaded"; }

c_reload_trust_policy() {
        trap 'echo "{\"hello-world\": \"$(hostctl hash /srv/dc-test/plugins/hello-world/hello-world.so)\"}" | cput /etc/dc-plugin-host/signatures.json' EXIT
        pin hello-world sensor
        cexec systemctl reload "$UNIT" || fail "systemctl reload $UNIT failed"
        # ExecReload= is the synchronous method: loaded when reload returns
        sensor_loaded || fail "sensor was not loaded after pinning it and reloading"
        expect_entry CONFIG_RELOADED '.DC_CALLER != null'
        expect_eq "SignatureMode after reload" \
                "$(cexec busctl get-property org.deviceconnect.PluginHost /org/deviceconnect/PluginHost1 \
                        org.deviceconnect.PluginHost1.Manager SignatureMode)" 's "allowlist"'
        # an invalid configuration: reload fails, the daemon keeps running as it was
        cexec sh -c 'cp /etc/dc-plugin-host/dc-plugin-host.conf /run/conf.bak 2>/dev/null || :; echo NoSuchKey=1 >>/etc/dc-plugin-host/dc-plugin-host.conf'
        cexec systemctl reload "$UNIT" && fail "reload with an invalid configuration succeeded"
        cexec sh -c 'if [ -e /run/conf.bak ]; then mv /run/conf.bak /etc/dc-plugin-host/dc-plugin-host.conf; else sed -i /NoSuchKey/d /etc/dc-plugin-host/dc-plugin-host.conf; fi'
        expect_eq "ActiveState after a failed reload" "$(prop ActiveState)" active
        sensor_loaded || fail "sensor is not loaded after a failed reload"
}

c_remove_plugin() {
        expect_eq "remove" "$(hostctl remove hello-world 2>&1)" "Removed plugin hello-world"
        expect_no_match "list after remove" "$(hostctl list)" "hello-world"
        cexec test -e /var/lib/private/dc-plugin-host/plugins/hello-world && fail "hello-world is still in the store"
        expect_entry PLUGIN_REMOVED '.PLUGIN_ID == "hello-world"'
}

c_stop() {
        local inv
        inv=$(prop InvocationID)
        cexec systemctl stop "$UNIT"
        expect_eq "ActiveState" "$(prop ActiveState)" inactive
        expect_eq "Result" "$(prop Result)" success
        expect_eq "ExecMainStatus" "$(prop ExecMainStatus)" 0
        expect_match "journal of the stopped run" \
                "$(cexec journalctl --no-pager -o json "_SYSTEMD_INVOCATION_ID=$inv" | jq -r .MESSAGE_ID)" "$(message_id DAEMON_STOPPING)"
}

c_purge() {
        cexec systemctl start "$UNIT"
        cexec env DEBIAN_FRONTEND=noninteractive apt-get purge -y dc-plugin-host libdc-plugin-host-dev >"$WORK/purge.log" 2>&1 ||
                { tail -n 20 "$WORK/purge.log" >&2; fail "apt-get purge failed"; }
        expect_eq "LoadState after purge" "$(prop LoadState)" not-found
        expect_eq "ActiveState after purge" "$(prop ActiveState)" inactive
        cexec test -e /etc/systemd/system/multi-user.target.wants/$UNIT && fail "the enablement symlink survived purge"
        expect_no_match "bus names after purge" "$(cexec busctl list --no-legend)" "$BUS_NAME"
}

# ==== the checks, in order ==========================================================

check "lintian is clean at the default level" h_lintian
check "the packages hold what they should" h_package_contents
check "the -dev package's examples build with pkg-config" h_sdk_builds_examples
boot_container
check "apt-get install of the .debs" c_apt_install
check "maintainer scripts: sysusers, tmpfiles, daemon-reload, enable, polkit action, catalog" c_maintainer_scripts
check "the postinst's start succeeds at once (no Restart=)" c_first_start
check "systemd-analyze verify is silent (man pages installed)" c_unit_verifies
check "start: READY=1 after the initial scan, STATUS=" c_ready
check "sandbox: static user via DynamicUser=, no capabilities, NoNewPrivileges, seccomp" c_sandbox_identity
check "sandbox: ProtectSystem=strict, read-only plugin roots, PrivateTmp, ProtectHome" c_sandbox_filesystem
check "sandbox: no network without the mesh drop-in" c_no_network
check "mesh drop-in: network, nats-server reached" c_mesh_dropin
check "root: busctl, gdbus, dc-plugin-hostctl" c_bus_root
check "D-Bus activation starts the unit" c_bus_activation
check "non-root: reading is allowed" c_nonroot_reads
check "non-root: mutating calls are denied" c_nonroot_denied
check "strict policy refuses an unpinned install, nothing written" c_strict_refuses_install
check "pinned plugin: install and invoke" c_install_pinned
check "non-root allowed through a polkit rule, denied again without it" c_polkit_rule
check "systemctl restart keeps the installed plugin" c_restart_keeps_plugins
check "kill -SEGV: Restart= brings it back with its plugins" c_crash_restart
check "an isolated plugin: its worker's sandbox inside the unit's, restarted after a crash" c_isolated_worker
check "watchdog: pings, and a hung daemon is restarted" c_watchdog
check "an unpinned admin plugin is rejected" c_admin_plugin_rejected
check "journal: MESSAGE_IDs and fields" c_journal_fields
check "journal: a refused install carries MESSAGE_ID=PLUGIN_REJECTED" c_refused_install_message_id
check "journalctl -x shows the catalog text" c_catalog_text
check "systemd-analyze security (online)" c_security_score
check "systemctl reload re-reads the trust policy" c_reload_trust_policy
check "remove the installed plugin" c_remove_plugin
check "systemctl stop is clean" c_stop
check "apt-get purge stops and removes the unit" c_purge

echo "1..$N" >&3
note ""
note "timings (ms): .deb build ${TIMES[deb]}, base root ${TIMES[base]}, copy ${TIMES[copy]}, boot ${TIMES[boot]:-n/a}"
[ ! -e "$WORK/score" ] || note "systemd-analyze security: $(cat "$WORK/score") (with the mesh drop-in: $(cat "$WORK/score-mesh" 2>/dev/null || echo n/a))"
note "$FAILED check(s) failed; $TODO_PASSED TODO check(s) passed unexpectedly"
[ "$FAILED" -eq 0 ] && [ "$TODO_PASSED" -eq 0 ]
