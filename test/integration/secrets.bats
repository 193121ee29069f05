#!/usr/bin/env bats
# secrets (README "secrets"): read on the host, mounted as tmpfs files at
# /run/secrets/NAME for the steps and on_up entries that name them, masked
# in their output and the env's log, never in a layer, the store, a key or
# state.json; a layer, commit or push holding one is refused.

load helpers
bats_require_minimum_version 1.5.0

setup() {
	dv_setup
	SECRET=tok-$RANDOM-s3cr3t-$RANDOM
	export SECRET
}
teardown() { dv_teardown; }

# store_clean: not one byte sequence of $SECRET anywhere in the store.
store_clean() {
	if grep -rlaF -- "$SECRET" "$DV_STORE" 2>/dev/null; then
		echo "the secret is in the store (files above)"
		return 1
	fi
}

@test "a step reads its secret from /run/secrets, masked in the output; the layer, key, state.json and log lack it" {
	dv_busybox_image
	mkdir -p .secrets
	printf '%s\n' "$SECRET" >.secrets/tok
	dv_envfile <<-'EOF'
	image: busybox
	secrets:
	  tok: { file: .secrets/tok }
	  cmd: { command: "printf 'cmd-%s' \"$SECRET\"" }
	  unused: { env: NOT_SET_ANYWHERE }
	provision:
	  - run: |
	      echo "got $(cat /run/secrets/tok) and $(cat /run/secrets/cmd)"
	      stat -c '%a %u' /run/secrets/tok
	      wc -c < /run/secrets/tok > /tok-size
	      ! touch /run/secrets/tok 2>/dev/null
	    secrets: [tok, cmd]
	  - run: test ! -e /run/secrets/tok && echo no-secret-in-step-2
	on_up:
	  - run: echo "on_up sees $(cat /run/secrets/tok)"; stat -c '%a' /run/secrets/tok
	    secrets: [tok]
	EOF
	run "$DEVENV" up
	assert_success
	assert_output --partial "got **** and ****"
	assert_output --partial "400 0"
	assert_output --partial "no-secret-in-step-2"
	assert_output --partial "on_up sees ****"
	refute_output --partial "$SECRET"
	# The file ended, the mount went with the step and with on_up.
	run "$DEVENV" ssh -c 'cat /tok-size; ls -A /run/secrets; grep -c secrets /proc/mounts; true'
	assert_success
	assert_output "$(printf '%s\n' "$SECRET" | wc -c)
0"
	run "$DEVENV" logs
	assert_success
	assert_output --partial "on_up sees ****"
	refute_output --partial "$SECRET"
	store_clean
	# A new value does not rebuild (README): the step stays cached.
	printf 'other-%s\n' "$SECRET" >.secrets/tok
	run "$DEVENV" provision
	assert_success
	assert_output --partial "(cached)"
	store_clean
}

@test "a step that writes its secret into a file is refused, and nothing of it is kept" {
	dv_busybox_image
	dv_envfile <<-'EOF'
	image: busybox
	secrets:
	  tok: { env: SECRET }
	provision:
	  - run: echo kept > /kept
	  - run: mkdir -p /etc/app && cp /run/secrets/tok /etc/app/token
	    secrets: [tok]
	EOF
	run "$DEVENV" up
	assert_failure 1
	assert_output --partial "Envfile:6:5: secret 'tok' is in /etc/app/token of step 2's files; refused"
	assert_output --partial "nothing of it was kept"
	store_clean
	# In a link's target, and base64'd it is not the secret's bytes: only
	# the bytes themselves are looked for (README says so).
	dv_envfile <<-'EOF'
	image: busybox
	secrets:
	  tok: { env: SECRET }
	provision:
	  - run: ln -s "/x/$(cat /run/secrets/tok)" /link
	    secrets: [tok]
	EOF
	run "$DEVENV" up
	assert_failure 1
	assert_output --partial "secret 'tok' is in /link of step 1's files"
	store_clean
	# A `copy` of a secret file of the checkout is looked through too.
	mkdir -p conf
	printf '%s\n' "$SECRET" >conf/token
	dv_envfile <<-'EOF'
	image: busybox
	secrets:
	  tok: { file: conf/token }
	provision:
	  - copy: conf
	    to: /opt/conf
	on_up:
	  - run: true
	    secrets: [tok]
	EOF
	run "$DEVENV" up
	assert_failure 1
	assert_output --partial "Envfile:5:5: secret 'tok' is in /opt/conf/token of step 1's files; refused"
	store_clean
}

