/*
 * util/treesum.h - the digest of a copied file or folder: one record per
 * entry, a folder before what it holds and its entries in name order
 * (strcmp), fed into a SHA-256 context:
 *
 *	NAME \0 "f MODE CONTENT" \0    a regular file
 *	NAME \0 "l " TARGET \0         a symlink
 *	NAME \0 "d MODE" \0            a folder
 *
 * NAME is the copied path as the Envfile writes it, then "/" and the path
 * below it; MODE the permission bits in octal; CONTENT the file's SHA-256
 * in hex (or, in a key's git form, "g:" and its git blob id).
 *
 * A `copy` step's cache key holds these records (provision/key.c), and the
 * copier computes them from what it wrote (container/copy.c): so they are
 * written in one place, here.
 */
#ifndef DV_TREESUM_H
#define DV_TREESUM_H

#include <sys/types.h>

#include "hash.h"

void dv_treesum_file(struct dv_sha256 *h, const char *name, mode_t mode, const char *content);
void dv_treesum_link(struct dv_sha256 *h, const char *name, const char *target);
void dv_treesum_dir(struct dv_sha256 *h, const char *name, mode_t mode);

#endif
