/* registry/push.c - an image of the store goes to an OCI registry.
 *
 * Order: each layer is exported (layers/export.c's deterministic tar, whose sha256
 * is its diff_id) and compressed as it streams (gzip on every CPU as pigz
 * makes it, pgzip.c, without a timestamp; or zstd, single-threaded) into a
 * staging folder under tmp/, several layers at a time, so the same layer
 * always gives the same blob and pushing again finds every blob already
 * there. The config is the
 * image's with rootfs.diff_ids for those tars (as image save writes it).
 * Then each blob, config last, is made present in the repository
 * (blob.c: HEAD, else a cross-repository mount from the repository the
 * image came from on the same registry, else a monolithic upload), and the
 * OCI manifest is PUT under the tag. The staging folder is removed
 * whatever happens. The store changes only in what layer.json keeps of
 * each layer's push form (diff_id, digest, size), "push" for gzip and
 * "push_zstd" for zstd, so that pushing it again where the registry has it
 * needs no export. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/hash.h"
#include "util/parse.h"
#include "util/banned.h"

/* What each compression is called: in layer.json, in staging, in OCI. */
static const struct {
	const char *key, *ext, *media_type;
} compressions[] = {
	[REG_GZIP] = { "push", "tar.gz", "application/vnd.oci.image.layer.v1.tar+gzip" },
	[REG_ZSTD] = { "push_zstd", "tar.zst", "application/vnd.oci.image.layer.v1.tar+zstd" },
};

struct push_blob {
	char hex[65];  /* the compressed blob's digest */
	char diff[65]; /* the uncompressed tar's: its diff_id */
	unsigned long long size;
	const char *mt;  /* its media type */
	char *path;      /* the compressed tar in staging, or NULL: already there */
	const char *how; /* "exists" or "mounted" when path is NULL */
	bool sent;       /* uploaded as soon as it was ready (prepare_layers) */
};

/* Layers exported and compressed at the same time, at most. */
#define REG_PUSH_LAYERS_AT_ONCE 4

/* Copy in_fd into out_fd through libarchive's zstd filter (the "raw"
 * format: no archive around it), on one thread (its default), no padding:
 * the same input always gives the same bytes. gzip is pgzip.c's. */
static int compress_fd(const struct layer_ar *ar, int in_fd, int out_fd, unsigned long long size,
		       struct dv_error *err)
{
	struct archive *a = ar->archive_write_new();
	struct archive_entry *e = ar->archive_entry_new();
	int ret = -1;

	if (!a || !e) {
		dv_err(err, ENOMEM, "libarchive");
		goto out;
	}
	ar->archive_entry_set_pathname(e, "layer.tar");
	ar->archive_entry_set_filetype(e, AE_IFREG);
	ar->archive_entry_set_size(e, (la_int64_t)size);
	if (ar->archive_write_set_format_raw(a) != ARCHIVE_OK ||
	    ar->archive_write_add_filter_zstd(a) != ARCHIVE_OK ||
	    ar->archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
	    ar->archive_write_open_fd(a, out_fd) != ARCHIVE_OK ||
	    ar->archive_write_header(a, e) != ARCHIVE_OK) {
		dv_err(err, 0, "cannot start compressing a layer: %s", ar->archive_error_string(a));
		goto out;
	}
	if (layer_ar_write_fd(ar, a, in_fd, "the compressed layer", err) < 0)
		goto out;
	if (ar->archive_write_close(a) != ARCHIVE_OK) {
		layer_ar_err(ar, a, "cannot finish compressing a layer", err);
		goto out;
	}
	ret = 0;
out:
	if (e)
		ar->archive_entry_free(e);
	if (a)
		ar->archive_write_free(a);
	return ret;
}

static const char *sha256_field(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v))
		return NULL;
	return dv_digest_hex(json_object_get_string(v));
}

/* The push form of layer id as an earlier push with comp made it, from
 * layer.json's "push" (gzip) or "push_zstd": {"diff_id","digest","size"}.
 * A committed layer never changes, so neither do they. */
