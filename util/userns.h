/*
 * util/userns.h - devenv without root: one user namespace per command.
 *
 * Run by an ordinary user, devenv moves itself into a new user namespace
 * before it touches the store (the way `podman unshare` works): there it is
 * root, so extraction, chown, overlay mounts, build containers and removal
 * of an image's files all run unchanged. The map is the same every time, so
 * the store's files keep their meaning from one command to the next:
 *
 *   subid:  0 -> the user's uid, 1..N -> the user's /etc/subuid range
 *           (newuidmap/newgidmap, setuid helpers from the uidmap package)
 *   single: 0 -> the user's uid, nothing else (no subuid range, or no
 *           newuidmap): one user in the env, no chown to other ids
 *
 * Either way root in the env is the user, so what root creates in the
 * checkout belongs to the user on the host.
 */
#ifndef DV_USERNS_H
#define DV_USERNS_H

#include <stdbool.h>
#include <sys/types.h>

#include "util/error.h"

enum dv_userns_mode { DV_USERNS_NONE, DV_USERNS_SUBID, DV_USERNS_SINGLE };

/* A subordinate id range from /etc/subuid or /etc/subgid: the first line
 * for `name` or for `id` (as a number) with at least 1 id. 0 when found. */
int dv_subid_find(const char *file, const char *name, unsigned long id, unsigned long *start,
		  unsigned long *count);

/* Are we in the initial user namespace (uid_map "0 0 4294967295")? */
bool dv_userns_is_initial(void);

/* Who root of our user namespace is on the host (the first line of
 * uid_map and gid_map); -1 when we are not in one. */
int dv_userns_root_ids(uid_t *uid, gid_t *gid);

/* Which map dv_userns_enter() would use for this user, and why a single-id
 * one (why: a static string, or NULL). */
enum dv_userns_mode dv_userns_plan(uid_t uid, const char **why);

/* Move devenv itself into a new user namespace mapped as above and return
 * 0, as root there (unshare; for a subid map, newuidmap and newgidmap run
 * from two children forked before it, which exit once the maps are
 * written: no wrapper process stays). *mode: the map made. Call before
 * anything opens the store or prints. */
int dv_userns_enter(enum dv_userns_mode *mode, const char **why, struct dv_error *err);

/* What a single-id map cannot do, for the note `up` prints. */
#define DV_USERNS_SINGLE_LIMITS \
	"only root exists in the env: no other user, no chown to another id, and " \
	"apt-get needs -o APT::Sandbox::User=root"

#endif
