#!/usr/bin/env bats
# sshd: `devenv ssh-config` and `devenv ssh-proxy` (README "An ssh endpoint:
# ssh-config"): the OpenSSH client reaches the env's own sshd -i through
# ssh's ProxyCommand, no port opened, the env's host key checked. ssh, scp
# both ways, rsync, -L; the Envfile's user; --install's Include, once;
# one line naming openssh-server when the image has no sshd. Root and
# rootless alike; the sshd image (Debian + openssh-server + rsync) is built
# once per run (dv_sshd_image).

load helpers
bats_require_minimum_version 1.5.0

setup() {
	dv_setup
	# ssh-config reads and writes $HOME/.ssh: the test's own.
	export HOME=$BATS_TEST_TMPDIR/home
	mkdir -p "$HOME/.ssh"
	chmod 0700 "$HOME/.ssh"
	dv_ssh_keygen "$HOME/.ssh/id_ed25519" me@my-laptop
}
teardown() { dv_teardown; }

# dv_sshd_image: sshd:test in the test's store: Debian with openssh-server,
# rsync and perl-base (dv_debian_with; no host key: each env makes its own).
dv_sshd_image() {
	dv_debian_with sshd:test openssh-server rsync perl-base
}

# The OpenSSH client on the entries ssh-config printed, with the test's key.
sshc() {
	ssh -F "$HOME/cfg" -i "$HOME/.ssh/id_ed25519" -o IdentitiesOnly=yes -o BatchMode=yes "$@"
}

@test "ssh devenv-NAME runs in the env as root, its host key checked; scp both ways and rsync; nothing lands in a layer" {
	dv_sshd_image
	dv_envfile <<-'EOF'
	image: sshd:test
	env:
	  GREETING: hello "there"
	EOF
	"$DEVENV" up -q
	run "$DEVENV" ssh-config proj
	assert_success
	printf '%s\n' "$output" >"$HOME/cfg"
	assert_line --partial "Host devenv-proj"
	assert_line --partial "User root"
	assert_line --partial "StrictHostKeyChecking yes"
	assert_line --regexp "ProxyCommand .*'$DEVENV' ssh-proxy 'proj'\$"
	# The env's host key, pinned: its known_hosts line, never checking off.
	run grep -c '^devenv-proj ssh-ed25519 ' "$HOME/.ssh/devenv_known_hosts"
	assert_output 1
	refute_line --partial "StrictHostKeyChecking no"

	run --separate-stderr sshc devenv-proj 'id -un; hostname; echo "$GREETING"'
	assert_success
	assert_equal "${lines[*]}" 'root proj hello "there"'
	[[ ! -e $HOME/.ssh/known_hosts ]] # nothing learnt on the way: it was known
	# A terminal session (what a person and an editor's terminal open):
	# Debian's sshd writes an audit record for it, which must not end it.
	run sshc -tt devenv-proj 'tty; exit 7' </dev/null
	assert_failure 7
	assert_line --regexp '^/dev/pts/[0-9]+'
	# The key stays the env's: a second ssh-config prints the same line.
	cp "$HOME/.ssh/devenv_known_hosts" "$BATS_TEST_TMPDIR/kh1"
	"$DEVENV" ssh-config >/dev/null
	cmp "$HOME/.ssh/devenv_known_hosts" "$BATS_TEST_TMPDIR/kh1"

	# scp (sftp by default) both ways, rsync over ssh.
	printf 'from the host\n' >"$BATS_TEST_TMPDIR/up.txt"
	scp -F "$HOME/cfg" -i "$HOME/.ssh/id_ed25519" -o IdentitiesOnly=yes -o BatchMode=yes \
		"$BATS_TEST_TMPDIR/up.txt" devenv-proj:/tmp/up.txt
	run "$DEVENV" ssh -c 'cat /tmp/up.txt'
	assert_output "from the host"
	"$DEVENV" ssh -c 'echo from the env >/tmp/down.txt'
	scp -F "$HOME/cfg" -i "$HOME/.ssh/id_ed25519" -o IdentitiesOnly=yes -o BatchMode=yes \
		devenv-proj:/tmp/down.txt "$BATS_TEST_TMPDIR/down.txt"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/down.txt")" "from the env"
	mkdir -p "$BATS_TEST_TMPDIR/tree/sub"
	echo one >"$BATS_TEST_TMPDIR/tree/a"
	echo two >"$BATS_TEST_TMPDIR/tree/sub/b"
	rsync -a -e "ssh -F $HOME/cfg -i $HOME/.ssh/id_ed25519 -o IdentitiesOnly=yes -o BatchMode=yes" \
		"$BATS_TEST_TMPDIR/tree/" devenv-proj:/tmp/tree/
	run "$DEVENV" ssh -c 'cat /tmp/tree/a /tmp/tree/sub/b'
	assert_output $'one\ntwo'

	# sshd's files live in the env's /dev (a tmpfs): not in its upper.
	# The keys reach it without their comments (user@host stays home).
	run "$DEVENV" ssh -c "cat /dev/.devenv-sshd/authorized_keys"
	assert_output "$(cut -d' ' -f1,2 "$HOME/.ssh/id_ed25519.pub")"
	id=$("$DEVENV" status --json | dv_json id)
	run bash -c 'find "$1" -path "*devenv-sshd*" 2>/dev/null' - "$DV_STORE/envs/$id"
	assert_output ""
}

