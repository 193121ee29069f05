/*
 * provision/key.c - canonical step JSON and cache keys (DESIGN.md
 * "Provisioning and the cache").
 *
 * A key must be the same on every machine for the same Envfile and inputs,
 * so nothing host-specific goes in: `copy` paths as written (relative to
 * the Envfile), contents by digest, no timestamps or inode numbers.
 */
#include <dirent.h>
#include <limits.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "provision.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/hash.h"
#include "util/treesum.h"
#include "util/banned.h"

static void json_str(struct dv_buf *b, const char *s)
{
	dv_buf_adds(b, "\"");
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"':
			dv_buf_adds(b, "\\\"");
			break;
		case '\\':
			dv_buf_adds(b, "\\\\");
			break;
		case '\n':
			dv_buf_adds(b, "\\n");
			break;
		case '\t':
			dv_buf_adds(b, "\\t");
			break;
		case '\r':
			dv_buf_adds(b, "\\r");
			break;
		default:
			if (*p < 0x20)
				dv_buf_addf(b, "\\u%04x", *p);
			else
				dv_buf_add(b, p, 1);
		}
	}
	dv_buf_adds(b, "\"");
}

static int kv_cmp(const void *a, const void *b)
{
	return strcmp(((const struct env_kv *)a)->key, ((const struct env_kv *)b)->key);
}

/* {"K":"V",...} with keys sorted bytewise: the global env, overridden by
 * the step's own (step may be NULL). */
static void env_json(struct dv_buf *b, const struct env_spec *spec, const struct env_step *step)
{
	size_t n_step = step ? step->n_env : 0, n = 0;
	struct env_kv *sorted = dv_xcalloc(spec->n_env + n_step + 1, sizeof(*sorted));

	for (size_t i = 0; i < spec->n_env; i++) {
		bool overridden = false;

		for (size_t j = 0; j < n_step && !overridden; j++)
			overridden = strcmp(spec->env[i].key, step->env[j].key) == 0;
		if (!overridden)
			sorted[n++] = spec->env[i];
	}
	for (size_t j = 0; j < n_step; j++)
		sorted[n++] = step->env[j];
	if (n) /* no qsort of an empty array */
		qsort(sorted, n, sizeof(*sorted), kv_cmp);
	dv_buf_adds(b, "{");
	for (size_t i = 0; i < n; i++) {
		if (i)
			dv_buf_adds(b, ",");
		json_str(b, sorted[i].key);
		dv_buf_adds(b, ":");
		json_str(b, sorted[i].value);
	}
	dv_buf_adds(b, "}");
	free(sorted);
}

static const char *kind_name(enum env_step_kind k)
{
	switch (k) {
	case ENV_STEP_COPY:
		return "copy";
	case ENV_STEP_GIT:
		return "git";
	case ENV_STEP_DOWNLOAD:
		return "download";
	default:
		return "run";
	}
}

static void json_field(struct dv_buf *b, const char *name, const char *value)
{
	dv_buf_addf(b, ",\"%s\":", name);
	json_str(b, value);
}

