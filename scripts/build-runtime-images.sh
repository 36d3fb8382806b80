#!/usr/bin/env bash
# Builds whisk's action runtime images without a registry or `docker build`, and imports
# them into the engine at $DOCKER_HOST (start one with `eval "$(scripts/engine.sh start)"`):
#
#   whisk/action-native:1   the action proxy + busybox (sh and the usual tools)
#   whisk/action-nodejs:1   + this machine's `node` and the shared libraries it needs
#   whisk/action-python:1   + this machine's `python3`, its standard library (no tests,
#                           no tkinter/idle, no caches, no site-packages) and libraries
#
# Each image is a tar of a root filesystem, imported with the Engine API's
# `POST /images/create?fromSrc=-&repo=whisk/action-<kind>:<tag>` (command and environment
# set with `changes=`; the tag rides in `repo` because podman 4.3 ignores a separate `tag=`
# on import), so a machine with only podman's API service (or any Docker daemon) and no
# registry access can build them. Where a real `docker build` and the base images are
# available, plugins/docker-factory/images/<kind>/Containerfile builds equivalent images.
#
# The proxy is linked statically (glibc, `+crt-static`) so it runs in any of these
# images whatever their libc; the musl target is not installed on these machines.
#
#   scripts/build-runtime-images.sh [native|nodejs|python …]   (default: all three)
#   WHISK_IMAGE_TAG   tag of the images (default 1)
#   WHISK_IMAGE_DIR   where rootfs trees and tars are built (default <repo>/target/runtime-images)
#   NO_IMPORT=1       build the tars only
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="${WHISK_IMAGE_DIR:-$repo/target/runtime-images}"
tag="${WHISK_IMAGE_TAG:-1}"
kinds=("$@")
[ ${#kinds[@]} -gt 0 ] || kinds=(native nodejs python)
image_path="/usr/local/bin:/usr/bin:/bin"

say() { echo "images: $*" >&2; }
die() { say "$*"; exit 1; }
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

socket=""
if [ "${NO_IMPORT:-0}" != 1 ]; then
    [ -n "${DOCKER_HOST:-}" ] || die "DOCKER_HOST is not set; start the engine first: eval \"\$(scripts/engine.sh start)\""
    case "$DOCKER_HOST" in
    unix://*) socket="${DOCKER_HOST#unix://}" ;;
    *) die "DOCKER_HOST must be a unix socket (unix:///path), got $DOCKER_HOST" ;;
    esac
    [ "$(curl -s --max-time 5 --unix-socket "$socket" http://d/_ping || true)" = OK ] ||
        die "no engine answers at $socket; start it with scripts/engine.sh start"
fi
ldconfig_bin="$(command -v ldconfig || echo /sbin/ldconfig)"
[ -x "$ldconfig_bin" ] || die "ldconfig not found (Debian: libc-bin)"
for tool in file ldd curl cargo; do
    command -v "$tool" >/dev/null || die "$tool is not on PATH (Debian: apt-get install file curl; cargo from rustup)"
done
[ -x /bin/busybox ] || die "/bin/busybox missing: apt-get install busybox-static"
file /bin/busybox | grep -q 'statically linked' || die "/bin/busybox is not static (install busybox-static)"

# ------------------------------------------------------------------ the proxy
build_proxy() {
    local started target_dir
    started=$(date +%s%N)
    target_dir="$work/cargo"
    say "building a static action-proxy (target dir $target_dir)"
    (cd "$repo" && RUSTFLAGS="-C target-feature=+crt-static" \
        cargo build --release -p action-proxy --target x86_64-unknown-linux-gnu \
        --target-dir "$target_dir" >&2)
    proxy="$target_dir/x86_64-unknown-linux-gnu/release/action-proxy"
    file -L "$proxy" | grep -Eq 'statically linked|static-pie linked' ||
        die "$proxy is not statically linked: $(file -L "$proxy")"
    # ldd says "not a dynamic executable" (static) or "statically linked" (static-pie).
    if ldd "$proxy" 2>&1 | grep -q '=>'; then
        die "ldd lists libraries for $proxy: $(ldd "$proxy" 2>&1 | tr '\n' ' ')"
    fi
    say "proxy is static ($(du -h "$proxy" | cut -f1)) in $(ms_since "$started") ms"
}

# ------------------------------------------------------------------ rootfs helpers
# Copies a file to the same path under the rootfs, following symlinks.
copy_in() {
    local root=$1 src=$2 dest=${3:-$2}
    mkdir -p "$root$(dirname "$dest")"
    cp -L "$src" "$root$dest"
}

# Copies the shared libraries `ldd` lists for each file (and the dynamic loader) to the
# same paths under the rootfs.
copy_libs() {
    local root=$1
    shift
    local lib
    for lib in $(ldd "$@" 2>/dev/null | awk '/=> \// {print $3} /^[ \t]*\/[^ ]*ld-linux/ {print $1}' | sort -u); do
        [ -e "$root$lib" ] || copy_in "$root" "$lib"
    done
}

base_rootfs() {
    local root=$1
    rm -rf "$root"
    mkdir -p "$root"/{bin,usr/bin,usr/local/bin,etc,tmp,proc,sys,dev,root}
    chmod 1777 "$root/tmp"
    cp "$proxy" "$root/action-proxy"
    cp /bin/busybox "$root/bin/busybox"
    local applet
    for applet in $(/bin/busybox --list); do
        [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
}

# Writes /etc/ld.so.cache for libraries outside the loader's default directories.
ld_cache() {
    local root=$1
    printf '/usr/local/lib\n' >"$root/etc/ld.so.conf"
    "$ldconfig_bin" -r "$root" 2>/dev/null || die "ldconfig -r $root failed"
}

# ------------------------------------------------------------------ the kinds
rootfs_native() {
    base_rootfs "$1"
}

rootfs_nodejs() {
    local root=$1 node
    node="$(command -v node)" || die "node is not on PATH"
    base_rootfs "$root"
    copy_in "$root" "$node" /usr/local/bin/node
    copy_libs "$root" "$node"
    ld_cache "$root"
    say "nodejs: $("$node" --version) from $node"
}

rootfs_python() {
    local root=$1 py exe version stdlib platstdlib libdir
    py="$(command -v python3)" || die "python3 is not on PATH"
    # Through pyenv's shim (if any) to the real interpreter and its layout.
    read -r exe version stdlib platstdlib libdir < <("$py" -c '
import sys, sysconfig
print(sys.executable, "%d.%d" % sys.version_info[:2], sysconfig.get_path("stdlib"),
      sysconfig.get_path("platstdlib"), sysconfig.get_config_var("LIBDIR"))')
    base_rootfs "$root"
    local dest="/usr/local/lib/python$version"
    mkdir -p "$root$dest"
    # The standard library, without what an action does not need.
    tar -C "$stdlib" \
        --exclude=./site-packages --exclude=./test --exclude=./idlelib --exclude=./tkinter \
        --exclude=./turtledemo --exclude=./ensurepip --exclude=./lib2to3 --exclude=./turtle.py \
        --exclude='./config-*' --exclude=__pycache__ --exclude='*.pyc' \
        --exclude='./lib-dynload/_tkinter*' --exclude='./lib-dynload/_test*' \
        --exclude='./lib-dynload/xx*' --exclude='./lib-dynload/_ctypes_test*' \
        -cf - . | tar -C "$root$dest" -xf -
    mkdir -p "$root$dest/site-packages"
    local dynload="$platstdlib/lib-dynload"
    if [ "$platstdlib" != "$stdlib" ] && [ -d "$dynload" ]; then
        mkdir -p "$root$dest/lib-dynload"
        find "$dynload" -maxdepth 1 -name '*.so' ! -name '_tkinter*' ! -name '_test*' ! -name 'xx*' \
            -exec cp -L {} "$root$dest/lib-dynload/" \;
    fi
    copy_in "$root" "$exe" "/usr/local/bin/python$version"
    ln -sf "python$version" "$root/usr/local/bin/python3"
    copy_libs "$root" "$exe" "$root$dest"/lib-dynload/*.so
    # A shared build (pyenv's usual) finds libpython through a RUNPATH into its build
    # prefix, which the image does not have: move what came from there to /usr/local/lib,
    # found through the loader cache.
    case "$libdir" in
    /usr/lib* | /lib* | /usr/local/lib) ;;
    *)
        if [ -d "$root$libdir" ]; then
            mkdir -p "$root/usr/local/lib"
            find "$root$libdir" -maxdepth 1 -name '*.so*' -exec mv -f {} "$root/usr/local/lib/" \;
            rm -rf "${root:?}$libdir"
            local d
            d="$(dirname "$libdir")"
            while [ "$(dirname "$d")" != / ] && rmdir "$root$d" 2>/dev/null; do d="$(dirname "$d")"; done
        fi
        ;;
    esac
    # A pyenv build keeps its symbols: a third of the image otherwise.
    if command -v strip >/dev/null; then
        find "$root/usr/local/lib" -maxdepth 1 -name 'libpython*.so*' -exec strip --strip-unneeded {} \;
        strip --strip-unneeded "$root/usr/local/bin/python$version" 2>/dev/null || true
    fi
    ld_cache "$root"
    say "python: $version from $exe (stdlib $stdlib)"
}

# ------------------------------------------------------------------ import
import_image() {
    local kind=$1 tar=$2 started resp
    started=$(date +%s%N)
    resp="$(curl -sS --fail-with-body --unix-socket "$socket" -X POST \
        -H 'Content-Type: application/x-tar' --data-binary @"$tar" \
        "http://d/images/create" \
        --url-query fromSrc=- \
        --url-query "repo=whisk/action-$kind:$tag" \
        --url-query 'changes=CMD ["/action-proxy"]' \
        --url-query "changes=ENV PATH=$image_path" \
        --url-query "changes=ENV __OW_KIND=$kind" \
        --url-query 'changes=WORKDIR /')" || die "import of whisk/action-$kind failed: $resp"
    case "$resp" in *'"error'*) die "import of whisk/action-$kind failed: $resp" ;; esac
    say "imported whisk/action-$kind:$tag in $(ms_since "$started") ms"
}

# A re-import leaves the previous image untagged: drop such leftovers.
prune_dangling() {
    curl -s --unix-socket "$socket" -X POST "http://d/images/prune" \
        --url-query 'filters={"dangling":["true"]}' >/dev/null || true
}

build_proxy
for kind in "${kinds[@]}"; do
    case "$kind" in native | nodejs | python) ;; *) die "unknown kind $kind (native, nodejs, python)" ;; esac
    started=$(date +%s%N)
    root="$work/$kind/rootfs"
    tar="$work/$kind/image.tar"
    "rootfs_$kind" "$root"
    tar --numeric-owner --owner=0 --group=0 -C "$root" -cf "$tar" .
    say "$kind: rootfs $(du -sh "$root" | cut -f1), tar built in $(ms_since "$started") ms"
    [ "${NO_IMPORT:-0}" = 1 ] || import_image "$kind" "$tar"
done
[ "${NO_IMPORT:-0}" = 1 ] || prune_dangling
