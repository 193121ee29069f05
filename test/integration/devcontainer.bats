#!/usr/bin/env bats
# A checkout with a .devcontainer/devcontainer.json and no Envfile: `up`
# runs it (README "devcontainer.json"), and `init --from-devcontainer`
# writes the Envfile it amounts to.

load helpers
bats_require_minimum_version 1.5.0

setup() {
	dv_setup
	dv_busybox_image
	mkdir .devcontainer
}
teardown() { dv_teardown; }

@test "devcontainer: image only, with comments and trailing commas" {
	cat >.devcontainer/devcontainer.json <<-'EOF'
	// Written by hand, as people do.
	{
	  /* the image devenv imported */
	  "image": "busybox", // trailing comment
	  "customizations": { "vscode": { "extensions": ["ms-python.python",], }, },
	}
	EOF
	echo "from the host" >hello.txt
	run "$DEVENV" up
	assert_success
	# customizations are an editor's, silently left (where /dev/net/tun is
	# not ours, a warning says the env has no outbound network)
	refute_output --partial "warning: .devcontainer"
	run "$DEVENV" ssh -c 'pwd; cat hello.txt; hostname'
	assert_success
	assert_output "/workspaces/proj
from the host
proj"
	run "$DEVENV" status --json
	assert_success
	[[ $(dv_json name <<<"$output") == proj ]]
	id=$(dv_json id <<<"$output")
	[[ $(dv_json envfile <"$DV_STORE/envs/$id/state.json") == .devcontainer/devcontainer.json ]]
	# from a subfolder, the same env
	mkdir -p src/deep && cd src/deep
	run "$DEVENV" ssh -c pwd
	assert_success
	assert_output "/workspaces/proj/src/deep"
	# and from anywhere by its name, the json read again
	cd /
	"$DEVENV" halt -e proj
	run "$DEVENV" up -e proj
	assert_success
	run "$DEVENV" ssh -e proj -c pwd
	assert_output "/workspaces/proj"
}

@test "devcontainer: containerEnv, remoteEnv, remoteUser, postCreateCommand, postStartCommand" {
	cat >.devcontainer/devcontainer.json <<-'EOF'
	{
	  "name": "Shop API",
	  "image": "busybox",
	  "forwardPorts": [18931],
	  "containerEnv": { "GREETING": "hello", "WHERE": "${containerWorkspaceFolder}" },
	  "remoteEnv": { "GREETING": "hi from remoteEnv" },
	  "remoteUser": "dev",
	  "postCreateCommand": "echo created > /created && id -un >> /created",
	  "postStartCommand": "echo started as $(id -un) in $PWD > /tmp/started"
	}
	EOF
	run "$DEVENV" up
	assert_success
	assert_line "[1/1] run: echo created > /created && id -un >> /created"
	run "$DEVENV" ssh -c 'echo "$GREETING|$WHERE"; id -un; cat /created /tmp/started'
	assert_success
	assert_output "hi from remoteEnv|/workspaces/proj
dev
created
root
started as dev in /workspaces/proj"
	run "$DEVENV" status --json
	[[ $(dv_json name <<<"$output") == shop-api ]]
	# the provisioning step is cached like an Envfile's
	"$DEVENV" halt
	run "$DEVENV" up
	assert_success
	assert_line "[1/1] run: echo created > /created && id -un >> /created (cached)"
}

@test "devcontainer: mounts in both forms, workspaceFolder, postCreateCommand object; unsupported keys in one warning line" {
	mkdir data
	cat >.devcontainer/devcontainer.json <<-'EOF'
	{
	  "image": "busybox",
	  "workspaceFolder": "/src",
	  "mounts": [
	    "source=dc-test-cache,target=/cache,type=volume",
	    { "source": "${localWorkspaceFolder}/data", "target": "/data", "type": "bind", "readonly": true },
	  ],
	  "postCreateCommand": { "first": "echo 1 > /order", "second": ["sh", "-c", "echo 2 >> /order"] },
	  "features": { "ghcr.io/devcontainers/features/node:1": {} },
	  "runArgs": ["--privileged"],
	  "postAttachCommand": "echo attached"
	}
	EOF
	run --separate-stderr "$DEVENV" up
	assert_success
	[[ $(grep -v 'warning: network: private: ' <<<"$stderr" | grep -c warning) == 1 ]]
	[[ $stderr == *"devenv: warning: .devcontainer/devcontainer.json: not supported, ignored: features, runArgs, postAttachCommand"* ]]
	run "$DEVENV" ssh -c 'pwd; cat /order'
	assert_success
	assert_output "/src
1
2"
}

