/* layers/store.c - opening the store, staging, commit and the cache. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/banned.h"

/* Lexically clean an absolute path: no "//", ".", "..", or trailing "/". */
static char *clean_path(const char *path)
{
	char *out = dv_xmalloc(strlen(path) + 2);
	size_t n = 0;
	const char *p = path;

	while (*p) {
		const char *e;
		size_t len;

		while (*p == '/')
			p++;
		e = strchrnul(p, '/');
		len = (size_t)(e - p);
		if (len == 0 || (len == 1 && p[0] == '.')) {
			/* nothing */
		} else if (len == 2 && p[0] == '.' && p[1] == '.') {
			while (n > 0 && out[n - 1] != '/')
				n--;
			if (n > 0)
				n--;
		} else {
			out[n++] = '/';
			memcpy(out + n, p, len);
			n += len;
		}
		p = e;
	}
	if (n == 0)
		out[n++] = '/';
	out[n] = 0;
	return out;
}

/* The store must never be "/", the user's home, or relative: gc and destroy
 * remove things below it (podman #18287, lxc #3123). */
static int check_root(const char *path, const char *shown, struct dv_error *err)
{
	const char *home = getenv("HOME");
	struct stat a, b;

	if (!strcmp(path, "/"))
		return dv_err(err, 0,
			      "refusing to use '/' as the devenv store; set DEVENV_HOME to a "
			      "folder of its own");
	if (home && home[0] == '/') {
		dv_autofree char *h = clean_path(home);

		if (!strcmp(h, path) || (stat(path, &a) == 0 && stat(h, &b) == 0 &&
					 a.st_dev == b.st_dev && a.st_ino == b.st_ino))
			return dv_err(err, 0,
				      "refusing to use your home folder '%s' as the devenv store; "
				      "set DEVENV_HOME to a folder of its own",
				      shown);
	}
	return 0;
}

