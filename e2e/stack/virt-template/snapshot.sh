#!/usr/bin/env bash
# Writes src.tar.gz here: the source of virt-template's aggregated API server (cmd/apiserver of
# github.com/kubevirt/virt-template) and of the kubevirt.io modules it imports, which the Go
# module proxy does not serve (it answers 403 for kubevirt.io/api, kubevirt.io/client-go,
# kubevirt.io/virt-template and their siblings). Everything else it imports comes from the proxy
# when install.sh builds it, at the versions of upstream's go.sum.
#
#   e2e/stack/virt-template/snapshot.sh <checkout of github.com/kubevirt/virt-template>
#
# Only the packages `go list -deps ./cmd/apiserver` names are kept, without tests, each module's
# LICENSE with them; the vendored kubevirt.io modules move to third_party/ with a go.mod and a
# replace directive each. The tarball is reproducible (sorted, no owners, no times).
set -euo pipefail

checkout=$(cd "$1" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

cd "$checkout"
# Upstream vendors its dependencies (a workspace vendor/), so this needs no network.
dirs=$(go list -deps -f '{{if not .Standard}}{{.Dir}}{{end}}' ./cmd/apiserver | sed -n "s#^$checkout/##p" |
  grep -v -E '^vendor/' ; go list -deps -f '{{if not .Standard}}{{.Dir}}{{end}}' ./cmd/apiserver |
  sed -n "s#^$checkout/##p" | grep -E '^vendor/kubevirt\.io/')
for dir in $dirs; do
  target=$dir
  [[ $dir == vendor/* ]] && target=third_party/${dir#vendor/}
  mkdir -p "$out/$target"
  find "$dir" -maxdepth 1 -type f -name '*.go' ! -name '*_test.go' -exec cp {} "$out/$target/" \;
done
cp go.mod go.sum LICENSE "$out/"
for module in api staging/src/kubevirt.io/virt-template-client-go staging/src/kubevirt.io/virt-template-engine; do
  cp "$module/go.mod" "$module/go.sum" "$out/$module/"
done
# The vendored kubevirt.io modules: path and version from vendor/modules.txt.
while read -r module version; do
  [[ -d "$out/third_party/$module" ]] || continue
  printf 'module %s\n\n// %s, as vendored by virt-template\ngo 1.24\n' "$module" "$version" >"$out/third_party/$module/go.mod"
  for license in "vendor/$module/LICENSE" "vendor/${module%/*}/LICENSE"; do
    [[ -f $license ]] && { cp "$license" "$out/third_party/$module/"; break; }
  done
  (cd "$out" && go mod edit -replace "$module=./third_party/$module")
done < <(sed -nE 's/^# (kubevirt\.io\/[^ ]+) (v[^ ]+)$/\1 \2/p' vendor/modules.txt)
printf '%s\n' "$(git -C "$checkout" rev-parse HEAD)" >"$out/UPSTREAM_COMMIT"
tar -C "$out" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - . | gzip -9n >"$here/src.tar.gz"
echo "wrote $here/src.tar.gz from $(cat "$out/UPSTREAM_COMMIT")"