char *prov_step_json(const struct env_spec *spec, const struct env_step *step)
{
	struct dv_buf b = { 0 };

	/* Keys in sorted order: copy, download, env, git, kind, ref, run,
	 * sha256, shell, to. The first two never appear together, so the
	 * comma goes before "env". A step without `env:` gives the same JSON
	 * as before step env existed, so its keys stay valid. */
	dv_buf_adds(&b, "{");
	if (step->kind == ENV_STEP_COPY) {
		dv_buf_adds(&b, "\"copy\":");
		json_str(&b, step->copy);
		dv_buf_adds(&b, ",");
	} else if (step->kind == ENV_STEP_DOWNLOAD) {
		dv_buf_adds(&b, "\"download\":");
		json_str(&b, step->download);
		dv_buf_adds(&b, ",");
	}
	dv_buf_adds(&b, "\"env\":");
	env_json(&b, spec, step);
	if (step->kind == ENV_STEP_GIT)
		json_field(&b, "git", step->git);
	json_field(&b, "kind", kind_name(step->kind));
	if (step->kind == ENV_STEP_GIT && step->ref)
		json_field(&b, "ref", step->ref);
	if (step->kind == ENV_STEP_RUN)
		json_field(&b, "run", step->run);
	if (step->kind == ENV_STEP_DOWNLOAD)
		json_field(&b, "sha256", step->sha256);
	json_field(&b, "shell", spec->shell);
	if (step->kind != ENV_STEP_RUN)
		json_field(&b, "to", step->to);
	dv_buf_adds(&b, "}");
	return dv_buf_steal(&b);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A walk of a `copy` source: the git filter (NULL outside a repository)
 * and where the names it leaves out go (NULL when nobody asks). */
struct walk {
	struct prov_gitcopy *git;
	struct dv_strv *skips;
	struct dv_sha256 *fp;     /* with git: the stat fingerprint (copystat.c) */
	struct dv_sha256 *plain;  /* NULL, or the same entries with every file's
				    sha256 as read (the copier's digest, treesum.h) */
	const char *lock_sub;     /* the Envfile's Envfile.lock below the copied folder, or
				    NULL: left out as .git is (devenv writes it after a build) */
	struct prov_files *files; /* NULL, or (with plain) each file and link, for
				     the step's recipe (recipe.c) */
};

static void files_add(struct prov_files *f, char *line)
{
	dv_sha256_update(&f->all, line, strlen(line) + 1);
	f->total++;
	if (f->lines.n < PROV_FILES_MAX)
		dv_strv_push_owned(&f->lines, line);
	else
		free(line);
}

static int digest_dir(int fd, const struct stat *st, const char *rel, const char *sub,
		      struct walk *w, struct dv_sha256 *h, struct dv_error *err);

/* A regular file, open for reading (st: its stat): its record. */
static int digest_file(int fd, const struct stat *st, const char *rel, const char *sub,
		       struct walk *w, struct dv_sha256 *h, struct dv_error *err)
{
	char hex[DV_SHA256_HEX], content[48];

	if ((!w->git || w->plain) && dv_sha256_fd(fd, hex, err) < 0)
		return dv_err_prefix(err, "reading '%s'", rel);
	if (w->plain)
		dv_treesum_file(w->plain, rel, st->st_mode, hex);
	if (w->files)
		files_add(w->files, dv_xasprintf("sha256:%s\t%s", hex, rel));
	if (!w->git) {
		dv_treesum_file(h, rel, st->st_mode, hex);
		return 0;
	}
	memcpy(content, "g:", 3);
	if (prov_gitcopy_file_id(w->git, sub, fd, st, content + 2, err) < 0)
		return -1;
	dv_treesum_file(h, rel, st->st_mode, content);
	return 0;
}

static int digest_link(int dirfd, const char *name, const char *rel, struct walk *w,
		       struct dv_sha256 *h, struct dv_error *err)
{
	char target[4096];
	ssize_t n = readlinkat(dirfd, name, target, sizeof(target) - 1);

	if (n < 0)
		return dv_err(err, errno, "cannot read link '%s'", rel);
	target[n] = 0;
	dv_treesum_link(h, rel, target);
	if (w->plain)
		dv_treesum_link(w->plain, rel, target);
	if (w->files) {
		char hex[DV_SHA256_HEX];

		dv_sha256_hex(target, (size_t)n, hex);
		files_add(w->files, dv_xasprintf("symlink:%s\t%s", hex, rel));
	}
	return 0;
}

/* Feed one entry of the folder dirfd (and, for a folder, everything below
 * it, in name order) into the digest: relative name, type, permission bits,
 * and content digest or link target (util/treesum.h). Owners and times are
 * not observable by the copy (files land root-owned), so they stay out of
 * the key. sub is the path below the copied folder. Nothing is followed: a
 * symlink is digested as one, and a file is read only through an fd known
 * to be a regular file (a fifo or a device put there is never opened). */
static int digest_entry(int dirfd, const char *name, const char *rel, const char *sub,
			struct walk *w, struct dv_sha256 *h, struct dv_error *err)
{
	struct stat st;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return dv_err(err, errno, "cannot stat '%s'", rel);
	if ((w->git && prov_gitcopy_skip(w->git, sub, name, S_ISDIR(st.st_mode))) ||
	    (w->lock_sub && !strcmp(sub, w->lock_sub))) {
		if (w->skips)
			dv_strv_push(w->skips, sub);
		return 0;
	}
	/* the stat data this very digest was made from: a file changed while
	 * we read it has other stat data next time, so it is read again */
	if (w->fp)
		prov_copystat_line(w->fp, sub, &st);
	if (S_ISREG(st.st_mode)) {
		char content[48];
		dv_autoclose int fd = -1;

		/* a tracked file the index knows: no read */
		if (w->git && !w->plain && prov_gitcopy_index_id(w->git, sub, &st, content + 2)) {
			memcpy(content, "g:", 2);
			dv_treesum_file(h, rel, st.st_mode, content);
			return 0;
		}
		fd = dv_open_regular_at(dirfd, name, &st);
		if (fd < 0)
			return dv_err(err, errno, "cannot read '%s'", rel);
		return digest_file(fd, &st, rel, sub, w, h, err);
	}
	if (S_ISLNK(st.st_mode))
		return digest_link(dirfd, name, rel, w, h, err);
	if (S_ISDIR(st.st_mode)) {
		dv_autoclose int fd =
			openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);

		if (fd < 0 || fstat(fd, &st) < 0)
			return dv_err(err, errno, "cannot read folder '%s'", rel);
		return digest_dir(fd, &st, rel, sub, w, h, err);
	}
	return dv_err(err, EINVAL, "'%s' is not a file, folder or symlink; 'copy' cannot take it",
		      rel);
}

