/*
 * container/seccomp.c - Docker-format seccomp profiles to a stored BPF
 * program.
 *
 * The profile (Docker's own default is embedded: seccomp_blob.S) is
 * evaluated as moby does: an entry applies when its `includes` hold (every
 * cap in the container's set, the Go arch name, kernel >= minKernel) and
 * none of its `excludes` do. Every sub-arch of the native arch in `archMap`
 * is added, so 32-bit entry points cannot bypass the filter. Names
 * libseccomp does not know are skipped.
 *
 * As runc does, a stub before libseccomp's program returns ENOSYS for
 * syscall numbers above the highest the profile names on each arch: a
 * program probing a syscall newer than the profile falls back as it would
 * on an older kernel, instead of reading EPERM as "forbidden".
 *
 * Compiling takes 12-15 ms, so `up` does it once and stores the program as
 * seccomp/<sha256>.bpf; `ssh` loads those bytes with seccomp(2), no
 * libseccomp call.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "container/internal.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/hash.h"
#include "util/str.h"
#include "util/banned.h"

/* Bump when the program generated for the same inputs changes. */
#define SC_FORMAT "devenv-seccomp-2"
#define X32_BIT 0x40000000U

extern const char ctr_seccomp_blob[], ctr_seccomp_blob_end[];

const char *ctr_seccomp_default(size_t *len)
{
	*len = (size_t)(ctr_seccomp_blob_end - ctr_seccomp_blob);
	return ctr_seccomp_blob;
}

