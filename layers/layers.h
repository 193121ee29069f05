/*
 * layers/layers.h - the on-disk store: layers, images, the provisioning
 * cache, image import/bootstrap (pulls and pushes: registry/registry.h).
 *
 * Layout under the store root (DESIGN.md "The store"):
 *   layers/<id>/diff/        overlay-ready folder, read-only once committed
 *   layers/<id>/layer.json   {"id","parent","created","size","step","diff_id",
 *                            "source_date_epoch" (a step built with one)}
 *   images/<repo>/<tag>.json {"name","id","layers":[bottom..top],"config":{..},"created"}
 *   cache/<key>              provisioning cache: layer ids, one line each, with
 *                            the cache_from source of a pulled one (store.c)
 *   tmp/                     staging; anything here is garbage after a crash
 *   envs/                    owned by env/ (the store only creates it)
 *   store-id                 the store's id (layer_store_id)
 * A layer id is 64 lower-case hex digits (no "sha256:" prefix on disk); an
 * image id is "sha256:<hex>" of its config, as in OCI.
 *
 * Order of calls: layer_store_open(), then any of the functions below,
 * layer_store_release(). Writes are atomic (temporary name, fsync, rename).
 */
#ifndef LAYERS_H
#define LAYERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "util/error.h"
#include "util/str.h"

struct layer_store {
	char *root;                                          /* absolute path of the store root */
	int root_fd, layers_fd, images_fd, cache_fd, tmp_fd; /* O_PATH-less dirfds */
	bool rootless;
};

/* Open (creating when missing, mode 0700) the store at root. Refuses a root
 * that is "/", relative, or the user's $HOME itself. */
int layer_store_open(const char *root, bool rootless, struct layer_store *out, struct dv_error *err);
void layer_store_release(struct layer_store *st);
/* The store for reading only, as the hot paths open it (ssh, shell
 * completion): its root folder alone (O_PATH), nothing created, no user
 * namespace needed; a store that does not exist yet is no error (root_fd
 * -1, and every listing is empty). The other folders' fds stay -1: only
 * the functions that say they work on a peeked store may be given it.
 * layer_store_release() closes it. */
int layer_store_peek(const char *root, struct layer_store *out, struct dv_error *err);

/* The store's id: 8 hex digits, random, in <store>/store-id, made on first
 * use. Every name global to the machine (cgroups) carries it, so that two
 * stores never touch each other's envs. A damaged file is replaced (with a
 * warning). */
int layer_store_id(const struct layer_store *st, char out[9], struct dv_error *err);

/* Absolute path of a layer's diff folder (caller frees). */
char *layer_diff_path(const struct layer_store *st, const char *id);
bool layer_exists(const struct layer_store *st, const char *id);

struct json_object;

struct layer_image {
	char *name;              /* normalised: "localhost/busybox:latest" */
	char *id;                /* "sha256:<hex>" of the config */
	struct dv_strv layers;   /* layer ids, bottom first */
	char *config;            /* OCI image config JSON text */
	long long created;       /* unix seconds when stored here */
	unsigned long long size; /* bytes on disk of its layers */
	char *from;              /* taken through this cache_from image (normalised) as
				a teammate's base, for... */
	char *from_env;          /* ...this env (its id, or NULL); NULL `from`: pulled,
				imported, loaded or built here, for everyone */
	char *from_trust;        /* the mark of the cache_trust file `from`'s signature
				was checked against (NULL: none was) */
	char *from_ids;          /* the base ids `from` says this image stands for
				(dev.devenv.base.ids: hex, comma-separated), or NULL */
};
void layer_image_release(struct layer_image *img);
/* Record where img came from (layer_image.from) in its record. */
int layer_image_scope(const struct layer_store *st, struct layer_image *img, const char *source,
		      const char *env, struct dv_error *err);

/* Normalise a reference as podman does: "busybox" -> "localhost/busybox:latest"
 * when importing (for_import), "docker.io/library/busybox:latest" otherwise.
 * Rejects bad names with a one-line reason (status 2). */
int layer_ref_normalize(const char *ref, bool for_import, char **out, struct dv_error *err);

/* Does the name of ref start with a registry host ("host[:port]/path",
 * "localhost/path")? Only such references are pulled without asking. */