int layer_store_open(const char *root, bool rootless, struct layer_store *out, struct dv_error *err)
{
	static const char *const dirs[] = { "layers", "images", "cache",       "tmp",
					    "envs",   "blobs",  "blobs/sha256" };
	struct layer_store st = { .root_fd = -1,
				  .layers_fd = -1,
				  .images_fd = -1,
				  .cache_fd = -1,
				  .tmp_fd = -1,
				  .rootless = rootless };
	dv_autofree char *clean = NULL;
	char real[PATH_MAX];
	struct stat sb;
	size_t i;

	if (!root || root[0] != '/')
		return dv_err(err, 0,
			      "refusing to use the relative path '%s' as the devenv store; set "
			      "DEVENV_HOME to an absolute path",
			      root ? root : "");
	clean = clean_path(root);
	if (check_root(clean, root, err) < 0)
		return -1;
	if (dv_mkdir_p(clean, 0700, err) < 0)
		return dv_err_prefix(err, "cannot create the devenv store");
	/* Again on the real path: a symlink may lead to "/" or home. */
	if (!realpath(clean, real))
		return dv_err(err, errno, "cannot open the devenv store '%s'", root);
	if (check_root(real, root, err) < 0)
		return -1;
	st.root_fd = open(real, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (st.root_fd < 0)
		return dv_err(err, errno, "cannot open the devenv store '%s'", root);
	/* Others must not read the store, nor reach setuid files in layers
	 * (CVE-2021-41091). */
	if (fstat(st.root_fd, &sb) == 0 && (sb.st_mode & 077) && sb.st_uid == geteuid())
		fchmod(st.root_fd, sb.st_mode & 0700);
	st.root = dv_xstrdup(real);
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		if (dv_mkdirat_ok(st.root_fd, dirs[i], 0700, err) < 0)
			goto fail;
	if ((st.layers_fd = dv_open_dir_at(st.root_fd, "layers", err)) < 0 ||
	    (st.images_fd = dv_open_dir_at(st.root_fd, "images", err)) < 0 ||
	    (st.cache_fd = dv_open_dir_at(st.root_fd, "cache", err)) < 0 ||
	    (st.tmp_fd = dv_open_dir_at(st.root_fd, "tmp", err)) < 0)
		goto fail;
	*out = st;
	return 0;
fail:
	dv_err_prefix(err, "cannot open the devenv store '%s'", root);
	layer_store_release(&st);
	return -1;
}

int layer_store_peek(const char *root, struct layer_store *out, struct dv_error *err)
{
	*out = (struct layer_store){ .root_fd = -1,
				     .layers_fd = -1,
				     .images_fd = -1,
				     .cache_fd = -1,
				     .tmp_fd = -1 };
	out->root_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (out->root_fd < 0 && errno != ENOENT)
		return dv_err(err, errno, "cannot open the store '%s'", root);
	out->root = dv_xstrdup(root);
	return 0;
}

void layer_store_release(struct layer_store *st)
{
	/* A zeroed struct holds fd 0, which is not ours: root marks an open store. */
	if (!st->root)
		return;
	dv_closep(&st->root_fd);
	dv_closep(&st->layers_fd);
	dv_closep(&st->images_fd);
	dv_closep(&st->cache_fd);
	dv_closep(&st->tmp_fd);
	free(st->root);
	*st = (struct layer_store){ .root_fd = -1,
				    .layers_fd = -1,
				    .images_fd = -1,
				    .cache_fd = -1,
				    .tmp_fd = -1 };
}

/* A valid store-id file: 8 lower-case hex digits and a newline. */
static bool store_id_ok(char *text, size_t len)
{
	if (len != 9 || text[8] != '\n')
		return false;
	text[8] = 0;
	return dv_str_is_hex(text, 8);
}

/* Write a new id to tmp/ and put it in place: linked when there is none
 * (two devenvs racing: the first link wins, the other reads it), renamed
 * over a damaged one. */
static int store_id_make(const struct layer_store *st, bool replace, struct dv_error *err)
{
	dv_autofree char *staging = NULL;
	dv_autofree char *tmp = NULL;
	char text[16];
	unsigned int rnd;
	int fd, ret = 0;

	if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
		rnd = (unsigned)dv_now_ns() ^ (unsigned)getpid();
	snprintf(text, sizeof(text), "%08x\n", rnd);
	if (layer_staging_create(st, false, "id", &staging, err) < 0)
		return -1;
	tmp = dv_xasprintf("%s/store-id", staging);
	fd = openat(st->tmp_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || dv_write_full(fd, text, 9, err) < 0 || fsync(fd) < 0) {
		if (!dv_err_isset(err))
			dv_err(err, errno, "cannot write 'tmp/%s'", tmp);
		ret = -1;
	} else if (replace ? renameat(st->tmp_fd, tmp, st->root_fd, "store-id") < 0
			   : linkat(st->tmp_fd, tmp, st->root_fd, "store-id", 0) < 0 &&
				     errno != EEXIST) {
		ret = dv_err(err, errno, "cannot write '%s/store-id'", st->root);
	} else {
		fsync(st->root_fd);
	}
	if (fd >= 0)
		close(fd);
	layer_staging_discard(st, staging, &(struct dv_error){ 0 });
	return ret;
}

int layer_store_id(const struct layer_store *st, char out[9], struct dv_error *err)
{
	for (int tries = 0;; tries++) {
		dv_autofree char *text = NULL;
		struct dv_error rd = { 0 };
		size_t len = 0;
		bool missing;

		if (dv_read_file_at(st->root_fd, "store-id", &text, &len, &rd) == 0 &&
		    store_id_ok(text, len)) {
			memcpy(out, text, 8);
			out[8] = 0;
			return 0;
		}
		missing = dv_err_isset(&rd) && rd.errnum == ENOENT;
		if (dv_err_isset(&rd) && !missing) {
			*err = rd;
			return dv_err_prefix(err, "cannot read the store's id");
		}
		if (tries >= 3)
			return dv_err(err, EIO, "cannot make '%s/store-id'", st->root);
		/* Cgroups of running envs are recorded in their state.json:
		 * a new id only names what starts from now on. */
		if (!missing)
			fprintf(stderr,
				"devenv: warning: '%s/store-id' is damaged; the store gets a new id\n",
				st->root);
		if (store_id_make(st, !missing, err) < 0)
			return dv_err_prefix(err, "cannot give the store an id");
	}
}

char *layer_diff_path(const struct layer_store *st, const char *id)
{
	if (!layer_is_id(id))
		return NULL;
	return dv_xasprintf("%s/layers/%s/diff", st->root, id);
}

bool layer_exists(const struct layer_store *st, const char *id)
{
	char path[80];
	struct stat sb;

	if (!layer_is_id(id))
		return false;
	/* layer.json is written before the rename, so it marks a whole layer. */
	snprintf(path, sizeof(path), "%s/layer.json", id);
	return fstatat(st->layers_fd, path, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(sb.st_mode);
}

/* Field 22 of /proc/PID/stat: when the process started, in clock ticks. */
static unsigned long long proc_start_time(pid_t pid)
{
	char path[64], buf[1024];
	dv_autoclose int fd = -1;
	ssize_t n;
	char *p;
	int field;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || (n = read(fd, buf, sizeof(buf) - 1)) <= 0)
		return 0;
	buf[n] = 0;
	p = strrchr(buf, ')'); /* the command name may hold spaces and ')' */
	if (!p)
		return 0;
	for (field = 2; field < 22 && p; field++)
		p = strchr(p + 1, ' ');
	return p ? strtoull(p + 1, NULL, 10) : 0;
}

/* A staging name is "<pid>-<start time>-<random>[-tag]": gc can tell a live
 * builder's folder from a crashed one's, even after the pid is reused. */
bool layer_tmp_owner_alive(const char *name)
{
	unsigned long long start;
	char *end;
	long pid = strtol(name, &end, 10);

	if (pid <= 0 || *end != '-')
		return false;
	start = strtoull(end + 1, &end, 10);
	if (*end != '-')
		return false;
	return proc_start_time((pid_t)pid) == start && start != 0;
}

int layer_staging_create(const struct layer_store *st, bool with_work, const char *tag,
			 char **out_name, struct dv_error *err)
{
	unsigned long long start = proc_start_time(getpid());
	dv_autofree char *name = NULL;
	dv_autoclose int fd = -1;
	unsigned int rnd;
	int tries;

	for (tries = 0;; tries++) {
		if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
			rnd = (unsigned)dv_now_ns() ^ (unsigned)tries;
		free(name);
		name = dv_xasprintf("%d-%llu-%08x%s%s", (int)getpid(), start, rnd, tag ? "-" : "",
				    tag ? tag : "");
		if (mkdirat(st->tmp_fd, name, 0700) == 0)
			break;
		if (errno != EEXIST || tries > 100)
			return dv_err(err, errno, "cannot create staging folder 'tmp/%s'", name);
	}
	fd = dv_open_dir_at(st->tmp_fd, name, err);
	if (fd < 0 || mkdirat(fd, "diff", 0755) < 0 || (with_work && mkdirat(fd, "work", 0700) < 0)) {
		if (!dv_err_isset(err))
			dv_err(err, errno, "cannot create staging folder 'tmp/%s'", name);
		dv_rm_tree_at(st->tmp_fd, name, &(struct dv_error){ 0 });
		return -1;
	}
	*out_name = dv_steal_ptr(&name);
	return 0;
}

/* Staging names are ours, but callers pass them back: keep them one
 * component so no path is built from anything else. */
static int check_staging_name(const char *name, struct dv_error *err)
{
	if (!name || !name[0] || strchr(name, '/') || name[0] == '.')
		return dv_err(err, EINVAL, "invalid staging name '%s'", name ? name : "");
	return 0;
}

int layer_staging_new(const struct layer_store *st, char **out_name, struct dv_error *err)
{
	return layer_staging_create(st, true, NULL, out_name, err);
}

char *layer_staging_path(const struct layer_store *st, const char *name, const char *sub)
{
	if (sub && sub[0])
		return dv_xasprintf("%s/tmp/%s/%s", st->root, name, sub);
	return dv_xasprintf("%s/tmp/%s", st->root, name);
}

int layer_staging_discard(const struct layer_store *st, const char *name, struct dv_error *err)
{
	if (check_staging_name(name, err) < 0)
		return -1;
	return layer_rm_tree(st->tmp_fd, name, err);
}

static int write_meta(int dirfd, const char *id, const char *parent, const char *step,
		      const char *diff_id, bool has_size, unsigned long long size, long long epoch,
		      struct dv_error *err)
{
	layer_autojson struct json_object *o = json_object_new_object();
	const char *text;

	json_object_object_add(o, "id", json_object_new_string(id));
	json_object_object_add(o, "parent", parent ? json_object_new_string(parent) : NULL);
	json_object_object_add(o, "created", json_object_new_int64((int64_t)time(NULL)));
	json_object_object_add(o, "size", has_size ? json_object_new_int64((int64_t)size) : NULL);
	json_object_object_add(o, "step", step ? json_object_new_string(step) : NULL);
	json_object_object_add(o, "diff_id", diff_id ? json_object_new_string(diff_id) : NULL);
	if (epoch > 0) /* its files' times are clamped to it (provision/normalise.c) */
		json_object_object_add(o, "source_date_epoch", json_object_new_int64(epoch));
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							 JSON_C_TO_STRING_NOSLASHESCAPE);
	return dv_write_file_atomic(dirfd, "layer.json", text, strlen(text), 0600, err);
}

