/*
 * layers/internal.h - the store's own steps (staging, extract, commit,
 * records, OCI documents), shared by the files of layers/.
 *
 * Files (the public face is layers.h; the registry client is registry/):
 *   store.c      opening the store, staging, commit, the provisioning cache
 *   image.c      image records: read, write, resolve, list, remove
 *   ref.c        image names: check, normalise, split
 *   archive.c    libarchive through util/dl.h; the sparse writer
 *   extract.c    an untrusted tar unpacked into a layer folder, safely
 *   export.c     a layer's folder as an OCI layer tar (extract.c's reverse)
 *   import.c     a root filesystem tarball as a layer and an image
 *   oci.c        images as OCI layout archives (save, load), composed images
 *   bootstrap.c  a Debian image built from the mirror, then imported
 *   gc.c         removing what nothing refers to
 *   bundle.c     a bundle's archive: several manifests in one OCI layout
 *
 * One module outside layers/ includes this file: registry/ (its
 * internal.h), since a pull and a push are made of these steps (staging a
 * layer, extracting it, committing it, writing the records). Nothing else
 * does (the unit test and fuzz harnesses excepted); ARCHITECTURE.md says why.
 */
#ifndef LAYERS_INTERNAL_H
#define LAYERS_INTERNAL_H

#include <archive.h>
#include <archive_entry.h>
#include <json-c/json.h>

#include "layers.h"
#include "util/parse.h"

/* This machine's OCI architecture (imports say it; pulls pick it). */
#if defined(__x86_64__)
#define LAYER_ARCH "amd64"
#elif defined(__aarch64__)
#define LAYER_ARCH "arm64"
#elif defined(__i386__)
#define LAYER_ARCH "386"
#elif defined(__riscv) && __riscv_xlen == 64
#define LAYER_ARCH "riscv64"
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define LAYER_ARCH "ppc64le"
#elif defined(__s390x__)
#define LAYER_ARCH "s390x"
#else
#error "unknown OCI architecture for this machine"
#endif

/* libarchive, loaded with dlopen() on first use (DESIGN.md "Start-up cost"):
 * one pointer per function we call, typed from its own declaration. */
/* clang-format off */
#define LAYER_AR_FUNCS(X) \
	X(archive_read_new) \
	X(archive_read_free) \
	X(archive_read_open) \
	X(archive_read_open_fd) \
	X(archive_read_next_header) \
	X(archive_read_data_block) \
	X(archive_read_support_format_raw) \
	X(archive_read_support_format_tar) \
	X(archive_read_support_filter_gzip) \
	X(archive_read_support_filter_zstd) \
	X(archive_read_support_filter_xz) \
	X(archive_read_support_filter_bzip2) \
	X(archive_read_support_filter_lz4) \
	X(archive_read_support_filter_lzma) \
	X(archive_error_string) \
	X(archive_errno) \
	X(archive_entry_pathname) \
	X(archive_entry_pathname_utf8) \
	X(archive_entry_hardlink) \
	X(archive_entry_symlink) \
	X(archive_entry_filetype) \
	X(archive_entry_perm) \
	X(archive_entry_uid) \
	X(archive_entry_gid) \
	X(archive_entry_mtime) \
	X(archive_entry_mtime_nsec) \
	X(archive_entry_size) \
	X(archive_entry_xattr_reset) \
	X(archive_entry_xattr_next) \
	X(archive_write_new) \
	X(archive_write_free) \
	X(archive_write_open) \
	X(archive_write_open_fd) \
	X(archive_write_header) \
	X(archive_write_data) \
	X(archive_write_close) \
	X(archive_write_set_format_pax_restricted) \
	X(archive_write_set_format_pax) \
	X(archive_write_set_bytes_in_last_block) \
	X(archive_write_set_format_raw) \
	X(archive_write_add_filter_gzip) \
	X(archive_write_add_filter_zstd) \
	X(archive_write_set_filter_option) \
	X(archive_entry_new) \
	X(archive_entry_free) \
	X(archive_entry_clear) \
	X(archive_entry_set_pathname) \
	X(archive_entry_set_filetype) \
	X(archive_entry_set_perm) \
	X(archive_entry_set_uid) \
	X(archive_entry_set_gid) \
	X(archive_entry_set_mtime) \
	X(archive_entry_set_size) \
	X(archive_entry_set_symlink) \
	X(archive_entry_set_hardlink) \
	X(archive_entry_copy_pathname) \
	X(archive_entry_copy_symlink) \
	X(archive_entry_copy_hardlink) \
	X(archive_write_set_format_option) \
	X(archive_entry_xattr_add_entry)
/* clang-format on */

#define LAYER_AR_FIELD(f) __typeof__(f) *f;
struct layer_ar {
	LAYER_AR_FUNCS(LAYER_AR_FIELD)
};
#undef LAYER_AR_FIELD

/* The table, loaded once; NULL with `cannot load libarchive.so.13: ...`. */
const struct layer_ar *layer_ar_load(struct dv_error *err);
/* The error of archive a: "<msg>: <libarchive's words>", with errnum the
 * errno of what failed when libarchive knows it (as "No space left on
 * device" in place of its "Write error"). -1. */
int layer_ar_err(const struct layer_ar *ar, struct archive *a, const char *msg,
		 struct dv_error *err);
/* Everything left in fd as the data of the entry being written to a;
 * `what` names it in errors, which carry the errno of a failed write
 * (ENOSPC: the disk is full). */
int layer_ar_write_fd(const struct layer_ar *ar, struct archive *a, int fd, const char *what,
		      struct dv_error *err);

