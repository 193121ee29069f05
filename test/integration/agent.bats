#!/usr/bin/env bats
# ssh_agent: the env's SSH_AUTH_SOCK is devenv's filter of the developer's
# agent (hostnet/agent.c). A host agent holds two keys; the env sees and
# signs with the listed one only, everything else is refused, and the env's
# log names each request. Clients: test/fixtures/agentc (static, from the
# checkout, so any image runs it).

load helpers
bats_require_minimum_version 1.5.0

setup() {
	dv_setup
	[[ -x $DV_ROOT/test/fixtures/agentc ]] || {
		echo "test/fixtures/agentc is missing: run make" >&2
		return 1
	}
	cp "$DV_ROOT/test/fixtures/agentc" .
	# The private halves stay out of the checkout: the env has the public
	# ones only, as it would have from a server's authorized_keys.
	local keys=$BATS_TEST_TMPDIR/keys
	mkdir "$keys"
	dv_ssh_keygen "$keys/listed" listed-key
	dv_ssh_keygen "$keys/other" other-key
	cp "$keys/listed.pub" "$keys/other.pub" .
	dv_ssh_agent_start "$keys/listed" "$keys/other"
	LISTED_FP=$(ssh-keygen -lf listed.pub | cut -d' ' -f2)
	OTHER_FP=$(ssh-keygen -lf other.pub | cut -d' ' -f2)
}
teardown() { dv_teardown; }

