/*
 * container/cgroup_limits.c - what an env's cgroups enforce and report:
 * `resources` limits, the freezer (suspend/resume) and OOM-kill counters.
 *
 * Everything here works on plain folders and tells cgroup v2 from v1 by the
 * files a folder holds, never by where it is mounted, so the unit tests run
 * it against a temporary tree that mimics both:
 *
 *             cgroup v2                  cgroup v1
 *   memory    memory.max                 memory.limit_in_bytes
 *   swap      memory.swap.max = memory   memory.memsw.limit_in_bytes = 2 x memory
 *             (Docker's default: as much swap as memory, where the kernel
 *             accounts swap)
 *   cpus      cpu.max "QUOTA PERIOD"     cpu.cfs_period_us + cpu.cfs_quota_us
 *   pids      pids.max                   pids.max
 *   freeze    cgroup.freeze 1/0,         freezer.state FROZEN/THAWED
 *             wait: cgroup.events        wait: freezer.state reads FROZEN
 *             "frozen 1"
 *   OOM       memory.events "oom_kill N" memory.oom_control "oom_kill N"
 *
 * On a hybrid machine each v1 hierarchy holds the files of its own
 * controllers only, and the cgroup2 at /sys/fs/cgroup/unified none of
 * these limits; a limit is written wherever its file exists.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "container/internal.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/banned.h"

#define CPU_PERIOD_US 100000ULL

static bool exists(const char *dir, const char *file)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	return access(path, F_OK) == 0;
}

/* Write text to dir/file (which must exist: cgroup files are never created). */
static int write_knob(const char *dir, const char *file, const char *text, struct dv_error *err)
{
	char path[4096];
	dv_autoclose int fd = -1;
	size_t len = strlen(text);
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return dv_err(err, errno, "cannot open '%s'", path);
	do
		n = write(fd, text, len);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)len)
		return dv_err(err, n < 0 ? errno : EIO, "cannot write '%s' to '%s'", text, path);
	return 0;
}

static int read_knob(const char *dir, const char *file, char *buf, size_t size)
{
	char path[4096];
	dv_autoclose int fd = -1;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -1;
	n = read(fd, buf, size - 1);
	if (n < 0)
		return -1;
	buf[n] = 0;
	return 0;
}

/* "KEY N" on a line of a flat-keyed file (memory.events, memory.oom_control). */
static bool keyed_value(const char *text, const char *key, unsigned long long *out)
{
	size_t klen = strlen(key);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (!strncmp(p, key, klen) && p[klen] == ' ') {
			*out = strtoull(p + klen + 1, NULL, 10);
			return true;
		}
	}
	return false;
}

/* Write value to the first of files[] that exists in d. A limit not asked
 * for (value NULL) resets the knob to unlimited, best effort, in case the
 * folder is reused from an earlier start with other limits. */
static int set_one(const char *d, const char *const files[2], const char *value,
		   const char *const unlimited[2], bool *done, struct dv_error *err)
{
	for (int k = 0; k < 2; k++) {
		if (!files[k] || !exists(d, files[k]))
			continue;
		if (!value)
			return write_knob(d, files[k], unlimited[k], &(struct dv_error){ 0 }), 0;
		*done = true;
		return write_knob(d, files[k], value, err);
	}
	return 0;
}

int ctr_cgroup_set_limits(const struct dv_strv *cgroups, const struct ctr_limits *lim,
			  struct dv_error *err)
{
	static const char *const mem_files[2] = { "memory.max", "memory.limit_in_bytes" };
	static const char *const mem_none[2] = { "max", "-1" };
	static const char *const cpu_files[2] = { "cpu.max", "cpu.cfs_quota_us" };
	static const char *const cpu_none[2] = { "max", "-1" };
	static const char *const pids_files[2] = { "pids.max", NULL };
	static const char *const pids_none[2] = { "max", NULL };
	unsigned long long quota = (unsigned long long)lim->cpus_milli * CPU_PERIOD_US / 1000;
	bool mem = false, cpu = false, pids = false;
	char m[32], c[64] = "", p[32];

