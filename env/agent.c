/*
 * env/agent.c - an env's `ssh_agent` for a session or an `up`: the
 * filtering agent (hostnet/agent_run.c) started from what state.json
 * recorded, with the env's log and, for `confirm`, the terminal of this
 * devenv command. Nothing is read or started for an env without one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "env/env.h"
#include "env/internal.h"
#include "util/cleanup.h"
#include "util/userns.h"
#include "util/banned.h"

int env_agent_start(const struct layer_store *st, const struct env_record *s, const char *who,
		    int log_fd, int hold_fd, struct hnet_agent *out, struct dv_error *err)
{
	struct hnet_agent_policy pol = { .env_name = s->name,
					 .who = who,
					 .log_fd = -1,
					 .tty_fd = -1,
					 .hold_fd = hold_fd };
	struct hnet_ids ids = { 0 };
	char warning[512];
	int ret;

	*out = (struct hnet_agent)HNET_AGENT_INIT;
	if (!s->ssh_agent || !s->ssh_agent[0])
		return 0;
	if (strcmp(s->ssh_agent, "list") == 0)
		pol.mode = HNET_AGENT_LIST;
	else if (strcmp(s->ssh_agent, "confirm") == 0)
		pol.mode = HNET_AGENT_CONFIRM;
	else
		pol.mode = HNET_AGENT_ALL;
	pol.keys = (const char *const *)s->ssh_agent_keys.v;
	pol.n_keys = s->ssh_agent_keys.n;
	if (log_fd < 0 && st) {
		dv_autoclose int efd = env_envs_fd(st);
		dv_autofree char *log = dv_xasprintf("%s/log", s->id);

		if (efd >= 0)
			pol.log_fd = openat(efd, log, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
	} else {
		pol.log_fd = log_fd;
	}
	/* confirm asks on our terminal; with none, every signature is refused */
	if (pol.mode == HNET_AGENT_CONFIRM)
		pol.tty_fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	/* As the network helper: as root, the checkout's owner once confined
	 * (a rootless store's `devenv ssh` runs as that user already). */
	if (dv_userns_is_initial() && geteuid() == 0)
		ids = (struct hnet_ids){ true, s->host_uid, s->host_gid };
	ret = hnet_agent_start(&s->init, getenv("SSH_AUTH_SOCK"), &pol, &ids, out, warning,
			       sizeof(warning), err);
	if (ret == 0 && warning[0])
		fprintf(stderr, "devenv: warning: %s\n", warning);
	if (pol.log_fd >= 0 && pol.log_fd != log_fd)
		close(pol.log_fd);
	if (pol.tty_fd >= 0)
		close(pol.tty_fd);
	return ret;
}
