#!/usr/bin/env bats
# devenv kube generate (README "A Pod for Kubernetes"): the Pod's YAML
# against golden files (test/fixtures/kube/; DV_UPDATE_GOLDEN=1 writes them
# anew), its image pinned from the last push or --image, a local-only
# service image refused or pushed (--push), --clone, warnings, trust.
# kubeplay.bats feeds the YAML to podman.

load helpers
bats_require_minimum_version 1.5.0

DIGEST=sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
FIX=$DV_ROOT/test/fixtures

setup_file() {
	dv_registry_start "$BATS_FILE_TMPDIR/registry"
}

teardown_file() { dv_registry_stop; }

setup() {
	dv_setup
}
teardown() { dv_teardown; }

# The YAML parsed: kinds in order, then the fields asked for, one a line.
yq_() {
	python3 -c '
import sys, yaml
docs = [d for d in yaml.safe_load_all(sys.stdin) if d]
for expr in sys.argv[1:]:
    print(eval(expr, {"docs": docs, "pod": docs[-1], "c": docs[-1]["spec"]["containers"]}))
' "$@"
}

# golden NAME FILE: generate for the Envfile FILE in the checkout "proj",
# paths and the env id made placeholders, compared with (or, with
# DV_UPDATE_GOLDEN=1, written to) test/fixtures/kube/NAME.yaml and
# NAME.warnings.
golden() {
	local name=$1 src=$2 id out err
	cp "$src" Envfile
	rm -rf files
	cp -r "$(dirname "$src")/files" files
	"$DEVENV" kube generate --image "localhost:5000/team/app@$DIGEST" \
		>"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" || {
		cat "$BATS_TEST_TMPDIR/err"
		return 1
	}
	id=$(sed -n 's/^    dev.devenv.env-id: "\(.*\)"$/\1/p' "$BATS_TEST_TMPDIR/out")
	out=$(sed -e "s|$DV_CHECKOUT|@CHECKOUT@|g" -e "s|$id|@ID@|g" "$BATS_TEST_TMPDIR/out")
	err=$(sed -e "s|$DV_CHECKOUT|@CHECKOUT@|g" -e "s|$id|@ID@|g" "$BATS_TEST_TMPDIR/err")
	if [[ -n ${DV_UPDATE_GOLDEN:-} ]]; then
		printf '%s\n' "$out" >"$FIX/kube/$name.yaml"
		printf '%s\n' "$err" >"$FIX/kube/$name.warnings"
	fi
	diff -u "$FIX/kube/$name.yaml" <(printf '%s\n' "$out") || return 1
	diff -u "$FIX/kube/$name.warnings" <(printf '%s\n' "$err") || return 1
	# Byte for byte the same the second time.
	"$DEVENV" kube generate --image "localhost:5000/team/app@$DIGEST" 2>/dev/null |
		cmp - "$BATS_TEST_TMPDIR/out"
}

@test "kube generate: golden files for every Envfile fixture, each valid YAML, each run the same bytes" {
	local f n=0
	for f in "$FIX"/envfile/good/*.yaml "$FIX"/kube/*.Envfile; do
		case $f in */null-lists.yaml) continue ;; esac
		golden "$(basename "${f%.*}")" "$f" || {
			echo "fixture: $f" >&2
			return 1
		}
		yq_ '[d["kind"] for d in docs][-1]' <"$BATS_TEST_TMPDIR/out" | grep -qx Pod
		n=$((n + 1))
	done
	((n >= 20))
}