@test "devcontainer: its mounts and volumes reach the env" {
	mkdir data && echo "host data" >data/file
	cat >.devcontainer/devcontainer.json <<-'EOF'
	{
	  "image": "busybox",
	  "mounts": [
	    "source=dc-test-cache,target=/cache,type=volume",
	    { "source": "${localWorkspaceFolder}/data", "target": "/data", "type": "bind", "readonly": true },
	  ],
	}
	EOF
	run "$DEVENV" up
	assert_success
	run "$DEVENV" ssh -c 'cat /data/file; touch /data/new; echo kept > /cache/x'
	assert_output --partial "host data"
	[[ ! -e data/new ]] # read-only
	# the named volume outlives the env
	"$DEVENV" destroy -f
	run "$DEVENV" up
	assert_success
	run "$DEVENV" ssh -c 'cat /cache/x'
	assert_output "kept"
}

@test "devcontainer: a syntax error is one line with its line and column" {
	cat >.devcontainer/devcontainer.json <<-'EOF'
	{
	  // a comment before the mistake
	  "image": "busybox"
	  "remoteUser": "dev"
	}
	EOF
	run "$DEVENV" up
	assert_failure 2
	assert_output "devenv: .devcontainer/devcontainer.json:4:3: invalid JSON: object value separator ',' expected"
	[[ ! -d $DV_STORE/envs || -z $(ls "$DV_STORE/envs") ]]
	# init writes nothing from a file it cannot read
	run "$DEVENV" init --from-devcontainer
	assert_failure 2
	assert_output "devenv: .devcontainer/devcontainer.json:4:3: invalid JSON: object value separator ',' expected"
	[[ -z $(ls -A | grep -v '^\.git$\|^\.devcontainer$') ]]
}

@test "devcontainer: build.dockerfile without an image is one clear line" {
	cat >.devcontainer/devcontainer.json <<-'EOF'
	{
	  "name": "app",
	  "build": { "dockerfile": "Dockerfile", "context": ".." }
	}
	EOF
	run "$DEVENV" up
	assert_failure 2
	assert_output "devenv: .devcontainer/devcontainer.json:3:3: 'build.dockerfile' is not supported yet; give an 'image' or write an Envfile (devenv init)"
}

@test "devcontainer: an Envfile wins over it" {
	printf '{ "image": "no-such-image" }\n' >.devcontainer/devcontainer.json
	printf 'image: busybox\n' >Envfile
	run "$DEVENV" up
	assert_success
	run "$DEVENV" ssh -c pwd
	assert_output "/workspace"
}

@test "devcontainer: .devcontainer.json at the root is read too" {
	rmdir .devcontainer
	printf '{ "image": "busybox", "workspaceFolder": "/w", }\n' >.devcontainer.json
	run "$DEVENV" up
	assert_success
	run "$DEVENV" ssh -c pwd
	assert_output "/w"
}