/* An open folder (st: its stat) and everything below it. */
static int digest_dir(int fd, const struct stat *st, const char *rel, const char *sub,
		      struct walk *w, struct dv_sha256 *h, struct dv_error *err)
{
	dv_autoclosedir DIR *d = dv_opendir_fd(fd);
	struct dv_strv names = { 0 };
	struct dirent *de;
	int ret = 0;

	if (!d)
		return dv_err(err, errno, "cannot read folder '%s'", rel);
	/* Everything the copy takes is in the key (.git included outside
	 * the git filter): the key and the layer must never disagree. */
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			dv_strv_push(&names, de->d_name);
	if (names.n)
		qsort(names.v, names.n, sizeof(*names.v), cmp_str);
	dv_treesum_dir(h, rel, st->st_mode);
	if (w->plain)
		dv_treesum_dir(w->plain, rel, st->st_mode);
	for (size_t i = 0; i < names.n && ret == 0; i++) {
		dv_autofree char *r = dv_xasprintf("%s/%s", rel, names.v[i]);
		dv_autofree char *s = sub[0] ? dv_xasprintf("%s/%s", sub, names.v[i])
					     : dv_xstrdup(names.v[i]);

		ret = digest_entry(fd, names.v[i], r, s, w, h, err);
	}
	dv_strv_release(&names);
	return ret;
}

/* The copied path itself, at the O_PATH fd the copy will read too. */
static int digest_root(int fd, const char *rel, struct walk *w, struct dv_sha256 *h,
		       struct dv_error *err)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return dv_err(err, errno, "cannot stat '%s'", rel);
	if (w->fp)
		prov_copystat_line(w->fp, "", &st);
	if (S_ISDIR(st.st_mode)) {
		dv_autoclose int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (dfd < 0)
			return dv_err(err, errno, "cannot read folder '%s'", rel);
		return digest_dir(dfd, &st, rel, "", w, h, err);
	}
	if (S_ISREG(st.st_mode)) {
		dv_autoclose int rfd = dv_reopen_regular(fd, &st);

		if (rfd < 0)
			return dv_err(err, errno, "cannot read '%s'", rel);
		return digest_file(rfd, &st, rel, "", w, h, err);
	}
	if (S_ISLNK(st.st_mode))
		return digest_link(fd, "", rel, w, h, err);
	return dv_err(err, EINVAL, "'%s' is not a file, folder or symlink; 'copy' cannot take it",
		      rel);
}

