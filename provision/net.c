/*
 * provision/net.c - the network of build steps, and what gives a private
 * network namespace its outbound traffic here (slirp4netns or pasta), for
 * build steps and envs (env/net.c) alike.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "provision.h"
#include "util/cleanup.h"
#include "util/banned.h"

/* name in $PATH (or DEVENV_OUTBOUND: "none", or a path), caller frees. */
static char *find_tool(const char *name)
{
	const char *path = getenv("PATH");

	if (!path || !*path)
		return NULL;
	for (const char *p = path;; p++) {
		const char *end = strchrnul(p, ':');
		dv_autofree char *cand = NULL;

		if (end > p) {
			cand = dv_xasprintf("%.*s/%s", (int)(end - p), p, name);
			if (access(cand, X_OK) == 0)
				return dv_steal_ptr(&cand);
		}
		if (!*end)
			return NULL;
		p = end;
	}
}

/* Can we (slirp4netns, pasta: same ids, same user namespace) open the tun
 * device? Without root it is often 0600 root's, where nothing can. */
static bool tun_usable(int *errnum)
{
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		*errnum = errno;
		return false;
	}
	close(fd);
	return true;
}

/* What gives a private network namespace its outbound traffic here:
 * slirp4netns, else pasta (DEVENV_OUTBOUND: a path, or "none" to play a
 * machine without either). NULL when none can run, with what is missing
 * and its fix in why and fix. Caller frees. */
char *prov_outbound_tool(bool *pasta, char *why, size_t why_n, const char **fix)
{
	const char *forced = getenv("DEVENV_OUTBOUND");
	char *tool = NULL;
	int tun_errno = 0;

	*pasta = false;
	if (forced && *forced)
		tool = strcmp(forced, "none") ? dv_xstrdup(forced) : NULL;
	else if (!(tool = find_tool("slirp4netns")) && (tool = find_tool("pasta")))
		*pasta = true;
	if (forced && tool && strstr(tool, "pasta"))
		*pasta = true;
	if (!tool) {
		snprintf(why, why_n, "neither slirp4netns nor pasta is installed");
		*fix = "apt-get install slirp4netns";
		return NULL;
	}
	/* Both need a tap device: say so now, rather than start one to hear
	 * it fail. */
	if (!tun_usable(&tun_errno)) {
		snprintf(why, why_n, "%s cannot open /dev/net/tun (%s)",
			 *pasta ? "pasta" : "slirp4netns", strerror(tun_errno));
		*fix = tun_errno == ENOENT ? "as root: modprobe tun"
					   : "as root: chmod 0666 /dev/net/tun, its usual mode";
		free(tool);
		*pasta = false;
		return NULL;
	}
	return tool;
}

/* Said once per command: a private network without outbound traffic here
 * (by the first build step, or by the env's start). */
static bool told_no_outbound;

bool prov_outbound_say_once(void)
{
	if (told_no_outbound)
		return false;
	told_no_outbound = true;
	return true;
}

/* Build steps run code of the repository's too: they get a network of
 * their own with outbound traffic, as a `private` env's, so that a step
 * reaches neither the host's loopback services nor its abstract unix
 * sockets. `network: host` (a trust request) gives them the host's. Where
 * no outbound tool can run here (none installed, /dev/net/tun unusable),
 * a step would have no network at all, which no package manager
 * survives: it keeps the host's, and devenv says so once, with what the
 * env will lack too. */
void prov_build_net(const struct env_spec *spec, struct prov_build_net *out)
{
	char why[256];
	const char *fix = "";

	memset(out, 0, sizeof(*out));
	if (spec->network == ENV_NET_HOST)
		return;
	out->tool = prov_outbound_tool(&out->pasta, why, sizeof(why), &fix);
	out->private_ns = out->tool != NULL;
}

void prov_build_net_warn(const struct env_spec *spec)
{
	char why[256];
	const char *fix = "";
	bool pasta;
	char *tool;

	if (spec->network == ENV_NET_HOST || told_no_outbound)
		return;
	tool = prov_outbound_tool(&pasta, why, sizeof(why), &fix);
	if (!tool)
		fprintf(stderr,
			"devenv: warning: network: private: %s; provisioning steps use the host's "
			"network, its loopback services included, and the env has no outbound "
			"network (%s)\n",
			why, fix);
	told_no_outbound = !tool;
	free(tool);
}

void prov_build_net_release(struct prov_build_net *bn)
{
	free(bn->tool);
	memset(bn, 0, sizeof(*bn));
}
