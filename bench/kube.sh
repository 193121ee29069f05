#!/usr/bin/env bash
# bench/kube.sh - `devenv kube generate` (issue 17, item 5): the Pod of
# test/fixtures/kube/pod.Envfile (three containers, two claims, a host
# mount, on_up), its image named by digest (--image REF@sha256:..., so no
# registry is asked), written to a file; beside it `devenv version`, the
# cost of starting devenv at all, and `devenv status` of the same checkout
# (locating the env, loading its Envfile). Prints the medians; hyperfine's
# JSON goes to $BENCH_RESULTS (default bench/results/). bench/run calls it;
# it also runs alone (root or not, `make` done, hyperfine installed).
#
# Environment: BENCH_RUNS_FAST (default 200).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEVENV=${DEVENV:-$root/devenv}
RESULTS=${BENCH_RESULTS:-$root/bench/results}
RUNS=${BENCH_RUNS_FAST:-200}
[[ -x $DEVENV ]] || { echo "bench/kube.sh: run make first" >&2; exit 1; }
command -v hyperfine >/dev/null || { echo "bench/kube.sh: hyperfine is missing (scripts/install-deps --bench)" >&2; exit 1; }

work=$(mktemp -d /var/tmp/devenv-bench-kube.XXXXXX)
trap 'rm -rf --one-file-system "$work"' EXIT
mkdir -p "$RESULTS" "$work/co"
export DEVENV_HOME=$work/store DEVENV_ALLOW=1 XDG_CONFIG_HOME=$work/config
git -C "$work/co" init -q
cp "$root/test/fixtures/kube/pod.Envfile" "$work/co/Envfile"
cp -r "$root/test/fixtures/kube/files" "$work/co/files"
ref=localhost:5000/bench/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
cd "$work/co"
"$DEVENV" kube generate --image "$ref" -o "$work/pod.yaml" 2>/dev/null
grep -q '^kind: Pod$' "$work/pod.yaml" || { echo "bench/kube.sh: no Pod written" >&2; exit 1; }

hf() {
	local name=$1
	shift
	hyperfine -N --style basic --warmup 5 --runs "$RUNS" --export-json "$RESULTS/$name.json" "$@" >&2
}
hf kube_generate "$DEVENV kube generate -q --image $ref -o $work/pod.yaml"
hf kube_version "$DEVENV version"
hf kube_status "$DEVENV status"

printf '\n%-16s %10s\n' benchmark "median ms"
for f in kube_generate kube_version kube_status; do
	printf '%-16s %10s\n' "$f" \
		"$(python3 -c 'import json,sys; print("%.2f" % (json.load(open(sys.argv[1]))["results"][0]["median"] * 1000))' "$RESULTS/$f.json")"
done
