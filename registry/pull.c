/* registry/pull.c - an image from an OCI registry becomes layers and an image.
 *
 * Order: manifest (an index picks this machine's platform), config, then
 * the layers the store lacks, up to PULL_JOBS at once: each streams from the
 * registry into the import extractor in a staging folder of its own under
 * tmp/ (pull_layer.c: digest checked as it streams, resumed when cut), so
 * its id is its diff_id, as for an imported tar, checked against the
 * config's rootfs.diff_ids. Only when every layer is staged are they
 * committed and the record written, so a failed pull leaves the store as it
 * was. Every digest is checked to be sha256:<64 hex> before it becomes a URL
 * or a path (CVE-2024-3727). */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/hash.h"
#include "util/parse.h"
#include "util/banned.h"

#define PULL_CONFIG_MAX (8u << 20)
#define PULL_JOBS 3

#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"

static const char *const layer_types[] = {
	"application/vnd.oci.image.layer.v1.tar",
	"application/vnd.oci.image.layer.v1.tar+gzip",
	"application/vnd.oci.image.layer.v1.tar+zstd",
	"application/vnd.docker.image.rootfs.diff.tar.gzip",
};

/* A remote image: its manifest and config, fetched and checked; its
 * layers are fetched by a pull (all) or one at a time (reg_remote_*,
 * for the team cache). */
struct reg_remote {
	struct reg *reg;
	char *name;                         /* normalised reference */
	char os[32], arch[32], variant[32]; /* the platform to pick; variant "": any */
	bool platform_asked;                /* --platform: a plain manifest must be for it too */
	bool progress;
	char *manifest_text, *config_text;
	size_t config_len;
	char manifest_hex[65], config_hex[65];
	struct json_object *manifest, *config;
	struct json_object *layers; /* the manifest's, borrowed */
	struct dv_strv diff_ids;    /* hex, parallel to layers */
};

struct pull {
	const struct layer_store *st;
	struct reg_remote *r;
	struct dv_strv staged; /* staging names, parallel to r->diff_ids; "" when present */
	/* The layers to fetch; the workers share what follows under lock. */
	struct job *jobs;
	size_t njobs, nlayers, next;
	pthread_mutex_t lock;
	bool failed, drawn;
	struct dv_error err; /* the first failure */
	unsigned long long drawn_ns;
};

void reg_remote_free(struct reg_remote *r)
{
	if (!r)
		return;
	reg_free(r->reg);
	free(r->name);
	free(r->manifest_text);
	free(r->config_text);
	json_object_put(r->manifest);
	json_object_put(r->config);
	dv_strv_release(&r->diff_ids);
	free(r);
}

static void pull_release(struct pull *p)
{
	size_t i;

	for (i = 0; i < p->staged.n; i++)
		if (p->staged.v[i][0])
			layer_rm_tree(p->st->tmp_fd, p->staged.v[i], &(struct dv_error){ 0 });
	dv_strv_release(&p->staged);
	reg_remote_free(p->r);
	free(p->jobs);
}

