#!/usr/bin/env bats
# `volumes` (named volumes kept in the store: the env's own as
# volumes/NAME-ID-VOLUME, a shared one as volumes/NAME) and `mounts` (host
# folders and files), `devenv volume ls|rm`, `destroy --volumes`, and what
# becomes of volumes made before volumes were per env. Runs in both passes;
# what needs root of the host says so.

load helpers
bats_require_minimum_version 1.5.0

setup() {
	dv_setup
	dv_busybox_image
}
teardown() { dv_teardown; }

# env_id [DIR]: the id of the env of DIR (default: here), from its path as
# devenv computes it (DESIGN.md: sha256 of the checkout's real path and the
# Envfile's path in it).
env_id() {
	local dir
	dir=$(cd "${1:-.}" && pwd -P)
	printf '%s\0%s' "$dir" Envfile | sha256sum | cut -c1-12
}

# own NAME [ENV [DIR]]: the store folder of the env's own volume NAME.
own() {
	printf '%s/volumes/%s-%s-%s\n' "$DV_STORE" "${2:-proj}" "$(env_id "${3:-.}")" "$1"
}

# make_old DIR NAME ENV: turn env ENV (checkout DIR)'s own volume NAME into
# what an older devenv left: volumes/NAME with no record beside it, and
# state.json naming NAME. When volumes/NAME is there already, the env's own
# is dropped (two envs named one volume).
make_old() {
	local id vol
	id=$(env_id "$1")
	vol=$DV_STORE/volumes/$3-$id-$2
	[[ -e $DV_STORE/volumes/$2 ]] || mv "$vol" "$DV_STORE/volumes/$2"
	rm -rf "$vol" "$DV_STORE/volumes/.$3-$id-$2.json"
	python3 -c '
import json, sys
p = sys.argv[1]
s = json.load(open(p))
s["volumes"] = [sys.argv[2]]
json.dump(s, open(p, "w"))
' "$DV_STORE/envs/$id/state.json" "$2"
}

# second_checkout NAME: another git checkout next to ours, with its Envfile
# on stdin; prints its path.
second_checkout() {
	local dir=$BATS_TEST_TMPDIR/$1
	mkdir -p "$dir"
	git -C "$dir" init -q
	cat >"$dir/Envfile"
	printf '%s\n' "$dir"
}

@test "volumes: a named volume is the env's own, survives destroy and up; a shared one is the store's" {
	dv_envfile <<-'EOF'
	image: busybox
	volumes: ["cache:/cache", {name: tools, target: /tools, shared: true}]
	EOF
	run "$DEVENV" up
	assert_success
	run "$DEVENV" ssh -c 'echo kept > /cache/f && echo t > /tools/t && touch /not-a-volume'
	assert_success
	[[ -d $(own cache) && -d $DV_STORE/volumes/tools ]]
	run "$DEVENV" destroy -f
	assert_success
	assert_output "env 'proj' destroyed (the checkout and named volumes are kept)"
	[[ $(cat "$(own cache)/f") == kept ]]
	run "$DEVENV" up
	assert_success
	run "$DEVENV" ssh -c 'cat /cache/f; ls /not-a-volume'
	assert_line kept
	assert_line --partial "/not-a-volume: No such file or directory"

	# another checkout naming 'cache' has its own; naming 'tools' shared, the same
	other=$(second_checkout other <<-'EOF'
	image: busybox
	volumes: ["cache:/elsewhere:ro", "tools:/t:ro,shared"]
	EOF
	)
	cd "$other"
	run "$DEVENV" up
	assert_success
	run "$DEVENV" ssh -c 'ls -A /elsewhere; cat /t/t; echo x > /elsewhere/g'
	refute_line kept
	assert_line t
	assert_line --partial "Read-only file system"
	[[ -d $(own cache other "$other") ]]
	run "$DEVENV" volume ls
	assert_success
	assert_line --index 0 --regexp '^VOLUME +ENV +NAME +SIZE +USED BY$'
	assert_line --regexp "^proj-$(env_id "$DV_CHECKOUT")-cache +proj +cache +[0-9.]+ [KMG]?i?B +proj$"
	assert_line --regexp "^other-$(env_id)-cache +other +cache +[0-9.]+ [KMG]?i?B +other$"
	assert_line --regexp '^tools +- +tools +[0-9.]+ [KMG]?i?B +(proj,other|other,proj)$'
	run "$DEVENV" volume ls --json
	assert_success
	python3 -c '
import json, sys
v = {x["name"]: x for x in json.loads(sys.argv[1])}
mine = "proj-%s-cache" % sys.argv[2]
assert sorted(v) == sorted([mine, "other-%s-cache" % sys.argv[3], "tools"]), v
assert v[mine]["volume"] == "cache" and v[mine]["env"] == {"id": sys.argv[2], "name": "proj"}, v
assert v[mine]["shared"] is False and v[mine]["running"] is True and v[mine]["size"] > 0, v
assert [e["name"] for e in v[mine]["envs"]] == ["proj"], v
assert v["tools"]["env"] is None and v["tools"]["shared"] is True, v
assert sorted(e["name"] for e in v["tools"]["envs"]) == ["other", "proj"], v
' "$output" "$(env_id "$DV_CHECKOUT")" "$(env_id)"
}