# env_log: the env's log (on_up output and the agent's lines).
env_log() {
	cat "$DV_STORE"/envs/*/log
}

# no_filter_left: no filter of this store's envs runs (each ends with its
# session or its up).
no_filter_left() {
	[[ -z $(dv_pgrep_store -x devenv-agent) ]]
}

@test "ssh_agent [key]: the env lists and signs with the listed key only; the other key, lock and add are refused; the log names each" {
	dv_busybox_image
	dv_envfile <<-'EOF'
	image: busybox
	ssh_agent: [listed-key]
	EOF
	"$DEVENV" up -q
	run "$DEVENV" ssh -c './agentc list'
	assert_success
	assert_output "1
listed-key"
	run "$DEVENV" ssh -c './agentc sign listed.pub'
	assert_success
	assert_output signed
	# The env knows the other key's public half; the filter still refuses.
	run "$DEVENV" ssh -c './agentc sign other.pub'
	assert_failure
	assert_output refused
	run "$DEVENV" ssh -c './agentc lock'
	assert_failure
	assert_output refused
	run ssh-add -l # the host's agent was not locked
	assert_success
	run env_log
	assert_line --partial "ssh_agent: ssh: sign with $LISTED_FP (listed-key): allowed"
	assert_line --partial "ssh_agent: ssh: sign with $OTHER_FP (other-key): refused (not in ssh_agent)"
	assert_line --partial "ssh_agent: ssh: refused message 22 (lock)"
	# A fingerprint names a key as well as its comment does.
	dv_envfile <<-EOF
	image: busybox
	ssh_agent: ["$OTHER_FP"]
	EOF
	"$DEVENV" reload -q
	run "$DEVENV" ssh -c './agentc list'
	assert_output "1
other-key"
	# Each session's filter and socket go with it: a session sees its own.
	no_filter_left
	run "$DEVENV" ssh -c 'ls /dev/shm | wc -l'
	assert_output 1
}

@test "ssh_agent: true gives every key; confirm with no terminal refuses each signature and says why in the log" {
	dv_busybox_image
	dv_envfile <<-'EOF'
	image: busybox
	ssh_agent: true
	EOF
	"$DEVENV" up -q
	run "$DEVENV" ssh -c './agentc list && ./agentc sign other.pub'
	assert_success
	assert_output "2
listed-key
other-key
signed"
	dv_envfile <<-'EOF'
	image: busybox
	ssh_agent: confirm
	EOF
	"$DEVENV" reload -q
	# bats has no terminal: setsid leaves no /dev/tty to ask on
	run setsid -w "$DEVENV" ssh -c './agentc list && ./agentc sign listed.pub' </dev/null
	assert_failure
	assert_output "2
listed-key
other-key
refused"
	run env_log
	assert_line --partial "ssh_agent: ssh: sign with $LISTED_FP (listed-key): refused (no terminal to ask)"
}

@test "ssh_agent: confirm in a terminal session asks there: y signs, n refuses, and the session's shell gets neither answer" {
	command -v script >/dev/null || skip "needs script(1) (util-linux) for a terminal"
	dv_busybox_image
	dv_envfile <<-'EOF'
	image: busybox
	ssh_agent: confirm
	EOF
	"$DEVENV" up -q
	# A terminal (script's pty) whose keys come late: the questions are
	# already shown when they come.
	run bash -c "(sleep 2; printf 'y\r'; sleep 2; printf 'n\r'; sleep 4) |
		script -qfec \"'$DEVENV' ssh -c './agentc sign listed.pub; ./agentc sign other.pub; read -t 2 x; echo rest=\\\$x.'\" /dev/null"
	assert_output --partial "asks to sign with $LISTED_FP (listed-key). Allow? [y/N]"
	assert_output --partial "asks to sign with $OTHER_FP (other-key). Allow? [y/N]"
	assert_line --partial "signed"
	assert_line --partial "refused"
	assert_line --partial "rest=."
	run env_log
	assert_line --partial "ssh_agent: ssh: sign with $LISTED_FP (listed-key): allowed"
	assert_line --partial "ssh_agent: ssh: sign with $OTHER_FP (other-key): refused (not confirmed)"
}

@test "ssh_agent: on_up signs through it; without the key an env has no SSH_AUTH_SOCK and no filter" {
	dv_busybox_image
	dv_envfile <<-'EOF'
	image: busybox
	ssh_agent: [listed-key]
	on_up:
	  - run: ./agentc sign listed.pub && ./agentc sign other.pub || echo "other=$?"
	EOF
	run "$DEVENV" up
	assert_success
	assert_output --partial "signed
refused
other=1"
	run env_log
	assert_line --partial "ssh_agent: on_up: sign with $LISTED_FP (listed-key): allowed"
	assert_line --partial "ssh_agent: on_up: sign with $OTHER_FP (other-key): refused (not in ssh_agent)"
	no_filter_left
	dv_envfile <<-'EOF'
	image: busybox
	on_up:
	  - run: echo "sock=${SSH_AUTH_SOCK:-none}"
	EOF
	run "$DEVENV" reload
	assert_output --partial "sock=none"
	run "$DEVENV" ssh -c 'echo "${SSH_AUTH_SOCK:-none}"; ls /dev/shm'
	assert_output none
}

@test "ssh_agent: true on a provisioning step: that step signs with the listed key only, the next sees no agent, the layer keeps nothing of it, the key leaves it out" {
	dv_busybox_image
	dv_envfile <<-'EOF'
	image: busybox
	ssh_agent: [listed-key]
	provision:
	  - copy: agentc
	    to: /usr/local/bin/agentc
	  - copy: listed.pub
	    to: /k/listed.pub
	  - copy: other.pub
	    to: /k/other.pub
	  - run: (agentc sign /k/listed.pub; agentc sign /k/other.pub; echo "$SSH_AUTH_SOCK") >/step.txt || true
	    ssh_agent: true
	  - run: echo "${SSH_AUTH_SOCK:-none}" >/next.txt
	EOF
	# The env has no log before its first start: the requests are shown
	# with the step's output.
	run "$DEVENV" up
	assert_success
	assert_line --partial "ssh_agent: step 4: sign with $LISTED_FP (listed-key): allowed"
	assert_line --partial "ssh_agent: step 4: sign with $OTHER_FP (other-key): refused (not in ssh_agent)"
	run "$DEVENV" ssh -c 'cat /step.txt /next.txt; ls -a /run/devenv-agent 2>&1 || echo gone'
	assert_output --partial "signed
refused
/run/devenv-agent/agent.sock
none"
	assert_output --partial gone
	no_filter_left
	[[ -z $(ls "$DV_STORE/tmp" | grep agent-) ]]
	# Without the step's ssh_agent its key is the same: nothing rebuilds.
	steps=$("$DEVENV" status --json | python3 -c 'import json,sys; print(json.load(sys.stdin).get("layers"))')
	sed -i '/^    ssh_agent: true$/d' Envfile
	run "$DEVENV" reload
	assert_success
	assert_line --regexp '^\[4/5\] run: \(agentc.*\(cached\)$'
	[[ $("$DEVENV" status --json | python3 -c 'import json,sys; print(json.load(sys.stdin).get("layers"))') == "$steps" ]]
}

@test "ssh_agent: the filter is confined (no capability, no_new_privs, seccomp, its own session) and ends with its session" {
	dv_busybox_image
	dv_envfile <<-'EOF'
	image: busybox
	ssh_agent: true
	EOF
	"$DEVENV" up -q
	"$DEVENV" ssh -c 'sleep 3' &
	local ssh=$! pid
	pid=$(dv_child "$ssh" devenv-agent)
	# a session of its own, and nothing of the host's but its sockets,
	# the env's log and /dev/null
	dv_assert_confined "$pid"
	# (not dumpable: without root its fds are not ours to list)
	run bash -c "ls -l /proc/$pid/fd 2>/dev/null | grep -- '->' | sed 's/.*-> //' | sort -u"
	if ((EUID == 0)); then
		((${#lines[@]} >= 4))
	fi
	local f
	for f in "${lines[@]}"; do
		[[ $f == /dev/null || $f == "$DV_STORE"/envs/*/log || $f == pipe:* || $f == socket:* ]] ||
			fail "the filter holds '$f'"
	done
	wait "$ssh"
	dv_gone "$pid"
}