static const char *goarch_of(const char *machine)
{
	static const char *const map[][2] = {
		{ "x86_64", "amd64" },    { "aarch64", "arm64" },       { "i686", "386" },
		{ "armv7l", "arm" },      { "ppc64le", "ppc64le" },     { "s390x", "s390x" },
		{ "riscv64", "riscv64" }, { "loongarch64", "loong64" },
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (!strcmp(machine, map[i][0]))
			return map[i][1];
	return machine;
}

static unsigned kver_parse(const char *s)
{
	unsigned maj = 0, min = 0;

	if (sscanf(s, "%u.%u", &maj, &min) < 1)
		return 0;
	return maj * 1000 + min;
}

/* "SCMP_ARCH_X86_64" -> libseccomp's token; 0 when unknown. */
static uint32_t arch_token(const char *name)
{
	char low[32];
	size_t i;

	if (strncmp(name, "SCMP_ARCH_", 10) || strlen(name + 10) >= sizeof(low))
		return 0;
	for (i = 0; name[10 + i]; i++)
		low[i] = (char)(name[10 + i] >= 'A' && name[10 + i] <= 'Z' ? name[10 + i] + 32
									   : name[10 + i]);
	low[i] = 0;
	return seccomp_arch_resolve_name(low);
}

static bool str_in(struct json_object *arr, const char *s)
{
	size_t n = arr && json_object_is_type(arr, json_type_array) ? json_object_array_length(arr)
								    : 0;

	for (size_t i = 0; i < n; i++) {
		const char *e = json_object_get_string(json_object_array_get_idx(arr, i));

		if (e && !strcmp(e, s))
			return true;
	}
	return false;
}

static bool has_cap(unsigned long long caps, const char *name)
{
	struct dv_error unknown = { 0 };
	int bit = ctr_cap_bit(name, &unknown);

	return bit >= 0 && (caps >> bit & 1);
}

/* moby's rule: every cap of includes.caps held, no cap of excludes.caps. */
static bool applies(struct json_object *entry, unsigned long long caps, const char *goarch,
		    unsigned kver)
{
	struct json_object *inc = NULL, *exc = NULL, *v;

	json_object_object_get_ex(entry, "includes", &inc);
	json_object_object_get_ex(entry, "excludes", &exc);
	if (exc && json_object_is_type(exc, json_type_object)) {
		if (json_object_object_get_ex(exc, "arches", &v) && str_in(v, goarch))
			return false;
		if (json_object_object_get_ex(exc, "caps", &v) &&
		    json_object_is_type(v, json_type_array))
			for (size_t i = 0; i < json_object_array_length(v); i++)
				if (has_cap(caps,
					    json_object_get_string(json_object_array_get_idx(v, i))))
					return false;
		if (json_object_object_get_ex(exc, "minKernel", &v) && json_object_get_string(v) &&
		    kver >= kver_parse(json_object_get_string(v)))
			return false;
	}
	if (inc && json_object_is_type(inc, json_type_object)) {
		if (json_object_object_get_ex(inc, "arches", &v) &&
		    json_object_is_type(v, json_type_array) && json_object_array_length(v) &&
		    !str_in(v, goarch))
			return false;
		if (json_object_object_get_ex(inc, "caps", &v) &&
		    json_object_is_type(v, json_type_array))
			for (size_t i = 0; i < json_object_array_length(v); i++)
				if (!has_cap(caps, json_object_get_string(
							   json_object_array_get_idx(v, i))))
					return false;
		if (json_object_object_get_ex(inc, "minKernel", &v) && json_object_get_string(v) &&
		    kver < kver_parse(json_object_get_string(v)))
			return false;
	}
	return true;
}

static int parse_action(const char *s, struct json_object *errno_ret, int def_errno, uint32_t *out)
{
	int e = errno_ret ? json_object_get_int(errno_ret) : def_errno;

	if (!s)
		return -1;
	if (!strcmp(s, "SCMP_ACT_ALLOW"))
		*out = SCMP_ACT_ALLOW;
	else if (!strcmp(s, "SCMP_ACT_ERRNO"))
		*out = SCMP_ACT_ERRNO((uint16_t)e);
	else if (!strcmp(s, "SCMP_ACT_KILL") || !strcmp(s, "SCMP_ACT_KILL_THREAD"))
		*out = SCMP_ACT_KILL;
	else if (!strcmp(s, "SCMP_ACT_KILL_PROCESS"))
		*out = SCMP_ACT_KILL_PROCESS;
	else if (!strcmp(s, "SCMP_ACT_TRAP"))
		*out = SCMP_ACT_TRAP;
	else if (!strcmp(s, "SCMP_ACT_LOG"))
		*out = SCMP_ACT_LOG;
	else
		return -1;
	return 0;
}

static int parse_op(const char *s, enum scmp_compare *out)
{
	static const struct {
		const char *n;
		enum scmp_compare op;
	} ops[] = {
		{ "SCMP_CMP_NE", SCMP_CMP_NE },
		{ "SCMP_CMP_LT", SCMP_CMP_LT },
		{ "SCMP_CMP_LE", SCMP_CMP_LE },
		{ "SCMP_CMP_EQ", SCMP_CMP_EQ },
		{ "SCMP_CMP_GE", SCMP_CMP_GE },
		{ "SCMP_CMP_GT", SCMP_CMP_GT },
		{ "SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ },
	};
	for (size_t i = 0; s && i < sizeof(ops) / sizeof(ops[0]); i++)
		if (!strcmp(s, ops[i].n)) {
			*out = ops[i].op;
			return 0;
		}
	return -1;
}

static void rule_push(struct ctr_sc_profile *p, const char *name, uint32_t action,
		      const struct scmp_arg_cmp *args, unsigned n_args)
{
	struct ctr_sc_rule *r;

	p->rules = dv_xrealloc(p->rules, (p->n_rules + 1) * sizeof(*p->rules));
	r = &p->rules[p->n_rules++];
	memset(r, 0, sizeof(*r));
	r->name = name;
	r->action = action;
	r->n_args = n_args;
	if (n_args)
		memcpy(r->args, args, n_args * sizeof(*args));
}

int ctr_seccomp_eval(const char *text, size_t len, unsigned long long caps, const char *goarch,
		     unsigned kver, uint32_t native, struct ctr_sc_profile *out,
		     struct dv_error *err)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o = json_tokener_parse_ex(tok, text, (int)len), *v, *calls;
	int def_errno = 1;

	json_tokener_free(tok);
	memset(out, 0, sizeof(*out));
	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return dv_err(err, EINVAL, "seccomp profile is not a JSON object");
	}
	out->json = o;
	if (json_object_object_get_ex(o, "defaultErrnoRet", &v))
		def_errno = json_object_get_int(v);
	if (!json_object_object_get_ex(o, "defaultAction", &v) ||
	    parse_action(json_object_get_string(v), NULL, def_errno, &out->default_action) < 0)
		goto bad;
	out->arches[out->n_arches++] = native;
	if (json_object_object_get_ex(o, "archMap", &v) && json_object_is_type(v, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			struct json_object *m = json_object_array_get_idx(v, i), *a, *subs;

			if (!json_object_object_get_ex(m, "architecture", &a) ||
			    arch_token(json_object_get_string(a)) != native)
				continue;
			if (!json_object_object_get_ex(m, "subArchitectures", &subs) ||
			    !json_object_is_type(subs, json_type_array))
				continue;
			for (size_t j = 0; j < json_object_array_length(subs) && out->n_arches < 8;
			     j++) {
				uint32_t t = arch_token(
					json_object_get_string(json_object_array_get_idx(subs, j)));

				if (t)
					out->arches[out->n_arches++] = t;
			}
		}
	}
	if (!json_object_object_get_ex(o, "syscalls", &calls) ||
	    !json_object_is_type(calls, json_type_array))
		goto bad;
	for (size_t i = 0; i < json_object_array_length(calls); i++) {
		struct json_object *e = json_object_array_get_idx(calls, i), *names, *act,
				   *eret = NULL, *args;
		struct scmp_arg_cmp cmp[6];
		unsigned n_args = 0, count[6] = { 0 };
		uint32_t action;
		bool split = false;

		if (!json_object_object_get_ex(e, "names", &names) ||
		    !json_object_is_type(names, json_type_array))
			continue;
		for (size_t j = 0; j < json_object_array_length(names); j++)
			dv_strv_push(&out->all_names,
				     json_object_get_string(json_object_array_get_idx(names, j)));
		if (!applies(e, caps, goarch, kver))
			continue;
		json_object_object_get_ex(e, "errnoRet", &eret);
		if (!json_object_object_get_ex(e, "action", &act) ||
		    parse_action(json_object_get_string(act), eret, def_errno, &action) < 0)
			goto bad;
		if (json_object_object_get_ex(e, "args", &args) &&
		    json_object_is_type(args, json_type_array)) {
			for (size_t j = 0; j < json_object_array_length(args) && n_args < 6; j++) {
				struct json_object *a = json_object_array_get_idx(args, j), *x;
				unsigned idx = 0;
				uint64_t val = 0, two = 0;
				enum scmp_compare op;

				if (json_object_object_get_ex(a, "index", &x))
					idx = (unsigned)json_object_get_int(x);
				if (json_object_object_get_ex(a, "value", &x))
					val = (uint64_t)json_object_get_uint64(x);
				if (json_object_object_get_ex(a, "valueTwo", &x))
					two = (uint64_t)json_object_get_uint64(x);
				if (idx > 5 || !json_object_object_get_ex(a, "op", &x) ||
				    parse_op(json_object_get_string(x), &op) < 0)
					goto bad;
				cmp[n_args++] = SCMP_CMP(idx, op, val, two);
				if (++count[idx] > 1)
					split = true;
			}
		}
		for (size_t j = 0; j < json_object_array_length(names); j++) {
			const char *name =
				json_object_get_string(json_object_array_get_idx(names, j));

			if (!split) {
				rule_push(out, name, action, cmp, n_args);
				continue;
			}
			/* As runc: several conditions on one argument become
			 * one rule each (libseccomp cannot AND them). */
			for (unsigned k = 0; k < n_args; k++)
				rule_push(out, name, action, &cmp[k], 1);
		}
	}
	return 0;
bad:
	ctr_sc_profile_release(out);
	return dv_err(err, EINVAL,
		      "seccomp profile: unsupported or malformed entry (Docker's format expected)");
}