/* A `copy` of a folder of a git checkout (fd: the folder): git's index and
 * ignore rules decide what it takes. */
static bool copies_git_folder(const struct env_spec *spec, int fd)
{
	dv_autofree char *dotgit = dv_xasprintf("%s/.git", spec->checkout);
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISDIR(st.st_mode) && lstat(dotgit, &st) == 0;
}

/* Digest a copy step's source (fd, opened race-free) into h; with skips,
 * also list what the git filter leaves out (paths below the copied folder,
 * sorted); with plain, also its treesum of contents as read. A folder of a
 * git checkout goes in as the digest of its filtered tree, remembered in
 * statdir (copystat.c; -1: not remembered). */
static int digest_copy(const struct env_spec *spec, const struct env_step *step, int fd,
		       struct dv_sha256 *h, struct dv_strv *skips, struct dv_sha256 *plain,
		       struct prov_files *files, int statdir, struct dv_error *err)
{
	struct walk w = { .skips = skips, .plain = plain, .files = plain ? files : NULL };
	struct dv_strv own = { 0 };
	struct dv_sha256 tree, fp;
	char tree_hex[DV_SHA256_HEX], fp_hex[DV_SHA256_HEX];
	const char *rel = spec->relpath ? spec->relpath : "Envfile";
	const char *slash = strrchr(rel, '/');
	dv_autofree char *lock =
		dv_xasprintf("%s/%.*s%sEnvfile.lock", spec->checkout ? spec->checkout : "",
			     slash ? (int)(slash - rel) : 0, rel, slash ? "/" : "");
	size_t n = strlen(step->copy_abs);

	/* The lock next to the Envfile, inside the copied folder: not copied
	 * (devenv writes it after a build; in the key, every up would rebuild). */
	if (!strncmp(lock, step->copy_abs, n) && lock[n] == '/')
		w.lock_sub = lock + n + 1;
	int ret;

	if (copies_git_folder(spec, fd)) {
		if (!skips && !plain &&
		    prov_copystat_get(statdir, spec, fd, step->copy_abs, tree_hex)) {
			dv_sha256_update(h, "git-tree ", 9);
			dv_sha256_update(h, tree_hex, strlen(tree_hex) + 1);
			return 0;
		}
		prov_copystat_begin(spec, step->copy_abs, &fp);
		if (prov_gitcopy_open(spec, step->copy_abs, &w.git, err) < 0)
			return -1;
	}
	if (!w.git)
		return digest_root(fd, step->copy, &w, h, err);
	if (!w.skips)
		w.skips = &own;
	w.fp = &fp;
	dv_sha256_init(&tree);
	ret = digest_root(fd, step->copy, &w, &tree, err);
	prov_gitcopy_close(w.git);
	if (ret == 0) {
		if (w.skips->n)
			qsort(w.skips->v, w.skips->n, sizeof(*w.skips->v), cmp_str);
		dv_sha256_final_hex(&tree, tree_hex);
		dv_sha256_final_hex(&fp, fp_hex);
		prov_copystat_put(statdir, step->copy_abs, fp_hex, tree_hex, w.skips);
		dv_sha256_update(h, "git-tree ", 9);
		dv_sha256_update(h, tree_hex, strlen(tree_hex) + 1);
	}
	dv_strv_release(&own);
	return ret;
}

/* Where a copy step's source is, for hostpath.c. */
static void copy_hostpath(const struct env_step *step, struct prov_hostpath *out)
{
	*out = (struct prov_hostpath){ "'copy' path", step->copy, step->copy_abs,   step->line,
				       step->col,     "copied",   "remove the step" };
}

/* The start of a step's key: the key before it and its JSON. */
static void key_begin(const struct env_spec *spec, const struct env_step *step, const char *prev,
		      struct dv_sha256 *h)
{
	dv_autofree char *json = prov_step_json(spec, step);