static bool kept_blob(const struct layer_store *st, const char *id, enum reg_compression comp,
		      struct push_blob *b)
{
	layer_autojson struct json_object *o = layer_meta_read(st, id);
	struct json_object *p, *size;
	const char *diff, *hex;

	if (!o || !json_object_object_get_ex(o, compressions[comp].key, &p) ||
	    !(diff = sha256_field(p, "diff_id")) || !(hex = sha256_field(p, "digest")) ||
	    !json_object_object_get_ex(p, "size", &size) ||
	    !json_object_is_type(size, json_type_int) || json_object_get_int64(size) <= 0)
		return false;
	snprintf(b->diff, sizeof(b->diff), "%s", diff);
	snprintf(b->hex, sizeof(b->hex), "%s", hex);
	b->size = (unsigned long long)json_object_get_int64(size);
	return true;
}

/* Record b as layer id's push form for comp. Best effort: without it the
 * next push exports again. */
static void keep_blob(const struct layer_store *st, const char *id, enum reg_compression comp,
		      const struct push_blob *b)
{
	layer_autojson struct json_object *o = layer_meta_read(st, id);
	struct json_object *p = json_object_new_object();
	dv_autoclose int fd = -1;
	const char *text;
	char d[72];

	snprintf(d, sizeof(d), "sha256:%s", b->diff);
	json_object_object_add(p, "diff_id", json_object_new_string(d));
	snprintf(d, sizeof(d), "sha256:%s", b->hex);
	json_object_object_add(p, "digest", json_object_new_string(d));
	json_object_object_add(p, "size", json_object_new_int64((int64_t)b->size));
	if (!o || (fd = dv_open_dir_at(st->layers_fd, id, &(struct dv_error){ 0 })) < 0) {
		json_object_put(p);
		return;
	}
	json_object_object_add(o, compressions[comp].key, p);
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							 JSON_C_TO_STRING_NOSLASHESCAPE);
	dv_write_file_atomic(fd, "layer.json", text, strlen(text), 0600, &(struct dv_error){ 0 });
}

/* One layer's export, on a thread of its own, into a pipe. */
struct export_job {
	const struct layer_store *st;
	const char *id;
	int fd; /* the pipe's write end; closed when the export ends */
	char diff[65];
	int ret;
	struct dv_error err;
};

static void *export_thread(void *data)
{
	struct export_job *j = data;
	sigset_t pipe_sig;

	/* A compressor that gave up (a full disk) closes its end: our write
	 * then fails with EPIPE, and the SIGPIPE, blocked, dies with us. */
	sigemptyset(&pipe_sig);
	sigaddset(&pipe_sig, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_sig, NULL);
	j->ret = layer_export(j->st, j->id, j->fd, j->diff, NULL, &j->err);
	close(j->fd);
	return NULL;
}

/* A gzip blob's upload while it is compressed: on a thread of its own, one
 * PATCH reads the staging file as pgzip writes it (reg_blob_stream_send),
 * as skopeo streams its blobs; the PUT with the digest follows the end. */
struct stream_job {
	struct reg *r;
	int fd; /* the staging file, read as it grows */
	struct reg_grow grow;
	char *location;
	bool no_auth;
	int ret;
	struct dv_error err;
};

static void *stream_thread(void *data)
{
	struct stream_job *j = data;

	j->ret = reg_blob_stream_send(j->r, j->fd, &j->grow, &j->location, &j->no_auth, &j->err);
	return NULL;
}

/* Start streaming the staging file at path on r (when it wants streams);
 * false: the blob is uploaded from the file once compressed. Not when
 * the image came from another repository of the registry (r->from): its
 * blob is likely there, and a mount, which needs the digest, sends
 * nothing. */
static bool stream_start(struct stream_job *j, struct reg *r, const char *path, pthread_t *t)
{
	if (!r || !r->stream || r->from)
		return false;
	*j = (struct stream_job){ .r = r, .fd = open(path, O_RDONLY | O_CLOEXEC), .ret = -1 };
	if (j->fd < 0)
		return false;
	reg_grow_init(&j->grow);
	if (pthread_create(t, NULL, stream_thread, j)) {
		reg_grow_destroy(&j->grow);
		close(j->fd);
		return false;
	}
	return true;
}