void ctr_sc_profile_release(struct ctr_sc_profile *p)
{
	json_object_put(p->json);
	free(p->rules);
	dv_strv_release(&p->all_names);
	memset(p, 0, sizeof(*p));
}

/* ENOSYS above the highest number the profile names, per arch. */
static size_t enosys_stub(const struct ctr_sc_profile *p, struct sock_filter *f)
{
	uint32_t max[8] = { 0 };
	bool have_x32 = false;
	size_t n = 0, ret_at, i, a;
	size_t fix[32]; /* JGTs: true -> ENOSYS, false -> the program */
	size_t nfix = 0;

	for (a = 0; a < p->n_arches; a++) {
		if (p->arches[a] == SCMP_ARCH_X32)
			have_x32 = true;
		for (i = 0; i < p->all_names.n; i++) {
			int nr = seccomp_syscall_resolve_name_arch(p->arches[a], p->all_names.v[i]);

			if (nr >= 0 && ((uint32_t)nr & ~X32_BIT) > max[a])
				max[a] = (uint32_t)nr & ~X32_BIT;
		}
	}
	for (a = 0; a < p->n_arches; a++) {
		uint32_t arch = p->arches[a];
		size_t start;

		if (arch == SCMP_ARCH_X32 || !max[a])
			continue;
		start = n;
		f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 4);
		f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, arch, 0,
						      0); /* jf below */
		f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0);
		if (arch == SCMP_ARCH_X86_64 && have_x32) {
			uint32_t mx = 0;

			for (size_t b = 0; b < p->n_arches; b++)
				if (p->arches[b] == SCMP_ARCH_X32)
					mx = max[b];
			f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, X32_BIT,
							      1, 0);
			fix[nfix++] = n;
			f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, max[a], 0,
							      0);
			fix[nfix++] = n;
			f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K,
							      X32_BIT | mx, 0, 0);
		} else {
			fix[nfix++] = n;
			f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, max[a], 0,
							      0);
		}
		/* not this arch: on to the next block */
		f[start + 1].jf = (uint8_t)(n - (start + 2));
	}
	f[n++] = (struct sock_filter)BPF_STMT(BPF_JMP | BPF_JA | BPF_K, 1);
	ret_at = n;
	f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS);
	for (i = 0; i < nfix; i++) {
		f[fix[i]].jt = (uint8_t)(ret_at - (fix[i] + 1));
		f[fix[i]].jf = (uint8_t)(ret_at + 1 - (fix[i] + 1));
	}
	return n;
}