	dv_sha256_init(h);
	dv_sha256_update(h, prev, strlen(prev) + 1);
	dv_sha256_update(h, json, strlen(json) + 1);
	/* `apt_snapshot`: the archive a step sees (only when set, so that
	 * the keys of every other Envfile stay as they were). */
	if (spec->apt_snapshot_time) {
		char stamp[PROV_APT_STAMP];
		dv_autofree char *apt = NULL;

		prov_apt_stamp(spec->apt_snapshot_time, stamp);
		apt = dv_xasprintf("apt-snapshot %s %s", stamp, prov_apt_url(spec));
		dv_sha256_update(h, apt, strlen(apt) + 1);
	}
}

int prov_copy_open(const struct env_spec *spec, const struct env_step *step, const char *prev,
		   struct prov_copy *out, struct dv_error *err)
{
	struct prov_hostpath hp;
	struct dv_sha256 h, plain;

	memset(out, 0, sizeof(*out));
	copy_hostpath(step, &hp);
	out->fd = prov_host_open(spec, &hp, O_PATH, err);
	if (out->fd < 0)
		return -1;
	key_begin(spec, step, prev, &h);
	dv_sha256_init(&plain);
	dv_sha256_init(&out->files.all);
	if (digest_copy(spec, step, out->fd, &h, &out->skips, &plain, &out->files, -1, err) < 0) {
		prov_copy_release(out);
		return -1;
	}
	dv_sha256_final_hex(&h, out->key);
	dv_sha256_final_hex(&plain, out->digest);
	return 0;
}

int prov_copy_files(const struct env_spec *spec, const struct env_step *step,
		    struct prov_files *files, struct dv_error *err)
{
	struct prov_hostpath hp;
	struct dv_strv skips = { 0 };
	struct dv_sha256 h, plain;
	dv_autoclose int fd = -1;
	int ret;

	memset(files, 0, sizeof(*files));
	dv_sha256_init(&files->all);
	copy_hostpath(step, &hp);
	fd = prov_host_open(spec, &hp, O_PATH, err);
	if (fd < 0)
		return -1;
	dv_sha256_init(&h);
	dv_sha256_init(&plain);
	ret = digest_copy(spec, step, fd, &h, &skips, &plain, files, -1, err);
	dv_strv_release(&skips);
	return ret;
}

void prov_copy_release(struct prov_copy *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	dv_strv_release(&c->skips);
	dv_strv_release(&c->files.lines);
}

int prov_keys(const struct env_spec *spec, const char *base_id, struct dv_strv *out,
	      struct dv_error *err)
{
	return prov_keys_at(spec, base_id, -1, out, err);
}

int prov_keys_at(const struct env_spec *spec, const char *base_id, int statdir, struct dv_strv *out,
		 struct dv_error *err)
{
	char prev[DV_SHA256_HEX];

	/* key(step 0) is the image id, without its "sha256:" prefix */
	snprintf(prev, sizeof(prev), "%s",
		 strncmp(base_id, "sha256:", 7) == 0 ? base_id + 7 : base_id);
	for (size_t i = 0; i < spec->n_provision; i++) {
		const struct env_step *step = &spec->provision[i];
		struct dv_sha256 h;

		key_begin(spec, step, prev, &h);
		/* A git step's input is the commit it clones (resolved by
		 * provision/git.c); a download's is its declared sha256, already
		 * in the JSON. */
		if (step->kind == ENV_STEP_GIT) {
			if (!step->git_commit) {
				dv_err_at(err, spec->display, step->line, step->col,
					  "step %zu 'git': the commit was not resolved", i + 1);
				return -1;
			}
			dv_sha256_update(&h, "git ", 4);
			dv_sha256_update(&h, step->git_commit, strlen(step->git_commit) + 1);
		}
		if (step->kind == ENV_STEP_COPY) {
			struct prov_hostpath hp;
			dv_autoclose int fd = -1;

			copy_hostpath(step, &hp);
			fd = prov_host_open(spec, &hp, O_PATH, err);
			if (fd < 0)
				return -1;
			if (digest_copy(spec, step, fd, &h, NULL, NULL, NULL, statdir, err) < 0) {
				dv_err_prefix(err, "step %zu 'copy'", i + 1);
				err->line = step->line;
				err->col = step->col;
				snprintf(err->file, sizeof(err->file), "%s", spec->display);
				return -1;
			}
		}
		dv_sha256_final_hex(&h, prev);
		dv_strv_push(out, prev);
	}
	return 0;
}