@test "volumes: two envs coming up at once share the one new shared volume" {
	printf 'image: busybox\nvolumes: ["race:/r:shared"]\non_up:\n  - run: touch /r/$(hostname)\n' | dv_envfile
	other=$(printf 'name: other\nimage: busybox\nvolumes: ["race:/r:shared"]\non_up:\n  - run: touch /r/$(hostname)\n' |
		second_checkout other)
	"$DEVENV" up >"$BATS_TEST_TMPDIR/a" 2>&1 &
	local a=$!
	(cd "$other" && "$DEVENV" up) >"$BATS_TEST_TMPDIR/b" 2>&1 &
	local b=$!
	wait "$a" || { cat "$BATS_TEST_TMPDIR/a"; return 1; }
	wait "$b" || { cat "$BATS_TEST_TMPDIR/b"; return 1; }
	run ls "$DV_STORE/volumes/race"
	assert_output "$(printf 'other\nproj')"
	run ls "$DV_STORE/volumes"
	assert_output race
}

@test "volumes: changing them makes up of a running env say reload, and reload applies them" {
	printf 'image: busybox\n' | dv_envfile
	run "$DEVENV" up
	assert_success
	printf 'image: busybox\nvolumes: ["data:/data"]\nmounts: ["./src:/src:ro"]\n' | dv_envfile
	mkdir src && echo s > src/f
	run "$DEVENV" up
	assert_success
	assert_output "env 'proj' is running, but its Envfile changed; 'devenv reload' restarts it with the change (its files are kept)"
	run "$DEVENV" reload
	assert_success
	run "$DEVENV" ssh -c 'cat /src/f; touch /data/ok && echo wrote'
	assert_line s
	assert_line wrote
	[[ -f $(own data)/ok ]]
}

@test "volumes: a new volume starts with the image's files and owner; provisioning never sees volumes" {
	dv_envfile <<-'EOF'
	image: busybox
	provision:
	  - run: mkdir -p /srv/seed && echo from-image > /srv/seed/f && chown -R 7:7 /srv/seed && chmod 0750 /srv/seed && ls /srv/seed /cache > /built 2>&1 || true
	volumes: ["seed:/srv/seed", "cache:/cache"]
	EOF
	run "$DEVENV" up
	assert_success
	run "$DEVENV" ssh -c 'cat /srv/seed/f; stat -c "%u:%g %a" /srv/seed /srv/seed/f; cat /built'
	assert_success
	assert_line from-image
	assert_line "7:7 750"
	assert_line "7:7 644"
	# the build container had no volume at /cache, and the layer holds no mount point
	assert_line --partial "/cache: No such file or directory"
	# (without root, uid 7 is a subordinate id of ours, which we cannot read as)
	((EUID != 0)) || [[ $(cat "$(own seed)/f") == from-image ]]
	# filled once: what the env changes there stays, the image does not come back
	run "$DEVENV" ssh -c 'rm /srv/seed/f && echo mine > /srv/seed/g'
	assert_success
	run "$DEVENV" reload
	assert_success
	run "$DEVENV" ssh -c 'ls /srv/seed'
	assert_output g
}