@test "devcontainer: init --from-devcontainer writes an Envfile that up accepts, and never overwrites one" {
	cat >.devcontainer/devcontainer.json <<-'EOF'
	{
	  "name": "web",
	  "image": "busybox",
	  "containerEnv": { "EMPTY": "", "YES": "yes", "QUOTE": "it's" },
	  "postCreateCommand": ["sh", "-c", "echo made > /made"],
	  "features": {},
	}
	EOF
	mkdir sub && cd sub # the Envfile goes beside .devcontainer/
	run "$DEVENV" init --from-devcontainer
	assert_success
	assert_output "wrote $DV_CHECKOUT/Envfile from $DV_CHECKOUT/.devcontainer/devcontainer.json; check it, then 'devenv up'"
	cd ..
	run cat Envfile
	assert_line "# Written by 'devenv init --from-devcontainer' from .devcontainer/devcontainer.json."
	assert_line "# Not carried over (devenv does not support them): features."
	run --separate-stderr "$DEVENV" up
	assert_success
	# the Envfile is read now: no devcontainer warning (nor any but the one
	# where /dev/net/tun is not ours)
	[[ -z $(grep -v 'warning: network: private: ' <<<"$stderr") ]]
	run "$DEVENV" ssh -c 'echo "[$EMPTY][$YES][$QUOTE]"; cat /made; pwd'
	assert_success
	assert_output "[][yes][it's]
made
/workspaces/proj"
	before=$(sha256sum Envfile)
	run "$DEVENV" init --from-devcontainer
	assert_failure
	assert_output "devenv: an Envfile is already here ('Envfile'); edit it, or remove it first"
	[[ $(sha256sum Envfile) == "$before" ]]
}

@test "devcontainer: init --from-devcontainer without one is one line" {
	rmdir .devcontainer
	run "$DEVENV" init --from-devcontainer
	assert_failure
	assert_output "devenv: no .devcontainer/devcontainer.json or .devcontainer.json here or in its parents up to the repository root"
	[[ ! -e Envfile ]]
}

@test "devcontainer: a bad mount or port is one line at its place in the json" {
	cat >.devcontainer/devcontainer.json <<-'EOF'
	{
	  "image": "busybox",
	  "mounts": [
	    "type=bind,source=${localWorkspaceFolder}/missing,target=/m"
	  ]
	}
	EOF
	run "$DEVENV" up
	assert_failure 2
	assert_output "devenv: .devcontainer/devcontainer.json:4:5: 'mounts': './missing' does not exist; create it, or fix the path (relative to the Envfile's folder)"
	printf '{\n  "image": "busybox",\n  "forwardPorts": [3000, 0]\n}\n' >.devcontainer/devcontainer.json
	run "$DEVENV" up
	assert_failure 2
	assert_output --regexp '^devenv: \.devcontainer/devcontainer\.json:3:26: .*port'
	[[ ! -d $DV_STORE/envs || -z $(ls "$DV_STORE/envs") ]]
}

@test "devcontainer: a key given twice is one line at the second, for up and init, never a crash" {
	# json-c keeps the last "a", the walk for positions met the first: it
	# asked json-c for an item of an object (SIGABRT)
	printf '{"image":"busybox","a":[1],"a":{}}' >.devcontainer/devcontainer.json
	run "$DEVENV" up
	assert_failure 2
	assert_output "devenv: .devcontainer/devcontainer.json:1:28: duplicate key 'a' (first at line 1, column 20); remove one of them"
	run "$DEVENV" init --from-devcontainer
	assert_failure 2
	assert_output "devenv: .devcontainer/devcontainer.json:1:28: duplicate key 'a' (first at line 1, column 20); remove one of them"
	[[ ! -e Envfile ]]
	printf '{\n  "image": "busybox",\n  "containerEnv": { "A": "1", "\\u0041": "2" }\n}\n' >.devcontainer/devcontainer.json
	run "$DEVENV" up
	assert_failure 2
	assert_output "devenv: .devcontainer/devcontainer.json:3:31: duplicate key 'A' (first at line 3, column 21); remove one of them"
	[[ ! -d $DV_STORE/envs || -z $(ls "$DV_STORE/envs") ]]
}

