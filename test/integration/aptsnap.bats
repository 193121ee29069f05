#!/usr/bin/env bats
# `apt_snapshot`: a run step of a Debian-based env sees the Debian archive
# as of a time (provision/aptsnap.c). Against a local dated archive built
# here (helpers.bash's dv_apt_archive, which reproducible.bats uses too):
# apt-ftparchive, a throw-away gpg key the env is given by a `copy`
# step, a Release whose Valid-Until has passed, two dates with two versions
# of one package, served by python3's http.server on 127.0.0.1 (the steps
# reach it with `network: host`).

load helpers

A=2026-11-01T00:00:00Z # devenv-probe 1
B=2026-11-20T12:00:00Z # devenv-probe 2

setup_file() {
	local rc=0
	# helpers.bash's archive: devenv-probe 1 on A's date, 2 on B's (2:
	# a tool is missing, and each test skips saying which).
	dv_apt_archive "$BATS_FILE_TMPDIR" 20261101T000000Z=1 20261120T120000Z=2 || rc=$?
	((rc != 2)) || return 0
	((rc == 0)) || return 1
	# The same as A, but its Packages changed after Release was signed.
	cp -a "$BATS_FILE_TMPDIR/www/archive/debian/20261101T000000Z" \
		"$BATS_FILE_TMPDIR/www/archive/debian/20261105T000000Z"
	sed -i 's/apt_snapshot probe/apt_snapshot PROBE/' \
		"$BATS_FILE_TMPDIR/www/archive/debian/20261105T000000Z/dists/bookworm/main/binary-amd64/Packages"
}

setup() {
	dv_setup
	command -v apt-ftparchive >/dev/null || skip "apt-ftparchive is not installed (apt-utils)"
	[[ -s $BATS_FILE_TMPDIR/probe.gpg ]] || skip "gpg or dpkg-deb is not installed"
	dv_apt_serve "$BATS_FILE_TMPDIR"
}

teardown() {
	dv_apt_serve_stop
	dv_teardown
}