@test "ssh -L forwards a port to a server inside a private env, through a confined ssh-proxy; another key is refused, unless the agent holds it" {
	local port
	dv_sshd_image
	dv_envfile <<-'EOF'
	image: sshd:test
	network: private
	EOF
	"$DEVENV" up -q
	"$DEVENV" ssh-config >"$HOME/cfg"
	# A one-line server on the env's own loopback (perl-base: Debian's).
	"$DEVENV" ssh -c 'perl -MIO::Socket::INET -e '\''$s = IO::Socket::INET->new(LocalAddr => "127.0.0.1:8765", Listen => 5, ReuseAddr => 1) or die; while ($c = $s->accept) { print $c "from inside the env\n"; close $c }'\'' </dev/null >/dev/null 2>&1 &'
	port=$(dv_free_port)
	ssh -F "$HOME/cfg" -i "$HOME/.ssh/id_ed25519" -o IdentitiesOnly=yes -o BatchMode=yes \
		-o ExitOnForwardFailure=yes -L "127.0.0.1:$port:127.0.0.1:8765" devenv-proj 'sleep 3' &
	ssh_pid=$!
	run dv_wait 10 python3 -c 'import socket, sys; s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1); d = s.recv(100); sys.exit(0 if d == b"from inside the env\n" else 1)' "$port"
	assert_success
	# ssh-proxy relays confined: no capability, no_new_privs, seccomp.
	relay=$(pgrep -P "$ssh_pid" -f ssh-proxy)
	run grep -E '^(CapPrm|CapEff|CapBnd|NoNewPrivs|Seccomp):' "/proc/$relay/status"
	assert_output $'CapPrm:\t0000000000000000\nCapEff:\t0000000000000000\nCapBnd:\t0000000000000000\nNoNewPrivs:\t1\nSeccomp:\t2'
	wait "$ssh_pid"

	# A key the user's ~/.ssh/*.pub does not hold gets nowhere.
	dv_ssh_keygen "$BATS_TEST_TMPDIR/other" other
	run ssh -F "$HOME/cfg" -i "$BATS_TEST_TMPDIR/other" -o IdentitiesOnly=yes -o BatchMode=yes devenv-proj true
	assert_failure 255
	assert_output --partial "Permission denied"
	# ... unless the user's agent holds it: its keys are authorised too.
	dv_ssh_agent_start "$BATS_TEST_TMPDIR/other"
	run ssh -F "$HOME/cfg" -i "$BATS_TEST_TMPDIR/other" -o IdentitiesOnly=yes -o BatchMode=yes devenv-proj 'echo in'
	assert_success
	assert_output "in"
}

@test "the Envfile's user: ssh-config says User NAME and ssh logs in as it, in its home" {
	dv_sshd_image
	dv_envfile <<-'EOF'
	image: sshd:test
	user: dev
	EOF
	"$DEVENV" up -q
	"$DEVENV" ssh-config >"$HOME/cfg"
	grep -q '^	User dev$' "$HOME/cfg"
	run --separate-stderr sshc devenv-proj 'id -un; pwd'
	assert_success
	assert_equal "${lines[*]}" "dev /home/dev"
	run sshc -tt devenv-proj 'id -un; tty' </dev/null
	assert_success
	assert_line --regexp '^dev'
	assert_line --regexp '^/dev/pts/[0-9]+'
}

@test "ssh-config --install: ~/.ssh/config made 0600 with the Include, added once, the user's own lines kept" {
	dv_busybox_image
	printf 'image: busybox\n' | dv_envfile
	"$DEVENV" up -q
	run "$DEVENV" ssh-config --install
	assert_success
	assert_output --partial "devenv_config"
	assert_equal "$(stat -c %a "$HOME/.ssh/config")" 600
	assert_equal "$(cat "$HOME/.ssh/config")" "$(printf '# Added by devenv ssh-config --install: its envs as devenv-NAME\nInclude "%s"' "$HOME/.ssh/devenv_config")"
	grep -q '^Host devenv-proj$' "$HOME/.ssh/devenv_config"
	# ssh itself reads the entry through the Include.
	run ssh -F "$HOME/.ssh/config" -G devenv-proj
	assert_line --partial "proxycommand "
	assert_line "stricthostkeychecking true"

	# The user's config: their lines stay, the Include goes first, once.
	printf 'Host example\n\tUser someone\n' >"$HOME/.ssh/config"
	chmod 0640 "$HOME/.ssh/config"
	"$DEVENV" ssh-config --install
	"$DEVENV" ssh-config --install
	run grep -c '^Include ' "$HOME/.ssh/config"
	assert_output 1
	run sed -n 2p "$HOME/.ssh/config"
	assert_output "Include \"$HOME/.ssh/devenv_config\""
	run tail -n 2 "$HOME/.ssh/config"
	assert_output $'Host example\n\tUser someone'
	assert_equal "$(stat -c %a "$HOME/.ssh/config")" 640

	run "$DEVENV" ssh-config --install proj
	assert_failure 2
}