static void mounts_json(struct dv_buf *b, const struct env_mount *m, size_t n)
{
	dv_buf_adds(b, "[");
	for (size_t i = 0; i < n; i++) {
		dv_buf_adds(b, i ? ",{\"readonly\":" : "{\"readonly\":");
		dv_buf_adds(b, m[i].readonly ? "true" : "false");
		dv_buf_adds(b, ",\"source\":");
		json_str(b, m[i].volume ? m[i].source : m[i].source_abs);
		dv_buf_adds(b, ",\"target\":");
		json_str(b, m[i].target);
		dv_buf_adds(b, m[i].volume ? ",\"volume\":true}" : ",\"volume\":false}");
	}
	dv_buf_adds(b, "]");
}

/* A service's healthcheck and depends_on (only when set: envs from before
 * keep their digest); a changed check is a change `reload` applies. */
static void health_json(struct dv_buf *b, const struct env_service *svc)
{
	const struct env_health *h = &svc->health;

	if (svc->n_depends_on) {
		dv_buf_adds(b, ",\"depends_on\":[");
		for (size_t i = 0; i < svc->n_depends_on; i++) {
			dv_buf_adds(b, i ? "," : "");
			json_str(b, svc->depends_on[i].name);
			dv_buf_adds(b, svc->depends_on[i].healthy ? ",\"healthy\"" : ",\"started\"");
		}
		dv_buf_adds(b, "]");
	}
	if (!h->line)
		return;
	dv_buf_addf(b, ",\"healthcheck\":{\"none\":%d,\"test\":[", h->none);
	for (size_t i = 0; i < h->test.n; i++) {
		dv_buf_adds(b, i ? "," : "");
		json_str(b, h->test.v[i]);
	}
	dv_buf_addf(b,
		    "],\"interval\":%llu,\"timeout\":%llu,\"start_period\":%llu,"
		    "\"start_interval\":%llu,\"retries\":%d}",
		    h->interval_ms, h->timeout_ms, h->start_period_ms, h->start_interval_ms,
		    h->retries);
}

/* services, network, ports, volumes, mounts: only when set, so that envs
 * from before them keep their digest. */
static void wiring_json(struct dv_buf *b, const struct env_spec *spec, bool late)
{
	if (!late && spec->n_mounts) {
		dv_buf_adds(b, ",\"mounts\":");
		mounts_json(b, spec->mounts, spec->n_mounts);
	}
	if (!late && spec->network == ENV_NET_PRIVATE)
		dv_buf_adds(b, ",\"network\":\"private\"");
	if (!late && spec->n_ports) {
		dv_buf_adds(b, ",\"ports\":[");
		for (size_t i = 0; i < spec->n_ports; i++) {
			/* auto: 0, whichever port env/net.c chose */
			dv_buf_addf(b, "%s[%u,%u,", i ? "," : "", spec->ports[i].container_port,
				    spec->ports[i].auto_port ? 0 : spec->ports[i].host_port);
			json_str(b, spec->ports[i].host_ip);
			dv_buf_adds(b, "]");
		}
		dv_buf_adds(b, "]");
	}
	if (late && spec->n_services) {
		dv_buf_adds(b, ",\"services\":[");
		for (size_t i = 0; i < spec->n_services; i++) {
			const struct env_service *svc = &spec->services[i];

			dv_buf_adds(b, i ? ",{\"command\":[" : "{\"command\":[");
			for (size_t j = 0; j < svc->command.n; j++) {
				if (j)
					dv_buf_adds(b, ",");
				json_str(b, svc->command.v[j]);
			}
			dv_buf_adds(b, "],\"env\":{");
			for (size_t j = 0; j < svc->n_env; j++) {
				if (j)
					dv_buf_adds(b, ",");
				json_str(b, svc->env[j].key);
				dv_buf_adds(b, ":");
				json_str(b, svc->env[j].value);
			}
			dv_buf_adds(b, "},\"image\":");
			json_str(b, svc->image);
			dv_buf_adds(b, ",\"name\":");
			json_str(b, svc->name);
			dv_buf_adds(b, ",\"volumes\":");
			mounts_json(b, svc->volumes, svc->n_volumes);
			health_json(b, svc);
			dv_buf_adds(b, "}");
		}
		dv_buf_adds(b, "]");
	}
}