static int commit(const struct layer_store *st, const char *name, const char *id,
		  const char *parent, const char *step, const char *diff_id, bool has_size,
		  unsigned long long size, long long epoch, struct dv_error *err)
{
	dv_autoclose int fd = -1;

	if (check_staging_name(name, err) < 0)
		return -1;
	if (!layer_is_id(id))
		return dv_err(err, EINVAL, "invalid layer id '%s'", id ? id : "");
	if (parent && !layer_is_id(parent))
		return dv_err(err, EINVAL, "invalid parent layer id '%s'", parent);
	if (layer_exists(st, id))
		return layer_staging_discard(st, name, err);
	fd = dv_open_dir_at(st->tmp_fd, name, err);
	if (fd < 0)
		return dv_err_prefix(err, "cannot commit layer '%s'", id);
	/* Flush what the step wrote before the rename makes the layer visible:
	 * after a crash a layer is whole or absent, never half-written. */
	if (syncfs(st->root_fd) < 0)
		return dv_err(err, errno, "cannot commit layer '%s': syncfs", id);
	if (layer_rm_tree(fd, "work", err) < 0 ||
	    write_meta(fd, id, parent, step, diff_id, has_size, size, epoch, err) < 0)
		return dv_err_prefix(err, "cannot commit layer '%s'", id);
	if (renameat2(st->tmp_fd, name, st->layers_fd, id, RENAME_NOREPLACE) < 0) {
		if (errno == EEXIST || errno == ENOTEMPTY) /* a concurrent build won */
			return layer_staging_discard(st, name, err);
		return dv_err(err, errno, "cannot commit layer '%s': rename", id);
	}
	fsync(st->layers_fd);
	return 0;
}