@test "volumes: a volume at a target the image lacks belongs to the env's user" {
	dv_need_host_root "the checkout is handed to uid 4242 by chown"
	chown -R 4242:4242 "$DV_CHECKOUT"
	dv_envfile <<-'EOF'
	image: busybox
	user: dev
	volumes: ["devcache:/home/dev/.cache"]
	EOF
	run "$DEVENV" up
	assert_success
	run "$DEVENV" ssh -c 'id -u; stat -c %u:%g /home/dev/.cache; touch /home/dev/.cache/x && echo ok'
	assert_success
	assert_line 4242
	assert_line 4242:4242
	assert_line ok
	[[ $(stat -c %u "$(own devcache)/x") == 4242 ]]
}

# A target in the checkout that it lacks yet (node_modules on a fresh
# clone) is made as the checkout's owner: as root, the checkout is an
# idmapped mount where no other id can own a file (EOVERFLOW, "Value too
# large for defined data type", before).
@test "volumes: a target inside the checkout that it lacks is made there, the checkout owner's" {
	local ids
	ids="$(id -u):$(id -g)"
	mkdir -p shared
	echo s >shared/f
	dv_envfile <<-'EOF'
	image: busybox
	volumes: ["nm:/workspace/web/node_modules"]
	mounts: ["./shared:/workspace/vendor/shared:ro"]
	EOF
	if ((EUID == 0)); then
		chown -R 4242:4242 "$DV_CHECKOUT"
		ids=4242:4242
	fi
	run "$DEVENV" up
	assert_success
	run "$DEVENV" status --json
	((EUID != 0)) || [[ $(dv_json checkout_ownership <<<"$output") == idmapped ]]
	run "$DEVENV" ssh -c 'touch /workspace/web/node_modules/x && cat /workspace/vendor/shared/f'
	assert_success
	assert_output s
	[[ -e $(own nm)/x ]]
	run stat -c %u:%g web web/node_modules vendor vendor/shared
	assert_output "$(printf '%s\n' "$ids" "$ids" "$ids" "$ids")"
	[[ -z $(ls -A web/node_modules) ]] # the volume's content is the store's
}

# Made as the checkout's owner, but looked up as root: a workdir below a
# folder only root can enter is still reached.
@test "volumes: a target the checkout lacks, below a workdir in /root (0700)" {
	local ids
	ids="$(id -u):$(id -g)"
	dv_envfile <<-'EOF'
	image: busybox
	workdir: /root/src
	provision:
	  - run: mkdir -p /root && chmod 700 /root
	volumes: ["nm:/root/src/web/node_modules"]
	EOF
	if ((EUID == 0)); then
		chown -R 4242:4242 "$DV_CHECKOUT"
		ids=4242:4242
	fi
	run "$DEVENV" up
	assert_success
	run "$DEVENV" ssh -c 'touch /root/src/web/node_modules/x && echo ok'
	assert_output ok
	[[ $(stat -c %u:%g web/node_modules) == "$ids" && -e $(own nm)/x ]]
}

