/*
 * provision/trust.c - what an Envfile (or devcontainer.json) asks for
 * beyond the default sandbox, as a list the developer says yes to once
 * (README "Trust"; allow.c records the yes).
 *
 * A repository just cloned is untrusted input. The default sandbox gives
 * its env the checkout and nothing else of the host's; every key that
 * reaches further is a request: host mounts outside the checkout, cap_add,
 * a seccomp other than the default, a writable git dir, ports open to
 * other machines, git and download sources on this machine or its
 * network, images pulled from this machine or a link-local address, host
 * environment variables, volumes shared across envs, layers taken from a
 * registry (cache_from), the host's network.
 *
 * Everything here is a pure function of the parsed spec (a seccomp
 * profile's content, hashed into its request, was read with it), so that
 * a clean Envfile costs no I/O, and so that the unit tests can check the
 * list and its digest. The one exception: an Envfile below its checkout's
 * root has the repository's index read, to see whether it tracks it. The
 * digest leaves positions out: moving a line does not ask again, changing
 * what it asks for does.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "provision.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/hash.h"
#include "util/banned.h"

/* Bump when the canonical form changes: every record then asks again. */
#define TRUST_DIGEST_VERSION "devenv-trust-1\n"

static const char *const kind_names[] = {
	[PROV_REQ_MOUNT] = "mount",
	[PROV_REQ_SERVICE_MOUNT] = "service-mount",
	[PROV_REQ_CAP_ADD] = "cap_add",
	[PROV_REQ_SECCOMP] = "seccomp",
	[PROV_REQ_GIT_METADATA] = "git_metadata",
	[PROV_REQ_PORT] = "port",
	[PROV_REQ_GIT] = "git",
	[PROV_REQ_DOWNLOAD] = "download",
	[PROV_REQ_HOST_ENV] = "localEnv",
	[PROV_REQ_SHARED_VOLUME] = "shared-volume",
	[PROV_REQ_CACHE_FROM] = "cache_from",
	[PROV_REQ_NETWORK_HOST] = "network",
	[PROV_REQ_IMAGE] = "image",
	[PROV_REQ_CHECKOUT] = "checkout",
	[PROV_REQ_DOTFILES] = "dotfiles",
	[PROV_REQ_SECRET] = "secret",
	[PROV_REQ_GIT_CREDENTIALS] = "git_credentials",
	[PROV_REQ_SSH_AGENT] = "ssh_agent",
	[PROV_REQ_APT_SNAPSHOT] = "apt_snapshot_url",
};

const char *prov_req_kind_name(enum prov_req_kind k)
{
	return k < sizeof(kind_names) / sizeof(kind_names[0]) && kind_names[k] ? kind_names[k] : "?";
}

/* ---- addresses ---- */

static enum prov_where where_v4(uint32_t a /* host order */)
{
	if ((a >> 24) == 127 || (a >> 24) == 0) /* 0.0.0.0/8 reaches this machine too */
		return PROV_WHERE_LOOPBACK;
	if ((a >> 16) == 0xa9fe) /* 169.254/16: a cloud's metadata service lives here */
		return PROV_WHERE_LINKLOCAL;
	if ((a >> 24) == 10 || (a >> 20) == 0xac1 || (a >> 16) == 0xc0a8 ||
	    (a >> 22) == (100u << 2 | 1) /* 100.64/10, carrier-grade NAT */ ||
	    (a >> 28) >= 0xe /* multicast, reserved, broadcast */)
		return PROV_WHERE_PRIVATE;
	return PROV_WHERE_PUBLIC;
}

static enum prov_where where_v6(const unsigned char b[16])
{
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	static const unsigned char nat64[12] = { 0, 0x64, 0xff, 0x9b };
	static const unsigned char zero[15] = { 0 };