int layer_commit_full(const struct layer_store *st, const char *name, const char *id,
		      const char *parent, const char *step, const char *diff_id, bool has_size,
		      unsigned long long size, struct dv_error *err)
{
	return commit(st, name, id, parent, step, diff_id, has_size, size, 0, err);
}

int layer_commit(const struct layer_store *st, const char *name, const char *id, const char *parent,
		 const char *step, struct dv_error *err)
{
	return commit(st, name, id, parent, step, NULL, false, 0, 0, err);
}

int layer_commit_epoch(const struct layer_store *st, const char *name, const char *id,
		       const char *parent, const char *step, long long epoch, struct dv_error *err)
{
	return commit(st, name, id, parent, step, NULL, false, 0, epoch, err);
}

long long layer_epoch(const struct layer_store *st, const char *id)
{
	layer_autojson struct json_object *o = layer_meta_read(st, id);
	struct json_object *v;

	if (o && json_object_object_get_ex(o, "source_date_epoch", &v) &&
	    json_object_is_type(v, json_type_int) && json_object_get_int64(v) > 0)
		return (long long)json_object_get_int64(v);
	return 0;
}

/* layer.json as written: one object naming its layer. A damaged one
 * (empty, truncated, garbage) is said once and written anew from what is
 * sure: the id. What it loses is measured or made again when needed (the
 * size, the push forms, a built layer's diff_id); its parent only served
 * gc, which keeps every layer of an image or env by its own list. */