/* The stream's end: ok says the whole blob, digest b->hex, was written.
 * b->sent when the registry took it; any failure leaves it to send_blob,
 * which uploads the kept file (a registry that refuses streams, a
 * connection cut). */
static void stream_end(struct stream_job *j, pthread_t t, bool ok, struct push_blob *b)
{
	reg_grow_end(&j->grow, ok);
	pthread_join(t, NULL);
	reg_grow_destroy(&j->grow);
	close(j->fd);
	if (ok && j->ret == 0 &&
	    reg_blob_stream_finish(j->r, j->location, j->no_auth, b->hex, &j->err) == 0) {
		b->how = "pushed";
		b->sent = true;
	}
	free(j->location);
}

/* Layer id as staging/<i>.tar.gz (or .tar.zst): fills b's digests, size
 * and path. The tar is not kept: layers/export.c writes it into a pipe on one
 * thread while this one compresses it, so the two share the machine's
 * cores and tmp/ holds only the compressed form. A gzip blob streams to r
 * (NULL: none) as it is written (b->sent when it got there). */
static int prepare_layer(const struct layer_store *st, const struct layer_ar *ar,
			 enum reg_compression comp, unsigned threads, const char *staging,
			 const char *id, size_t i, struct reg *r, struct push_blob *b,
			 struct dv_error *err)
{
	char name[32];
	dv_autoclose int gfd = -1, rfd = -1;
	struct export_job job = { .st = st, .id = id, .fd = -1 };
	struct stream_job sj;
	pthread_t t, stream_t;
	struct stat sb;
	struct dv_sha256 h;
	bool streaming;
	int pfd[2], e, cret;

