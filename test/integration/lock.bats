#!/usr/bin/env bats
# Envfile.lock (README "Envfile.lock"): written next to the Envfile by up,
# stable, as the checkout's owner, never through a symlink; a hostile one
# is refused at a position; it wins over what the store remembers (a moved
# branch, a moved tag) until `devenv lock --update`; --frozen compares the
# Envfile's inputs with it; a second store pulls the pinned base by digest.

load helpers

setup() {
	dv_setup
	dv_busybox_image
}
teardown() {
	if [[ -n ${STORE_B:-} ]]; then
		for dir in "$STORE_B"/envs/*/; do
			[[ -d $dir ]] && DEVENV_HOME=$STORE_B "$DEVENV" destroy -f -e "$(basename "$dir")" >/dev/null
		done
		dv_rm_store "$STORE_B"
	fi
	[[ -n ${REG_PID:-} ]] && dv_registry_stop
	dv_teardown
}

lockval() { # lockval PYEXPR: the lock's value (d is the lock)
	python3 -c "import json,sys; d=json.load(open('Envfile.lock')); print($1)"
}

@test "lock: up writes Envfile.lock; a second up rewrites nothing; lock --check passes" {
	mkdir data && echo one >data/f
	dv_envfile <<-EOF
	image: busybox
	provision:
	  - run: echo hi >/hi
	  - copy: data
	    to: /data
	EOF
	[[ ! -e Envfile.lock ]]
	run "$DEVENV" up
	assert_success
	refute_output --partial "Envfile.lock" # up's output is as it was
	[[ -f Envfile.lock && ! -L Envfile.lock ]]
	assert_equal "$(lockval 'd["lockfile"]')" 1
	assert_equal "$(lockval 'd["base"]["image"]')" busybox
	assert_equal "$(lockval 'len(d["steps"])')" 2
	assert_equal "$(lockval 'd["steps"][1]["content"][:7]')" sha256:
	[[ $(lockval 'd["base"]["id"]') == "$("$DEVENV" image inspect busybox | python3 -c 'import json,sys; d=json.load(sys.stdin); d=d[0] if isinstance(d,list) else d; print(d.get("Id") or d.get("id"))')" ]]
	before=$(stat -c '%i %Y.%y' Envfile.lock)
	"$DEVENV" halt
	run "$DEVENV" up
	assert_success
	refute_output --partial "Envfile.lock"
	assert_equal "$(stat -c '%i %Y.%y' Envfile.lock)" "$before"
	run "$DEVENV" lock
	assert_success
	assert_output --partial "is up to date"
	run "$DEVENV" lock --check
	assert_success
	assert_equal "$(stat -c '%i %Y.%y' Envfile.lock)" "$before"
}

@test "lock: --frozen fails on a changed step at its line, passes when unchanged; no lock fails" {
	dv_envfile <<-EOF
	image: busybox
	provision:
	  - run: echo a >/a
	EOF
	run "$DEVENV" up --frozen
	assert_failure
	assert_output --partial "there is no Envfile.lock"
	run "$DEVENV" lock
	assert_success
	assert_output --partial "wrote Envfile.lock"
	run "$DEVENV" up --frozen
	assert_success
	dv_envfile <<-EOF
	image: busybox
	provision:
	  - run: echo b >/a
	EOF
	cp Envfile.lock before.lock
	DEVENV_FROZEN=1 run "$DEVENV" provision
	assert_failure
	assert_output --partial "Envfile:3:5: step 1 (run: echo b >/a) differs from Envfile.lock: its text or environment changed; run 'devenv lock' to accept it"
	assert_output --partial "run 'devenv lock' to accept it"
	run "$DEVENV" lock --check
	assert_equal "$status" 1
	cmp Envfile.lock before.lock
	run "$DEVENV" reload --frozen
	assert_failure
	assert_output --partial "Envfile:3:5"
	run "$DEVENV" ssh -c 'cat /a'
	assert_output a # the frozen reload left the env running as it was
}

@test "lock: a symlinked or hostile Envfile.lock is refused with a position, nothing written" {
	dv_envfile <<-EOF
	image: busybox
	provision:
	  - run: echo a >/a
	EOF
	echo '{}' >"$BATS_TEST_TMPDIR/target"
	ln -s "$BATS_TEST_TMPDIR/target" Envfile.lock
	run "$DEVENV" up
	assert_failure
	assert_output --partial "Envfile.lock is a symlink"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/target")" '{}'
	rm Envfile.lock
	mkdir Envfile.lock
	run "$DEVENV" lock
	assert_failure
	assert_output --partial "Envfile.lock is not a regular file"
	rmdir Envfile.lock
	printf 'garbage\n' >Envfile.lock
	run "$DEVENV" up
	assert_failure
	assert_output --partial "Envfile.lock:1:1: not valid JSON"
	run "$DEVENV" lock --update
	assert_failure # refused, not overwritten: the message says to delete it
	assert_equal "$(cat Envfile.lock)" garbage
	rm Envfile.lock
	"$DEVENV" lock
	good=$(cat Envfile.lock)
	sed 's/"lockfile": 1/"lockfile": "1"/' <<<"$good" >Envfile.lock
	run "$DEVENV" up
	assert_failure
	assert_output --partial "Envfile.lock:2:15: this devenv reads lockfile version 1 only"
	sed 's/"key": "\([0-9a-f]*\)"/"key": "zz\1"/' <<<"$good" >Envfile.lock
	run "$DEVENV" up
	assert_failure
	assert_output --regexp 'Envfile.lock:7:[0-9]+: must be 64 hex digits'
	sed 's/"id": "sha256:/"id": "sha512:/' <<<"$good" >Envfile.lock
	run "$DEVENV" up
	assert_failure
	assert_output --regexp 'Envfile.lock:5:[0-9]+: must be a digest'
	printf '%s\n' "$good" >Envfile.lock
	python3 -c 'import json; d=json.load(open("Envfile.lock")); d["steps"][0]["evil"]=1; json.dump(d, open("Envfile.lock","w"), indent=2)'
	run "$DEVENV" up
	assert_failure
	assert_output --regexp "Envfile.lock:[0-9]+:[0-9]+: unknown field 'evil'"
	run "$DEVENV" status
	refute_output --partial running
}

@test "lock: root writing in a user's checkout leaves the lock the user's" {
	dv_need_host_root
	dv_envfile <<-EOF
	image: busybox
	EOF
	chown -R 65534:65534 "$DV_CHECKOUT"
	run "$DEVENV" lock
	assert_success
	assert_equal "$(stat -c %u:%g Envfile.lock)" 65534:65534
	assert_equal "$(find . -maxdepth 1 -name '.Envfile.lock.*' | wc -l)" 0
}

@test "lock: a branch moved on the remote changes nothing until lock --update" {
	repo=$BATS_TEST_TMPDIR/repo
	git init -q -b main "$repo"
	echo v1 >"$repo/v"
	git -C "$repo" add v && git -C "$repo" -c user.email=t@t -c user.name=t commit -qm v1
	c1=$(git -C "$repo" rev-parse HEAD)
	dv_envfile <<-EOF
	image: busybox
	provision:
	  - git: file://$repo
	    ref: main
	    to: /src
	EOF
	run "$DEVENV" up
	assert_success
	assert_equal "$(lockval 'd["steps"][0]["commit"]')" "$c1"
	echo v2 >"$repo/v"
	git -C "$repo" -c user.email=t@t -c user.name=t commit -qam v2
	c2=$(git -C "$repo" rev-parse HEAD)
	rm -rf "$DV_STORE/git" # what the store remembers: the lock wins anyway
	run "$DEVENV" provision
	assert_success
	run "$DEVENV" reload
	assert_success
	assert_equal "$("$DEVENV" ssh -c 'cat /src/v')" v1
	assert_equal "$(lockval 'd["steps"][0]["commit"]')" "$c1"
	run "$DEVENV" lock --update 1
	assert_success
	assert_output --partial "updated Envfile.lock"
	assert_equal "$(lockval 'd["steps"][0]["commit"]')" "$c2"
	run "$DEVENV" reload
	assert_success
	assert_equal "$("$DEVENV" ssh -c 'cat /src/v')" v2
}

@test "lock: a moved tag changes nothing; a second store pulls the pinned base by digest; lock --update base moves it" {
	dv_registry_start "$BATS_TEST_TMPDIR/registry"
	REG_PID=$DV_REGISTRY_PID
	tar2=$BATS_TEST_TMPDIR/bb2.tar
	cp "$(busybox_tar)" "$tar2"
	mkdir -p "$BATS_TEST_TMPDIR/x/etc" && echo two >"$BATS_TEST_TMPDIR/x/etc/two"
	tar -rf "$tar2" -C "$BATS_TEST_TMPDIR/x" etc/two
	"$DEVENV" image import "$tar2" bb2 >/dev/null
	"$DEVENV" push busybox "$DV_REGISTRY/team/bb:1" >/dev/null
	dv_envfile <<-EOF
	image: $DV_REGISTRY/team/bb:1
	provision:
	  - run: echo x >/x
	services:
	  side:
	    image: $DV_REGISTRY/team/bb:1
	    command: sleep 1000
	EOF
	run "$DEVENV" up
	assert_success
	id1=$(lockval 'd["base"]["id"]')
	assert_equal "$(lockval 'd["services"][0]["digest"]')" "$(lockval 'd["base"]["digest"]')"
	dig1=$(lockval 'd["base"]["digest"]')
	[[ $dig1 == sha256:* ]]
	"$DEVENV" push bb2 "$DV_REGISTRY/team/bb:1" >/dev/null # the tag moves
	run "$DEVENV" reload
	assert_success
	assert_equal "$(lockval 'd["base"]["id"]')" "$id1"
	cp Envfile.lock before.lock
	# A teammate's store: the moved tag is not what the lock pins.
	STORE_B=$BATS_TEST_TMPDIR/storeb
	run env DEVENV_HOME=$STORE_B "$DEVENV" up --frozen
	assert_success
	assert_output --partial "@$dig1"
	refute_output --partial "[1/1] run: echo x >/x (cached)"
	run env DEVENV_HOME=$STORE_B "$DEVENV" ssh -c 'test -e /etc/two && echo moved || echo pinned'
	assert_output pinned
	diff Envfile.lock before.lock # the service's image too is the pinned one
	run "$DEVENV" lock --update base
	assert_success
	assert_output --partial "updated Envfile.lock"
	[[ $(lockval 'd["base"]["id"]') != "$id1" ]]
	[[ $(lockval 'd["base"]["digest"]') != "$dig1" ]]
}

@test "lock: a devcontainer.json project's lock sits next to it" {
	mkdir .devcontainer
	cat >.devcontainer/devcontainer.json <<-'EOF'
	{ "image": "busybox", "postCreateCommand": "echo made >/made" }
	EOF
	run "$DEVENV" up
	assert_success
	[[ -f .devcontainer/Envfile.lock && ! -e Envfile.lock ]]
	run "$DEVENV" lock --check
	assert_success
	assert_output --partial ".devcontainer/Envfile.lock matches"
}

@test "lock: a service's image is pinned; --frozen names a changed one" {
	dv_busybox_image other
	dv_envfile <<-EOF
	image: busybox
	services:
	  db:
	    image: busybox
	    command: sleep 1000
	EOF
	run "$DEVENV" lock
	assert_success
	assert_equal "$(lockval 'd["services"][0]["name"]')" db
	assert_equal "$(lockval 'd["services"][0]["image"]')" busybox
	[[ $(lockval 'd["services"][0]["id"]') == sha256:* ]]
	sed -i 's/    image: busybox/    image: other/' Envfile
	run "$DEVENV" up --frozen
	assert_failure
	assert_output --partial "Envfile:4:12: service 'db' (image 'other') differs from Envfile.lock"
}

@test "lock: Debian env: written and frozen; a store without the pinned base says what is missing" {
	dv_debian_image
	dv_envfile <<-EOF
	image: debian:bookworm
	provision:
	  - run: echo deb >/etc/deb-step
	EOF
	run "$DEVENV" up
	assert_success
	[[ -f Envfile.lock ]]
	run "$DEVENV" up --frozen
	assert_success
	id=$(lockval 'd["base"]["id"]')
	STORE_B=$BATS_TEST_TMPDIR/storeb
	run env DEVENV_HOME=$STORE_B "$DEVENV" up --frozen
	assert_failure
	assert_output --partial "--frozen: the base debian:bookworm pinned by Envfile.lock (id $id) is not in the store"
	assert_output --partial "'devenv image load BUNDLE'"
	[[ ! -d $STORE_B/layers ]] || [[ -z $(ls "$STORE_B/layers") ]]
}

@test "lock: a copy of the checkout leaves the lock out, so the next up is cached" {
	echo tracked >a.txt
	mkdir plain && echo p >plain/p # a folder outside git's index: the plain walk
	dv_envfile <<-'EOF'
	image: busybox
	provision:
	  - copy: .
	    to: /w
	EOF
	git add Envfile a.txt && git commit -qm a
	run "$DEVENV" up
	assert_success
	[[ -f Envfile.lock ]]
	"$DEVENV" halt
	before=$(stat -c '%i %Y.%y' Envfile.lock)
	run "$DEVENV" up
	assert_success
	assert_line "[1/1] copy: . -> /w (cached)"
	assert_equal "$(stat -c '%i %Y.%y' Envfile.lock)" "$before"
	run "$DEVENV" ssh -c 'ls -A /w'
	refute_output --partial Envfile.lock
	rm -rf .git # no git filter: the lock is left out all the same
	"$DEVENV" halt
	run "$DEVENV" up
	assert_success
	"$DEVENV" halt
	run "$DEVENV" up
	assert_success
	assert_line "[1/1] copy: . -> /w (cached)"
	run "$DEVENV" ssh -c 'ls -A /w'
	refute_output --partial Envfile.lock
}