static struct json_object *meta_parse(const struct layer_store *st, const char *id,
				      const char *text, size_t len)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o = json_tokener_parse_ex(tok, text, (int)len), *v;
	size_t used = o ? json_tokener_get_parse_end(tok) : 0;
	dv_autoclose int fd = -1;

	json_tokener_free(tok);
	while (o && used < len && strchr(" \t\r\n", text[used]))
		used++;
	if (o && json_object_is_type(o, json_type_object) && used == len &&
	    json_object_object_get_ex(o, "id", &v) && json_object_is_type(v, json_type_string) &&
	    !strcmp(json_object_get_string(v), id))
		return o;
	json_object_put(o);
	fprintf(stderr,
		"devenv: warning: '%s/layers/%s/layer.json' is damaged (%s); written anew "
		"(its size and push forms are made again when needed)\n",
		st->root, id, len ? "not this layer's JSON object" : "empty");
	fd = dv_open_dir_at(st->layers_fd, id, &(struct dv_error){ 0 });
	if (fd >= 0)
		write_meta(fd, id, NULL, NULL, NULL, false, 0, 0, &(struct dv_error){ 0 });
	o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_string(id));
	return o;
}

struct json_object *layer_meta_read(const struct layer_store *st, const char *id)
{
	char path[80];
	dv_autofree char *text = NULL;
	size_t len;
	struct dv_error e = { 0 };

	if (!layer_is_id(id))
		return NULL;
	snprintf(path, sizeof(path), "%s/layer.json", id);
	if (dv_read_file_at(st->layers_fd, path, &text, &len, &e) < 0)
		return NULL;
	return meta_parse(st, id, text, len);
}

unsigned long long layer_size(const struct layer_store *st, const char *id)
{
	layer_autojson struct json_object *o = layer_meta_read(st, id);
	struct json_object *size;
	unsigned long long n;
	dv_autoclose int fd = -1;
	const char *text;

	if (!o)
		return 0;
	if (json_object_object_get_ex(o, "size", &size) && json_object_is_type(size, json_type_int))
		return (unsigned long long)json_object_get_int64(size);
	/* Commit does not measure (it must stay constant-time); the first
	 * reader does, once, and records it. */
	fd = dv_open_dir_at(st->layers_fd, id, &(struct dv_error){ 0 });
	if (fd < 0)
		return 0;
	n = dv_du_at(fd, "diff");
	json_object_object_add(o, "size", json_object_new_int64((int64_t)n));
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							 JSON_C_TO_STRING_NOSLASHESCAPE);
	dv_write_file_atomic(fd, "layer.json", text, strlen(text), 0600, &(struct dv_error){ 0 });
	return n;
}