/* on_up's wait_for (only when set: envs from before keep their digest). */
static void wait_json(struct dv_buf *b, const struct env_step *step)
{
	if (!step->wait_for.n)
		return;
	dv_buf_adds(b, ",\"wait_for\":[");
	for (size_t i = 0; i < step->wait_for.n; i++) {
		if (i)
			dv_buf_adds(b, ",");
		json_str(b, step->wait_for.v[i]);
	}
	dv_buf_addf(b, "],\"wait_timeout_ms\":%llu", step->wait_timeout_ms);
}

char *prov_spec_digest(const struct env_spec *spec, const char *base_id, const struct dv_strv *keys)
{
	struct dv_buf b = { 0 };
	char hex[DV_SHA256_HEX];

	dv_buf_adds(&b, "{\"env\":");
	env_json(&b, spec, NULL);
	dv_buf_adds(&b, ",\"image\":");
	json_str(&b, base_id);
	wiring_json(&b, spec, false);
	dv_buf_adds(&b, ",\"name\":");
	json_str(&b, spec->name);
	dv_buf_adds(&b, ",\"on_up\":[");
	for (size_t i = 0; i < spec->n_on_up; i++) {
		if (i)
			dv_buf_adds(&b, ",");
		/* A step with its own env as an object; one without as before,
		 * so that envs made before step env keep their digest. */
		if (spec->on_up[i].n_env || spec->on_up[i].wait_for.n) {
			dv_buf_adds(&b, "{\"env\":");
			env_json(&b, spec, &spec->on_up[i]);
			json_field(&b, "run", spec->on_up[i].run);
			wait_json(&b, &spec->on_up[i]);
			dv_buf_adds(&b, "}");
		} else {
			json_str(&b, spec->on_up[i].run);
		}
	}
	dv_buf_adds(&b, "],\"provision\":[");
	for (size_t i = 0; i < keys->n; i++) {
		if (i)
			dv_buf_adds(&b, ",");
		json_str(&b, keys->v[i]);
	}
	dv_buf_adds(&b, "]");
	/* Only when set, so that envs made before `resources` existed keep
	 * their digest. Not in the step keys: limits never change a layer. */
	if (spec->resources.memory || spec->resources.cpus_milli || spec->resources.pids)
		dv_buf_addf(&b, ",\"resources\":{\"cpus_milli\":%u,\"memory\":%llu,\"pids\":%llu}",
			    spec->resources.cpus_milli, spec->resources.memory,
			    spec->resources.pids);
	/* Only when set, so that envs from before `security` keep their digest. */
	if (spec->security.seccomp || spec->security.cap_add.n || spec->security.cap_drop.n) {
		dv_buf_adds(&b, ",\"security\":");
		prov_security_json(spec, &b);
	}
	/* Only when not the default, as above. */
	if (spec->security.git_metadata_rw)
		dv_buf_adds(&b, ",\"git_metadata\":\"read-write\"");
	wiring_json(&b, spec, true);
	if (spec->git_credentials.n) { /* only when set: envs without keep their digest */
		dv_buf_adds(&b, ",\"git_credentials\":[");
		for (size_t i = 0; i < spec->git_credentials.n; i++) {
			if (i)
				dv_buf_adds(&b, ",");
			json_str(&b, spec->git_credentials.v[i]);
		}
		dv_buf_adds(&b, "]");
	}
	dv_buf_adds(&b, ",\"shell\":");
	json_str(&b, spec->shell);
	if (spec->user) { /* only when set: envs without one keep their digest */
		dv_buf_adds(&b, ",\"user\":");
		json_str(&b, spec->user);
	}
	if (spec->n_volumes) {
		dv_buf_adds(&b, ",\"volumes\":");
		mounts_json(&b, spec->volumes, spec->n_volumes);
	}
	/* Only when set, as above. Not in any step key: an agent changes no
	 * layer (a step's own `ssh_agent: true` neither). */
	if (spec->ssh_agent.mode != ENV_AGENT_NONE) {
		dv_buf_addf(&b, ",\"ssh_agent\":{\"mode\":%d,\"keys\":[", (int)spec->ssh_agent.mode);
		for (size_t i = 0; i < spec->ssh_agent.keys.n; i++) {
			if (i)
				dv_buf_adds(&b, ",");
			json_str(&b, spec->ssh_agent.keys.v[i]);
		}
		dv_buf_adds(&b, "]}");
	}
	dv_buf_adds(&b, ",\"workdir\":");
	json_str(&b, spec->workdir);
	dv_buf_adds(&b, "}");
	dv_sha256_hex(b.s, b.len, hex);
	dv_buf_release(&b);
	return dv_xstrdup(hex);
}