@test "devcontainer: bytes that are not UTF-8 (overlong, surrogate) are one line at their place; init writes nothing" {
	printf '{"image":"busybox",\n"k\xc0\xaf":1}' >.devcontainer/devcontainer.json
	run "$DEVENV" init --from-devcontainer
	assert_failure 2
	assert_output "devenv: .devcontainer/devcontainer.json:2:3: invalid JSON: a byte that is not UTF-8 (or an overlong or surrogate form); the file must be UTF-8 text"
	[[ ! -e Envfile ]]
	printf '{"image":"busybox",\n"containerEnv":{"A":"\xed\xa0\x80"}}' >.devcontainer/devcontainer.json
	run "$DEVENV" init --from-devcontainer
	assert_failure 2
	assert_output "devenv: .devcontainer/devcontainer.json:2:22: invalid JSON: a byte that is not UTF-8 (or an overlong or surrogate form); the file must be UTF-8 text"
	[[ ! -e Envfile ]]
	run "$DEVENV" up
	assert_failure 2
	assert_output --partial "devcontainer.json:2:22: invalid JSON: a byte that is not UTF-8"
}

# The values of the json below, as bytes: what the env must see.
dv_hostile_json() {
	local image=$1
	cat >.devcontainer/devcontainer.json <<-EOF
	{
	  "image": "$image",
	  "x\nprovision:\n  - run: echo INJECTED > /pwned\n#": 1,
	  "k\r\u0085\u2028\u2029\u0001\u001b[31m": 2,
	  "securityOpt": ["label=x\nimage: evil"],
	  "containerEnv": { "A": "l1\nl2", "B": "x\ry", "C": "\u0085", "D": "\u2028\u2029",
	                    "E": "\u0001\u001b[31m\u007f\u009b", "F": "# c: d\n- run: e" },
	  "postCreateCommand": "printf 'a\u2028b\u0085c' > /made"
	}
	EOF
}
dv_hostile_want=$(printf 'l1\nl2|x\ry|\xc2\x85|\xe2\x80\xa8\xe2\x80\xa9|\x01\x1b[31m\x7f\xc2\x9b|# c: d\n- run: e|a\xe2\x80\xa8b\xc2\x85c' | od -An -tx1 | tr -d ' \n')
dv_hostile_check() {
	run "$DEVENV" ssh -c 'printf %s "$A|$B|$C|$D|$E|$F|$(cat /made)" | od -An -tx1 | tr -d " \n"; test ! -e /pwned && echo " no-pwned"'
	assert_success
	assert_output "$dv_hostile_want no-pwned"
}

@test "devcontainer: line breaks and control characters in key names and values: init writes them escaped, the Envfile loads, the env gets the same bytes" {
	dv_hostile_json busybox
	# up on the json itself
	run "$DEVENV" up
	assert_success
	dv_hostile_check
	"$DEVENV" destroy -f
	run "$DEVENV" init --from-devcontainer
	assert_success
	assert_output "wrote Envfile from .devcontainer/devcontainer.json; check it, then 'devenv up'"
	# the names are escaped on one comment line: no step, no key of their own
	run grep -c '^# Not carried over (devenv does not support them): ' Envfile
	assert_output 1
	run grep -F 'x\nprovision:\n  - run: echo INJECTED > /pwned\n#' Envfile
	assert_success
	run grep -F 'k\r\u0085\u2028\u2029\x01\x1b[31m' Envfile
	assert_success
	run grep -c -E '^(provision|image):' Envfile
	assert_output 2
	# no raw control character or YAML line break anywhere in it
	run env LC_ALL=C grep -c -P '[\x00-\x08\x0b-\x1f\x7f]|\xc2[\x80-\x9f]|\xe2\x80[\xa8\xa9]' Envfile
	assert_output 0
	run "$DEVENV" up
	assert_success
	dv_hostile_check
}

@test "devcontainer: the same on debian:bookworm, from the json and from init's Envfile" {
	dv_debian_image
	dv_hostile_json debian:bookworm
	run "$DEVENV" up
	assert_success
	dv_hostile_check
	run "$DEVENV" ssh -c 'cat /etc/debian_version'
	assert_output --regexp '^12\.'
	"$DEVENV" destroy -f
	run "$DEVENV" init --from-devcontainer
	assert_success
	run "$DEVENV" up
	assert_success
	dv_hostile_check
}