/* cache/<key> holds one line per layer that stands for the key:
 *   "ID"              a layer built here: its id is its key (DESIGN.md), and
 *                     it serves every env;
 *   "ID SOURCE ENV"   a layer pulled through the cache_from image SOURCE
 *                     (normalised) for env ENV (its id, or "-"): it serves
 *                     the envs naming SOURCE, and ENV.
 *   "ID SOURCE ENV trust=MARK"  the same, its source's signature checked
 *                     against a `cache_trust` file of that mark: an env
 *                     with `cache_trust` takes only pulled lines of its
 *                     file's mark (older devenvs read the first three).
 * A line "ID" whose ID is not the key was pulled before the source was
 * recorded: where it came from is unknown, so it serves no env (a project
 * could have planted it for another's step) and gc drops it. */
struct cache_line {
	char id[65];
	char source[256];
	char env[16];
	char trust[24]; /* the mark, "" when none */
};

/* Parse one line; false for one that is not a line of ours. */
static bool cache_line_parse(const char *line, size_t len, struct cache_line *out)
{
	char buf[400];
	char *save = NULL, *id, *source, *env, *trust;

	if (len >= sizeof(buf))
		return false;
	memcpy(buf, line, len);
	buf[len] = 0;
	id = strtok_r(buf, " ", &save);
	source = strtok_r(NULL, " ", &save);
	env = strtok_r(NULL, " ", &save);
	trust = env ? strtok_r(NULL, " ", &save) : NULL;
	if (!id || !layer_is_id(id) ||
	    (source &&
	     (!env || strlen(source) >= sizeof(out->source) || strlen(env) >= sizeof(out->env))))
		return false;
	/* A fourth field that is not a mark is no mark: the line serves no
	 * env with cache_trust. */
	snprintf(out->trust, sizeof(out->trust), "%s",
		 trust && dv_str_startswith(trust, "trust=") && dv_str_is_hex(trust + 6, 16)
			 ? trust + 6
			 : "");
	memcpy(out->id, id, 65);
	snprintf(out->source, sizeof(out->source), "%s", source ? source : "");
	snprintf(out->env, sizeof(out->env), "%s", env ? env : "");
	return true;
}

/* The lines of cache/<key> (ENOENT when there is no entry); *bad: how many
 * lines are not ours (an empty entry counts one): a damaged entry. */
static int cache_lines(const struct layer_store *st, const char *key, struct cache_line **out,
		       size_t *n, size_t *bad, struct dv_error *err)
{
	dv_autofree char *text = NULL;
	struct dv_error e = { 0 };
	size_t len;

	*out = NULL;
	*n = 0;
	*bad = 0;
	if (!layer_is_id(key))
		return dv_err(err, EINVAL, "invalid cache key '%s'", key ? key : "");
	if (dv_read_file_at(st->cache_fd, key, &text, &len, &e) < 0) {
		if (e.errnum == ENOENT)
			return dv_err_plain(err, ENOENT, "no cached layer for key '%s'", key);
		*err = e;
		return -1;
	}
	if (len == 0 || memchr(text, 0, len))
		(*bad)++;
	for (char *p = text, *nl; *p; p = nl + (*nl != 0)) {
		nl = p + strcspn(p, "\n");
		*out = dv_xrealloc(*out, (*n + 1) * sizeof(**out));
		if (cache_line_parse(p, (size_t)(nl - p), &(*out)[*n]))
			(*n)++;
		else
			(*bad)++;
	}
	return 0;
}

static void cache_say_damaged(const struct layer_store *st, const char *key, size_t bad,
			      const char *what)
{
	fprintf(stderr, "devenv: warning: '%s/cache/%s' is damaged (%zu unreadable line%s); %s\n",
		st->root, key, bad, bad == 1 ? "" : "s", what);
}