@test "kube generate: the fields a Pod maps (image, idle command, env, ports, caps, user, volumes, probes)" {
	cp "$FIX/kube/pod.Envfile" Envfile
	cp -r "$FIX/kube/files" files
	run "$DEVENV" kube generate --image "localhost:5000/team/app@$DIGEST" -o pod.yaml
	assert_success
	assert_output --partial "wrote pod.yaml"
	run yq_ '[d["kind"] for d in docs]' 'pod["metadata"]["name"]' 'c[0]["image"]' \
		'c[0]["securityContext"]["capabilities"]' 'c[0]["securityContext"]["runAsUser"]' \
		'c[0]["ports"][1]' 'repr(c[0]["env"][1]["value"])' '[x["name"] for x in c]' \
		'c[1]["readinessProbe"]["exec"]["command"]' 'c[0]["resources"]["limits"]' \
		'pod["spec"]["volumes"][0]["hostPath"]["path"]' <pod.yaml
	assert_success
	assert_line --index 0 "['PersistentVolumeClaim', 'PersistentVolumeClaim', 'Pod']"
	assert_line --index 1 "web-shop-43a2dc1d"
	assert_line --index 2 "localhost:5000/team/app@$DIGEST"
	assert_line --index 3 "{'drop': ['ALL'], 'add': ['DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL', 'SETGID', 'SETUID', 'SETPCAP', 'NET_BIND_SERVICE', 'NET_ADMIN', 'SYS_CHROOT', 'SETFCAP']}"
	assert_line --index 4 "1000"
	assert_line --index 5 "{'containerPort': 5432, 'hostPort': 5433, 'hostIP': '127.0.0.1', 'protocol': 'TCP'}"
	assert_line --index 6 "'line one\\nline two'"
	assert_line --index 7 "['web-shop-43a2dc1d', 'db', 'web-api-8908a2df']"
	assert_line --index 8 "['redis-cli', '-p', '6380', 'ping']"
	assert_line --index 9 "{'cpu': '1500m', 'memory': '536870912'}"
	assert_line --index 10 "$DV_CHECKOUT"
}

@test "kube generate: one warning per key a Pod cannot express, each with its position" {
	cp "$FIX/kube/pod.Envfile" Envfile
	cp -r "$FIX/kube/files" files
	run --separate-stderr "$DEVENV" kube generate --image "localhost:5000/team/app@$DIGEST"
	assert_success
	[[ $stderr == *"devenv: warning: Envfile: 'resources.pids' has no Pod field: left out"* ]]
	[[ $stderr == *"devenv: warning: Envfile: 'logs' is the engine's to cap in a Pod: left out"* ]]
	[[ $stderr == *"devenv: warning: Envfile:12:5: an 'auto' port's host port"* ]]
	[[ $stderr == *"devenv: warning: Envfile:46:7: service 'web.api': 'depends_on' has no Pod field"* ]]
	(($(grep -c 'devenv: warning:' <<<"$stderr") == 4))
}

