/*
 * util/ctx.h - what main() learns once and passes down (no globals).
 */
#ifndef DV_CTX_H
#define DV_CTX_H

#include <stdbool.h>
#include <stdio.h>

struct dv_strv;
struct env_userconfig;

struct dv_ctx {
	char *home;                  /* store root: $DEVENV_HOME, /var/lib/devenv, or XDG */
	bool rootless;               /* not root of the initial user namespace (util/userns.h) */
	int userns;                  /* enum dv_userns_mode this command runs in */
	unsigned host_uid, host_gid; /* who ran devenv, as the host sees it */
	bool json;                   /* --json */
	bool quiet;                  /* -q */
	FILE *events; /* --json on up/provision/reload: JSON Lines (the real stdout), or NULL */
	bool tty_in, tty_out;
	const char *env_sel; /* -e NAME|ID, or NULL */
	int store_lock_fd;   /* shared store lock held for this command, or -1 */
	/* up --explain: why each step runs ("" for one that will not), printed
	 * under its line by provision/build.c; or NULL */
	const struct dv_strv *explain;
	/* config.yaml when main() read it already (looking for `host:`): the
	 * Envfile's lookup takes it instead of reading it again; or NULL */
	struct env_userconfig *userconfig;
};

#endif
