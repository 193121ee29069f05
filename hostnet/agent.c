/*
 * hostnet/agent.c - the filtering ssh agent's loop: the agent protocol
 * (draft-miller-ssh-agent) between the env's clients and the developer's
 * agent, of which the env gets only what `ssh_agent` lists.
 *
 *  - REQUEST_IDENTITIES: the developer's agent is asked, and the answer
 *    keeps the keys listed (by comment or SHA256 fingerprint; all of them
 *    for `true` and `confirm`);
 *  - SIGN_REQUEST: forwarded only for a listed key (the key blob's own
 *    fingerprint decides, not what the client claims), with `confirm` only
 *    after a yes on the terminal of the devenv command that owns the
 *    session; each one written to the env's log, allowed or refused;
 *  - everything else (add, remove, lock, unlock, extensions): FAILURE, and
 *    a line in the log.
 * One connection to the developer's agent, opened before the filter was
 * confined, serves every client in turn (the protocol is one answer per
 * request): the filter never opens a socket or a file itself.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "hostnet/internal.h"
#include "util/hash.h"
#include "util/banned.h"

#define AGENT_FAILURE 5
#define AGENT_REQUEST_IDENTITIES 11
#define AGENT_IDENTITIES_ANSWER 12
#define AGENT_SIGN_REQUEST 13
#define AGENT_MAX_MSG (256 * 1024) /* as OpenSSH's agent */
#define AGENT_MAX_CLIENTS 32

static uint32_t get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_u32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

void hnet_agent_fingerprint(const unsigned char *blob, size_t len, char out[HNET_AGENT_FP_MAX])
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	unsigned char d[33] = { 0 };
	struct dv_sha256 c;
	char *o = out + 7;

	dv_sha256_init(&c);
	dv_sha256_update(&c, blob, len);
	dv_sha256_final(&c, d);
	memcpy(out, "SHA256:", 7);
	/* 32 bytes: ten groups of three, then two bytes as three characters,
	 * unpadded (as ssh-keygen -l). */
	for (size_t i = 0; i < 32; i += 3) {
		uint32_t v = (uint32_t)d[i] << 16 | (uint32_t)d[i + 1] << 8 | d[i + 2];

		*o++ = b64[(v >> 18) & 63];
		*o++ = b64[(v >> 12) & 63];
		*o++ = b64[(v >> 6) & 63];
		if (i + 2 < 32)
			*o++ = b64[v & 63];
	}
	*o = 0;
}

/* A string of the protocol at *p (before end): its bytes and length. */
static bool get_string(const unsigned char **p, const unsigned char *end, const unsigned char **s,
		       uint32_t *len)
{
	if (end - *p < 4)
		return false;
	*len = get_u32(*p);
	if ((size_t)(end - *p - 4) < *len)
		return false;
	*s = *p + 4;
	*p += 4 + *len;
	return true;
}

/* The comment shown in a log line or prompt: printable ASCII, cut. */
static void shown(const unsigned char *s, size_t len, char *out, size_t size)
{
	size_t n = 0;

	for (size_t i = 0; i < len && n + 1 < size; i++)
		out[n++] = s[i] >= 0x20 && s[i] < 0x7f ? (char)s[i] : '?';
	out[n] = 0;
}

struct agent_state {
	const struct hnet_agent_policy *pol;
	int upstream;
	/* the last answer of the developer's agent: fingerprint -> comment */
	struct {
		char fp[HNET_AGENT_FP_MAX];
		char comment[128];
		bool exact; /* comment is the agent's, byte for byte */
	} known[64];
	size_t n_known;
};

static void log_line(const struct agent_state *a, const char *fmt, ...) DV_FMT(2, 3);
/* UTC "YYYY-MM-DDTHH:MM:SSZ" of t, by hand: glibc's gmtime_r reads the
 * time zone's file on first use, which the filter cannot open. */
static int utc(time_t t, char *out, size_t size)
{
	long long days = t / 86400, secs = t % 86400, era, doe, yoe, y, doy, mp, d, m;

	/* days since 1970-01-01 to a civil date (H. Hinnant's algorithm) */
	days += 719468;
	era = days / 146097;
	doe = days - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	d = doy - (153 * mp + 2) / 5 + 1;
	m = mp < 10 ? mp + 3 : mp - 9;
	return snprintf(out, size, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lldZ", y + (m <= 2), m, d,
			secs / 3600, secs / 60 % 60, secs % 60);
}

