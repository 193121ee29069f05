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
 * below it; MODE the permission bits in octal, as DV_TREESUM_MODE keeps
 * them; CONTENT the file's SHA-256 in hex (or, in a key's git form, "g:"
 * and its git blob id).
 *
 * A `copy` step's cache key holds these records (provision/key.c), and the
 * copier computes them from what it wrote (container/copy.c): so they are
 * written in one place, here.
 */
#ifndef DV_TREESUM_H
#define DV_TREESUM_H

#include <sys/types.h>

#include "hash.h"

/* The permission bits a copy gives a file or folder, and records: the
 * source's, less group and other write. Those follow the umask of whoever
 * cloned the checkout (022 on Debian; 002 on Ubuntu or Fedora for a user
 * with a group of their own), not the project: kept, a teammate's clone
 * had another `content` digest than the committed Envfile.lock (`up
 * --frozen` refused it) and other layers. Never more than the source's. */
#define DV_TREESUM_MODE(m) ((unsigned)((m)&07755))

void dv_treesum_file(struct dv_sha256 *h, const char *name, mode_t mode, const char *content);
void dv_treesum_link(struct dv_sha256 *h, const char *name, const char *target);
void dv_treesum_dir(struct dv_sha256 *h, const char *name, mode_t mode);

#endif
