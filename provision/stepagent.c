/*
 * provision/stepagent.c - a provisioning step's `ssh_agent: true`: the
 * filtering agent (hostnet/agent_run.c) for the time the step runs, with
 * the keys the top-level `ssh_agent` lists (all of them when it is absent
 * or `true`).
 *
 * A build container is not running before ctr_run starts it, so the
 * filter's socket is bound in a fresh folder of the store's tmp/ (0711,
 * the socket 0666) and that folder mounted at /run/devenv-agent like a
 * step's cache: its target is the skeleton's (container/overlay.c), so
 * the layer holds neither the socket nor its folder, and the step's key
 * leaves the agent out (provision/key.c). Requests go to the env's log
 * when it has one already, else to our stderr, beside the step's output.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hostnet/hostnet.h"
#include "provision.h"
#include "util/cleanup.h"
#include "util/userns.h"
#include "util/banned.h"

#define STEP_AGENT_DIR "/run/devenv-agent"

int prov_step_agent(struct prov_ctr *c, const struct layer_store *st, const struct env_spec *spec,
		    size_t index, const char *env_id, struct prov_step_agent *out,
		    struct dv_error *err)
{
	struct hnet_agent_policy pol = { .env_name = spec->name,
					 .log_fd = -1,
					 .tty_fd = -1,
					 .hold_fd = -1 };
	struct hnet_ids ids = { 0 };
	dv_autoclose int dir = -1;
	char warning[512], who[32];
	struct stat co;
	struct ctr_mount *m;
	int ret;

	*out = (struct prov_step_agent){ .agent = HNET_AGENT_INIT };
	snprintf(who, sizeof(who), "step %zu", index + 1);
	pol.who = who;
	pol.mode = spec->ssh_agent.mode == ENV_AGENT_LIST      ? HNET_AGENT_LIST
		   : spec->ssh_agent.mode == ENV_AGENT_CONFIRM ? HNET_AGENT_CONFIRM
							       : HNET_AGENT_ALL;
	pol.keys = (const char *const *)spec->ssh_agent.keys.v;
	pol.n_keys = spec->ssh_agent.keys.n;
	out->name = dv_xasprintf("agent-%d-%zu", (int)getpid(), index);
	unlinkat(st->tmp_fd, out->name, AT_REMOVEDIR); /* a killed run's, same pid */
	if (mkdirat(st->tmp_fd, out->name, 0711) < 0) {
		dv_err(err, errno, "cannot make '%s/tmp/%s'", st->root, out->name);
		goto fail;
	}
	dir = openat(st->tmp_fd, out->name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dir < 0) {
		dv_err(err, errno, "cannot open '%s/tmp/%s'", st->root, out->name);
		goto fail;
	}
	if (env_id && env_id[0]) {
		dv_autofree char *log = dv_xasprintf("envs/%s/log", env_id);

		pol.log_fd = openat(st->root_fd, log, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
	}
	if (pol.log_fd < 0)
		pol.log_fd = fcntl(2, F_DUPFD_CLOEXEC, 3);
	if (pol.mode == HNET_AGENT_CONFIRM)
		pol.tty_fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	/* As root, the filter becomes the checkout's owner. */
	if (dv_userns_is_initial() && geteuid() == 0 && stat(spec->checkout, &co) == 0)
		ids = (struct hnet_ids){ true, co.st_uid, co.st_gid };
	ret = hnet_agent_start_in(dir, STEP_AGENT_DIR, getenv("SSH_AUTH_SOCK"), &pol, &ids,
				  &out->agent, warning, sizeof(warning), err);
	if (pol.log_fd >= 0)
		close(pol.log_fd);
	if (pol.tty_fd >= 0)
		close(pol.tty_fd);
	if (ret < 0)
		goto fail;
	if (warning[0])
		fprintf(stderr, "devenv: warning: %s\n", warning);
	if (!out->agent.pid) {
		prov_step_agent_end(st, out);
		return 0;
	}
	dv_strv_push_owned(&c->paths, dv_xasprintf("%s/tmp/%s", st->root, out->name));
	m = prov_ctr_mount_add(c);
	m->source = c->paths.v[c->paths.n - 1];
	m->target = STEP_AGENT_DIR;
	m->skeleton = true;
	return 0;
fail:
	prov_step_agent_end(st, out);
	return -1;
}

void prov_step_agent_end(const struct layer_store *st, struct prov_step_agent *a)
{
	hnet_agent_stop(&a->agent);
	if (a->name)
		unlinkat(st->tmp_fd, a->name, AT_REMOVEDIR);
	free(a->name);
	*a = (struct prov_step_agent){ .agent = HNET_AGENT_INIT };
}