@test "ssh_agent with no agent on the host: one warning line, the session still starts" {
	dv_busybox_image
	dv_envfile <<-'EOF'
	image: busybox
	ssh_agent: true
	EOF
	"$DEVENV" up -q
	run --separate-stderr env -u SSH_AUTH_SOCK "$DEVENV" ssh -c 'echo "in ${SSH_AUTH_SOCK:-none}"'
	assert_success
	assert_output "in none"
	[[ $stderr == "devenv: warning: no ssh agent on this host (SSH_AUTH_SOCK is not set); the env gets none" ]]
	run --separate-stderr env SSH_AUTH_SOCK=/nonexistent/agent "$DEVENV" ssh -c 'echo in'
	assert_success
	assert_output in
	[[ $stderr == "devenv: warning: cannot reach your ssh agent at SSH_AUTH_SOCK '/nonexistent/agent' (No such file or directory); the env gets no ssh agent" ]]
}

@test "ssh_agent is asked for: the trust prompt names the keys" {
	dv_busybox_image
	unset DEVENV_ALLOW
	dv_envfile <<-'EOF'
	image: busybox
	ssh_agent: [listed-key]
	EOF
	run "$DEVENV" up </dev/null
	assert_failure 2
	run "$DEVENV" allow
	assert_success
	assert_line --index 1 "  Envfile:2:1: ssh_agent: keys 'listed-key': the env's ssh sessions and on_up can sign with these keys of your ssh agent (each signature is written to the env's log)"
}

@test "ssh_agent on a real Debian env: ssh-add -l shows the listed key, ssh-keygen -Y sign works with it and is refused with the other" {
	dv_debian_with debian-ssh openssh-client
	dv_envfile <<-'EOF'
	image: debian-ssh
	ssh_agent: [listed-key]
	user: dev
	EOF
	"$DEVENV" up -q
	run "$DEVENV" ssh -c 'id -un; ssh-add -l'
	assert_success
	assert_output "dev
256 $LISTED_FP listed-key (ED25519)"
	echo data >data
	run "$DEVENV" ssh -c 'ssh-keygen -Y sign -f listed.pub -n file data && test -s data.sig && echo made'
	assert_success
	assert_line made
	echo data >data2
	run "$DEVENV" ssh -c 'ssh-keygen -Y sign -f other.pub -n file data2'
	assert_failure
	[[ ! -e data2.sig ]]
	run ssh-keygen -Y check-novalidate -n file -s data.sig <data
	assert_success
	run env_log
	assert_line --partial "ssh_agent: ssh: sign with $LISTED_FP (listed-key): allowed"
	# ssh-keygen asks no signature of a key the agent does not list (the
	# first test sends one anyway: refused)
	refute_line --partial "$OTHER_FP (other-key): allowed"
}