@test "volumes: an image's symlink cannot send a mount target out of the root" {
	local out=$BATS_TEST_TMPDIR/outside
	mkdir -p "$out"
	dv_envfile <<-EOF
	image: busybox
	provision:
	  - run: mkdir -p $out && ln -s $out /evil && ln -s $out/nothing /dangling
	volumes: ["v:/evil/sub"]
	mounts: ["$out:/evil/host"]
	EOF
	run "$DEVENV" up
	assert_success
	run "$DEVENV" ssh -c "touch /evil/sub/x && ls -d $out/sub/x $out/host"
	assert_success
	# followed inside the root: nothing appeared on the host
	[[ ! -e $out/sub && ! -e $out/host ]]
	[[ -f $(own v)/x ]]
	# a link to a folder the root lacks is refused, not followed out
	printf 'image: busybox\nprovision:\n  - run: ln -s %s/nothing /dangling\nvolumes: ["v:/dangling/sub"]\n' \
		"$out" | dv_envfile
	run "$DEVENV" reload
	assert_failure 1
	assert_output --partial "devenv: cannot start env 'proj': mount target '/dangling/sub': cannot open folder '/dangling': Not a directory"
	[[ ! -e $out/nothing ]]
}

@test "destroy --volumes removes the env's own volumes, keeping the shared ones" {
	printf 'image: busybox\nvolumes: ["mine:/mine", "team:/team:shared"]\n' | dv_envfile
	run "$DEVENV" up
	assert_success
	other=$(printf 'image: busybox\nvolumes: ["team:/s:shared", "mine:/m"]\n' | second_checkout other)
	(cd "$other" && "$DEVENV" up >/dev/null)
	run "$DEVENV" destroy -f --volumes
	assert_success
	assert_line --index 0 "env 'proj' destroyed (the checkout is kept)"
	assert_line "volume '$(basename "$(own mine)")' removed"
	assert_line "volume 'team' kept: env 'other' names it too"
	[[ ! -e $(own mine) ]]
	[[ -d $DV_STORE/volumes/team ]]
	[[ -d $(own mine other "$other") ]]
	(cd "$other" && "$DEVENV" destroy -f --volumes >/dev/null)
	run "$DEVENV" up
	assert_success
	run "$DEVENV" destroy -f --volumes
	assert_success
	assert_line "volume 'team' kept: it is shared; 'devenv volume rm team' removes it"
	[[ -d $DV_STORE/volumes/team ]]
	# gc never touches volumes
	run "$DEVENV" gc
	assert_success
	[[ -d $DV_STORE/volumes/team ]]
}

@test "volume rm: refused while an env names it, --force for a halted one, never while running" {
	printf 'image: busybox\nvolumes: ["v1:/v1"]\n' | dv_envfile
	run "$DEVENV" up
	assert_success
	local v1
	v1=$(basename "$(own v1)")
	run "$DEVENV" volume rm --force v1
	assert_failure 1
	assert_output "devenv: volume '$v1' is in use by running env 'proj'; halt it first; nothing was removed"
	run "$DEVENV" halt
	assert_success
	run "$DEVENV" volume rm "$v1"
	assert_failure 1
	assert_output "devenv: volume '$v1' is named by env 'proj'; 'devenv destroy --volumes' there, or 'devenv volume rm --force $v1' (its next up starts it empty); nothing was removed"
	[[ -d $(own v1) ]]
	run "$DEVENV" volume rm -f nosuch v1
	assert_failure 1
	assert_output "devenv: no volume named 'nosuch'; 'devenv volume ls' lists them; nothing was removed"
	[[ -d $(own v1) ]]
	run "$DEVENV" volume rm Bad
	assert_failure 2
	assert_output "devenv: 'Bad' is not a volume name; 'devenv volume ls' lists them"
	# in the checkout, the Envfile's name is the env's own volume
	run "$DEVENV" volume rm -f v1
	assert_success
	assert_output "volume '$v1' removed"
	[[ ! -e $(own v1) ]]
	# elsewhere, only the store's name
	run "$DEVENV" up
	assert_success
	run "$DEVENV" destroy -f
	cd /
	run "$DEVENV" volume rm v1
	assert_failure 1
	assert_output "devenv: no volume named 'v1'; 'devenv volume ls' lists them; nothing was removed"
	# an unnamed volume goes without --force
	run "$DEVENV" volume rm "$v1"
	assert_success
	run "$DEVENV" volume ls
	assert_output --regexp '^VOLUME +ENV +NAME +SIZE +USED BY$'
	run "$DEVENV" volume --help
	assert_success
	assert_line "usage: devenv volume COMMAND ..."
	assert_line --regexp "^  ls +list named volumes"
	assert_line --regexp "^  rm +remove volumes"
}