# apt_envfile TIME [822]: a Debian env whose sources name deb.debian.org
# (the test's archive only has bookworm/main), one-line or deb822, the key
# copied in, and a step that installs devenv-probe.
apt_envfile() {
	local sources="echo 'deb [signed-by=/etc/apt/keyrings/devenv-probe.gpg] http://deb.debian.org/debian bookworm main' >/etc/apt/sources.list"
	[[ ${2:-} == 822 ]] &&
		sources="printf 'Types: deb\\nURIs: http://deb.debian.org/debian\\nSuites: bookworm\\nComponents: main\\nSigned-By: /etc/apt/keyrings/devenv-probe.gpg\\n' >/etc/apt/sources.list.d/probe.sources"
	cp "$BATS_FILE_TMPDIR/probe.gpg" "$DV_CHECKOUT/probe.gpg"
	dv_envfile <<-EOF
	image: debian:bookworm
	network: host
	apt_snapshot: $1
	apt_snapshot_url: http://127.0.0.1:$APT_PORT/archive/
	provision:
	  - copy: probe.gpg
	    to: /etc/apt/keyrings/devenv-probe.gpg
	  - run: |
	      rm -f /etc/apt/sources.list /etc/apt/sources.list.d/* && $sources
	  - run: apt-get update -q && apt-get install -y -q devenv-probe
	EOF
}

@test "apt_snapshot: two dates install the two versions, through an expired signed Release; the env keeps its sources" {
	dv_debian_image
	apt_envfile "$A"
	run "$DEVENV" up -q
	assert_success
	refute_output --partial "changed apt's sources" # its own step: no warning
	run "$DEVENV" ssh -c 'cat /usr/share/devenv-probe/version; cat /etc/apt/sources.list; ls /dev/shm; ls /etc/apt/sources.list.d | wc -l'
	assert_success
	assert_output "1
deb [signed-by=/etc/apt/keyrings/devenv-probe.gpg] http://deb.debian.org/debian bookworm main
0"
	"$DEVENV" destroy -f >/dev/null
	apt_envfile "$B" 822
	run "$DEVENV" up -q
	assert_success
	run "$DEVENV" ssh -c 'cat /usr/share/devenv-probe/version; grep URIs /etc/apt/sources.list.d/probe.sources'
	assert_output "2
URIs: http://deb.debian.org/debian"
	# nothing of the prelude in any layer (its files are on /dev/shm; a
	# rootless store's apt folders are the env's _apt's: not looked into)
	run bash -c 'find "$1/layers" -name "devenv-apt-snapshot*" 2>/dev/null; ls -d "$1"/layers/*/diff/dev/shm/* 2>/dev/null' _ "$DV_STORE"
	assert_output ""
}

@test "apt_snapshot: a Packages file changed after its Release was signed fails the step" {
	dv_debian_image
	apt_envfile 2026-11-05T00:00:00Z
	run "$DEVENV" up -q
	assert_failure
	assert_output --partial "Hash Sum mismatch"
	assert_line --partial "Envfile:10:5: provisioning step 3 failed with exit status 100"
}

@test "apt_snapshot: what a step's apt reads: Debian's URIs rewritten in both formats, the rest as written" {
	dv_debian_image
	dv_envfile <<-'EOF'
	image: debian:bookworm
	apt_snapshot: 2026-11-20T00:00:00Z
	provision:
	  - run: |
	      rm -f /etc/apt/sources.list.d/*
	      cat >/etc/apt/sources.list <<'END'
	      deb http://ftp.de.debian.org/debian bookworm main
	      deb [arch=amd64 signed-by=/k.gpg] https://deb.debian.org/debian/ bookworm main
	       deb-src http://security.debian.org/ buster/updates main
	      # deb http://deb.debian.org/debian bookworm main
	      deb http://download.example.com/linux/debian bookworm stable
	      deb http://deb.debian.org/debianx bookworm main
	      END
	      printf 'Types: deb\nuris: http://deb.debian.org/debian-security http://example.com/debian\nSuites: bookworm-security\n' >/etc/apt/sources.list.d/s.sources
	  - run: cat /dev/shm/devenv-apt-snapshot/sources.list /dev/shm/devenv-apt-snapshot/sources.list.d/s.sources; cat "$APT_CONFIG"
	EOF
	run "$DEVENV" up
	assert_success
	assert_line "deb [check-valid-until=no] https://snapshot.debian.org/archive/debian/20261120T000000Z/ bookworm main"
	assert_line "deb [check-valid-until=no arch=amd64 signed-by=/k.gpg] https://snapshot.debian.org/archive/debian/20261120T000000Z/ bookworm main"
	assert_line " deb-src [check-valid-until=no] https://snapshot.debian.org/archive/debian-security/20261120T000000Z/ buster/updates main"
	assert_line "# deb http://deb.debian.org/debian bookworm main"
	assert_line "deb http://download.example.com/linux/debian bookworm stable"
	assert_line "deb http://deb.debian.org/debianx bookworm main"
	assert_line "uris: https://snapshot.debian.org/archive/debian-security/20261120T000000Z/ http://example.com/debian"
	assert_line "Check-Valid-Until: no"
	assert_line 'Dir::Etc::sourcelist "/dev/shm/devenv-apt-snapshot/sources.list";'
	assert_line 'Dir::Etc::sourceparts "/dev/shm/devenv-apt-snapshot/sources.list.d";'
	run "$DEVENV" ssh -c 'cat /etc/apt/sources.list.d/s.sources'
	assert_output "Types: deb
uris: http://deb.debian.org/debian-security http://example.com/debian
Suites: bookworm-security"
}

@test "apt_snapshot: a step that writes a source and runs apt in it is warned of, once" {
	dv_debian_image
	cp "$BATS_FILE_TMPDIR/probe.gpg" "$DV_CHECKOUT/probe.gpg"
	dv_envfile <<-EOF
	image: debian:bookworm
	network: host
	apt_snapshot: $A
	apt_snapshot_url: http://127.0.0.1:$APT_PORT/archive/
	provision:
	  - copy: probe.gpg
	    to: /etc/apt/keyrings/devenv-probe.gpg
	  - run: |
	      rm -f /etc/apt/sources.list.d/*
	      echo 'deb [signed-by=/etc/apt/keyrings/devenv-probe.gpg] http://deb.debian.org/debian bookworm main' >/etc/apt/sources.list
	      apt-get update -q || true
	EOF
	run "$DEVENV" up -q
	assert_success
	assert_line "devenv: warning: Envfile:8:5: step 2 (run: rm -f /etc/apt/sources.list.d/* …) changed apt's sources and ran apt: with apt_snapshot its apt read the sources as they were when it started; move the source to a step of its own"
	[[ $(grep -c "changed apt's sources" <<<"$output") == 1 ]]
}

@test "apt_snapshot: a busybox env runs its steps as before" {
	dv_busybox_image
	dv_envfile <<-'EOF'
	image: busybox
	apt_snapshot: 2026-11-01T00:00:00Z
	provision:
	  - run: echo "[${APT_CONFIG:-none}]" >/seen; ls /dev/shm >>/seen
	EOF
	run "$DEVENV" up -q
	assert_success
	run "$DEVENV" ssh -c 'cat /seen'
	assert_output "[none]"
}

@test "apt_snapshot: a bad or future time is an Envfile error at its position" {
	dv_busybox_image
	printf 'image: busybox\napt_snapshot: 2026-13-01T00:00:00Z\n' | dv_envfile
	run "$DEVENV" up
	assert_failure 2
	assert_output "devenv: Envfile:2:15: 'apt_snapshot' must be a UTC time such as '2026-11-20T00:00:00Z', or 'auto', not '2026-13-01T00:00:00Z'"
	printf 'image: busybox\napt_snapshot: 2999-01-01T00:00:00Z\n' | dv_envfile
	run "$DEVENV" up
	assert_failure 2
	assert_output "devenv: Envfile:2:15: 'apt_snapshot' 2999-01-01T00:00:00Z is in the future: the archive has no such snapshot yet; give a time that has passed, or 'auto'"
}