static void log_line(const struct agent_state *a, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	if (a->pol->log_fd < 0)
		return;
	n = utc(time(NULL), line, sizeof(line));
	n += snprintf(line + n, sizeof(line) - (size_t)n, " ssh_agent: ");
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	/* one write: O_APPEND keeps the line whole among the log's writers */
	if (write(a->pol->log_fd, line, (size_t)n) < 0) {
		/* a full disk loses the line, not the signature's answer */
	}
}

static bool read_full(int fd, void *buf, size_t n)
{
	unsigned char *p = buf;

	while (n) {
		ssize_t r = read(fd, p, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		p += r;
		n -= (size_t)r;
	}
	return true;
}

static bool write_full(int fd, const void *buf, size_t n)
{
	const unsigned char *p = buf;

	while (n) {
		ssize_t r = send(fd, p, n, MSG_NOSIGNAL);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		p += r;
		n -= (size_t)r;
	}
	return true;
}

/* Ask the developer's agent: msg (with its length) out, the answer into
 * *out (malloc'd, without its length). false when the agent is gone. */
static bool ask(struct agent_state *a, const unsigned char *msg, size_t len, unsigned char **out,
		uint32_t *out_len)
{
	unsigned char hdr[4];

	*out = NULL;
	if (!write_full(a->upstream, msg, len) || !read_full(a->upstream, hdr, 4))
		return false;
	*out_len = get_u32(hdr);
	if (*out_len == 0 || *out_len > AGENT_MAX_MSG)
		return false;
	*out = malloc(*out_len);
	if (!*out || !read_full(a->upstream, *out, *out_len)) {
		free(*out);
		*out = NULL;
		return false;
	}
	return true;
}

static bool listed(const struct agent_state *a, const char *fp, const char *comment)
{
	if (a->pol->mode != HNET_AGENT_LIST)
		return true;
	for (size_t i = 0; i < a->pol->n_keys; i++)
		if (strcmp(a->pol->keys[i], fp) == 0 ||
		    (comment && !strcmp(a->pol->keys[i], comment)))
			return true;
	return false;
}

/* The developer's agent's keys, the listed ones kept: the answer to send
 * (malloc'd, with its length) or NULL. Remembers every key's comment. */
static unsigned char *identities(struct agent_state *a, size_t *out_len)
{
	static const unsigned char req[] = { 0, 0, 0, 1, AGENT_REQUEST_IDENTITIES };
	unsigned char *ans = NULL, *res = NULL, *o;
	const unsigned char *p, *end;
	uint32_t len, n, kept = 0;

	if (!ask(a, req, sizeof(req), &ans, &len) || ans[0] != AGENT_IDENTITIES_ANSWER || len < 5)
		goto fail;
	p = ans + 5;
	end = ans + len;
	n = get_u32(ans + 1);
	res = malloc((size_t)len + 4);
	if (!res)
		goto fail;
	o = res + 9;
	a->n_known = 0;
	for (uint32_t i = 0; i < n; i++) {
		const unsigned char *blob, *comment, *start = p;
		uint32_t blen, clen;
		char fp[HNET_AGENT_FP_MAX], c[128];
		bool exact;

		if (!get_string(&p, end, &blob, &blen) || !get_string(&p, end, &comment, &clen))
			goto fail;
		hnet_agent_fingerprint(blob, blen, fp);
		shown(comment, clen, c, sizeof(c));
		exact = clen == strlen(c) && !memcmp(c, comment, clen);
		if (a->n_known < sizeof(a->known) / sizeof(a->known[0])) {
			memcpy(a->known[a->n_known].fp, fp, sizeof(fp));
			memcpy(a->known[a->n_known].comment, c, sizeof(c));
			a->known[a->n_known].exact = exact;
			a->n_known++;
		}
		/* the comment as the agent has it, byte for byte */
		if (!listed(a, fp, exact ? c : NULL))
			continue;
		memcpy(o, start, (size_t)(p - start));
		o += p - start;
		kept++;
	}
	put_u32(res, (uint32_t)(o - res - 4));
	res[4] = AGENT_IDENTITIES_ANSWER;
	put_u32(res + 5, kept);
	*out_len = (size_t)(o - res);
	free(ans);
	return res;
fail:
	free(ans);
	free(res);
	return NULL;
}

static const char *comment_of(struct agent_state *a, const char *fp, bool refresh, bool *exact)
{
	size_t len;

	for (int round = 0; round < 2; round++) {
		for (size_t i = 0; i < a->n_known; i++)
			if (strcmp(a->known[i].fp, fp) == 0) {
				*exact = a->known[i].exact;
				return a->known[i].comment;
			}
		if (!refresh || round)
			break;
		free(identities(a, &len));
	}
	return NULL;
}

/* confirm: a yes on the terminal, read a line at a time; none: no. */
static bool confirmed(const struct agent_state *a, const char *fp, const char *comment)
{
	char prompt[512], ans[16];
	size_t n = 0;
	int len;

	if (a->pol->tty_fd < 0)
		return false;
	len = snprintf(prompt, sizeof(prompt),
		       "\r\ndevenv: env '%s' (%s) asks to sign with %s%s%s%s. Allow? [y/N] ",
		       a->pol->env_name, a->pol->who, fp, comment ? " (" : "",
		       comment ? comment : "", comment ? ")" : "");
	/* The session's relay reads the same terminal: it stops until we
	 * have the answer (and says so first, or it may take the keys). */
	if (a->pol->hold_fd >= 0) {
		char k;

		if (write(a->pol->hold_fd, "h", 1) != 1 || read(a->pol->hold_fd, &k, 1) != 1) {
			/* the session is gone: nobody reads the terminal but us */
		}
	}
	if (len <= 0 || write(a->pol->tty_fd, prompt, (size_t)len) < 0)
		n = sizeof(ans);
	while (n < sizeof(ans)) {
		ssize_t r = read(a->pol->tty_fd, ans + n, 1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) { /* no answer: no */
			n = sizeof(ans);
			break;
		}
		if (ans[n] == '\n' || ans[n] == '\r')
			break;
		n++;
	}
	if (write(a->pol->tty_fd, "\r\n", 2) < 0) {
		/* the answer counts all the same */
	}
	if (a->pol->hold_fd >= 0 && write(a->pol->hold_fd, "r", 1) != 1) {
		/* the session is gone */
	}
	return n >= 1 && n < sizeof(ans) && (ans[0] == 'y' || ans[0] == 'Y');
}

/* One request (type and body, without its length): the answer to send, or
 * NULL for FAILURE. */
static unsigned char *handle(struct agent_state *a, const unsigned char *msg, uint32_t len,
			     size_t *out_len)
{
	static const char *const names[] = {
		[17] = "add_identity",
		[18] = "remove_identity",
		[19] = "remove_all_identities",
		[20] = "add_smartcard",
		[21] = "remove_smartcard",
		[22] = "lock",
		[23] = "unlock",
		[25] = "add_id_constrained",
		[26] = "add_smartcard_constrained",
		[27] = "extension",
	};
	const unsigned char *p = msg + 1, *blob;
	unsigned char *fwd, *ans = NULL;
	uint32_t blen, alen;
	char fp[HNET_AGENT_FP_MAX];
	const char *comment;
	bool exact = false;

	if (msg[0] == AGENT_REQUEST_IDENTITIES)
		return identities(a, out_len);
	if (msg[0] != AGENT_SIGN_REQUEST) {
		const char *name = msg[0] < sizeof(names) / sizeof(names[0]) && names[msg[0]]
					   ? names[msg[0]]
					   : "unknown";

		log_line(a, "%s: refused message %u (%s)", a->pol->who, msg[0], name);
		return NULL;
	}
	if (!get_string(&p, msg + len, &blob, &blen)) {
		log_line(a, "%s: refused a malformed sign request", a->pol->who);
		return NULL;
	}
	hnet_agent_fingerprint(blob, blen, fp);
	comment = comment_of(a, fp, true, &exact);
	if (!comment && a->pol->mode == HNET_AGENT_LIST && !listed(a, fp, NULL)) {
		log_line(a, "%s: sign with %s (a key the agent does not hold): refused",
			 a->pol->who, fp);
		return NULL;
	}
	/* by its comment only as the agent has it (as in the listing) */
	if (!listed(a, fp, exact ? comment : NULL)) {
		log_line(a, "%s: sign with %s (%s): refused (not in ssh_agent)", a->pol->who, fp,
			 comment ? comment : "");
		return NULL;
	}
	if (a->pol->mode == HNET_AGENT_CONFIRM && !confirmed(a, fp, comment)) {
		log_line(a, "%s: sign with %s (%s): refused (%s)", a->pol->who, fp,
			 comment ? comment : "",
			 a->pol->tty_fd < 0 ? "no terminal to ask" : "not confirmed");
		return NULL;
	}
	fwd = malloc((size_t)len + 4);
	if (!fwd)
		return NULL;
	put_u32(fwd, len);
	memcpy(fwd + 4, msg, len);
	if (!ask(a, fwd, (size_t)len + 4, &ans, &alen)) {
		free(fwd);
		log_line(a, "%s: sign with %s (%s): the host's agent did not answer", a->pol->who,
			 fp, comment ? comment : "");
		return NULL;
	}
	free(fwd);
	log_line(a, "%s: sign with %s (%s): allowed%s", a->pol->who, fp, comment ? comment : "",
		 ans[0] == AGENT_FAILURE ? " (the host's agent refused)" : "");
	/* the answer with its length again */
	fwd = malloc((size_t)alen + 4);
	if (fwd) {
		put_u32(fwd, alen);
		memcpy(fwd + 4, ans, alen);
		*out_len = (size_t)alen + 4;
	}
	free(ans);
	return fwd;
}

struct client {
	int fd;
	unsigned char *buf; /* AGENT_MAX_MSG + 4 */
	size_t have;
};

static void drop(struct client *c)
{
	close(c->fd);
	free(c->buf);
	c->fd = -1;
	c->buf = NULL;
	c->have = 0;
}

/* Read what came; answer each whole request. false: drop the client. */
static bool serve(struct agent_state *a, struct client *c)
{
	static const unsigned char failure[] = { 0, 0, 0, 1, AGENT_FAILURE };
	ssize_t r = recv(c->fd, c->buf + c->have, AGENT_MAX_MSG + 4 - c->have, MSG_DONTWAIT);

	if (r < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (r <= 0)
		return false;
	c->have += (size_t)r;
	while (c->have >= 4) {
		uint32_t len = get_u32(c->buf);
		unsigned char *ans;
		size_t alen = 0;
		bool ok;

		if (len == 0 || len > AGENT_MAX_MSG)
			return false;
		if (c->have < (size_t)len + 4)
			break;
		ans = handle(a, c->buf + 4, len, &alen);
		ok = ans ? write_full(c->fd, ans, alen)
			 : write_full(c->fd, failure, sizeof(failure));
		free(ans);
		if (!ok)
			return false;
		memmove(c->buf, c->buf + 4 + len, c->have - 4 - len);
		c->have -= 4 + len;
	}
	return true;
}

int hnet_agent_serve(const struct hnet_agent_policy *pol, int listen_fd, int upstream, int life_fd)
{
	struct agent_state a = { .pol = pol, .upstream = upstream };
	struct client cl[AGENT_MAX_CLIENTS];
	struct pollfd p[AGENT_MAX_CLIENTS + 2];

	for (size_t i = 0; i < AGENT_MAX_CLIENTS; i++)
		cl[i] = (struct client){ .fd = -1 };
	for (;;) {
		size_t n = 0;

		p[n++] = (struct pollfd){ .fd = life_fd, .events = POLLIN };
		p[n++] = (struct pollfd){ .fd = listen_fd, .events = POLLIN };
		for (size_t i = 0; i < AGENT_MAX_CLIENTS; i++)
			p[n++] = (struct pollfd){ .fd = cl[i].fd, .events = POLLIN };
		if (poll(p, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		/* the devenv command that owns us is gone: so are we */
		if (p[0].revents)
			return 0;
		if (p[1].revents & POLLIN) {
			int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
			size_t i;

			for (i = 0; fd >= 0 && i < AGENT_MAX_CLIENTS && cl[i].fd >= 0; i++)
				;
			if (fd >= 0 && i < AGENT_MAX_CLIENTS)
				cl[i].buf = malloc(AGENT_MAX_MSG + 4);
			if (fd >= 0 && (i == AGENT_MAX_CLIENTS || !cl[i].buf))
				close(fd);
			else if (fd >= 0)
				cl[i].fd = fd;
		}
		for (size_t i = 0; i < AGENT_MAX_CLIENTS; i++)
			if (cl[i].fd >= 0 && p[i + 2].revents && !serve(&a, &cl[i]))
				drop(&cl[i]);
	}
}
