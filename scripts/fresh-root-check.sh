#!/usr/bin/env bash
# The newcomer's check (issue 14): a fresh Debian 12 root with only node/npm, git and ca-certificates
# added, /proc, /sys, /sys/fs/bpf, /dev and /dev/pts bind-mounted; a clone of this branch in
# /root/bpfmap (mode 0700); the README's two commands run there as root. Run as root on the host:
#   scripts/fresh-root-check.sh            # FRESH_ROOT=/var/tmp/fresh-root, this checkout's branch
# FRESH_BASE=<dir> copies an existing debootstrap result instead of running debootstrap again.
# Not part of CI (it needs debootstrap, a Debian mirror and the npm registry).
set -euo pipefail
ROOT=${FRESH_ROOT:-/var/tmp/fresh-root}
REPO=$(cd "$(dirname "$0")/.." && pwd)
BRANCH=$(git -C "$REPO" rev-parse --abbrev-ref HEAD)
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }

unmount_all() {
  # Deepest first; never leave a bind mount of /sys or /dev under $ROOT.
  local m
  for m in $(findmnt -rn -o TARGET | { grep -E "^$ROOT(/|$)" || true; } | sort -r); do umount -l "$m" || true; done
}
remove_root() {
  unmount_all
  if findmnt -rn -o TARGET | grep -qE "^$ROOT(/|$)"; then
    echo "mounts remain under $ROOT; not removing it" >&2
    exit 1
  fi
  rm -rf --one-file-system "$ROOT"
}
trap unmount_all EXIT

remove_root
if [ -n "${FRESH_BASE:-}" ]; then
  cp -a "$FRESH_BASE" "$ROOT"
else
  debootstrap --variant=minbase bookworm "$ROOT" http://deb.debian.org/debian
fi

# node and npm: this machine's install (bookworm's nodejs is 18), with its headers (include/node)
# as Node's release packages have them.
NODE=$(readlink -f "$(command -v node)")
PREFIX=$(dirname "$(dirname "$NODE")")
mkdir -p "$ROOT/usr/local/bin" "$ROOT/usr/local/lib/node_modules" "$ROOT/usr/local/include"
cp "$NODE" "$ROOT/usr/local/bin/node"
cp -a "$PREFIX/lib/node_modules/npm" "$ROOT/usr/local/lib/node_modules/npm"
[ -d "$PREFIX/include/node" ] && cp -a "$PREFIX/include/node" "$ROOT/usr/local/include/node"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$ROOT/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$ROOT/usr/local/bin/npx"

# Network: the host's resolver, and the host's extra CA certificates (this machine reaches the npm
# registry through a TLS-inspecting egress; a machine with direct access needs neither).
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
mkdir -p "$ROOT/usr/local/share/ca-certificates"
cp /usr/local/share/ca-certificates/*.crt "$ROOT/usr/local/share/ca-certificates/" 2>/dev/null || true

for d in proc sys sys/fs/bpf dev dev/pts; do
  mkdir -p "$ROOT/$d"
  mount --bind "/$d" "$ROOT/$d"
done

in_root() {
  env -i HOME=/root TERM=dumb LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    ${NODE_EXTRA_CA_CERTS:+NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt} "$@" \
    chroot "$ROOT" /bin/bash -c "$CMD"
}
CMD='export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && apt-get install -y -qq --no-install-recommends git ca-certificates >/dev/null && update-ca-certificates >/dev/null' in_root

# A clone of this branch, made inside the root from a bare copy.
git clone -q --bare --no-local "file://$REPO" "$ROOT/var/tmp/bpfmap.git"
CMD="git clone -q -b $BRANCH file:///var/tmp/bpfmap.git /root/bpfmap && stat -c '/root is mode %a' /root" in_root

echo "=== npm install && npm start"
CMD='cd /root/bpfmap && npm install && npm start' in_root
echo "=== npm install && npm test"
# CI=true: kernel refusals fail, not skip; BPFMAP_NODE_VERSIONS= : the Node 22/24 runs belong to CI.
CMD='cd /root/bpfmap && npm install && npm test' in_root CI=true BPFMAP_NODE_VERSIONS=
echo "=== both README commands passed in $ROOT"