bool layer_ref_has_host(const char *ref);
/* Is the normalised name a digest reference ("repo@sha256:HEX")? Fills hex
 * (when not NULL) with the digest's 64 hex digits. */
bool layer_ref_digest(const char *name, char hex[65]);

/* Find an image by reference or id: a short name matches a local image
 * (localhost/NAME) first, then docker.io/library/NAME. errnum ENOENT when
 * absent, with a message saying how to get it. */
int layer_image_resolve(const struct layer_store *st, const char *ref, struct layer_image *out,
			struct dv_error *err);
/* Every image, sorted by name. *out is an array of *n images (caller
 * releases each and frees the array). Works on a peeked store too
 * (layer_store_peek). */
int layer_image_list(const struct layer_store *st, struct layer_image **out, size_t *n,
		     struct dv_error *err);
/* Remove the image record (layers stay until gc). */
int layer_image_remove(const struct layer_store *st, const char *ref, struct dv_error *err);

/* Import a root filesystem tarball (plain, gzip, zstd...) as one layer and
 * an image named `name`. The layer id is the tar's diff_id; the config has
 * no timestamps, so the same tar gives the same image id anywhere. Entries
 * that would land outside the root (.., absolute names, writing through a
 * symlink, hard links to outside) fail the import with the store unchanged;
 * device nodes are skipped and counted in *skipped_devices. */
int layer_image_import(const struct layer_store *st, const char *tar_path, const char *name,
		       struct layer_image *out, unsigned *skipped_devices, struct dv_error *err);
/* Build a Debian image ("debian:bookworm") with mmdebstrap or debootstrap
 * from the Debian mirror and import it. Progress goes to stderr. */
int layer_image_bootstrap(const struct layer_store *st, const char *ref, struct layer_image *out,
			  struct dv_error *err);

/* A layer as an OCI layer tar (uncompressed), written to out_fd (-1: only
 * hashed): deterministic, overlay whiteouts and opaque folders in OCI's
 * form (export.c). diff_id: its sha256; *size (may be NULL): its bytes.
 * layer_export_dir() does the same for any folder in layer form (an env's
 * upper, for commit). */
int layer_export(const struct layer_store *st, const char *id, int out_fd, char diff_id[65],
		 unsigned long long *size, struct dv_error *err);
int layer_export_dir(const struct layer_store *st, const char *dir, int out_fd, char diff_id[65],
		     unsigned long long *size, struct dv_error *err);

/* The tar stream in fd (any compression) as a layer of the store: extracted
 * safely into staging, committed as layers/<its diff_id> with `step` in its
 * layer.json. id: that diff_id; *size: bytes on disk. On failure the store
 * is as it was. */
int layer_import_stream(const struct layer_store *st, int fd, const char *what, const char *step,
			char id[65], unsigned long long *size, unsigned *skipped_devices,
			struct dv_error *err);

/* oci.c: the image as an OCI layout archive at `file` (what `skopeo copy
 * oci-archive:FILE` and `podman load` read), its layers as export.c's
 * tars and its config's diff_ids rewritten to match; written next to
 * `file` and renamed over it. */
int layer_image_save(const struct layer_store *st, const char *ref, const char *file,
		     struct dv_error *err);
/* The image of an OCI layout archive (image save's, skopeo's oci-archive,
 * a multi-platform one: this machine's variant) into the store, every blob
 * checked against its digest and every layer against its diff_id. name:
 * which image of the archive, and what to call it (NULL: the archive's own
 * name for it). */
int layer_image_load(const struct layer_store *st, const char *file, const char *name,
		     struct layer_image *out, struct dv_error *err);
/* Another name (normalised as an import's) for the image `src`. */
int layer_image_tag(const struct layer_store *st, const char *src, const char *dst,
		    struct layer_image *out, struct dv_error *err);
/* An image `name` of `layers` (bottom first, all in the store) with
 * base_config's settings and a rootfs.diff_ids for those layers. created
 * (seconds since the epoch; < 0: none, the config's own stays) becomes
 * the config's "created", and each layer base_config's history does not
 * cover gets a history entry of that time ("created_by": "devenv commit");
 * a history that says more layers than there are is dropped. */