void prov_env_id(const char *checkout, const char *relpath, char out[13])
{
	char hex[DV_SHA256_HEX];
	struct dv_sha256 h;

	dv_sha256_init(&h);
	dv_sha256_update(&h, checkout, strlen(checkout) + 1);
	dv_sha256_update(&h, relpath, strlen(relpath));
	dv_sha256_final_hex(&h, hex);
	memcpy(out, hex, 12);
	out[12] = 0;
}

void prov_security_json(const struct env_spec *spec, struct dv_buf *b)
{
	const struct env_security *sec = &spec->security;
	char hex[DV_SHA256_HEX] = "";

	/* The profile's content, so that editing it is a change to the env. */
	if (sec->seccomp_abs && sec->seccomp_text)
		dv_sha256_hex(sec->seccomp_text, sec->seccomp_len, hex);
	dv_buf_adds(b, "{\"cap_add\":[");
	for (size_t i = 0; i < sec->cap_add.n; i++)
		dv_buf_addf(b, "%s\"%s\"", i ? "," : "", sec->cap_add.v[i]);
	dv_buf_adds(b, "],\"cap_drop\":[");
	for (size_t i = 0; i < sec->cap_drop.n; i++)
		dv_buf_addf(b, "%s\"%s\"", i ? "," : "", sec->cap_drop.v[i]);
	dv_buf_addf(b, "],\"seccomp\":\"%s\"}",
		    sec->seccomp_abs ? hex
		    : sec->seccomp   ? sec->seccomp
				     : "default");
}

/* "run: apt-get install …" on one line, cut to fit a terminal: what build.c
 * shows of a step and teamcache.c annotates its pushed layer with. */
char *prov_step_label(const struct env_step *step)
{
	const char *text = step->kind == ENV_STEP_RUN        ? step->run
			   : step->kind == ENV_STEP_GIT      ? step->git
			   : step->kind == ENV_STEP_DOWNLOAD ? step->download
							     : step->copy;
	size_t n = strcspn(text, "\n"), max = 60;
	bool cut = n > max || text[n] == '\n';
	struct dv_buf b = { 0 };
	char *label;

	if (n > max)
		n = max;
	while (n && cut && ((unsigned char)text[n] & 0xc0) == 0x80)
		n--; /* not in the middle of a character */
	if (step->kind == ENV_STEP_RUN)
		label = dv_xasprintf("run: %.*s%s", (int)n, text, cut ? " …" : "");
	else if (step->kind == ENV_STEP_GIT)
		label = dv_xasprintf("git: %.*s%s%s%s -> %s", (int)n, text, cut ? " …" : "",
				     step->ref ? " @ " : "", step->ref ? step->ref : "", step->to);
	else if (step->kind == ENV_STEP_DOWNLOAD)
		label = dv_xasprintf("download: %.*s%s -> %s", (int)n, text, cut ? " …" : "",
				     step->to);
	else
		label = dv_xasprintf("copy: %.*s%s -> %s", (int)n, text, cut ? " …" : "", step->to);
	/* The Envfile is the repository's: what a terminal would act on is
	 * shown escaped (util/str.h). */
	dv_buf_add_safe(&b, label, strlen(label));
	free(label);
	return dv_buf_steal(&b);
}