	snprintf(name, sizeof(name), "%zu.%s", i, compressions[comp].ext);
	b->path = layer_staging_path(st, staging, name);
	gfd = open(b->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (gfd < 0)
		return dv_err(err, errno, "cannot create '%s'", b->path);
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return dv_err(err, errno, "cannot make a pipe");
	rfd = pfd[0];
	job.fd = pfd[1];
	if ((e = pthread_create(&t, NULL, export_thread, &job))) {
		close(job.fd);
		return dv_err(err, e, "cannot start exporting layer %.12s", id);
	}
	streaming = comp == REG_GZIP && stream_start(&sj, r, b->path, &stream_t);
	/* gzip hashes its blob as it writes it; zstd's is read again. */
	dv_sha256_init(&h);
	cret = comp == REG_GZIP ? reg_pgzip_grow(rfd, gfd, REG_PGZIP_LEVEL, threads, &h,
						 streaming ? &sj.grow : NULL, err)
				: compress_fd(ar, rfd, gfd, 0, err);
	/* The export ends on EOF of ours too, when we stopped reading. */
	close(dv_steal_fd(&rfd));
	pthread_join(t, NULL);
	if (comp == REG_GZIP && cret == 0 && job.ret == 0)
		dv_sha256_final_hex(&h, b->hex);
	if (streaming)
		stream_end(&sj, stream_t, cret == 0 && job.ret == 0, b);
	/* The first cause: a compressor that failed broke the exporter's pipe;
	 * an export that failed cut the compressor's input short. */
	if (cret < 0)
		return dv_err_prefix(err, "cannot compress layer %.12s", id);
	if (job.ret < 0) {
		*err = job.err;
		return -1;
	}
	snprintf(b->diff, sizeof(b->diff), "%s", job.diff);
	if (lseek(gfd, 0, SEEK_SET) < 0 || fstat(gfd, &sb) < 0)
		return dv_err(err, errno, "cannot read '%s'", b->path);
	b->size = (unsigned long long)sb.st_size;
	if (comp == REG_GZIP)
		return 0;
	return dv_sha256_fd(gfd, b->hex, err);
}

/* Layers prepared side by side (prepare_layers): the next to take. */
struct prep_pool {
	const struct layer_store *st;
	const struct layer_ar *ar;
	enum reg_compression comp;
	unsigned threads; /* each layer's gzip threads */
	const char *staging;
	const struct layer_image *img;
	struct push_blob *blobs;
	struct dv_error *errs; /* one per layer */
	int *rets;             /* one per layer */
	bool *todo;            /* one per layer: to export (how was NULL) */
	size_t next;           /* atomic */
	const struct reg *reg; /* each thread uploads on a copy of its own */
};

/* Send blob i of n on r as soon as it is ready: the upload of one layer
 * overlaps the compression of the next, as skopeo's streams do. */
static int send_blob(struct reg *r, struct push_blob *b, size_t i, size_t n, struct dv_error *err)
{
	dv_autoclose int fd = open(b->path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return dv_err(err, errno, "cannot open '%s'", b->path);
	if (reg_blob_push(r, b->hex, fd, NULL, b->size, &b->how, err) < 0)
		return dv_err_prefix(err, "layer %zu/%zu", i + 1, n);
	b->sent = true;
	return 0;
}

static void *prep_thread(void *data)
{
	struct prep_pool *p = data;
	struct reg *r = NULL;
	size_t i, n = p->img->layers.n;

	while ((i = __atomic_fetch_add(&p->next, 1, __ATOMIC_RELAXED)) < n) {
		if (!p->todo[i])
			continue;
		if (p->reg && !r)
			r = reg_dup(p->reg);
		p->rets[i] = prepare_layer(p->st, p->ar, p->comp, p->threads, p->staging,
					   p->img->layers.v[i], i, r, &p->blobs[i], &p->errs[i]);
		if (p->rets[i] == 0 && r && !p->blobs[i].sent)
			p->rets[i] = send_blob(r, &p->blobs[i], i, n, &p->errs[i]);
	}
	reg_free(r);
	return NULL;
}

/* Export and compress every layer the repository lacks (how still NULL),
 * several at a time: an export is one thread reading files, so a layer of
 * many small files leaves cores idle that the next layer's export and
 * compression use. Each gzip uses every CPU (pgzip.c; the blobs are the
 * same whatever the count). The first failing layer's error is the one
 * told. */
static int prepare_layers(const struct layer_store *st, const struct layer_ar *ar,
			  enum reg_compression comp, const char *staging,
			  const struct layer_image *img, struct push_blob *blobs,
			  const struct reg *reg, struct dv_error *err)
{
	unsigned cpus = reg_pgzip_threads();
	struct prep_pool p = { st, ar, comp, cpus, staging, img, blobs, NULL, NULL, NULL, 0, reg };
	size_t todo = 0, nthreads, started = 0;
	pthread_t tids[REG_PUSH_LAYERS_AT_ONCE];
	int ret = 0;

	for (size_t i = 0; i < img->layers.n; i++)
		todo += !blobs[i].how;
	if (!todo)
		return 0;
	p.errs = dv_xcalloc(img->layers.n, sizeof(*p.errs));
	p.rets = dv_xcalloc(img->layers.n, sizeof(*p.rets));
	p.todo = dv_xcalloc(img->layers.n, sizeof(*p.todo));
	for (size_t i = 0; i < img->layers.n; i++)
		p.todo[i] = !blobs[i].how;
	nthreads = todo < REG_PUSH_LAYERS_AT_ONCE ? todo : REG_PUSH_LAYERS_AT_ONCE;
	if (nthreads > cpus)
		nthreads = cpus;
	/* The caller's thread is one of them. */
	for (; started + 1 < nthreads; started++)
		if (pthread_create(&tids[started], NULL, prep_thread, &p))
			break;
	prep_thread(&p);
	for (size_t k = 0; k < started; k++)
		pthread_join(tids[k], NULL);
	for (size_t i = 0; i < img->layers.n; i++) {
		if (!p.todo[i])
			continue;
		if (p.rets[i] < 0) {
			if (!ret)
				*err = p.errs[i];
			ret = -1;
		}
		/* Compressed, even when its upload failed: the next push
		 * need not export it again. */
		if (blobs[i].hex[0] && blobs[i].diff[0] && blobs[i].size)
			keep_blob(st, img->layers.v[i], comp, &blobs[i]);
	}
	free(p.errs);
	free(p.rets);
	free(p.todo);
	return ret;
}

/* The repository of a normalised name, without host, tag or digest
 * (caller frees). */
static char *repo_path(const char *name)
{
	const char *slash = strchr(name, '/'), *end = strchr(name, '@');

	if (!slash)
		return NULL;
	if (!end) {
		end = strrchr(name, ':');
		if (!end || end < slash)
			end = name + strlen(name);
	}
	return dv_xstrndup(slash + 1, (size_t)(end - slash - 1));
}

/* Where blobs may be mounted from: the image's own repository when it
 * names the same registry as dest and another repository. */
static char *mount_source(const char *image, const char *dest)
{
	const char *is = strchr(image, '/'), *ds = strchr(dest, '/');
	dv_autofree char *ip = NULL, *dp = NULL;

	if (!is || !ds || !layer_ref_has_host(image) || is - image != ds - dest ||
	    strncmp(image, dest, (size_t)(is - image)))
		return NULL;
	ip = repo_path(image);
	dp = repo_path(dest);
	if (!ip || !dp || !strcmp(ip, dp))
		return NULL;
	return dv_steal_ptr(&ip);
}

static char *manifest_text(const struct push_blob *layers, size_t n, const char *cfg_hex,
			   unsigned long long cfg_size, const struct reg_push_notes *notes)
{
	struct json_object *m = json_object_new_object(), *arr = json_object_new_array();

	json_object_object_add(m, "schemaVersion", json_object_new_int(2));
	json_object_object_add(m, "mediaType", json_object_new_string(LAYER_MT_MANIFEST));
	json_object_object_add(m, "config",
			       layer_oci_descriptor(LAYER_MT_CONFIG, cfg_hex, cfg_size));
	for (size_t i = 0; i < n; i++) {
		struct json_object *d =
			layer_oci_descriptor(layers[i].mt, layers[i].hex, layers[i].size);

		if (notes && notes->layer && notes->layer[i])
			json_object_object_add(d, "annotations", json_object_get(notes->layer[i]));
		json_object_array_add(arr, d);
	}
	json_object_object_add(m, "layers", arr);
	if (notes && notes->manifest)
		json_object_object_add(m, "annotations", json_object_get(notes->manifest));
	return layer_json_text(m);
}

/* Send every blob, then the manifest. */
static int send_all(struct reg *reg, const struct push_blob *blobs, size_t n, const char *config,
		    const char *cfg_hex, const char *manifest, const char *tag, FILE *log,
		    struct dv_error *err)
{
	const char *how;

	for (size_t i = 0; i < n; i++) {
		dv_autoclose int fd = -1;

		how = blobs[i].how;
		if (!blobs[i].path || blobs[i].sent)
			goto done;
		if ((fd = open(blobs[i].path, O_RDONLY | O_CLOEXEC)) < 0)
			return dv_err(err, errno, "cannot open '%s'", blobs[i].path);
		if (reg_blob_push(reg, blobs[i].hex, fd, NULL, blobs[i].size, &how, err) < 0)
			return dv_err_prefix(err, "layer %zu/%zu", i + 1, n);
	done:
		if (log)
			fprintf(log, "layer %zu/%zu sha256:%.12s %s\n", i + 1, n, blobs[i].hex, how);
	}
	if (reg_blob_push(reg, cfg_hex, -1, config, strlen(config), &how, err) < 0)
		return dv_err_prefix(err, "config");
	if (log)
		fprintf(log, "config sha256:%.12s %s\n", cfg_hex, how);
	return reg_manifest_put(reg, tag, manifest, LAYER_MT_MANIFEST, err);
}

int reg_push_image(const struct layer_store *st, const struct layer_image *img, const char *dest,
		   enum reg_compression comp, const struct reg_push_notes *notes, FILE *log,
		   char **out_name, char out_digest[65], char out_config[65], struct dv_error *err)
{
	const struct layer_ar *ar = layer_ar_load(err);
	dv_autofree char *norm = NULL, *staging = NULL, *config = NULL, *manifest = NULL;
	dv_autofree char *from = NULL, *repo = NULL, *tag = NULL, *reference = NULL;
	dv_autofree struct push_blob *blobs = NULL;
	struct dv_strv diff_ids = { 0 };
	struct reg *reg = NULL;
	char cfg_hex[65];
	int ret = -1;

	if (!ar || layer_ref_normalize(dest, false, &norm, err) < 0)
		goto out;
	if (layer_ref_digest(norm, NULL)) {
		dv_err_usage(err, "cannot push to a digest reference '%s': name a tag", norm);
		goto out;
	}
	if (layer_name_split(norm, &repo, &tag, err) < 0)
		goto out;
	from = mount_source(img->name, norm);
	/* Before the exports, which can take long: fail early when the
	 * registry is not there or will not let us in. */
	if (!(reg = reg_open_push(norm, from, err)) || reg_ping(reg, err) < 0)
		goto out;
	if (layer_staging_create(st, false, "push", &staging, err) < 0)
		goto out;
	blobs = dv_xcalloc(img->layers.n ? img->layers.n : 1, sizeof(*blobs));
	for (size_t i = 0; i < img->layers.n; i++) {
		const char *id = img->layers.v[i];

		/* A layer pushed before, whose blob the repository has or can
		 * mount, is not exported again. */
		blobs[i].mt = compressions[comp].media_type;
		if (kept_blob(st, id, comp, &blobs[i]) &&
		    reg_blob_push(reg, blobs[i].hex, -1, NULL, 0, &blobs[i].how, err) < 0)
			goto out;
	}
	if (prepare_layers(st, ar, comp, staging, img, blobs, reg, err) < 0)
		goto out;
	for (size_t i = 0; i < img->layers.n; i++)
		dv_strv_push(&diff_ids, blobs[i].diff);
	if (!(config = layer_config_with_diff_ids(img->config, &diff_ids, err)))
		goto out;
	dv_sha256_hex(config, strlen(config), cfg_hex);
	manifest = manifest_text(blobs, img->layers.n, cfg_hex, strlen(config), notes);
	dv_sha256_hex(manifest, strlen(manifest), out_digest);
	/* Untagged: the manifest goes under its digest, as OCI allows. */
	reference = notes && notes->untagged ? dv_xasprintf("sha256:%s", out_digest)
					     : dv_xstrdup(tag);
	if (send_all(reg, blobs, img->layers.n, config, cfg_hex, manifest, reference, log, err) < 0)
		goto out;
	if (out_config)
		snprintf(out_config, 65, "%s", cfg_hex);
	if (out_name)
		*out_name = dv_steal_ptr(&norm);
	ret = 0;
out:
	if (staging)
		layer_rm_tree(st->tmp_fd, staging, &(struct dv_error){ 0 });
	for (size_t i = 0; blobs && i < img->layers.n; i++)
		free(blobs[i].path);
	dv_strv_release(&diff_ids);
	reg_free(reg);
	return ret;
}

int reg_push(const struct layer_store *st, const char *ref, const char *dest,
	     enum reg_compression comp, FILE *log, char **out_name, char out_digest[65],
	     struct dv_error *err)
{
	struct layer_image img = { 0 };
	struct reg_push_notes notes = { 0 };
	int ret;

	if (layer_image_resolve(st, ref, &img, err) < 0)
		return -1;
	/* What it is called here, when no registry serves it: a team's base
	 * is found by that name (REG_ANN_IMAGE_REF). */
	if (!strncmp(img.name, "localhost/", 10)) {
		notes.manifest = json_object_new_object();
		json_object_object_add(notes.manifest, REG_ANN_IMAGE_REF,
				       json_object_new_string(img.name));
	}
	ret = reg_push_image(st, &img, dest ? dest : img.name, comp, &notes, log, out_name,
			     out_digest, NULL, err);
	json_object_put(notes.manifest);
	layer_image_release(&img);
	return ret;
}