int layer_image_compose(const struct layer_store *st, const char *name, const char *base_config,
			const struct dv_strv *layers, long long created, struct layer_image *out,
			struct dv_error *err);
/* t (seconds since the epoch) as RFC 3339 in UTC, as OCI configs and
 * `image inspect` give it: "2026-12-06T06:27:26Z". */
void layer_time_rfc3339(long long t, char out[32]);
/* An RFC 3339 time ("2026-12-06T06:27:26Z", "2026-12-06T07:27:26.5+01:00",
 * lower-case t and z too) into *t, seconds since the epoch (the fraction
 * dropped). 0, or -1 when s is not one. */
int layer_time_parse(const char *s, long long *t);

/* Staging for a new layer: creates tmp/<unique>/{diff,work}; *out_name is
 * "<unique>" (caller frees). Discard it with layer_staging_discard(). */
int layer_staging_new(const struct layer_store *st, char **out_name, struct dv_error *err);
char *layer_staging_path(const struct layer_store *st, const char *name, const char *sub);
int layer_staging_discard(const struct layer_store *st, const char *name, struct dv_error *err);
/* Commit staging `name` as layer `id`: syncfs, write layer.json, rename
 * tmp/<name> into layers/<id> (removing work/ first). If layers/<id> already
 * exists (a concurrent build), the staging is discarded and this succeeds.
 * `step` is a one-line description kept in layer.json. */
int layer_commit(const struct layer_store *st, const char *name, const char *id, const char *parent,
		 const char *step, struct dv_error *err);

/* layer_commit for a step built with a SOURCE_DATE_EPOCH (> 0; 0: none),
 * which layer.json records ("source_date_epoch"); layer_epoch reads it back
 * (0: none, or no such layer). */
int layer_commit_epoch(const struct layer_store *st, const char *name, const char *id,
		       const char *parent, const char *step, long long epoch, struct dv_error *err);
long long layer_epoch(const struct layer_store *st, const char *id);

/* Provisioning cache: key (64 hex) -> layer id, and where the layer came
 * from. A layer built here (its id is its key) serves every env; one pulled
 * through a cache_from image serves only the envs that name that image, and
 * the env it was pulled for: so a project cannot plant a step another
 * project's env then runs on (README "The team cache"). */
struct layer_cache_scope {
	const struct dv_strv *sources; /* the env's cache_from refs, as written */
	const char *env;               /* the env's id (12 hex), or NULL */
};
/* 0 and *out on a hit for scope (NULL: built layers only) whose layer still
 * exists; -1 with errnum ENOENT on a miss. */
int layer_cache_get(const struct layer_store *st, const char *key,
		    const struct layer_cache_scope *scope, char out[65], struct dv_error *err);
/* The same for an env with `cache_trust`, trust its file's mark (NULL:
 * none): a pulled layer serves only when it was recorded with that mark
 * (layer_cache_put_trust). */
int layer_cache_get_trust(const struct layer_store *st, const char *key,
			  const struct layer_cache_scope *scope, const char *trust, char out[65],
			  struct dv_error *err);
/* Record id for key: source NULL for a layer built here (id must be the
 * key; it replaces the entry), else the normalised name of the cache_from
 * image it was pulled from, for env (its id, or NULL). */
int layer_cache_put(const struct layer_store *st, const char *key, const char *id,
		    const char *source, const char *env, struct dv_error *err);
/* The same for a pulled layer whose source was checked against the
 * `cache_trust` file of mark `trust` (16 hex: provision/signing.c), kept as
 * the line's fourth field "trust=<mark>". */
int layer_cache_put_trust(const struct layer_store *st, const char *key, const char *id,
			  const char *source, const char *env, const char *trust,
			  struct dv_error *err);
/* gc: drop the lines of cache/<key> whose layer is gone, and those pulled
 * before sources were recorded; the entry when none is left. */
int layer_cache_prune(const struct layer_store *st, const char *key, struct dv_error *err);

/* Damaged image records (empty, truncated, garbage: `images` and gc skip
 * them): their names appended to out; returns how many. say_damaged prints
 * the one line of one (naming its file, saying what to do: errnum EBADMSG
 * from the readers). remove_damaged removes the damaged record ref names
 * (rmi of it); *out_name: its normalised name (caller frees). */