	snprintf(m, sizeof(m), "%llu", lim->memory);
	snprintf(p, sizeof(p), "%llu", lim->pids);
	for (size_t i = 0; cgroups && i < cgroups->n; i++) {
		const char *d = cgroups->v[i];
		bool memsw = exists(d, "memory.memsw.limit_in_bytes");

		/* v1 wants memory <= memory+swap at every step: lift the latter
		 * first, set it last. */
		if (memsw)
			write_knob(d, "memory.memsw.limit_in_bytes", "-1", &(struct dv_error){ 0 });
		if (set_one(d, mem_files, lim->memory ? m : NULL, mem_none, &mem, err) < 0 ||
		    set_one(d, pids_files, lim->pids ? p : NULL, pids_none, &pids, err) < 0)
			return -1;
		if (exists(d, "cpu.max")) {
			snprintf(c, sizeof(c), "%llu %llu", quota, CPU_PERIOD_US);
		} else if (exists(d, "cpu.cfs_quota_us") && lim->cpus_milli) {
			/* The period first: the kernel checks the quota against it. */
			snprintf(c, sizeof(c), "%llu", CPU_PERIOD_US);
			if (write_knob(d, "cpu.cfs_period_us", c, err) < 0)
				return -1;
			snprintf(c, sizeof(c), "%llu", quota);
		}
		if (set_one(d, cpu_files, lim->cpus_milli ? c : NULL, cpu_none, &cpu, err) < 0)
			return -1;
		if (lim->memory && (memsw || exists(d, "memory.swap.max"))) {
			char sw[32];

			snprintf(sw, sizeof(sw), "%llu", memsw ? 2 * lim->memory : lim->memory);
			if (write_knob(d, memsw ? "memory.memsw.limit_in_bytes" : "memory.swap.max",
				       sw, err) < 0)
				return -1;
		} else if (exists(d, "memory.swap.max")) {
			write_knob(d, "memory.swap.max", "max", &(struct dv_error){ 0 });
		}
	}
	/* A sandbox that silently drops a limit it was asked for is worse than
	 * one that refuses to start. */
	if (lim->memory && !mem)
		return dv_err_plain(err, ENOTSUP,
				    "this machine has no memory cgroup controller for 'resources: memory'");
	if (lim->cpus_milli && !cpu)
		return dv_err_plain(err, ENOTSUP,
				    "this machine has no cpu cgroup controller for 'resources: cpus'");
	if (lim->pids && !pids)
		return dv_err_plain(err, ENOTSUP,
				    "this machine has no pids cgroup controller for 'resources: pids'");
	return 0;
}

/* v1 when any folder has a freezer.state (a hybrid machine's unified
 * hierarchy also has cgroup.freeze, but one freezer is enough and v1's is
 * the one ctr_probe() and ctr_exec() look at first). */
static bool use_v1_freezer(const struct dv_strv *cgroups)
{
	for (size_t i = 0; cgroups && i < cgroups->n; i++)
		if (exists(cgroups->v[i], "freezer.state"))
			return true;
	return false;
}

static bool is_frozen_dir(const char *d, bool v1)
{
	char buf[256];

	if (v1)
		return read_knob(d, "freezer.state", buf, sizeof(buf)) == 0 &&
		       !strncmp(buf, "FROZEN", 6);
	return read_knob(d, "cgroup.events", buf, sizeof(buf)) == 0 &&
	       (!strncmp(buf, "frozen 1", 8) || strstr(buf, "\nfrozen 1"));
}

int ctr_cgroup_freeze(const struct dv_strv *cgroups, bool freeze, unsigned timeout_ms,
		      struct dv_error *err)
{
	bool v1 = use_v1_freezer(cgroups), any = false;
	const char *file = v1 ? "freezer.state" : "cgroup.freeze";

	for (size_t i = 0; cgroups && i < cgroups->n; i++) {
		const char *d = cgroups->v[i];

		if (!freeze) {
			/* Thaw whatever is frozen, by either freezer. */
			if (exists(d, "freezer.state") &&
			    write_knob(d, "freezer.state", "THAWED", err) < 0)
				return -1;
			if (exists(d, "cgroup.freeze") &&
			    write_knob(d, "cgroup.freeze", "0", err) < 0)
				return -1;
			any |= exists(d, "freezer.state") || exists(d, "cgroup.freeze");
			continue;
		}
		if (!exists(d, file))
			continue;
		if (write_knob(d, file, v1 ? "FROZEN" : "1", err) < 0)
			return -1;
		any = true;
		/* Freezing takes a moment (v1 reads FREEZING meanwhile); a task
		 * stuck in the kernel can hold it up: give up and thaw then. */
		for (unsigned waited = 0; !is_frozen_dir(d, v1); waited += 10) {
			if (waited >= timeout_ms) {
				struct dv_error ignored = { 0 };

				ctr_cgroup_freeze(cgroups, false, 0, &ignored);
				return dv_err_plain(err, ETIMEDOUT,
						    "the env's processes did not freeze within %u ms; it was left running",
						    timeout_ms);
			}
			if (v1) /* writing FROZEN again moves a FREEZING cgroup on */
				write_knob(d, file, "FROZEN", &(struct dv_error){ 0 });
			poll(NULL, 0, 10);
		}
	}
	if (!any)
		return dv_err_plain(err, ENOTSUP, "this machine has no cgroup freezer");
	return 0;
}

int ctr_cgroup_oom_kills(const struct dv_strv *cgroups, unsigned long long *out)
{
	bool found = false;
	char buf[1024];

	*out = 0;
	for (size_t i = 0; cgroups && i < cgroups->n; i++) {
		unsigned long long n = 0;

		if ((read_knob(cgroups->v[i], "memory.events", buf, sizeof(buf)) == 0 ||
		     read_knob(cgroups->v[i], "memory.oom_control", buf, sizeof(buf)) == 0) &&
		    keyed_value(buf, "oom_kill", &n)) {
			*out += n;
			found = true;
		}
	}
	return found ? 0 : -1;
}