static const char *jstr(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* The hex of a descriptor's digest, or NULL when it is not sha256:<64 hex>. */
static const char *desc_hex(struct json_object *desc)
{
	return dv_digest_hex(jstr(desc, "digest"));
}

static bool is_index(const char *mt)
{
	return !strcmp(mt, MT_OCI_INDEX) || !strcmp(mt, MT_DOCKER_LIST);
}

static bool is_manifest(const char *mt)
{
	return !strcmp(mt, MT_OCI_MANIFEST) || !strcmp(mt, MT_DOCKER_MANIFEST);
}

/* The media type: the response's Content-Type, else the document's own
 * mediaType (OCI makes it optional), else guessed from its shape. */
static const char *media_type(const char *header, struct json_object *doc)
{
	const char *mt = jstr(doc, "mediaType");
	struct json_object *v;

	if (header[0] && (is_index(header) || is_manifest(header)))
		return header;
	if (mt)
		return mt;
	if (header[0] && strcmp(header, "application/json") &&
	    strcmp(header, "application/octet-stream") && strcmp(header, "text/plain"))
		return header;
	if (json_object_object_get_ex(doc, "manifests", &v))
		return MT_OCI_INDEX;
	if (json_object_object_get_ex(doc, "config", &v))
		return MT_OCI_MANIFEST;
	return header[0] ? header : "(none)";
}

/* From an index, the digest of the manifest for p's platform (by default
 * linux/LAYER_ARCH). */
static int pick_platform(struct reg_remote *p, struct json_object *index, char hex[65],
			 struct dv_error *err)
{
	struct json_object *list, *m, *plat;
	struct dv_buf seen = { 0 };
	size_t i, n;

	if (!json_object_object_get_ex(index, "manifests", &list) ||
	    !json_object_is_type(list, json_type_array))
		return dv_err_plain(err, EINVAL, "index of '%s' lists no manifests", p->name);
	n = json_object_array_length(list);
	for (i = 0; i < n; i++) {
		const char *os, *arch, *variant, *h;

		m = json_object_array_get_idx(list, i);
		if (!json_object_object_get_ex(m, "platform", &plat))
			continue;
		os = jstr(plat, "os");
		arch = jstr(plat, "architecture");
		variant = jstr(plat, "variant");
		if (!os || !arch)
			continue;
		if (!strcmp(os, p->os) && !strcmp(arch, p->arch) &&
		    (!p->variant[0] || (variant && !strcmp(variant, p->variant)))) {
			if (!(h = desc_hex(m))) {
				dv_buf_release(&seen);
				return dv_err_plain(err, EINVAL,
						    "index of '%s' names an invalid digest",
						    p->name);
			}
			snprintf(hex, 65, "%s", h);
			dv_buf_release(&seen);
			return 0;
		}
		if (!strcmp(os, "unknown"))
			continue; /* attestations, not images */
		dv_buf_addf(&seen, "%s%s/%s%s%s", seen.len ? ", " : "", os, arch,
			    variant ? "/" : "", variant ? variant : "");
	}
	dv_err_plain(err, ENOENT, "no %s/%s%s%s image in '%s'; it has: %s", p->os, p->arch,
		     p->variant[0] ? "/" : "", p->variant, p->name,
		     seen.len ? seen.s : "no platforms");
	dv_buf_release(&seen);
	return -1;
}

/* "os/arch[/variant]" into r; NULL: this machine's, linux/LAYER_ARCH. */
static int set_platform(struct reg_remote *r, const char *platform, struct dv_error *err)
{
	const char *p = platform;
	char *parts[3] = { r->os, r->arch, r->variant };
	size_t k = 0, n;

	snprintf(r->os, sizeof(r->os), "linux");
	snprintf(r->arch, sizeof(r->arch), "%s", LAYER_ARCH);
	r->variant[0] = 0;
	if (!platform)
		return 0;
	r->platform_asked = true;
	for (;;) {
		n = strcspn(p, "/");
		if (k == 3 || n == 0 || n >= sizeof(r->os) ||
		    strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789_.-") < n)
			break;
		snprintf(parts[k++], sizeof(r->os), "%.*s", (int)n, p);
		if (!p[n] && k >= 2)
			return 0;
		if (!p[n])
			break;
		p += n + 1;
	}
	return dv_err_usage(err,
			    "invalid platform '%s': write it as OS/ARCH[/VARIANT], such as "
			    "linux/arm64",
			    platform);
}

/* The image manifest (following an index), its digest, and its JSON. */
static int fetch_manifest(struct reg_remote *p, char **out_text, char out_hex[65],
			  struct json_object **out, struct dv_error *err)
{
	dv_autofree char *text = NULL, *mt = NULL, *reference = NULL;
	char want[65] = "", got[65], child[65];
	const char *type;
	size_t len;
	int depth;

	if (layer_ref_digest(p->name, want))
		reference = dv_xasprintf("sha256:%s", want);
	else
		reference = dv_xstrdup(strrchr(p->name, ':') + 1);
	for (depth = 0;; depth++) {
		layer_autojson struct json_object *doc = NULL;

		free(text);
		free(mt);
		text = mt = NULL;
		if (reg_manifest(p->reg, reference, &text, &len, &mt, err) < 0)
			return -1;
		dv_sha256_hex(text, len, got);
		if (want[0] && strcmp(want, got))
			return dv_err_plain(err, EBADMSG,
					    "digest mismatch: the manifest of '%s' has digest "
					    "sha256:%.12s..., not sha256:%.12s...",
					    p->name, got, want);
		if (!(doc = json_tokener_parse(text)) || !json_object_is_type(doc, json_type_object))
			return dv_err_plain(err, EINVAL, "the manifest of '%s' is not JSON",
					    p->name);
		type = media_type(mt, doc);
		if (is_manifest(type)) {
			*out = dv_steal_ptr(&doc);
			*out_text = dv_steal_ptr(&text);
			snprintf(out_hex, 65, "%s", got);
			return 0;
		}
		if (!is_index(type))
			return dv_err_plain(err, EPROTO,
					    "unsupported manifest media type '%s' for '%s'", type,
					    p->name);
		if (depth > 0)
			return dv_err_plain(err, EPROTO, "the index of '%s' names another index",
					    p->name);
		if (pick_platform(p, doc, child, err) < 0)
			return -1;
		free(reference);
		reference = dv_xasprintf("sha256:%s", child);
		snprintf(want, sizeof(want), "%s", child);
	}
}

/* ---- the layers, PULL_JOBS at a time ---- */

/* One layer to fetch. Its fields after `state` are the workers'. */
struct job {
	struct pull *p;
	size_t index;              /* in the manifest */
	const char *hex, *diff;    /* blob digest and diff_id (borrowed) */
	unsigned long long size;   /* from the manifest; ~0ULL when it gives none */
	unsigned long long done;   /* bytes downloaded so far */
	unsigned long long t0, t1; /* when it started and ended (ns) */
	enum { JOB_WAITING, JOB_RUNNING, JOB_DONE, JOB_FAILED } state;
};

/* DEVENV_PULL_JOBS: how many layers download and unpack at once (1-8). */
static size_t pull_jobs(void)
{
	const char *v = getenv("DEVENV_PULL_JOBS");
	long n = v && *v ? strtol(v, NULL, 10) : 0;

	return n >= 1 && n <= 8 ? (size_t)n : PULL_JOBS;
}

/* A layer's line: "layer 2/3 sha256:<12> 12.3 MiB / 40.1 MiB  9.8 MiB/s". */
static void job_line(const struct job *j, size_t n, unsigned long long now, struct dv_buf *out)
{
	char done[32], total[32], rate[32];
	unsigned long long t = (j->state == JOB_DONE ? j->t1 : now) - j->t0;

	dv_buf_addf(out, "\r\033[Klayer %zu/%zu sha256:%.12s ", j->index + 1, n, j->hex);
	if (j->state == JOB_WAITING) {
		dv_buf_adds(out, "waiting\n");
		return;
	}
	dv_str_size(done, sizeof(done), j->done);
	dv_str_size(rate, sizeof(rate),
		    t ? (unsigned long long)((double)j->done * 1e9 / (double)t) : 0);
	if (j->state == JOB_DONE) {
		dv_buf_addf(out, "%s done in %.1f s\n", done, (double)t / 1e9);
		return;
	}
	if (j->state == JOB_FAILED) {
		dv_buf_addf(out, "%s failed\n", done);
		return;
	}
	if (j->size != ~0ULL) {
		dv_str_size(total, sizeof(total), j->size);
		dv_buf_addf(out, "%s / %s  %s/s\n", done, total, rate);
	} else {
		dv_buf_addf(out, "%s  %s/s\n", done, rate);
	}
}

/* Redraw every layer's line (under p->lock), at most 10 times a second
 * unless forced: the cursor goes back up over the lines drawn last time. */
static void draw(struct pull *p, bool force)
{
	unsigned long long now = dv_now_ns();
	struct dv_buf b = { 0 };
	size_t k;

	if (!p->r->progress || (!force && p->drawn && now - p->drawn_ns < 100000000ULL))
		return;
	if (p->drawn)
		dv_buf_addf(&b, "\033[%zuA", p->njobs);
	for (k = 0; k < p->njobs; k++)
		job_line(&p->jobs[k], p->nlayers, now, &b);
	dv_write_full(2, b.s, b.len, &(struct dv_error){ 0 });
	dv_buf_release(&b);
	p->drawn = true;
	p->drawn_ns = now;
}

static bool on_progress(void *data, unsigned long long done)
{
	struct job *j = data;
	struct pull *p = j->p;
	bool go_on;

	pthread_mutex_lock(&p->lock);
	j->done = done;
	draw(p, false);
	go_on = !p->failed; /* another layer failed: the pull is over */
	pthread_mutex_unlock(&p->lock);
	return go_on;
}

/* A worker: fetch the next waiting layer until none is left or one failed.
 * Each has its own connection (a struct reg is not shared). */
static void *worker(void *data)
{
	struct pull *p = data;
	struct reg *reg = reg_dup(p->r->reg);

	for (;;) {
		struct dv_error e = { 0 };
		char *staging = NULL;
		struct job *j;
		int rc;

		pthread_mutex_lock(&p->lock);
		if (p->failed || p->next == p->njobs) {
			pthread_mutex_unlock(&p->lock);
			break;
		}
		j = &p->jobs[p->next++];
		j->state = JOB_RUNNING;
		j->t0 = dv_now_ns();
		draw(p, true);
		pthread_mutex_unlock(&p->lock);

		rc = reg_pull_layer(p->st, reg, j->hex, j->size, j->diff, on_progress, j, &staging,
				    &e);

		pthread_mutex_lock(&p->lock);
		j->t1 = dv_now_ns();
		if (rc == 0) {
			j->state = JOB_DONE;
			free(p->staged.v[j->index]);
			p->staged.v[j->index] =
				staging; /* pull_release removes it unless committed */
		} else {
			j->state = JOB_FAILED;
			if (!p->failed) { /* the first failure is the one to report */
				p->failed = true;
				p->err = e;
			}
		}
		draw(p, true);
		pthread_mutex_unlock(&p->lock);
	}
	reg_free(reg);
	return NULL;
}

/* Layer i's descriptor checked: its blob digest and size (~0ULL when the
 * manifest gives none). */
static int layer_desc(const struct reg_remote *r, size_t i, const char **hex_out,
		      unsigned long long *size_out, struct dv_error *err)
{
	struct json_object *desc = json_object_array_get_idx(r->layers, i), *size;
	const char *hex = desc_hex(desc), *mt = jstr(desc, "mediaType");
	size_t k;
	bool known = false;

	if (!hex)
		return dv_err_plain(err, EINVAL,
				    "the manifest of '%s' names an invalid layer digest", r->name);
	for (k = 0; mt && k < sizeof(layer_types) / sizeof(layer_types[0]); k++)
		known |= !strcmp(mt, layer_types[k]);
	if (!known)
		return dv_err_plain(err, EPROTO,
				    "unsupported layer media type '%s' in '%s' (foreign and "
				    "non-distributable layers are not fetched)",
				    mt ? mt : "(none)", r->name);
	*hex_out = hex;
	*size_out = ~0ULL;
	if (json_object_object_get_ex(desc, "size", &size)) {
		int64_t v = json_object_get_int64(size);

		if (v < 0)
			return dv_err_plain(err, EINVAL,
					    "the manifest of '%s' gives a negative size", r->name);
		*size_out = (unsigned long long)v;
	}
	return 0;
}

/* Check layer i's descriptor and queue it. */
static int add_job(struct pull *p, size_t i, struct dv_error *err)
{
	struct job *j = &p->jobs[p->njobs];

	*j = (struct job){ .p = p, .index = i, .diff = p->r->diff_ids.v[i] };
	if (layer_desc(p->r, i, &j->hex, &j->size, err) < 0)
		return -1;
	p->njobs++;
	return 0;
}

/* Fetch every queued layer into its own staging folder, up to pull_jobs()
 * at once: layers are independent folders until overlay stacks them, so
 * they download and unpack side by side. Threads, not processes: the
 * staging names, errors and progress are simply shared under one lock,
 * and a failure stops the others at their next block of bytes. */
static int fetch_layers(struct pull *p, struct dv_error *err)
{
	pthread_t t[8];
	size_t nt = pull_jobs(), k, started = 0;
	int e;

	if (nt > p->njobs)
		nt = p->njobs;
	pthread_mutex_init(&p->lock, NULL);
	for (k = 0; k < nt; k++) {
		if ((e = pthread_create(&t[k], NULL, worker, p))) {
			pthread_mutex_lock(&p->lock);
			if (!p->failed) {
				p->failed = true;
				dv_err(&p->err, e, "cannot start a download thread");
			}
			pthread_mutex_unlock(&p->lock);
			break;
		}
		started++;
	}
	for (k = 0; k < started; k++)
		pthread_join(t[k], NULL);
	pthread_mutex_destroy(&p->lock);
	if (p->failed) {
		*err = p->err;
		return -1;
	}
	return 0;
}

/* Commit staged layer i of r as layers/<its diff_id>. */
static int commit_layer(const struct layer_store *st, const struct reg_remote *r, size_t i,
			const char *staging, struct dv_error *err)
{
	dv_autofree char *diff_id = dv_xasprintf("sha256:%s", r->diff_ids.v[i]);
	dv_autofree char *step = dv_xasprintf("pull %s", r->name);
	unsigned long long size = dv_du_at(st->tmp_fd, staging);

	return layer_commit_full(st, staging, r->diff_ids.v[i], NULL, step, diff_id, true, size,
				 err);
}

static int remote_open(const char *ref, const char *platform, struct reg_remote **out,
		       struct dv_error *err)
{
	struct reg_remote *r = dv_xcalloc(1, sizeof(*r));
	struct json_object *cdesc, *rootfs, *diff_ids;
	const char *chex, *cmt, *os, *arch;
	size_t i, n;

	r->progress = isatty(2);
	if (set_platform(r, platform, err) < 0)
		goto fail;
	/* Both libraries are loaded here, before any thread. */
	if (layer_ref_normalize(ref, false, &r->name, err) < 0 ||
	    !(r->reg = reg_open(r->name, err)) || !layer_ar_load(err) ||
	    fetch_manifest(r, &r->manifest_text, r->manifest_hex, &r->manifest, err) < 0)
		goto fail;
	if (!json_object_object_get_ex(r->manifest, "config", &cdesc) || !(chex = desc_hex(cdesc)) ||
	    !json_object_object_get_ex(r->manifest, "layers", &r->layers) ||
	    !json_object_is_type(r->layers, json_type_array)) {
		dv_err_plain(err, EINVAL, "the manifest of '%s' lacks a valid config or layers",
			     r->name);
		goto fail;
	}
	cmt = jstr(cdesc, "mediaType");
	if (cmt && strcmp(cmt, "application/vnd.oci.image.config.v1+json") &&
	    strcmp(cmt, "application/vnd.docker.container.image.v1+json")) {
		dv_err_plain(err, EPROTO, "unsupported config media type '%s' in '%s'", cmt,
			     r->name);
		goto fail;
	}
	snprintf(r->config_hex, sizeof(r->config_hex), "%s", chex);
	if (reg_blob(r->reg, chex, PULL_CONFIG_MAX, -1, &r->config_text, &r->config_len, err) < 0)
		goto fail;
	if (!(r->config = json_tokener_parse(r->config_text)) ||
	    !json_object_object_get_ex(r->config, "rootfs", &rootfs) ||
	    !json_object_object_get_ex(rootfs, "diff_ids", &diff_ids) ||
	    !json_object_is_type(diff_ids, json_type_array) ||
	    json_object_array_length(diff_ids) != json_object_array_length(r->layers)) {
		dv_err_plain(err, EINVAL,
			     "the config of '%s' has no rootfs.diff_ids matching its layers",
			     r->name);
		goto fail;
	}
	/* An image without an index says its platform only in its config. */
	os = jstr(r->config, "os");
	arch = jstr(r->config, "architecture");
	if (r->platform_asked && os && arch && (strcmp(os, r->os) || strcmp(arch, r->arch))) {
		dv_err_plain(err, ENOENT, "'%s' is a %s/%s image, not %s/%s", r->name, os, arch,
			     r->os, r->arch);
		goto fail;
	}
	n = json_object_array_length(r->layers);
	if (n == 0) {
		dv_err_plain(err, EINVAL, "the manifest of '%s' has no layers", r->name);
		goto fail;
	}
	for (i = 0; i < n; i++) {
		const char *d = json_object_get_string(json_object_array_get_idx(diff_ids, i));
		const char *id = dv_digest_hex(d);

		if (!id) {
			dv_err_plain(err, EINVAL, "the config of '%s' names an invalid diff_id",
				     r->name);
			goto fail;
		}
		dv_strv_push(&r->diff_ids, id);
	}
	*out = r;
	return 0;
fail:
	reg_remote_free(r);
	return -1;
}

int reg_remote_open(const char *ref, struct reg_remote **out, struct dv_error *err)
{
	return remote_open(ref, NULL, out, err);
}

const char *reg_remote_name(const struct reg_remote *r)
{
	return r->name;
}

const char *reg_remote_digest(const struct reg_remote *r)
{
	return r->manifest_hex;
}

const char *reg_remote_config(const struct reg_remote *r)
{
	return r->config_hex;
}

const char *reg_remote_diff_id(const struct reg_remote *r, size_t i)
{
	return i < r->diff_ids.n ? r->diff_ids.v[i] : NULL;
}

struct reg *reg_remote_conn(struct reg_remote *r)
{
	return r->reg;
}

size_t reg_remote_layers(const struct reg_remote *r)
{
	return r->diff_ids.n;
}

const char *reg_remote_annotation(const struct reg_remote *r, size_t i, const char *key)
{
	struct json_object *holder = i == SIZE_MAX       ? r->manifest
				     : i < r->diff_ids.n ? json_object_array_get_idx(r->layers, i)
							 : NULL;
	struct json_object *annotations;

	if (!holder || !json_object_object_get_ex(holder, "annotations", &annotations))
		return NULL;
	return jstr(annotations, key);
}

int reg_remote_fetch(const struct layer_store *st, struct reg_remote *r, size_t i, char id[65],
		     struct dv_error *err)
{
	dv_autofree char *staging = NULL;
	unsigned long long size;
	const char *hex;

	if (i >= r->diff_ids.n)
		return dv_err(err, EINVAL, "'%s' has no layer %zu", r->name, i + 1);
	snprintf(id, 65, "%s", r->diff_ids.v[i]);
	if (layer_exists(st, id))
		return 0;
	if (layer_desc(r, i, &hex, &size, err) < 0)
		return -1;
	if (reg_pull_layer(st, r->reg, hex, size, r->diff_ids.v[i], NULL, NULL, &staging, err) == 0 &&
	    commit_layer(st, r, i, staging, err) == 0)
		return 0;
	if (staging)
		layer_rm_tree(st->tmp_fd, staging, &(struct dv_error){ 0 });
	return -1;
}

int reg_pull(const struct layer_store *st, const char *ref, struct layer_image *out,
	     struct dv_error *err)
{
	return reg_pull_platform(st, ref, NULL, out, err);
}

int reg_pull_platform(const struct layer_store *st, const char *ref, const char *platform,
		      struct layer_image *out, struct dv_error *err)
{
	struct pull p = { .st = st };
	struct reg_remote *r;
	struct layer_image img = { 0 };
	dv_autoclose int blobs = -1;
	size_t i, n;
	int ret = -1;

	if (remote_open(ref, platform, &p.r, err) < 0)
		return -1;
	r = p.r;
	n = r->diff_ids.n;
	p.jobs = dv_xcalloc(n, sizeof(*p.jobs));
	for (i = 0; i < n; i++) {
		size_t k;
		bool dup = false;

		for (k = 0; k < i; k++)
			dup |= !strcmp(r->diff_ids.v[k], r->diff_ids.v[i]);
		dv_strv_push(&p.staged, ""); /* a staging name once fetched */
		if (dup || layer_exists(st, r->diff_ids.v[i]))
			continue;
		if (add_job(&p, i, err) < 0)
			goto out;
	}
	p.nlayers = n;
	if (p.njobs && fetch_layers(&p, err) < 0)
		goto out;
	/* Everything is here and checked: only now does the store change. */
	for (i = 0; i < n; i++) {
		if (!p.staged.v[i][0])
			continue;
		if (commit_layer(st, r, i, p.staged.v[i], err) < 0)
			goto out;
		p.staged.v[i][0] = 0; /* committed (or discarded as a duplicate) */
	}
	if ((blobs = layer_blobs_dir(st, err)) < 0 ||
	    dv_write_file_atomic(blobs, r->config_hex, r->config_text, r->config_len, 0600, err) < 0 ||
	    dv_write_file_atomic(blobs, r->manifest_hex, r->manifest_text, strlen(r->manifest_text),
				 0600, err) < 0) {
		dv_err_prefix(err, "cannot store the config of '%s'", r->name);
		goto out;
	}
	img.name = dv_steal_ptr(&r->name);
	img.id = dv_xasprintf("sha256:%s", r->config_hex);
	layer_image_set_layers(st, &img, &r->diff_ids);
	img.config = dv_steal_ptr(&r->config_text);
	if (layer_image_record(st, &img, out, err) < 0)
		goto out;
	ret = 0;
out:
	pull_release(&p);
	return ret;
}