int ctr_seccomp_compile(const struct ctr_sc_profile *p, void **out, size_t *out_len,
			struct dv_error *err)
{
	scmp_filter_ctx ctx = seccomp_init(p->default_action);
	struct sock_filter stub[64];
	size_t nstub;
	dv_autoclose int mfd = -1;
	dv_autofree char *prog = NULL;
	size_t plen = 0;
	char *all;
	int r;

	if (!ctx)
		return dv_err(err, EINVAL, "seccomp_init failed");
	seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0); /* we set it ourselves */
	seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, p->default_action);
	/* A binary tree of syscall numbers rather than a list: every syscall
	 * of the env runs this program (libseccomp >= 2.5; older ones keep
	 * the list). */
	seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	for (size_t a = 1; a < p->n_arches; a++) {
		r = seccomp_arch_add(ctx, p->arches[a]);
		if (r < 0 && r != -EEXIST) {
			seccomp_release(ctx);
			return dv_err(err, -r, "seccomp: cannot add arch %#x", p->arches[a]);
		}
	}
	for (size_t i = 0; i < p->n_rules; i++) {
		const struct ctr_sc_rule *rule = &p->rules[i];
		int nr = seccomp_syscall_resolve_name(rule->name);

		if (nr == __NR_SCMP_ERROR || rule->action == p->default_action)
			continue; /* unknown to libseccomp, or nothing to add */
		r = seccomp_rule_add_array(ctx, rule->action, nr, rule->n_args, rule->args);
		if (r < 0 && r != -EEXIST) {
			seccomp_release(ctx);
			return dv_err(err, -r, "seccomp: cannot add a rule for '%s'", rule->name);
		}
	}
	mfd = memfd_create("devenv-seccomp", MFD_CLOEXEC);
	if (mfd < 0 || (r = seccomp_export_bpf(ctx, mfd)) < 0 || lseek(mfd, 0, SEEK_SET) < 0) {
		seccomp_release(ctx);
		return dv_err(err, mfd < 0 ? errno : EIO, "seccomp: cannot export the filter");
	}
	seccomp_release(ctx);
	if (dv_read_all(mfd, &prog, &plen, err) < 0)
		return -1;
	nstub = enosys_stub(p, stub);
	if (plen % sizeof(struct sock_filter) || (plen / 8 + nstub) > BPF_MAXINSNS)
		return dv_err(err, E2BIG, "seccomp: the filter is too long");
	all = dv_xmalloc(nstub * sizeof(*stub) + plen);
	memcpy(all, stub, nstub * sizeof(*stub));
	memcpy(all + nstub * sizeof(*stub), prog, plen);
	*out = all;
	*out_len = nstub * sizeof(*stub) + plen;
	return 0;
}

int ctr_seccomp_prepare(const char *dir, const void *profile, size_t len, unsigned long long caps,
			char **out_path, struct dv_error *err)
{
	struct utsname u;
	struct dv_sha256 h;
	char hex[DV_SHA256_HEX], name[DV_SHA256_HEX + 8], capstr[32];
	dv_autoclose int dfd = -1;
	struct ctr_sc_profile p;
	void *prog = NULL;
	size_t plen = 0;
	uint32_t native = seccomp_arch_native();
	int r;

	if (uname(&u) < 0)
		return dv_err(err, errno, "uname");
	snprintf(capstr, sizeof(capstr), "%llx", caps);
	dv_sha256_init(&h);
	dv_sha256_update(&h, SC_FORMAT, sizeof(SC_FORMAT));
	dv_sha256_update(&h, profile, len);
	dv_sha256_update(&h, capstr, strlen(capstr) + 1);
	dv_sha256_update(&h, u.machine, strlen(u.machine) + 1);
	dv_sha256_update(&h, u.release, strlen(u.release) + 1);
	dv_sha256_final_hex(&h, hex);
	snprintf(name, sizeof(name), "%s.bpf", hex);
	if (dv_mkdir_p(dir, 0700, err) < 0)
		return -1;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return dv_err(err, errno, "cannot open '%s'", dir);
	if (faccessat(dfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
		*out_path = dv_xasprintf("%s/%s", dir, name);
		return 0;
	}
	if (ctr_seccomp_eval(profile, len, caps, goarch_of(u.machine), kver_parse(u.release),
			     native, &p, err) < 0)
		return -1;
	r = ctr_seccomp_compile(&p, &prog, &plen, err);
	ctr_sc_profile_release(&p);
	if (r < 0)
		return -1;
	r = dv_write_file_atomic(dfd, name, prog, plen, 0644, err);
	free(prog);
	if (r < 0)
		return -1;
	*out_path = dv_xasprintf("%s/%s", dir, name);
	return 0;
}
