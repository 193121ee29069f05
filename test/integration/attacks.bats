#!/usr/bin/env bats
# attacks.bats - issue 11's attacks, one test each: a repository just cloned
# is untrusted input, and every process in an env is hostile to the host.
# Each test failed on the code before the defence it checks (the commit
# that adds the test says so), and runs as root and rootless (where the
# attack applies there; a skip says why when it does not).
#
# Sections, in the issue's order: ownership of the checkout and the .git
# way out; host fds and terminals; paths opened race-free; the default
# sandbox; trust; volumes and the team cache.

load helpers

setup() { dv_setup; }
teardown() { dv_teardown; }