int layer_image_damaged(const struct layer_store *st, struct dv_strv *out);
void layer_image_say_damaged(const struct layer_store *st, const char *name);
int layer_image_remove_damaged(const struct layer_store *st, const char *ref, char **out_name,
			       struct dv_error *err);
/* Every layer id in the store (appended to out). */
int layer_ids(const struct layer_store *st, struct dv_strv *out, struct dv_error *err);
/* Bytes on disk of a layer: from layer.json, else measured (and recorded). */
unsigned long long layer_size(const struct layer_store *st, const char *id);
/* Remove layers that no image and no id in `in_use` refers to, cache entries
 * whose layer is gone, and leftover staging. Reports what it freed. */
int layer_gc(const struct layer_store *st, const struct dv_strv *in_use, unsigned *n_layers,
	     unsigned long long *bytes, struct dv_error *err);

/* bundle.c: the archive of a bundle (env/bundle.c says what is in it): an
 * OCI layout tar of several manifests, index.json annotated
 * LAYER_BUNDLE_ANN. Writing: add blobs (a layer's export, once per id; a
 * folder as a tar; a file; a text), then manifests of them, then write
 * (next to `file`, renamed over it). Reading: open (unpacked safely into
 * staging), then blobs by digest, each checked. Free removes the staging. */
#define LAYER_BUNDLE_ANN "dev.devenv.bundle"
struct layer_bundle;
struct layer_bundle *layer_bundle_new(const struct layer_store *st, struct dv_error *err);
void layer_bundle_free(struct layer_bundle *b);
int layer_bundle_add_layer(struct layer_bundle *b, const char *id, char hex[65],
			   unsigned long long *size, struct dv_error *err);
int layer_bundle_add_dir(struct layer_bundle *b, const char *dir, char hex[65],
			 unsigned long long *size, struct dv_error *err);
int layer_bundle_add_fd(struct layer_bundle *b, int fd, char hex[65], unsigned long long *size,
			struct dv_error *err);
void layer_bundle_add_text(struct layer_bundle *b, const char *text, char hex[65]);
/* manifest and ann (its descriptor's annotations in index.json) are taken. */
void layer_bundle_add_manifest(struct layer_bundle *b, struct json_object *manifest,
			       struct json_object *ann);
/* uid, gid: the file's owner (-1: whoever writes it), set before the
 * file gets its name. */
int layer_bundle_write(struct layer_bundle *b, const char *file, int uid, int gid,
		       struct dv_error *err);
/* (oci.c) The config text with rootfs.diff_ids replaced (hex ids, no
 * prefix); caller frees. */
char *layer_config_with_diff_ids(const char *config, const struct dv_strv *diff_ids,
				 struct dv_error *err);
/* Is `file` a bundle (its index.json, read from the tar's first entries)? */
bool layer_bundle_sniff(const char *file);
int layer_bundle_open(const struct layer_store *st, const char *file, struct layer_bundle **out,
		      struct dv_error *err);
/* index.json's manifests (borrowed). */
struct json_object *layer_bundle_manifests(const struct layer_bundle *b);
int layer_bundle_json(const struct layer_bundle *b, const char *hex, struct json_object **out,
		      struct dv_error *err);
/* The blob's fd (checked, at offset 0). */
int layer_bundle_blob(const struct layer_bundle *b, const char *hex, struct dv_error *err);
/* A tar blob as a layer of the store (step names it in layer.json); id is
 * its diff_id, which must be hex. */
int layer_bundle_import(const struct layer_bundle *b, const char *hex, const char *step,
			char id[65], struct dv_error *err);
/* The image of manifest man_hex (its layers imported, its config as it
 * is, so its id stays), named `name` when the store has no image of that
 * name, else REPO@sha256:<man_hex> (an image of that name and id: that
 * one). A new record is scoped as a team's base is (from `source`, for
 * env `env`): it serves that env only, never another project's image of
 * the same name. */
int layer_bundle_image(const struct layer_bundle *b, const char *man_hex, const char *name,
		       const char *source, const char *env, struct layer_image *out,
		       struct dv_error *err);
/* A tar blob unpacked (safely) into the folder dirfd. */
int layer_bundle_extract(const struct layer_bundle *b, const char *hex, int dirfd,
			 struct dv_error *err);

#endif
