#!/usr/bin/env bash
# bench/remote.sh - the remote path (issue 17, item 5), against the test
# fixture's sshd on 127.0.0.1 (helpers.bash dv_sshd_start: as root the
# second account devenv-remote, its own HOME and store; the client's
# ssh_config with its key, DEVENV_SSH="ssh -F ..."):
#   remote_up        `devenv up --host URL` of a running env there whose
#                    checkout has not changed (a cached env: the probe, the
#                    sync finding nothing to send, the no-op up there)
#   remote_up_halted the same env halted before each run (prepare, untimed)
#   remote_ssh       `devenv ssh -c true` into that env (from its checkout)
#   remote_plain     `ssh -F CONFIG HOST true`, plain ssh to the same host
#   remote_local_ssh `devenv ssh -c true` into a busybox env of this machine
# Target: remote_ssh <= 1.2 x remote_plain + remote_local_ssh. Each ssh
# opens its own connection (no ControlMaster kept between runs: the
# fixture's config has none), as a user's first command would. Prints the
# medians; hyperfine's JSON goes to $BENCH_RESULTS (default bench/results/).
# bench/run calls it; it also runs alone (root, `make` done,
# `scripts/install-deps --bench`).
#
# Environment: BENCH_RUNS_FAST (default 200), BENCH_RUNS_SLOW (20).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEVENV=${DEVENV:-$root/devenv}
RESULTS=${BENCH_RESULTS:-$root/bench/results}
RUNS=${BENCH_RUNS_FAST:-200}
RUNS_SLOW=${BENCH_RUNS_SLOW:-20}
((EUID == 0)) || { echo "bench/remote.sh: needs root (the second account)" >&2; exit 1; }
[[ -x $DEVENV ]] || { echo "bench/remote.sh: run make first" >&2; exit 1; }
for t in hyperfine /usr/sbin/sshd; do
	command -v "$t" >/dev/null || { echo "bench/remote.sh: $t is missing (scripts/install-deps --bench)" >&2; exit 1; }
done

work=$(mktemp -d /var/tmp/devenv-bench-remote.XXXXXX)
mkdir -p "$RESULTS"
# shellcheck source=../test/integration/helpers.bash
source "$root/test/integration/helpers.bash"
export DEVENV_HOME=$work/store DEVENV_ALLOW=1 XDG_CONFIG_HOME=$work/config
cleanup() {
	set +e
	(cd "$work/co" && "$DEVENV" destroy -f >/dev/null 2>&1)
	(cd "$work/local" && "$DEVENV" destroy -f >/dev/null 2>&1)
	dv_sshd_stop
	rm -rf --one-file-system "$work"
}
trap cleanup EXIT

dv_sshd_start "$work/sshd"
dv_remote_busybox
dv_busybox_image
for d in co local; do
	mkdir -p "$work/$d"
	git -C "$work/$d" init -q
	printf 'image: busybox\n' >"$work/$d/Envfile"
	echo hello >"$work/$d/hello.txt"
	git -C "$work/$d" add Envfile hello.txt
done
(cd "$work/co" && "$DEVENV" -q up --host "$DV_REMOTE_URL" >&2)
(cd "$work/co" && "$DEVENV" ssh -c 'cat /workspace/hello.txt' | grep -qx hello) ||
	{ echo "bench/remote.sh: the remote env does not answer" >&2; exit 1; }
(cd "$work/local" && "$DEVENV" -q up >&2)

hf() {
	local name=$1
	shift
	hyperfine -N --style basic --warmup 3 --export-json "$RESULTS/$name.json" "$@" >&2
}
cd "$work/co"
hf remote_up --runs "$RUNS_SLOW" "$DEVENV -q up --host $DV_REMOTE_URL"
hf remote_up_halted --runs "$RUNS_SLOW" --prepare "$DEVENV -q halt" "$DEVENV -q up --host $DV_REMOTE_URL"
hf remote_ssh --runs "$RUNS" "$DEVENV ssh -c true"
hf remote_plain --runs "$RUNS" "ssh -F $DV_SSH_CONFIG devenv-remote true"
cd "$work/local"
hf remote_local_ssh --runs "$RUNS" "$DEVENV ssh -c true"

printf '\n%-18s %10s\n' benchmark "median ms"
for f in remote_up remote_up_halted remote_ssh remote_plain remote_local_ssh; do
	printf '%-18s %10s\n' "$f" \
		"$(python3 -c 'import json,sys; print("%.2f" % (json.load(open(sys.argv[1]))["results"][0]["median"] * 1000))' "$RESULTS/$f.json")"
done
python3 - "$RESULTS" <<'EOF'
import json, os, sys
m = lambda n: json.load(open(os.path.join(sys.argv[1], n + ".json")))["results"][0]["median"] * 1000
limit = 1.2 * m("remote_plain") + m("remote_local_ssh")
print("target: remote ssh -c true %.2f ms <= 1.2 x plain ssh + local ssh -c true = %.2f ms: %s"
      % (m("remote_ssh"), limit, "pass" if m("remote_ssh") <= limit else "FAIL"))
EOF