@test "volume rm: a short name that is also a store-wide volume's asks for the full name" {
	printf 'image: busybox\nvolumes: ["cache:/c", "other:/o:shared"]\n' | dv_envfile
	run "$DEVENV" up
	assert_success
	printf 'image: busybox\nvolumes: ["cache:/c:shared"]\n' | second_checkout other >/dev/null
	(cd "$BATS_TEST_TMPDIR/other" && "$DEVENV" up >/dev/null && "$DEVENV" destroy -f >/dev/null)
	"$DEVENV" destroy -f >/dev/null
	run "$DEVENV" volume rm cache
	assert_failure 2
	assert_output "devenv: 'cache' is both the store-wide volume 'cache' and env $(env_id)'s own '$(basename "$(own cache)")'; give the full name; nothing was removed"
	[[ -d $(own cache) && -d $DV_STORE/volumes/cache ]]
}

@test "volumes made before they were per env: the one env that named it takes it, one named by two stays store-wide" {
	printf 'image: busybox\nvolumes: ["solo:/solo"]\n' | dv_envfile
	run "$DEVENV" up
	assert_success
	"$DEVENV" ssh -c 'echo mine > /solo/f'
	"$DEVENV" halt >/dev/null
	make_old . solo proj
	[[ -f $DV_STORE/volumes/solo/f && ! -e $(own solo) ]]
	run "$DEVENV" up
	assert_success
	assert_line "devenv: note: volume 'solo', made before volumes were per env, is now env 'proj''s own: '$(basename "$(own solo)")'"
	[[ ! -e $DV_STORE/volumes/solo ]]
	run "$DEVENV" ssh -c 'cat /solo/f'
	assert_output mine
	run "$DEVENV" reload
	assert_success
	refute_output --partial note
	"$DEVENV" halt >/dev/null

	# two checkouts of one project on one folder: neither takes it
	printf 'image: busybox\nvolumes: ["pg:/pg"]\n' | dv_envfile
	other=$(printf 'name: proj\nimage: busybox\nvolumes: ["pg:/pg"]\n' | second_checkout other)
	run "$DEVENV" up
	assert_success
	"$DEVENV" ssh -c 'echo data > /pg/f'
	"$DEVENV" halt >/dev/null
	(cd "$other" && "$DEVENV" up >/dev/null && "$DEVENV" halt >/dev/null)
	make_old . pg proj
	make_old "$other" pg proj
	run "$DEVENV" up
	assert_success
	assert_line "devenv: note: volume 'pg' is named by env 'proj' ($(env_id "$other")) too: env 'proj' gets its own, empty '$(basename "$(own pg)")' (the store-wide 'pg' stays as it is; to use it, write {name: pg, shared: true, target: /pg}; README: Volumes and host mounts)"
	run "$DEVENV" ssh -c 'ls -A /pg'
	assert_output ""
	cd "$other"
	run "$DEVENV" up
	assert_success
	assert_line "devenv: note: volume 'pg' is store-wide (shared): env 'proj' gets its own, empty '$(basename "$(own pg proj "$other")")' (the store-wide 'pg' stays as it is; to use it, write {name: pg, shared: true, target: /pg}; README: Volumes and host mounts)"
	run "$DEVENV" ssh -c 'ls -A /pg'
	assert_output ""
	# the old one is still there, reached as shared
	printf 'name: proj\nimage: busybox\nvolumes: ["pg:/pg:shared"]\n' | dv_envfile
	run "$DEVENV" reload
	assert_success
	run "$DEVENV" ssh -c 'cat /pg/f'
	assert_output data
}