static bool cache_serves(const struct cache_line *l, const char *key,
			 const struct layer_cache_scope *scope, const char *trust)
{
	if (!l->source[0])
		return !strcmp(l->id, key);
	/* A bundle's line (`devenv image load` in this very checkout: the
	 * developer's own act, scoped to this env) needs no signature. */
	if (!scope || (trust && strcmp(trust, l->trust) && strncmp(l->source, "bundle:", 7)))
		return false;
	if (scope->env && l->env[0] != '-' && !strcmp(scope->env, l->env))
		return true;
	for (size_t i = 0; scope->sources && i < scope->sources->n; i++) {
		dv_autofree char *norm = NULL;

		if (layer_ref_normalize(scope->sources->v[i], false, &norm,
					&(struct dv_error){ 0 }) == 0 &&
		    !strcmp(norm, l->source))
			return true;
	}
	return false;
}

int layer_cache_get(const struct layer_store *st, const char *key,
		    const struct layer_cache_scope *scope, char out[65], struct dv_error *err)
{
	return layer_cache_get_trust(st, key, scope, NULL, out, err);
}

int layer_cache_get_trust(const struct layer_store *st, const char *key,
			  const struct layer_cache_scope *scope, const char *trust, char out[65],
			  struct dv_error *err)
{
	dv_autofree struct cache_line *lines = NULL;
	size_t n, bad;
	bool gone = false;

	if (cache_lines(st, key, &lines, &n, &bad, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!cache_serves(&lines[i], key, scope, trust))
			continue;
		if (!layer_exists(st, lines[i].id)) {
			gone = true;
			continue;
		}
		memcpy(out, lines[i].id, 65);
		return 0;
	}
	/* The step runs again, and layer_cache_put writes the entry anew. */
	if (bad)
		cache_say_damaged(st, key, bad, "the step runs again");
	return dv_err_plain(err, ENOENT, "no cached layer for key '%s'%s", key,
			    gone ? " (layer gone)"
			    : n  ? " for this env"
				 : " (bad entry)");
}

static int cache_write(const struct layer_store *st, const char *key, const struct cache_line *l,
		       size_t n, struct dv_error *err)
{
	struct dv_buf b = { 0 };
	int ret;

	if (!n) {
		if (unlinkat(st->cache_fd, key, 0) < 0 && errno != ENOENT)
			return dv_err(err, errno, "cannot remove cache entry '%s'", key);
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		if (l[i].source[0] && l[i].trust[0])
			dv_buf_addf(&b, "%s %s %s trust=%s\n", l[i].id, l[i].source, l[i].env,
				    l[i].trust);
		else if (l[i].source[0])
			dv_buf_addf(&b, "%s %s %s\n", l[i].id, l[i].source, l[i].env);
		else
			dv_buf_addf(&b, "%s\n", l[i].id);
	}
	ret = dv_write_file_atomic(st->cache_fd, key, b.s, b.len, 0600, err);
	dv_buf_release(&b);
	return ret;
}

int layer_cache_put(const struct layer_store *st, const char *key, const char *id,
		    const char *source, const char *env, struct dv_error *err)
{
	return layer_cache_put_trust(st, key, id, source, env, NULL, err);
}

int layer_cache_put_trust(const struct layer_store *st, const char *key, const char *id,
			  const char *source, const char *env, const char *trust,
			  struct dv_error *err)
{
	dv_autofree struct cache_line *lines = NULL;
	struct dv_error miss = { 0 };
	struct cache_line add;
	size_t n = 0, keep = 0, bad = 0;