	if (!memcmp(b, mapped, 12) || !memcmp(b, nat64, 12))
		return where_v4((uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 |
				(uint32_t)b[14] << 8 | b[15]);
	if (!memcmp(b, zero, 15) && (b[15] == 1 || b[15] == 0)) /* ::1 and :: */
		return PROV_WHERE_LOOPBACK;
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
		return PROV_WHERE_LINKLOCAL;
	if ((b[0] & 0xfe) == 0xfc || b[0] == 0xff || (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0))
		return PROV_WHERE_PRIVATE; /* unique local, multicast, site-local */
	return PROV_WHERE_PUBLIC;
}

enum prov_where prov_where_sockaddr(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return where_v4(
			ntohl(((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr));
	if (sa->sa_family == AF_INET6)
		return where_v6(((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr);
	return PROV_WHERE_LOOPBACK; /* a unix socket is this machine */
}

enum prov_where prov_where_host(const char *host)
{
	struct in_addr a4;
	unsigned char a6[16];
	char buf[256], *pct;
	size_t n = strlen(host);

	if (!n || n >= sizeof(buf))
		return PROV_WHERE_NAME;
	memcpy(buf, host, n + 1);
	for (size_t i = 0; i < n; i++)
		buf[i] = (char)tolower((unsigned char)buf[i]);
	if (n > 1 && buf[n - 1] == '.')
		buf[--n] = '\0';
	/* RFC 6761: localhost and every name below it are this machine (curl
	 * answers them itself, without asking DNS). */
	if (!strcmp(buf, "localhost") || dv_str_endswith(buf, ".localhost"))
		return PROV_WHERE_LOOPBACK;
	if ((pct = strchr(buf, '%'))) /* fe80::1%eth0 */
		*pct = '\0';
	if (inet_pton(AF_INET6, buf, a6) == 1)
		return where_v6(a6);
	/* inet_aton also takes 127.1, 0x7f.1 and 2130706433, which URL parsers
	 * (curl's, the resolver libgit2 calls) read the same way. */
	if (inet_aton(buf, &a4))
		return where_v4(ntohl(a4.s_addr));
	return PROV_WHERE_NAME;
}

bool prov_port_loopback(const char *ip)
{
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	static const unsigned char loopback6[16] = { [15] = 1 };
	struct in_addr a4;
	unsigned char a6[16];

	/* The address as the forwarder binds it, not its spelling: "::0",
	 * "0:0::0" and "::0.0.0.0" are all "::", every interface. And
	 * 0.0.0.0/8, which a connection takes to this machine, is no
	 * loopback to bind: 0.0.0.0 is every interface. */
	if (inet_pton(AF_INET, ip, &a4) == 1)
		return ntohl(a4.s_addr) >> 24 == 127;
	if (inet_pton(AF_INET6, ip, a6) == 1)
		return !memcmp(a6, loopback6, 16) || (!memcmp(a6, mapped, 12) && a6[12] == 127);
	return false;
}

int prov_url_host(const char *url, char *host, size_t size)
{
	const char *p = strstr(url, "://"), *end, *at, *h;
	size_t n;

	host[0] = '\0';
	if (!p)
		return -1;
	p += 3;
	end = p + strcspn(p, "/?#");
	for (at = end; at > p && at[-1] != '@'; at--)
		;
	h = at > p ? at : p; /* user:password@ left out */
	if (*h == '[') {
		const char *close = memchr(h, ']', (size_t)(end - h));

		if (!close)
			return -1;
		n = (size_t)(close - h - 1);
		h++;
	} else {
		const char *colon = memchr(h, ':', (size_t)(end - h));

		n = (size_t)((colon ? colon : end) - h);
	}
	if (n >= size)
		return -1;
	memcpy(host, h, n);
	host[n] = '\0';
	return 0;
}

enum prov_where prov_where_url(const char *url)
{
	char host[256];

	if (dv_str_startswith(url, "file:"))
		return PROV_WHERE_FILE;
	if (prov_url_host(url, host, sizeof(host)) < 0)
		return PROV_WHERE_NAME;
	return prov_where_host(host);
}

const char *prov_where_name(enum prov_where w)
{
	switch (w) {
	case PROV_WHERE_FILE:
		return "this machine's files";
	case PROV_WHERE_LOOPBACK:
		return "this machine (loopback)";
	case PROV_WHERE_LINKLOCAL:
		return "a link-local address";
	case PROV_WHERE_PRIVATE:
		return "your local network";
	case PROV_WHERE_NAME:
		return "a host name";
	default:
		return "a public address";
	}
}

/* ---- the list ---- */

/* Text of the Envfile's that the prompt shows, made safe as every text
 * from outside is (util/str.h): a hostile Envfile must not be able to
 * rewrite the question with escape sequences or bidirectional controls. */
static char *shown(const char *s)
{
	struct dv_buf b = { 0 };

	/* A backslash doubled, so that "\x0a" typed out is not a newline's
	 * escape, in the prompt nor in the digest (a changed value asks). */
	for (;;) {
		size_t n = strcspn(s, "\\");

		dv_buf_add_safe(&b, s, n);
		if (!s[n])
			break;
		dv_buf_adds(&b, "\\\\");
		s += n + 1;
	}
	return dv_buf_steal(&b);
}

static void add(struct prov_requests *out, enum prov_req_kind kind, unsigned line, unsigned col,
		char *what, char *gives, char *extra)
{
	struct prov_request *r;

	out->v = dv_xrealloc(out->v, (out->n + 1) * sizeof(*out->v));
	r = &out->v[out->n++];
	*r = (struct prov_request){ kind, line, col, what, gives, extra };
}


static void add_mount(struct prov_requests *out, const struct env_spec *spec,
		      const struct env_mount *m, const char *service)
{
	dv_autofree char *src = shown(m->source), *dst = shown(m->target);
	dv_autofree char *real = NULL;
	dv_autofree char *svc = service ? shown(service) : NULL;
	dv_autofree char *prefix = service ? dv_xasprintf("service '%s': ", svc) : dv_xstrdup("");

	if (m->volume) {
		if (m->shared)
			add(out, PROV_REQ_SHARED_VOLUME, m->line, m->col,
			    dv_xasprintf("%sshared volume '%s' at '%s'%s", prefix, src, dst,
					 m->readonly ? " (read-only)" : ""),
			    dv_xstrdup("every env on this machine that names it shares its files "
				       "(one project can plant files another runs)"),
			    NULL);
		return;
	}
	/* A relative source is inside the checkout (envfile/mounts.c), which
	 * the env has anyway; so is an absolute one that resolves there. */
	if (m->source[0] != '/' ||
	    (m->source_abs && spec->checkout && dv_path_below(m->source_abs, spec->checkout)))
		return;
	if (m->source_abs && strcmp(m->source_abs, m->source))
		real = shown(m->source_abs);
	add(out, service ? PROV_REQ_SERVICE_MOUNT : PROV_REQ_MOUNT, m->line, m->col,
	    dv_xasprintf("%shost path '%s'%s%s%s at '%s', %s", prefix, src, real ? " (" : "",
			 real ? real : "", real ? ")" : "", dst,
			 m->readonly ? "read-only" : "read-write"),
	    dv_xstrdup(m->readonly ? "the env can read every file there"
				   : "the env can read and change every file there"),
	    NULL);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void add_caps(struct prov_requests *out, const struct env_spec *spec)
{
	const struct dv_strv *caps = &spec->security.cap_add;
	dv_autofree char **sorted = NULL;
	struct dv_buf list = { 0 };
	bool all = false;

	if (!caps->n)
		return;
	sorted = dv_xcalloc(caps->n, sizeof(*sorted));
	memcpy(sorted, caps->v, caps->n * sizeof(*sorted));
	qsort(sorted, caps->n, sizeof(*sorted), cmp_str);
	for (size_t i = 0; i < caps->n; i++) {
		if (i && !strcmp(sorted[i], sorted[i - 1]))
			continue;
		all |= !strcmp(sorted[i], "ALL");
		dv_buf_addf(&list, "%s%s", list.len ? ", " : "", sorted[i]);
	}
	add(out, PROV_REQ_CAP_ADD, spec->security.cap_add_line, spec->security.cap_add_col,
	    dv_xasprintf("cap_add %s", list.s), /* names checked against libcap's table */
	    dv_xstrdup(all ? "root in the env gets every capability: with it, most ways out of "
			     "a container are open"
			   : "root in the env gets capabilities beyond the default set"),
	    NULL);
	dv_buf_release(&list);
}

/* A profile's request carries the sha256 of its content: a profile
 * changed in the checkout asks again, as a changed key does. */
static void add_seccomp(struct prov_requests *out, const struct env_spec *spec)
{
	const struct env_security *sec = &spec->security;
	dv_autofree char *path = NULL;
	char hex[DV_SHA256_HEX] = "unreadable";

	if (!sec->seccomp || !strcmp(sec->seccomp, "default"))
		return;
	if (!strcmp(sec->seccomp, "unconfined")) {
		add(out, PROV_REQ_SECCOMP, sec->seccomp_line, sec->seccomp_col,
		    dv_xstrdup("seccomp unconfined"),
		    dv_xstrdup("no system-call filter: the env reaches every system call of the "
			       "host's kernel"),
		    NULL);
		return;
	}
	/* The bytes read once when the env was located (hostpath.c), which
	 * are what gets compiled. */
	if (sec->seccomp_text)
		dv_sha256_hex(sec->seccomp_text, sec->seccomp_len, hex);
	else
		snprintf(hex, sizeof(hex), "unread");
	path = shown(sec->seccomp);
	add(out, PROV_REQ_SECCOMP, sec->seccomp_line, sec->seccomp_col,
	    dv_xasprintf("seccomp profile '%s'", path),
	    dv_xstrdup("the env's system calls are filtered by this profile instead of the "
		       "default one"),
	    dv_xasprintf("sha256:%s", hex));
}

static void add_source(struct prov_requests *out, const struct env_step *step)
{
	bool git = step->kind == ENV_STEP_GIT;
	const char *url = git ? step->git : step->download;
	enum prov_where w = prov_where_url(url);
	dv_autofree char *u = NULL;
	const char *gives;

	if (w == PROV_WHERE_PUBLIC || w == PROV_WHERE_NAME)
		return;
	u = shown(url);
	switch (w) {
	case PROV_WHERE_FILE:
		gives = git ? "devenv clones files of this machine into the env, reading them "
			      "with its own rights (root's, when run as root)"
			    : "devenv reads a file of this machine into the env";
		break;
	case PROV_WHERE_LOOPBACK:
		gives = "devenv fetches it from this machine's own services (loopback)";
		break;
	case PROV_WHERE_LINKLOCAL:
		gives = "devenv fetches it from a link-local address (169.254.169.254 is a "
			"cloud's metadata service, with the machine's credentials)";
		break;
	default:
		gives = "devenv fetches it from your local network";
		break;
	}
	add(out, git ? PROV_REQ_GIT : PROV_REQ_DOWNLOAD, step->line, step->col,
	    dv_xasprintf("%s %s", git ? "git" : "download", u), dv_xstrdup(gives), NULL);
}

/* `apt_snapshot_url` naming this machine, a link-local address or the
 * local network: the steps' apt fetches from there (as a download's
 * literal address is asked about; a host name is the network's business,
 * as the steps' own fetches are). */
static void add_apt_snapshot(struct prov_requests *out, const struct env_spec *spec)
{
	enum prov_where w;
	dv_autofree char *u = NULL;

	if (!spec->apt_snapshot_url || !spec->apt_snapshot_url_line)
		return; /* none, or the user's own config.yaml's */
	w = prov_where_url(spec->apt_snapshot_url);
	if (w == PROV_WHERE_PUBLIC || w == PROV_WHERE_NAME)
		return;
	u = shown(spec->apt_snapshot_url);
	add(out, PROV_REQ_APT_SNAPSHOT, spec->apt_snapshot_url_line, spec->apt_snapshot_url_col,
	    dv_xasprintf("apt_snapshot_url %s", u),
	    dv_xasprintf("the steps' apt fetches Debian's packages from %s",
			 w == PROV_WHERE_LOOPBACK    ? "this machine's own services (loopback)"
			 : w == PROV_WHERE_LINKLOCAL ? "a link-local address"
						     : "your local network"),
	    NULL);
}

/* The registry host an image reference is pulled from, into host (its
 * port left out): true when the reference names one, as layers/ reads it
 * ("host.name/x", "host:port/x", "localhost/x"). References are [a-z0-9._-:/@]
 * (envfile/), so an IPv6 address cannot be written and a host holds no '['. */
static bool image_host(const char *ref, char *host, size_t size, bool *port)
{
	const char *slash = strchr(ref, '/'), *colon;
	size_t n;

	if (!slash)
		return false;
	n = (size_t)(slash - ref);
	if (!memchr(ref, '.', n) && !memchr(ref, ':', n) && !(n == 9 && !memcmp(ref, "localhost", 9)))
		return false;
	colon = memchr(ref, ':', n);
	*port = colon != NULL;
	if (colon)
		n = (size_t)(colon - ref);
	if (!n || n >= size)
		return false;
	memcpy(host, ref, n);
	host[n] = '\0';
	return true;
}

/* An image pulled from this machine's own services or a link-local address:
 * devenv sends the requests, from the host (plain HTTP to loopback), as it
 * fetches a git or download source. A private address is an internal
 * registry, as a mirror is: no question. `localhost/NAME` without a port
 * is how the store names imported, committed and tagged images; env.c
 * never pulls one from an Envfile. */
static void add_image(struct prov_requests *out, const char *ref, unsigned line, unsigned col,
		      const char *service)
{
	dv_autofree char *r = NULL, *svc = NULL;
	char host[256];
	bool port;
	enum prov_where w;

	if (!ref || !image_host(ref, host, sizeof(host), &port) ||
	    (!port && !strcmp(host, "localhost")))
		return;
	w = prov_where_host(host);
	if (w != PROV_WHERE_LOOPBACK && w != PROV_WHERE_LINKLOCAL)
		return;
	r = shown(ref);
	svc = service ? shown(service) : NULL;
	add(out, PROV_REQ_IMAGE, line, col,
	    dv_xasprintf("%s%s%simage %s", svc ? "service '" : "", svc ? svc : "", svc ? "': " : "",
			 r),
	    dv_xstrdup(w == PROV_WHERE_LOOPBACK
			       ? "devenv pulls it from this machine's own services (loopback)"
			       : "devenv pulls it from a link-local address (169.254.169.254 is a "
				 "cloud's metadata service, with the machine's credentials)"),
	    NULL);
}

/* Is relpath (the Envfile's, in the checkout) at the checkout's root:
 * where a project's own Envfile or devcontainer.json sits? */
static bool at_root(const char *relpath)
{
	return !strcmp(relpath, "Envfile") || !strcmp(relpath, ".devcontainer.json") ||
	       !strcmp(relpath, ".devcontainer/devcontainer.json");
}

/* The checkout is the nearest folder up holding .git. A project without
 * one (a zip unpacked) inside a folder kept in git (a $HOME under git)
 * would make that whole folder the checkout: mounted read-write, and a
 * mount such as "../../.ssh:/keys" inside it. An Envfile below the root
 * that the repository does not track is no sign the repository is its
 * project's: that is a request. A monorepo's committed sub/Envfile asks
 * nothing. (The one read of the index here, where trust is checked and
 * nowhere else: `ssh` and the other commands never pay for it.) */
/* The copy `devenv up --host` made of a checkout (cmd/remotesync.c): its
 * root holds a .git folder (no symlink) with `devenv-copy` in it, so the
 * copy is the checkout and no folder above it is; the files in it are those
 * git lists where devenv was run, where this request was asked about. */
static bool remote_copy(const char *checkout)
{
	dv_autoclose int co = open(checkout, O_PATH | O_DIRECTORY | O_CLOEXEC);
	dv_autoclose int git =
		co < 0 ? -1 : openat(co, ".git", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;

	return git >= 0 && fstatat(git, "devenv-copy", &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	       S_ISREG(st.st_mode);
}

static void add_checkout(struct prov_requests *out, const struct env_spec *spec)
{
	dv_autofree char *co = NULL, *rel = NULL;

	if (!spec->checkout || !spec->relpath || at_root(spec->relpath) ||
	    remote_copy(spec->checkout) || prov_git_tracked(spec->checkout, spec->relpath))
		return;
	co = shown(spec->checkout);
	rel = shown(spec->relpath);
	add(out, PROV_REQ_CHECKOUT, 0, 0,
	    dv_xasprintf("the whole checkout '%s', read-write ('%s' is not tracked by its git "
			 "repository)",
			 co, rel),
	    dv_xstrdup("the env can read and change every file of that folder, not only of the "
		       "Envfile's, and mounts anywhere in it ask nothing"),
	    NULL);
}

/* The user's own config.yaml, not the Envfile: its `dotfiles` go into
 * every env it starts, where the project's processes read them. Asked per
 * checkout as the rest; the repository is in the digest. No position: it
 * is not the Envfile's line. */
static void add_dotfiles(struct prov_requests *out, const struct env_spec *spec)
{
	dv_autofree char *repo = NULL;

	if (!spec->dotfiles)
		return;
	repo = shown(spec->dotfiles->repository);
	add(out, PROV_REQ_DOTFILES, 0, 0, dv_xasprintf("your dotfiles '%s' (config.yaml)", repo),
	    dv_xstrdup("devenv copies them into the env's home and runs their install script "
		       "there: the project's processes can read them"),
	    NULL);
}

/* Which keys, as the Envfile names them ("all", "each asked for", or the
 * list), so that a changed list asks again. */
static char *agent_keys(const struct env_agent *a)
{
	struct dv_buf b = { 0 };

	if (a->mode == ENV_AGENT_CONFIRM)
		return dv_xstrdup("all keys, each signature asked for on your terminal");
	if (a->mode != ENV_AGENT_LIST)
		return dv_xstrdup("all keys");
	dv_buf_add(&b, "keys ", 5);
	for (size_t i = 0; i < a->keys.n; i++) {
		dv_autofree char *k = shown(a->keys.v[i]);

		dv_buf_addf(&b, "%s'%s'", i ? ", " : "", k);
	}
	return dv_buf_steal(&b);
}

static void add_agent(struct prov_requests *out, const struct env_spec *spec)
{
	if (spec->ssh_agent.mode != ENV_AGENT_NONE) {
		dv_autofree char *keys = agent_keys(&spec->ssh_agent);

		add(out, PROV_REQ_SSH_AGENT, spec->ssh_agent.line, spec->ssh_agent.col,
		    dv_xasprintf("ssh_agent: %s", keys),
		    dv_xstrdup("the env's ssh sessions and on_up can sign with these keys of your "
			       "ssh agent (each signature is written to the env's log)"),
		    NULL);
	}
	for (size_t i = 0; i < spec->n_provision; i++) {
		const struct env_step *step = &spec->provision[i];
		dv_autofree char *keys = NULL;

		if (!step->ssh_agent)
			continue;
		keys = agent_keys(spec->ssh_agent.mode == ENV_AGENT_NONE ? &(struct env_agent){ 0 }
									 : &spec->ssh_agent);
		add(out, PROV_REQ_SSH_AGENT, step->line, step->col,
		    dv_xasprintf("ssh_agent for a provisioning step: %s", keys),
		    dv_xstrdup("this step can sign with these keys of your ssh agent while it "
			       "runs"),
		    NULL);
	}
}

static int cmp_pos(const void *a, const void *b)
{
	const struct prov_request *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->col != y->col)
		return x->col < y->col ? -1 : 1;
	return strcmp(x->what, y->what);
}

/* A secret read from the host beyond the checkout (which the env sees
 * anyway): an absolute file, a variable, a command run as you. */
static void add_secret(struct prov_requests *out, const struct env_secret *s)
{
	dv_autofree char *name = shown(s->name), *src = shown(s->source);

	if (s->kind == ENV_SECRET_FILE && s->file_rel)
		return;
	if (s->kind == ENV_SECRET_FILE)
		add(out, PROV_REQ_SECRET, s->src_line, s->src_col,
		    dv_xasprintf("secret '%s' from host file '%s'", name, src),
		    dv_xstrdup("the file's content is given to the steps that name the secret"),
		    NULL);
	else if (s->kind == ENV_SECRET_ENV)
		add(out, PROV_REQ_SECRET, s->src_line, s->src_col,
		    dv_xasprintf("secret '%s' from your variable '%s'", name, src),
		    dv_xstrdup("its value is given to the steps that name the secret"), NULL);
	else
		add(out, PROV_REQ_SECRET, s->src_line, s->src_col,
		    dv_xasprintf("secret '%s' from the host command '%s'", name, src),
		    dv_xstrdup("the command runs on this machine as you, at each build and "
			       "up that needs it, and its output is given to the steps that "
			       "name the secret"),
		    NULL);
}

/* One request for the whole list: a host added to it asks again. */
static void add_git_credentials(struct prov_requests *out, const struct env_spec *spec)
{
	struct dv_buf hosts = { 0 };

	if (!spec->git_credentials.n)
		return;
	for (size_t i = 0; i < spec->git_credentials.n; i++) {
		dv_autofree char *h = shown(spec->git_credentials.v[i]);

		dv_buf_addf(&hosts, "%s%s", i ? ", " : "", h);
	}
	add(out, PROV_REQ_GIT_CREDENTIALS, spec->git_credentials_line, spec->git_credentials_col,
	    dv_xasprintf("git_credentials %s", hosts.s),
	    dv_xstrdup("your git credentials for these hosts (what 'git credential fill' gives on "
		       "this machine) are handed to the env's git, and to any process of the env "
		       "that asks, while a session or on_up runs"),
	    NULL);
	dv_buf_release(&hosts);
}

void prov_trust_requests(const struct env_spec *spec, struct prov_requests *out)
{
	memset(out, 0, sizeof(*out));
	out->file = shown(spec->display ? spec->display : "Envfile");
	add_checkout(out, spec);
	add_image(out, spec->image, spec->image_line, spec->image_col, NULL);
	for (size_t i = 0; i < spec->n_services; i++)
		add_image(out, spec->services[i].image, spec->services[i].image_line,
			  spec->services[i].image_col, spec->services[i].name);
	for (size_t i = 0; i < spec->n_mounts; i++)
		add_mount(out, spec, &spec->mounts[i], NULL);
	for (size_t i = 0; i < spec->n_volumes; i++)
		add_mount(out, spec, &spec->volumes[i], NULL);
	for (size_t i = 0; i < spec->n_services; i++)
		for (size_t j = 0; j < spec->services[i].n_volumes; j++)
			add_mount(out, spec, &spec->services[i].volumes[j], spec->services[i].name);
	add_caps(out, spec);
	add_seccomp(out, spec);
	if (spec->security.git_metadata_rw)
		add(out, PROV_REQ_GIT_METADATA, spec->security.git_metadata_line,
		    spec->security.git_metadata_col, dv_xstrdup("git_metadata read-write"),
		    dv_xstrdup("the env can write the checkout's git dir (its config and hooks; "
			       "a git worktree's repository, with every worktree's), which git "
			       "on the host obeys"),
		    NULL);
	for (size_t i = 0; i < spec->n_ports; i++) {
		const struct env_port *p = &spec->ports[i];
		bool v6 = strchr(p->host_ip, ':') != NULL;

		if (prov_port_loopback(p->host_ip))
			continue;
		char host[8];

		/* auto: whichever port env/net.c chooses, asked once */
		snprintf(host, sizeof(host), p->auto_port ? "auto" : "%u", p->host_port);
		add(out, PROV_REQ_PORT, p->line, p->col,
		    dv_xasprintf("port %s%s%s:%s -> %u", v6 ? "[" : "", p->host_ip, v6 ? "]" : "",
				 host, p->container_port),
		    dv_xstrdup("the env's port is open to other machines, not only to this one"),
		    NULL);
	}
	for (size_t i = 0; i < spec->n_provision; i++)
		if (spec->provision[i].kind == ENV_STEP_GIT ||
		    spec->provision[i].kind == ENV_STEP_DOWNLOAD)
			add_source(out, &spec->provision[i]);
	for (size_t i = 0; i < spec->n_host_env; i++) {
		dv_autofree char *name = shown(spec->host_env[i].name);

		add(out, PROV_REQ_HOST_ENV, spec->host_env[i].line, spec->host_env[i].col,
		    dv_xasprintf("${localEnv:%s}", name),
		    dv_xasprintf("the value of your environment variable '%s' goes into the env "
				 "(and its state on disk)",
				 name),
		    NULL);
	}
	/* The Envfile's own; `--cache-from` on the command line is the
	 * developer's choice and is appended after this list is made. */
	for (size_t i = 0; i < spec->cache_from.n; i++) {
		dv_autofree char *ref = shown(spec->cache_from.v[i]);

		add(out, PROV_REQ_CACHE_FROM, spec->cache_from_line, spec->cache_from_col,
		    dv_xasprintf("cache_from '%s'", ref),
		    dv_xstrdup("provisioning steps are taken as layers built elsewhere (from this "
			       "image) instead of run here"),
		    NULL);
	}
	/* Only a written `network: host` (the default is the sandbox's). */
	if (spec->network == ENV_NET_HOST && spec->network_line)
		add(out, PROV_REQ_NETWORK_HOST, spec->network_line, spec->network_col,
		    dv_xstrdup("network: host"),
		    dv_xstrdup("the env shares this machine's network: its loopback services and "
			       "abstract unix sockets (an X11 display among them)"),
		    NULL);
	add_dotfiles(out, spec);
	for (size_t i = 0; i < spec->n_secrets; i++)
		add_secret(out, &spec->secrets[i]);
	add_git_credentials(out, spec);
	add_agent(out, spec);
	add_apt_snapshot(out, spec);
	if (out->n)
		qsort(out->v, out->n, sizeof(*out->v), cmp_pos);
}

void prov_requests_release(struct prov_requests *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->v[i].what);
		free(r->v[i].gives);
		free(r->v[i].extra);
	}
	free(r->v);
	free(r->file);
	memset(r, 0, sizeof(*r));
}

void prov_trust_digest(const struct prov_requests *r, char hex[DV_SHA256_HEX])
{
	dv_autofree char **lines = dv_xcalloc(r->n + 1, sizeof(*lines));
	struct dv_sha256 h;

	for (size_t i = 0; i < r->n; i++)
		lines[i] = dv_xasprintf("%s\t%s\t%s", prov_req_kind_name(r->v[i].kind),
					r->v[i].what, r->v[i].extra ? r->v[i].extra : "");
	if (r->n)
		qsort(lines, r->n, sizeof(*lines), cmp_str);
	dv_sha256_init(&h);
	dv_sha256_update(&h, TRUST_DIGEST_VERSION, strlen(TRUST_DIGEST_VERSION));
	for (size_t i = 0; i < r->n; i++) {
		/* The length first, so that no two lists hash alike. */
		dv_sha256_update(&h, &(unsigned long long){ strlen(lines[i]) }, 8);
		dv_sha256_update(&h, lines[i], strlen(lines[i]));
		free(lines[i]);
	}
	dv_sha256_final_hex(&h, hex);
}

char *prov_request_line(const struct prov_requests *r, size_t i)
{
	const struct prov_request *q = &r->v[i];

	if (!q->line)
		return dv_xasprintf("%s: %s: %s", r->file, q->what, q->gives);
	return dv_xasprintf("%s:%u:%u: %s: %s", r->file, q->line, q->col, q->what, q->gives);
}
