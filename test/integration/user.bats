#!/usr/bin/env bats
# The Envfile's `user`, `ssh --user`, and who owns what the env creates in
# the checkout. The checkout plays a host user's: it is given to uid 4242.

load helpers
bats_require_minimum_version 1.5.0

setup() {
	dv_setup
	dv_need_host_root "the checkout is handed to uid 4242 by chown (rootless.bats tests user: without root)"
	dv_busybox_image
	chown -R 4242:4242 "$DV_CHECKOUT"
}
teardown() { dv_teardown; }

up_as_dev() {
	dv_envfile <<-'EOF2'
	image: busybox
	user: dev
	on_up:
	  - run: id > /workspace/on_up-id; echo "$HOME" >> /workspace/on_up-id
	EOF2
	run "$DEVENV" up
	assert_success
}

@test "user: ssh lands as the host user's uid, with its home, in the workdir" {
	up_as_dev
	run "$DEVENV" ssh -c 'id; echo "$HOME $USER $LOGNAME"; pwd; ls -nd "$HOME"'
	assert_success
	assert_line "uid=4242(dev) gid=4242(dev) groups=4242(dev)"
	assert_line "/home/dev dev dev"
	assert_line "/workspace"
	assert_line --regexp '^d.* 4242 +4242 .*/home/dev$'
	# on_up ran as the user too
	run cat on_up-id
	assert_line "uid=4242(dev) gid=4242(dev) groups=4242(dev)"
	assert_line "/home/dev"
	run "$DEVENV" status --json
	[[ $(dv_json user <<<"$output") == dev ]]
	[[ $(dv_json checkout_ownership <<<"$output") == idmapped ]]
	run "$DEVENV" status
	assert_line "  checkout ownership: idmapped (only uid 4242 can own files there)"
}

@test "user: files created in the checkout by the user and by root belong to the host user" {
	up_as_dev
	mkdir sub && chown 4242:4242 sub
	run "$DEVENV" ssh -c 'touch /workspace/d && mkdir /workspace/dd'
	assert_success
	run "$DEVENV" ssh --user root -c 'id -u; touch /workspace/r /workspace/sub/r2; ls -n /workspace/d'
	assert_success
	assert_line 0
	# root sees the host user's file as its own
	assert_line --regexp '^-.* 0 +0 .*/workspace/d$'
	for f in d dd r sub/r2; do
		[[ $(stat -c %u:%g "$f") == 4242:4242 ]] || {
			echo "$f: $(stat -c %u:%g "$f")"
			return 1
		}
	done
	# the env's own files are untouched: root's are root's
	run "$DEVENV" ssh --user root -c 'touch /tmp/x; ls -n /tmp/x'
	assert_output --regexp ' 0 +0 '
	# the user's session does not see root's view
	run "$DEVENV" ssh -c 'ls -n /workspace/r'
	assert_output --regexp ' 4242 +4242 '
}

@test "user: where the checkout cannot be idmapped, what the env changed there is chowned back after each command" {
	export DEVENV_NO_IDMAP=1 # as a kernel or filesystem without idmapped mounts
	touch old-root # root's before the command: not the command's doing, left alone
	up_as_dev
	run "$DEVENV" status
	assert_line "  checkout ownership: chown (no idmapped mount here: after each ssh and on_up command, and at halt, what the env changed there is given to uid 4242, without setuid bits or file capabilities)"
	run "$DEVENV" ssh --user root -c 'mkdir -p r/s && touch r/s/f && ln -s /etc/shadow r/link && touch by-one && chown 1:1 by-one'
	assert_success
	for f in r r/s r/s/f; do
		[[ $(stat -c %u:%g "$f") == 4242:4242 ]] || {
			echo "$f: $(stat -c %u:%g "$f")"
			return 1
		}
	done
	# the link itself is given, never its target; every id the env gave is
	# the host user's now; what was there before the env started is not its
	[[ $(stat -c %u "r/link") == 4242 ]]
	[[ $(stat -c %u /etc/shadow) == 0 ]]
	[[ $(stat -c %u:%g by-one) == 4242:4242 ]]
	[[ $(stat -c %u old-root) == 0 ]]
	# on_up commands too (as root, without user:)
	printf 'image: busybox\non_up:\n  - run: id -u > /workspace/on_up-id\n' | dv_envfile
	chown 4242:4242 Envfile
	"$DEVENV" reload
	[[ $(cat on_up-id) == 0 && $(stat -c %u on_up-id) == 4242 ]]
}

