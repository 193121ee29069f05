/*
 * provision/git.h - libgit2 through dlopen() (git.c), for `git` steps and
 * for `copy` of a folder inside a repository (gitcopy.c).
 *
 * Like libcurl and libarchive (registry/curl.c, layers/archive.c), libgit2
 * is compiled against but loaded on first use, so the hot commands (ssh,
 * exec, a cached `up`) never map it (DESIGN.md "Start-up cost").
 */
#ifndef PROVISION_GIT_H
#define PROVISION_GIT_H

#include <git2.h>

#include "util/error.h"

#define PROV_GIT_FUNCS(X) \
	X(git_libgit2_init) \
	X(git_libgit2_opts) \
	X(git_error_last) \
	X(git_remote_create_detached) \
	X(git_remote_connect_options_init) \
	X(git_remote_connect_ext) \
	X(git_remote_ls) \
	X(git_remote_disconnect) \
	X(git_remote_free) \
	X(git_clone_options_init) \
	X(git_clone) \
	X(git_checkout_options_init) \
	X(git_checkout_head) \
	X(git_repository_set_head_detached) \
	X(git_repository_open_ext) \
	X(git_repository_workdir) \
	X(git_repository_index) \
	X(git_repository_free) \
	X(git_index_get_bypath) \
	X(git_index_find_prefix) \
	X(git_index_free) \
	X(git_ignore_path_is_ignored) \
	X(git_odb_hashfile) \
	X(git_oid_fromstr) \
	X(git_oid_equal) \
	X(git_reference_name_to_id) \
	X(git_oid_tostr) \
	X(git_remote_set_url)

#define PROV_GIT_FIELD(f) __typeof__(f) *f;
struct prov_git {
	PROV_GIT_FUNCS(PROV_GIT_FIELD)
};
#undef PROV_GIT_FIELD

/* The table, loaded and initialised once; NULL with `cannot load
 * libgit2.so...: ...`. */
const struct prov_git *prov_git_load(struct dv_error *err);

/* libgit2's last error message, or "unknown error". */
const char *prov_git_errmsg(const struct prov_git *g);

#endif