@test "kube generate: hostile values stay values (YAML and the kubectl exec lines)" {
	cp "$FIX/kube/hostile.Envfile" Envfile
	run "$DEVENV" kube generate --image "localhost:5000/team/app@$DIGEST"
	assert_success
	run yq_ 'sorted(pod)' 'pod["spec"].get("hostNetwork")' 'repr(c[0]["env"][0]["value"])' \
		'[e["value"] for e in c[0]["env"][1:5]]' <<<"$output"
	assert_success
	assert_line --index 0 "['apiVersion', 'kind', 'metadata', 'spec']"
	assert_line --index 1 "None"
	assert_line --index 2 "'x\"\\n  hostNetwork: true\\n#'"
	assert_line --index 3 "['a: b', 'yes', '0x10', 'a\\tb']"
	run "$DEVENV" kube generate --image "localhost:5000/team/app@$DIGEST"
	# The on_up command is one comment line, in bash's $'...' quoting.
	assert_line "#   kubectl exec evil -c evil -- /bin/sh -c \$'echo \\'\$(id)\\'\\x0aecho done; exit 0'"
	mapfile -t cmds < <(sed -n 's/^#   kubectl exec evil -c evil -- \/bin\/sh -c //p' <<<"$output")
	((${#cmds[@]} == 2))
	run bash -c "printf '%s' ${cmds[0]}"
	assert_output "echo '\$(id)'"$'\n'"echo done; exit 0"
	# Line and paragraph separators, NEL and C1 controls: escaped, so
	# that no YAML reader sees a line break in the comment.
	assert_equal "${cmds[1]}" "\$'echo \\xe2\\x80\\xa8kind: Secret\\xc2\\x85x: 1 \\xe2\\x80\\xa9y: 2 \\xc2\\x9b'"
	[[ $(bash -c "printf '%s' ${cmds[1]}") == "echo "$'\u2028'"kind: Secret"$'\u0085'"x: 1 "$'\u2029'"y: 2 "$'\u009b' ]]
}

@test "kube generate: the last push pinned by digest; never pushed is one clear error" {
	dv_busybox_image
	dv_envfile <<-'EOF'
	image: busybox
	provision:
	  - run: echo hi > /hi
	EOF
	run "$DEVENV" kube generate
	assert_failure
	assert_output "devenv: env 'proj' has no pushed image to name: push it first ('devenv push REGISTRY/NAME[:TAG]'), or give --image REF"
	run "$DEVENV" up
	assert_success
	run "$DEVENV" push "$DV_REGISTRY/team/proj:dev"
	assert_success
	digest=$(sed -n 's/^pushed env .* as .*@\(sha256:[0-9a-f]*\)$/\1/p' <<<"$output")
	[[ -n $digest ]]
	run "$DEVENV" kube generate
	assert_success
	assert_line "    image: \"$DV_REGISTRY/team/proj@$digest\""
	# -e from anywhere.
	(cd / && "$DEVENV" kube generate -e proj 2>/dev/null) | grep -qxF "    image: \"$DV_REGISTRY/team/proj@$digest\""
	# A damaged record: one line saying what to do.
	id=$("$DEVENV" status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
	cp "$DV_STORE/envs/$id/pushed" "$BATS_TEST_TMPDIR/pushed"
	printf 'garbage\n' >"$DV_STORE/envs/$id/pushed"
	run "$DEVENV" kube generate
	assert_failure
	assert_output "devenv: '$DV_STORE/envs/$id/pushed' is damaged: push the env again"
	cp "$BATS_TEST_TMPDIR/pushed" "$DV_STORE/envs/$id/pushed"
	# --image with a tag: asked of the registry, pinned the same.
	run "$DEVENV" kube generate --image "$DV_REGISTRY/team/proj:dev"
	assert_success
	assert_line "    image: \"$DV_REGISTRY/team/proj@$digest\""
	run "$DEVENV" kube generate --image "$DV_REGISTRY/team/none:dev"
	assert_failure
	assert_output --partial "--image '$DV_REGISTRY/team/none:dev'"
	run "$DEVENV" kube generate --image -oProxyCommand=x
	assert_failure 2
	assert_output --partial "cannot start with '-'"
	run "$DEVENV" kube generate --image "localhost:5000/x@sha256:abc"
	assert_failure 2
}

@test "kube generate: a service image only this store has is refused, or pushed next to the env's with --push" {
	dv_busybox_image
	dv_busybox_image localhost/tool
	dv_envfile <<-'EOF'
	image: busybox
	services:
	  tool:
	    image: localhost/tool
	    command: ["sleep", "1000"]
	EOF
	run "$DEVENV" kube generate --image "$DV_REGISTRY/team/app@$DIGEST"
	assert_failure
	assert_output "devenv: Envfile:4:12: service 'tool': image 'localhost/tool' is only in this store, and a Pod can only name images a registry serves: add --push (it goes next to the env's image), or push it and name that"
	run --separate-stderr "$DEVENV" kube generate --push --image "$DV_REGISTRY/team/app@$DIGEST"
	assert_success
	[[ $stderr == *"pushed service 'tool' (localhost/tool) as $DV_REGISTRY/team/app:service-tool@sha256:"* ]]
	run yq_ 'c[1]["image"]' <<<"$output"
	digest=$(curl -sfI -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
		"http://$DV_REGISTRY/v2/team/app/manifests/service-tool" |
		sed -n 's/^[Dd]ocker-[Cc]ontent-[Dd]igest: \(sha256:[0-9a-f]*\).*/\1/p')
	[[ -n $digest ]]
	assert_output "$DV_REGISTRY/team/app@$digest"
}

@test "kube generate: requests not approved for this checkout are refused as up refuses them" {
	unset DEVENV_ALLOW
	dv_envfile <<-'EOF'
	image: busybox
	network: host
	EOF
	run "$DEVENV" kube generate --image "localhost:5000/team/app@$DIGEST" </dev/null
	assert_failure 2
	assert_output --partial "devenv allow"
	refute_output --partial "apiVersion"
	DEVENV_ALLOW=1 run "$DEVENV" kube generate --image "localhost:5000/team/app@$DIGEST"
	assert_success
	assert_line "  hostNetwork: true"
}

@test "kube generate --clone: an init container clones origin at the current commit into an emptyDir" {
	dv_envfile <<-'EOF'
	image: busybox
	EOF
	git add Envfile && git commit -qm one
	run "$DEVENV" kube generate --clone --image "localhost:5000/team/app@$DIGEST"
	assert_failure
	assert_output --partial "has no remote 'origin'"
	git remote add origin https://git.example.org/team/proj.git
	commit=$(git rev-parse HEAD)
	run --separate-stderr "$DEVENV" kube generate --clone --image "localhost:5000/team/app@$DIGEST"
	assert_success
	run yq_ 'pod["spec"]["initContainers"][0]["command"][4:]' 'pod["spec"]["volumes"][0]' <<<"$output"
	assert_line --index 0 "['https://git.example.org/team/proj.git', '$commit', '/workspace']"
	assert_line --index 1 "{'name': 'proj-checkout', 'emptyDir': {}}"
	# A token in the remote's URL stays on this machine.
	git remote set-url origin https://me:s3cret@git.example.org/team/proj.git
	run --separate-stderr "$DEVENV" kube generate --clone --image "localhost:5000/team/app@$DIGEST"
	assert_success
	[[ $output != *s3cret* && $stderr != *s3cret* ]]
	[[ $stderr == *"--clone: the remote 'origin' has a password in its URL: left out (the cluster clones with its own credentials)"* ]]
	run yq_ 'pod["spec"]["initContainers"][0]["command"][4]' <<<"$output"
	assert_output "https://me@git.example.org/team/proj.git"
}

@test "kube generate: on a Debian env (user, apt-installed tools) after its push" {
	dv_debian_image
	dv_envfile <<-'EOF'
	image: debian:bookworm
	user: dev
	shell: /bin/bash
	ports:
	  - "8000:8000"
	EOF
	run "$DEVENV" up
	assert_success
	run "$DEVENV" push "$DV_REGISTRY/team/deb:1"
	assert_success
	run --separate-stderr "$DEVENV" kube generate -o "$BATS_TEST_TMPDIR/pod.yaml"
	assert_success
	run yq_ 'c[0]["image"].split("@")[0]' 'c[0]["command"][0]' 'c[0]["securityContext"]["runAsUser"]' <"$BATS_TEST_TMPDIR/pod.yaml"
	assert_line --index 0 "$DV_REGISTRY/team/deb"
	assert_line --index 1 "/bin/bash"
	assert_line --index 2 "1000"
}

@test "kube generate -o: written whole, never a partial file; a FIFO or device named stays what it is" {
	cp "$FIX/kube/pod.Envfile" Envfile
	cp -r "$FIX/kube/files" files
	run "$DEVENV" kube generate --image "localhost:5000/team/app@$DIGEST" -o out.yaml
	assert_success
	"$DEVENV" kube generate --image "localhost:5000/team/app@$DIGEST" 2>/dev/null >stdout.yaml
	cmp out.yaml stdout.yaml
	[[ -z $(find . -maxdepth 1 -name 'out.yaml.tmp*') ]]
	mkfifo fifo
	timeout 10 cat fifo >fifo.out &
	run "$DEVENV" kube generate --image "localhost:5000/team/app@$DIGEST" -o fifo
	assert_success
	wait
	[[ -p fifo ]]
	cmp out.yaml fifo.out
	run "$DEVENV" kube generate --image "localhost:5000/team/app@$DIGEST" -o /nonexistent/x.yaml
	assert_failure
	assert_output --partial "cannot write '/nonexistent/x.yaml'"
}