@test "a secret copied into a running env is refused at commit; a layer holding its new value at push" {
	dv_busybox_image
	dv_envfile <<-'EOF'
	image: busybox
	secrets:
	  tok: { env: SECRET }
	provision:
	  - run: echo "old-value-123" > /opt-value
	on_up:
	  - run: cat /run/secrets/tok > /dev/null
	    secrets: [tok]
	EOF
	run "$DEVENV" up
	assert_success
	# A session gets a secret only when it asks, in its own mount
	# namespace, masked in what it prints.
	run "$DEVENV" ssh --secret tok -c 'cat /run/secrets/tok; echo; stat -c %a /run/secrets/tok'
	assert_success
	assert_output "****
400"
	run "$DEVENV" ssh -c 'ls -A /run/secrets'
	assert_success
	assert_output ""
	run -2 "$DEVENV" ssh --secret nope -c true
	assert_output "devenv: --secret 'nope': Envfile declares no such secret"
	run "$DEVENV" commit clean:1
	assert_success
	"$DEVENV" ssh -c "mkdir -p /root/notes && echo '$SECRET' > /root/notes/leak"
	run "$DEVENV" commit leaked:1
	assert_failure 1
	assert_output --partial "secret 'tok' is in /root/notes/leak of the env's files; refused"
	run "$DEVENV" images
	refute_output --partial leaked
	"$DEVENV" ssh -c 'rm /root/notes/leak'
	run "$DEVENV" commit clean:2
	assert_success
	# A layer built before the secret took that value: push looks again,
	# with the values of now, before anything is sent (no registry needed).
	SECRET=old-value-123 run "$DEVENV" push 127.0.0.1:9/team/app:cache
	assert_failure 1
	assert_output --partial "secret 'tok' is in /opt-value of step 1's files; refused"
	refute_output --partial "old-value-123"
}

@test "secrets from host variables, commands and files outside the checkout are trust requests" {
	dv_busybox_image
	unset DEVENV_ALLOW
	dv_envfile <<-'EOF'
	image: busybox
	secrets:
	  rel: { file: tok }
	  var: { env: SECRET }
	  cmd: { command: "cat /etc/hostname" }
	provision:
	  - run: cat /run/secrets/var >/dev/null
	    secrets: [var]
	EOF
	run "$DEVENV" allow
	assert_success
	assert_line --partial "Envfile:4:15: secret 'var' from your variable 'SECRET': its value is given to the steps that name the secret"
	assert_line --partial "Envfile:5:19: secret 'cmd' from the host command 'cat /etc/hostname': the command runs on this machine as you"
	refute_output --partial "secret 'rel'"
	# A missing variable: one line at its position.
	DEVENV_ALLOW=1 SECRET= run -1 env -u SECRET "$DEVENV" up
	assert_output --partial "Envfile:4:15: secret 'var': your variable 'SECRET' is not set"
	# A checkout file behind a symlink is not read.
	ln -s /etc/hostname tok
	dv_envfile <<-'EOF'
	image: busybox
	secrets:
	  rel: { file: tok }
	provision:
	  - run: cat /run/secrets/rel
	    secrets: [rel]
	EOF
	DEVENV_ALLOW=1 run -1 "$DEVENV" up
	assert_output --partial "Envfile:3:16: secret 'rel': cannot open 'tok': a symlink is on the way"
}

@test "Debian: a step and on_up use a secret as the env's user; the layer lacks it" {
	dv_debian_image
	dv_envfile <<-'EOF'
	image: debian:bookworm
	user: dev
	secrets:
	  tok: { env: SECRET }
	provision:
	  - run: echo "step $(cat /run/secrets/tok)" && test -d /run && ! test -e /run/secrets/x
	    secrets: [tok]
	on_up:
	  - run: id -un; stat -c '%a %U' /run/secrets/tok; echo "on_up $(cat /run/secrets/tok)"
	    secrets: [tok]
	EOF
	run "$DEVENV" up
	assert_success
	assert_output --partial "step ****"
	assert_output --partial "400 dev"
	assert_output --partial "on_up ****"
	refute_output --partial "$SECRET"
	run "$DEVENV" ssh -c 'ls -A /run/secrets'
	assert_success
	assert_output ""
	run "$DEVENV" ssh --secret tok -c 'stat -c "%a %U" /run/secrets/tok; cat /run/secrets/tok'
	assert_success
	assert_output "400 dev
****"
	store_clean
}