@test "ssh --user: exactly the ids asked for, or one clear error, never root" {
	up_as_dev
	run "$DEVENV" ssh --user 1 -c 'id -u; id -g; echo "$HOME"; touch /workspace/by-1'
	assert_success
	assert_output $'1\n1\n/'
	# any uid of the env writes the checkout as the host user
	[[ $(stat -c %u:%g by-1) == 4242:4242 ]]
	run "$DEVENV" ssh --user 1:2 -c 'id -u; id -g; id -G'
	assert_success
	assert_output $'1\n2\n2'
	run "$DEVENV" ssh -u 65534 -c 'id -u; id -g; echo "$HOME $USER"'
	assert_success
	assert_output $'65534\n65534\n/nonexistent nobody'
	run "$DEVENV" ssh --user root -c 'id -u; echo "$HOME $USER"'
	assert_success
	assert_output $'0\n/root root'
	run "$DEVENV" ssh --user 0 -c 'id -u'
	assert_output 0

	run "$DEVENV" ssh --user nosuchuser -c 'id -u'
	assert_failure 125
	assert_output "devenv: no user 'nosuchuser' in the env (its /etc/passwd has none)"
	run "$DEVENV" ssh --user 99999999999 -c 'id -u'
	assert_failure 125
	assert_output "devenv: user id '99999999999' is out of range (0 to 4294967294)"
	run "$DEVENV" ssh --user 4294967295 -c 'id -u'
	assert_failure 125
	run "$DEVENV" ssh --user 1:99999999999 -c 'id -u'
	assert_failure 125
	assert_output --partial "group id '99999999999' must be a number"
	run "$DEVENV" ssh --user 1:x -c 'id -u'
	assert_failure 125
	run "$DEVENV" ssh --user '' -c 'id -u'
	assert_failure 125
	run "$DEVENV" ssh --user -1 -c 'id -u'
	assert_failure 125
	refute_output --partial 0
}

@test "user: an image user of that name with another uid is a clear error" {
	# A provisioning step (root) makes 'dev' with uid 1000 in the image.
	dv_envfile <<-'EOF2'
	image: busybox
	user: dev
	provision:
	  - run: echo 'dev:x:1000:1000::/home/dev:/bin/sh' >> /etc/passwd
	EOF2
	run "$DEVENV" up
	assert_failure
	assert_output --partial "the image already has a user 'dev' with uid 1000, not the host user's 4242; choose another 'user' name in the Envfile"
}

@test "user: an existing image user with the same uid is reused" {
	dv_envfile <<-'EOF2'
	image: busybox
	user: dev
	provision:
	  - run: echo 'dev:x:4242:4242:Dev:/home/dev:/bin/sh' >> /etc/passwd
	EOF2
	run "$DEVENV" up
	assert_success
	run "$DEVENV" ssh -c 'grep -c "^dev:" /etc/passwd; id -u'
	assert_output $'1\n4242'
	# and a restart adds nothing
	"$DEVENV" halt
	"$DEVENV" up
	run "$DEVENV" ssh -c 'grep -c "^dev:" /etc/passwd; grep -c "^dev:" /etc/group'
	assert_output $'1\n1'
}

@test "without user: root's files in the checkout belong to the host user" {
	printf 'image: busybox\n' >Envfile
	run "$DEVENV" up
	assert_success
	run "$DEVENV" ssh -c 'id -u; touch /workspace/r'
	assert_output 0
	[[ $(stat -c %u:%g r) == 4242:4242 ]]
}

@test "user: a root-owned checkout gives the user SUDO_UID, and its files to root" {
	chown -R 0:0 "$DV_CHECKOUT"
	dv_envfile <<-'EOF2'
	image: busybox
	user: dev
	EOF2
	SUDO_UID=4343 SUDO_GID=4344 run "$DEVENV" up
	assert_success
	run "$DEVENV" ssh -c 'id -u; id -g; touch /workspace/u'
	assert_output $'4343\n4344'
	[[ $(stat -c %u:%g u) == 0:0 ]]
}

@test "user: the env's user holds no capabilities, root holds the default set, both under the filter" {
	up_as_dev
	run "$DEVENV" ssh -c 'grep -E "^(CapEff|CapPrm|NoNewPrivs|Seccomp):" /proc/self/status'
	assert_success
	assert_line --regexp "^CapEff:[[:space:]]+0000000000000000$"
	assert_line --regexp "^CapPrm:[[:space:]]+0000000000000000$"
	assert_line --regexp "^NoNewPrivs:[[:space:]]+1$"
	assert_line --regexp "^Seccomp:[[:space:]]+2$"
	run "$DEVENV" ssh --user root -c 'grep -E "^(CapEff|Seccomp):" /proc/self/status; touch /workspace/by-root'
	assert_success
	assert_line --regexp "^CapEff:[[:space:]]+00000000800405fb$"
	assert_line --regexp "^Seccomp:[[:space:]]+2$"
	[[ $(stat -c %u by-root) == 4242 ]]
}