@test "an image without sshd: ssh-proxy says in one line to add openssh-server; a halted env says to up it" {
	dv_busybox_image
	printf 'image: busybox\n' | dv_envfile
	"$DEVENV" up -q
	run --separate-stderr "$DEVENV" ssh-proxy proj </dev/null
	assert_failure
	assert_equal "$stderr" "devenv: env 'proj' has no sshd: add the package openssh-server to its image (a provisioning step: apt-get install -y openssh-server)"
	"$DEVENV" halt -t 0
	run --separate-stderr "$DEVENV" ssh-proxy proj </dev/null
	assert_failure
	assert_equal "$stderr" "devenv: env 'proj' is not running; 'devenv up' starts it"
	run --separate-stderr "$DEVENV" ssh-proxy nosuch </dev/null
	assert_failure
	"$DEVENV" up -q
	mkdir "$BATS_TEST_TMPDIR/nokeys"
	run --separate-stderr env HOME="$BATS_TEST_TMPDIR/nokeys" SSH_AUTH_SOCK= "$DEVENV" ssh-proxy proj </dev/null
	assert_failure
	assert_equal "$stderr" "devenv: no public key to authorise: none in $BATS_TEST_TMPDIR/nokeys/.ssh/*.pub nor in your ssh agent; make one with ssh-keygen"
}

@test "root's store for a user of sudo: ProxyCommand through sudo -n, the sudoers rule, the user's files written as the user" {
	local user=devenv-rootless home uid gid had_ssh
	dv_need_host_root
	id -u "$user" >/dev/null 2>&1 || skip "no user $user (scripts/run-tests makes it for the rootless pass)"
	uid=$(id -u "$user") gid=$(id -g "$user") home=$(getent passwd "$user" | cut -d: -f6)
	[[ ! -e $home/.ssh/devenv_known_hosts ]] || skip "$home/.ssh/devenv_known_hosts is there already"
	[[ -d $home/.ssh ]] && had_ssh=1 || had_ssh=
	dv_busybox_image
	printf 'image: busybox\n' | dv_envfile
	"$DEVENV" up -q
	run env SUDO_UID="$uid" SUDO_GID="$gid" SUDO_USER="$user" "$DEVENV" ssh-config
	stat -c %U "$home/.ssh/devenv_known_hosts" >"$BATS_TEST_TMPDIR/owner" 2>&1 || true
	rm -f "$home/.ssh/devenv_known_hosts"
	[[ -n $had_ssh ]] || rmdir "$home/.ssh"
	assert_success
	assert_line "#   $user ALL=(root) NOPASSWD: $DEVENV ssh-proxy *"
	assert_line "	ProxyCommand sudo -n '$DEVENV' ssh-proxy 'proj'"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/owner")" "$user"
	# ssh-proxy under sudo authorises that user's keys, not root's.
	if ! compgen -G "$home/.ssh/*.pub" >/dev/null; then
		run --separate-stderr env SUDO_UID="$uid" SUDO_GID="$gid" "$DEVENV" ssh-proxy proj </dev/null
		assert_failure
		assert_equal "$stderr" "devenv: no public key to authorise: none in $home/.ssh/*.pub nor in your ssh agent; make one with ssh-keygen"
	fi
}

@test "an sshd older than 8.7 (no SetEnv): the Envfile's env is left out and the session still opens" {
	dv_sshd_image
	# sshd as one before 8.7 sees a config with SetEnv: refused.
	dv_envfile <<-'EOF'
	image: sshd:test
	env:
	  GREETING: hello
	provision:
	  - run: >-
	      mv /usr/sbin/sshd /usr/sbin/sshd.real &&
	      printf '#!/bin/sh\ngrep -q "^SetEnv" "$3" && { echo "$3: Bad configuration option: SetEnv" >&2; exit 255; }\nexec /usr/sbin/sshd.real "$@"\n' >/usr/sbin/sshd &&
	      chmod 0755 /usr/sbin/sshd
	EOF
	"$DEVENV" up -q
	"$DEVENV" ssh-config >"$HOME/cfg"
	run --separate-stderr sshc devenv-proj 'echo "[$GREETING]"'
	assert_success
	assert_output "[]"
}