	if (!layer_is_id(key))
		return dv_err(err, EINVAL, "invalid cache key '%s'", key ? key : "");
	if (!layer_is_id(id))
		return dv_err(err, EINVAL, "invalid layer id '%s'", id ? id : "");
	memset(&add, 0, sizeof(add));
	memcpy(add.id, id, 65);
	if (!source) {
		/* Built here: it serves everyone, and replaces what was pulled. */
		if (strcmp(id, key))
			return dv_err(err, EINVAL, "a layer built for key '%s' has another id '%s'",
				      key, id);
		return cache_write(st, key, &add, 1, err);
	}
	if (!source[0] || strchr(source, ' ') || strchr(source, '\n') ||
	    strlen(source) >= sizeof(add.source))
		return dv_err(err, EINVAL, "invalid cache source '%s'", source);
	snprintf(add.source, sizeof(add.source), "%s", source);
	snprintf(add.env, sizeof(add.env), "%s", env && dv_str_is_hex(env, 12) ? env : "-");
	snprintf(add.trust, sizeof(add.trust), "%s", trust && dv_str_is_hex(trust, 16) ? trust : "");
	if (cache_lines(st, key, &lines, &n, &bad, &miss) < 0 && miss.errnum != ENOENT) {
		*err = miss;
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		bool legacy = !lines[i].source[0] && strcmp(lines[i].id, key);

		if (legacy || (!strcmp(lines[i].id, add.id) && !strcmp(lines[i].source, add.source) &&
			       !strcmp(lines[i].env, add.env)))
			continue;
		lines[keep++] = lines[i];
	}
	lines = dv_xrealloc(lines, (keep + 1) * sizeof(*lines));
	lines[keep++] = add;
	return cache_write(st, key, lines, keep, err);
}

int layer_cache_prune(const struct layer_store *st, const char *key, struct dv_error *err)
{
	dv_autofree struct cache_line *lines = NULL;
	size_t n = 0, keep = 0, bad = 0;
	struct dv_error miss = { 0 };

	if (cache_lines(st, key, &lines, &n, &bad, &miss) < 0)
		return miss.errnum == ENOENT ? 0 : (*err = miss, -1);
	for (size_t i = 0; i < n; i++) {
		bool legacy = !lines[i].source[0] && strcmp(lines[i].id, key);

		if (!legacy && layer_exists(st, lines[i].id))
			lines[keep++] = lines[i];
	}
	if (bad)
		cache_say_damaged(st, key, bad,
				  keep ? "its unreadable lines are dropped" : "it is removed");
	return keep == n && !bad ? 0 : cache_write(st, key, lines, keep, err);
}

/* Give the owner rwx on every folder below fd (same device only), so a
 * rootless user can remove a tree whose image had 0555 folders. Modes are
 * set with AT_SYMLINK_NOFOLLOW: a symlink is never followed. */
static void make_removable(int fd, dev_t dev, int depth)
{
	dv_autoclosedir DIR *d = dv_opendir_fd(fd);
	struct dirent *de;

	if (!d)
		return;
	while (depth < 256 && (de = readdir(d))) {
		struct stat sb;
		dv_autoclose int sub = -1;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    fstatat(fd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(sb.st_mode) ||
		    sb.st_dev != dev)
			continue;
		if ((sb.st_mode & 0700) != 0700)
			fchmodat(fd, de->d_name, (sb.st_mode & 07777) | 0700, AT_SYMLINK_NOFOLLOW);
		sub = openat(fd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub >= 0)
			make_removable(sub, dev, depth + 1);
	}
}

int layer_rm_tree(int dirfd, const char *name, struct dv_error *err)
{
	struct dv_error e = { 0 };
	dv_autoclose int fd = -1;
	struct stat sb;

	if (dv_rm_tree_at(dirfd, name, &e) == 0)
		return 0;
	if (e.errnum != EACCES && e.errnum != EPERM) {
		*err = e;
		return -1;
	}
	if (fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(sb.st_mode)) {
		if ((sb.st_mode & 0700) != 0700)
			fchmodat(dirfd, name, (sb.st_mode & 07777) | 0700, AT_SYMLINK_NOFOLLOW);
		fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0)
			make_removable(fd, sb.st_dev, 0);
	}
	return dv_rm_tree_at(dirfd, name, err);
}

int layer_blobs_dir(const struct layer_store *st, struct dv_error *err)
{
	return dv_open_dir_at(st->root_fd, "blobs/sha256", err);
}