@test "volumes made before: up of an env an older devenv started takes its volume over, and says so in its state" {
	printf 'image: busybox\nvolumes: ["cache:/cache"]\n' | dv_envfile
	run "$DEVENV" up
	assert_success
	"$DEVENV" ssh -c 'echo kept > /cache/f'
	make_old . cache proj
	run "$DEVENV" up
	assert_success
	assert_line "devenv: note: volume 'cache', made before volumes were per env, is now env 'proj''s own: '$(basename "$(own cache)")'"
	run "$DEVENV" ssh -c 'cat /cache/f'
	assert_output kept
	# the running env's volume is known as such: never removed under it
	run "$DEVENV" volume rm -f "$(basename "$(own cache)")"
	assert_failure 1
	assert_output --partial "is in use by running env 'proj'"
}

@test "volumes: the env's own follow it when its name changes; two names that would be one folder are refused" {
	printf 'name: before\nimage: busybox\nvolumes: ["cache:/cache"]\n' | dv_envfile
	run "$DEVENV" up
	assert_success
	"$DEVENV" ssh -c 'echo kept > /cache/f'
	printf 'name: after\nimage: busybox\nvolumes: ["cache:/cache"]\n' | dv_envfile
	run "$DEVENV" reload
	assert_success
	assert_line "devenv: note: env 'after' was called 'before': its volume 'cache' is now '$(basename "$(own cache after)")'"
	[[ ! -e $(own cache before) ]]
	run "$DEVENV" ssh -c 'cat /cache/f'
	assert_output kept

	printf 'image: busybox\nvolumes: ["a_b:/x", "a-b:/y"]\n' | dv_envfile
	run "$DEVENV" reload
	assert_failure 2
	assert_output --partial "devenv: Envfile:2:21: volumes 'a-b' and 'a_b' (line 2) would be one folder '$(basename "$(own a-b)")' in the store; rename one"
}

@test "volumes: a folder recorded as another env's is refused, at the entry's line" {
	local vol
	vol=$(own cache)
	mkdir -p "$vol"
	printf '{"volume":"cache","env":{"id":"aaaaaaaaaaaa","name":"proj"}}\n' \
		>"$DV_STORE/volumes/.$(basename "$vol").json"
	echo theirs >"$vol/f"
	printf 'image: busybox\nvolumes: ["cache:/cache"]\n' | dv_envfile
	run "$DEVENV" up
	assert_failure 2
	assert_output "devenv: Envfile:2:11: volume 'cache' would be the folder '$(basename "$vol")', which is volume 'cache' of env 'proj' (aaaaaaaaaaaa); rename the volume"
	[[ -z $(dv_init_pid) ]]
}

@test "mounts: a read-only host mount cannot be written; a read-write one's writes reach the host" {
	mkdir -p data "$BATS_TEST_TMPDIR/shared"
	echo in-checkout > data/f
	echo host > "$BATS_TEST_TMPDIR/one-file"
	dv_envfile <<-EOF
	image: busybox
	mounts: ["./data:/data:ro", "$BATS_TEST_TMPDIR/shared:/shared", "$BATS_TEST_TMPDIR/one-file:/etc/one-file:ro"]
	EOF
	run "$DEVENV" up
	assert_success
	run "$DEVENV" ssh -c 'cat /data/f /etc/one-file; echo x > /data/g; mount -o remount,rw /data; echo y > /shared/new && echo wrote'
	assert_line in-checkout
	assert_line host
	assert_line --partial "can't create /data/g: Read-only file system"
	assert_line wrote
	[[ ! -e data/g ]]
	[[ $(cat "$BATS_TEST_TMPDIR/shared/new") == y ]]
	# root in the env is root on the host as root, and you without root
	[[ $(stat -c %u "$BATS_TEST_TMPDIR/shared/new") == "$(id -u)" ]]
}