/* n bytes of buf at offset off of fd (a file written forward, what lies
 * past its writes reading as zeros): each 4 KiB block of the file, or the
 * part of one, that is all zeros is skipped, a hole; the data between goes
 * in one write each. *end: where the last write ended (unchanged when all
 * was zeros). -1 with err filled by the failed call (lseek or write). */
int layer_write_holes(int fd, off_t off, const void *buf, size_t n, off_t *end,
		      struct dv_error *err);

/* A tar written into a new, empty file: runs of zeros (4 KiB blocks of
 * the file, or the zero part of one) are skipped, not written, so a
 * sparse file's zeros in a layer tar (export.c) are holes of the tar file
 * too. Anything but a regular file (a pipe) gets every byte. */
struct layer_sparse_out {
	int fd;
	off_t pos; /* bytes written so far, holes included */
	off_t end; /* the file's length: pos once it is set */
	bool seekable;
	int error; /* the errno of a write that failed, else 0 */
};
void layer_sparse_open(struct layer_sparse_out *o, int fd);
/* n bytes of buf at o->pos; -1 with errno (a short write: EIO). */
int layer_sparse_write(struct layer_sparse_out *o, const void *buf, size_t n);
/* The file's length set when it ends in skipped zeros. -1 with errno. */
int layer_sparse_close(struct layer_sparse_out *o);

/* Extract the tar stream in fd (any supported compression) into the folder
 * rootfd, safely (see extract.c). Fills hex with the sha256 of the whole
 * uncompressed stream. `what` names the file in read errors. */
int layer_extract(const struct layer_ar *ar, int fd, const char *what, int rootfd, bool rootless,
		  char hex[65], unsigned *skipped_devices, struct dv_error *err);

/* A fresh staging folder tmp/<pid>-<start time>-<random>, with diff/ and,
 * when with_work, work/. *out_name belongs to the caller. */
int layer_staging_create(const struct layer_store *st, bool with_work, const char *tag,
			 char **out_name, struct dv_error *err);
/* Commit tmp/<name> as layers/<id> (see layer_commit); diff_id may be NULL,
 * size is written when known (has_size). */
int layer_commit_full(const struct layer_store *st, const char *name, const char *id,
		      const char *parent, const char *step, const char *diff_id, bool has_size,
		      unsigned long long size, struct dv_error *err);
/* The pid a staging or gc name was made by and that process's start time,
 * and whether that process is still the one running. */
bool layer_tmp_owner_alive(const char *name);

/* layer.json of a committed layer; NULL when unreadable. Caller puts it. */
struct json_object *layer_meta_read(const struct layer_store *st, const char *id);

/* Is s a layer id (64 lower-case hex digits)? */
static inline bool layer_is_id(const char *s)
{
	return dv_is_sha256_hex(s);
}

/* Split a normalised name "host/path:tag" into "host/path" and "tag". */
int layer_name_split(const char *name, char **repo, char **tag, struct dv_error *err);
/* Read the record images/<repo>/<tag>.json; errnum ENOENT when absent. */
int layer_record_read(const struct layer_store *st, const char *name, struct layer_image *out,
		      struct dv_error *err);
/* Store a new image: its layers are ids (bottom first, all in the store;
 * its size is theirs), it is recorded now, and handed to *out (may be
 * NULL: released). On failure img is released and nothing is recorded. */
void layer_image_set_layers(const struct layer_store *st, struct layer_image *img,
			    const struct dv_strv *ids);
int layer_image_record(const struct layer_store *st, struct layer_image *img,
		       struct layer_image *out, struct dv_error *err);
/* Write the record for img (name, id, layers, config text) atomically. */
int layer_record_write(const struct layer_store *st, const struct layer_image *img,
		       struct dv_error *err);
/* dv_rm_tree_at(), but a folder without owner write or search permission
 * (an image's 0555 folder, extracted rootless) is made removable first. */
int layer_rm_tree(int dirfd, const char *name, struct dv_error *err);
/* Open blobs/sha256 of the store. */
int layer_blobs_dir(const struct layer_store *st, struct dv_error *err);

/* oci.c's pieces of OCI documents, shared with push.c. */
#define LAYER_MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define LAYER_MT_CONFIG "application/vnd.oci.image.config.v1+json"
/* The config text with rootfs.diff_ids replaced (hex ids, no prefix);
 * caller frees. NULL with errnum EINVAL when config is not an object. */
char *layer_config_with_diff_ids(const char *config, const struct dv_strv *diff_ids,
				 struct dv_error *err);
/* {"mediaType":M,"digest":"sha256:H","size":N}; caller puts it. */
struct json_object *layer_oci_descriptor(const char *media_type, const char *hex,
					 unsigned long long size);
/* A blob of an OCI layout archive: a file in staging, or text. */
struct layer_oci_blob {
	char hex[65];
	char *path; /* a file in staging, or NULL: `text` */
	const char *text;
	unsigned long long size;
};
/* The archive: oci-layout, index.json, then every blob in hex order (each
 * digest once; blobs get sorted), into fd, a new file. */
int layer_oci_write_archive(const struct layer_ar *ar, int fd, const char *index,
			    struct layer_oci_blob *blobs, size_t n, struct dv_error *err);
/* blobs/sha256/<hex> of an unpacked archive at rootfd, its bytes checked
 * against hex: *text gets a small (JSON, <= 4 MiB) blob's content and 0
 * is returned; with text NULL, the open fd at offset 0. */
int layer_oci_open_blob(int rootfd, const char *hex, char **text, struct dv_error *err);
/* o as compact JSON text (caller frees); puts o. */
char *layer_json_text(struct json_object *o);

#define layer_autojson __attribute__((cleanup(layer_json_putp)))
static inline void layer_json_putp(struct json_object **o)
{
	if (*o)
		json_object_put(*o);
}

#endif
