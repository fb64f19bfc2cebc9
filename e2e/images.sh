#!/usr/bin/env bash
# Builds the container images of the server and the operator offline, from Debian's packages and
# the release binaries built on this host, and writes them as OCI archives:
#
#   target/images/kubernetes-mcp-server.oci.tar
#   target/images/kubernetes-mcp-operator.oci.tar
#
#   e2e/images.sh --debug          the same images from the binaries the tests run (target/debug,
#                                  not rebuilt here), tagged `dev`, no archives
#   e2e/images.sh [--debug] --push builds nothing: pushes the images an earlier run built to the
#                                  test stack's registry ($KMCP_REGISTRY, plain HTTP); run it inside
#                                  the stack (e2e/stack.sh exec -- e2e/images.sh --debug --push)
#
# Runtime layout (the same as the multi-stage `Containerfile` builds for users' CI): a glibc root
# made of Debian packages (libc6, libgcc-s1, netbase, tzdata; what distroless is made of), the
# Mozilla CA bundle at /etc/ssl/certs/ca-certificates.crt, no shell, numeric non-root USER
# 65532:65532, the binary as ENTRYPOINT, OCI labels with the version. Needs buildah and mmdebstrap
# (Debian packages; installed here when missing) and root (vfs storage under target/images/).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

profile=release push=""
for arg in "$@"; do
  case $arg in
    --debug) profile=debug ;;
    --push) push=${KMCP_REGISTRY:?--push runs inside the stack: e2e/stack.sh exec -- e2e/images.sh --push} ;;
    *) echo "usage: e2e/images.sh [--debug] [--push]" >&2; exit 2 ;;
  esac
done

log() { printf '[images %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# shellcheck source=stack/paths.sh
source e2e/stack/paths.sh
for tool in buildah mmdebstrap; do
  command -v "$tool" >/dev/null || { log "$tool is missing: e2e/stack/install.sh installs it"; exit 1; }
done

out=target/images
work=$out/work
mkdir -p "$out" "$work"
version=$(cargo metadata --no-deps --format-version 1 |
  python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"]=="kubernetes-mcp-server"))')
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
created=$(date -u +%Y-%m-%dT%H:%M:%SZ)
suite=bookworm
packages=libc6,libgcc-s1,netbase,tzdata
tag=$version
[[ $profile == release ]] || tag=dev
bah() { buildah --root "$PWD/$work/storage" --runroot "$PWD/$work/run" --storage-driver vfs "$@"; }

if [[ -n $push ]]; then
  for name in kubernetes-mcp-server kubernetes-mcp-operator; do
    bah push --quiet --tls-verify=false "localhost/$name:$tag" "docker://$push/$name:$tag"
    log "pushed $push/$name:$tag"
  done
  exit 0
fi

# The base root is cached with the test components, keyed by the suite, the package list and
# this recipe: it changes only with Debian's point releases.
recipe=$(sed -n '/^if \[\[ ! -f \$rootfs.done/,/^fi$/p' "${BASH_SOURCE[0]}" | sha256sum | cut -c1-8)
rootfs=$cache_root/image-base-$suite-$(echo "$packages" | sha256sum | cut -c1-8)-$recipe
if [[ ! -f $rootfs.done ]]; then
  log "base root filesystem from Debian $suite"
  rm -rf "$rootfs" "$rootfs.done" "$work/debs"
  mkdir -p "$(dirname "$rootfs")"
  mmdebstrap --quiet --variant=extract --include="$packages" "$suite" "$rootfs"
  # The CA bundle without the package's maintainer scripts (and their openssl, perl, debconf):
  # the certificates of Debian's ca-certificates package, concatenated as update-ca-certificates does.
  mkdir -p "$work/debs" && (cd "$work/debs" && apt-get download -qq -o APT::Sandbox::User=root ca-certificates)
  dpkg-deb -x "$work"/debs/ca-certificates_*.deb "$work/debs/ca"
  mkdir -p "$rootfs/etc/ssl/certs"
  cat "$work"/debs/ca/usr/share/ca-certificates/mozilla/*.crt >"$rootfs/etc/ssl/certs/ca-certificates.crt"
  # What a runtime image does not need: docs, package manager state, apt's configuration.
  rm -rf "$rootfs"/usr/share/{doc,man,info,lintian,locale} "$rootfs"/var/lib/{apt,dpkg} \
    "$rootfs"/var/cache/* "$rootfs"/etc/apt "$rootfs"/var/log/*
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$rootfs/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' >"$rootfs/etc/group"
  mkdir -p "$rootfs/home/nonroot" "$rootfs/tmp" && chown 65532:65532 "$rootfs/home/nonroot" && chmod 1777 "$rootfs/tmp"
  touch "$rootfs.done"
fi

if [[ $profile == release ]]; then
  log "release binaries"
  cargo build --release --locked -p kubernetes-mcp-server -p kubernetes-mcp-operator --bins
fi

# image NAME DESCRIPTION EXTRA-CONFIG...
image() {
  local name=$1 description=$2 ctr
  shift 2
  log "image $name"
  ctr=$(bah from scratch)
  bah copy --quiet "$ctr" "$rootfs/." /
  [[ -x target/$profile/$name ]] || { log "target/$profile/$name is missing: build it first"; exit 1; }
  bah copy --quiet --chmod 0755 "$ctr" "target/$profile/$name" "/usr/local/bin/$name"
  bah config --user 65532:65532 --workingdir /home/nonroot --entrypoint "[\"/usr/local/bin/$name\"]" --cmd '' \
    --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    --label "org.opencontainers.image.title=$name" \
    --label "org.opencontainers.image.description=$description" \
    --label "org.opencontainers.image.version=$version" \
    --label "org.opencontainers.image.revision=$revision" \
    --label "org.opencontainers.image.created=$created" \
    --label "org.opencontainers.image.licenses=Apache-2.0" \
    --label "org.opencontainers.image.source=https://github.com/kubernetes-mcp/kubernetes-mcp" \
    --label "org.opencontainers.image.base.name=debian:$suite (${packages//,/ })" \
    "$@" "$ctr"
  bah commit --quiet --rm "$ctr" "localhost/$name:$tag" >/dev/null
  if [[ $profile == release ]]; then
    rm -f "$out/$name.oci.tar"
    bah push --quiet "localhost/$name:$tag" "oci-archive:$out/$name.oci.tar:$name:$tag"
    log "wrote $out/$name.oci.tar ($(du -h "$out/$name.oci.tar" | cut -f1))"
  fi
}

image kubernetes-mcp-server "MCP server whose tools read and change a Kubernetes cluster" --port 8080
image kubernetes-mcp-operator "Reconciles McpServer resources into kubernetes-mcp-server deployments"