@test "mounts: what the env's user writes to a host mount belongs to the host user" {
	dv_need_host_root "the checkout is handed to uid 4242 by chown"
	mkdir -p shared
	chown -R 4242:4242 "$DV_CHECKOUT"
	dv_envfile <<-'EOF'
	image: busybox
	user: dev
	mounts: ["./shared:/shared"]
	EOF
	run "$DEVENV" up
	assert_success
	run "$DEVENV" ssh -c 'echo z > /shared/by-dev && echo ok'
	assert_output ok
	[[ $(stat -c %u:%g shared/by-dev) == 4242:4242 ]]
}

@test "mounts and volumes: bad ones give one clear line" {
	mkdir -p "$BATS_TEST_TMPDIR/x" data
	ln -s /etc link
	echo f > file
	local -a cases=(
		'mounts: ["./../x:/x"]'
		"Envfile:2:10: 'mounts': './../x' is outside the checkout; write it as an absolute path if you mean to share that folder"
		'mounts: ["./link:/x"]'
		"Envfile:2:10: 'mounts': './link' is outside the checkout; write it as an absolute path if you mean to share that folder"
		'mounts: ["./data:/"]'
		"Envfile:2:10: 'mounts' entry './data:/': cannot mount over '/'; choose a folder such as '/data'"
		'volumes: ["c:/workspace"]'
		"Envfile:2:11: '/workspace' is the workdir, where the checkout is mounted; choose another target"
		'volumes: ["Bad:/x"]'
		"Envfile:2:11: volume name 'Bad' must be 1 to 63 lower-case letters, digits, '_', '.' or '-', starting with a letter or digit"
		'mounts: ["./nope:/x"]'
		"Envfile:2:10: 'mounts': './nope' does not exist; create it, or fix the path (relative to the Envfile's folder)"
	)
	for ((i = 0; i < ${#cases[@]}; i += 2)); do
		printf 'image: busybox\n%s\n' "${cases[i]}" | dv_envfile
		run "$DEVENV" up
		assert_failure 2
		assert_output "devenv: ${cases[i + 1]}"
	done
	printf 'image: busybox\nworkdir: /w/s\nvolumes: ["c:/w"]\n' | dv_envfile
	run "$DEVENV" up
	assert_failure 2
	assert_output "devenv: Envfile:3:11: '/w' holds the workdir '/w/s' and would hide the checkout; choose another target"
	printf 'image: busybox\nmounts: ["./file:/etc"]\n' | dv_envfile
	run "$DEVENV" up
	assert_failure 1
	assert_output "devenv: cannot start env 'proj': cannot mount file '$DV_CHECKOUT/file' on '/etc': it is a folder in the env"
	[[ -z $(dv_init_pid) ]]
}

@test "mounts: a source that vanished between reading the Envfile and starting gives one line" {
	mkdir data
	dv_envfile <<-'EOF'
	image: busybox
	provision:
	  - run: sleep 3
	mounts: ["./data:/data"]
	EOF
	"$DEVENV" up >"$BATS_TEST_TMPDIR/out" 2>&1 &
	local pid=$!
	# The Envfile is read once the step runs: the folder goes then.
	dv_wait 30 grep -q '^\[1/1\] run: sleep 3' "$BATS_TEST_TMPDIR/out"
	rmdir data
	local rc=0
	wait "$pid" || rc=$?
	((rc == 2)) || {
		cat "$BATS_TEST_TMPDIR/out"
		return 1
	}
	run grep '^devenv:' "$BATS_TEST_TMPDIR/out"
	# (where /dev/net/tun is not ours, the steps' network warning too)
	[[ -r /dev/net/tun && -w /dev/net/tun ]] || output=$(grep -v '^devenv: warning: network: private: ' <<<"$output")
	assert_output "devenv: Envfile:4:10: mount source './data' no longer exists; create it, or remove it from 'mounts'"
	[[ -z $(dv_init_pid) ]]
}
