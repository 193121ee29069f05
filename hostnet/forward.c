/*
 * hostnet/forward.c - the port forwarder's relay loop (helper.c runs it).
 *
 * One epoll loop, level-triggered, non-blocking sockets, and per connection
 * two small buffers (one per direction) allocated only while it lives. A
 * half-close is passed on (shutdown(SHUT_WR) once a side's data is all
 * written), so request/response protocols that end with EOF work. Any
 * error on either side (client gone, nothing listening in the env) closes
 * that one connection and nothing else. The loop ends when the env's init
 * exits (its pidfd becomes readable) or on SIGTERM.
 */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hostnet/internal.h"
#include "util/banned.h"

#define FWD_BUF 16384
#define FWD_MAX_CONNS 1024

enum { TAG_LISTEN, TAG_CONN, TAG_PIDFD, TAG_SIGNAL };

struct fwd_tag {
	int kind;
	size_t index;          /* TAG_LISTEN: which port */
	struct fwd_conn *conn; /* TAG_CONN */
	int side;              /* TAG_CONN: 0 client, 1 upstream */
};

struct fwd_conn {
	int fd[2];
	struct fwd_tag tag[2];
	char *buf[2]; /* buf[i]: read from fd[i], to be written to fd[1 - i] */
	size_t len[2], off[2];
	bool eof[2], shut[2], connecting;
	bool unwatched[2]; /* hung up: out of epoll, read as the other side drains */
	struct fwd_conn *next, *prev;
};

struct fwd {
	int ep;
	size_t n_conns;
	struct fwd_conn *conns;
	/* Closed in this round of events: freed after it, since later events
	 * of the same round may still point at them. */
	struct fwd_conn *dead;
};

static void conn_close(struct fwd *f, struct fwd_conn *c)
{
	for (int i = 0; i < 2; i++) {
		if (c->fd[i] >= 0) {
			epoll_ctl(f->ep, EPOLL_CTL_DEL, c->fd[i], NULL);
			close(c->fd[i]);
			c->fd[i] = -1;
		}
		free(c->buf[i]);
		c->buf[i] = NULL;
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		f->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->next = f->dead;
	c->prev = NULL;
	f->dead = c;
	f->n_conns--;
}

static void conn_watch(struct fwd *f, struct fwd_conn *c)
{
	for (int i = 0; i < 2; i++) {
		struct epoll_event ev = { .data.ptr = &c->tag[i] };

		/* Until the env's side answers, the client waits (level-
		 * triggered input would spin). */
		if (c->unwatched[i])
			continue;
		if (c->connecting) {
			ev.events = i == 1 ? EPOLLOUT : 0;
			epoll_ctl(f->ep, EPOLL_CTL_MOD, c->fd[i], &ev);
			continue;
		}
		if (!c->eof[i] && c->len[i] == 0)
			ev.events |= EPOLLIN;
		if (c->len[1 - i] > c->off[1 - i])
			ev.events |= EPOLLOUT;
		epoll_ctl(f->ep, EPOLL_CTL_MOD, c->fd[i], &ev);
	}
}

/* Move what can be moved; false when the connection is over. */
static bool conn_pump(struct fwd_conn *c)
{
	bool progress = true;

	while (progress) {
		progress = false;
		for (int i = 0; i < 2; i++) {
			int o = 1 - i;

			if (!c->eof[i] && c->len[i] == 0) {
				ssize_t n;

				if (!c->buf[i])
					c->buf[i] = malloc(FWD_BUF);
				if (!c->buf[i])
					return false;
				n = recv(c->fd[i], c->buf[i], FWD_BUF, 0);
				if (n > 0) {
					c->len[i] = (size_t)n;
					c->off[i] = 0;
					progress = true;
				} else if (n == 0) {
					c->eof[i] = true;
					progress = true;
				} else if (errno != EAGAIN && errno != EINTR) {
					return false;
				}
			}
			if (c->len[i] > c->off[i]) {
				ssize_t n = send(c->fd[o], c->buf[i] + c->off[i],
						 c->len[i] - c->off[i], MSG_NOSIGNAL);

				if (n > 0) {
					c->off[i] += (size_t)n;
					if (c->off[i] == c->len[i])
						c->len[i] = c->off[i] = 0;
					progress = true;
				} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
					return false;
				}
			}
			if (c->eof[i] && c->len[i] == 0 && !c->shut[o]) {
				shutdown(c->fd[o], SHUT_WR);
				c->shut[o] = true;
			}
		}
	}
	return !(c->eof[0] && c->eof[1] && c->len[0] == 0 && c->len[1] == 0);
}

static void conn_event(struct fwd *f, struct fwd_conn *c, int side, uint32_t events)
{
	if (side == 0 && c->connecting) {
		if (events & (EPOLLERR | EPOLLHUP))
			conn_close(f, c);
		return;
	}
	if (side == 1 && c->connecting) {
		int e = 0;
		socklen_t l = sizeof(e);

		if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		/* Nothing listening in the env: ECONNREFUSED here. */
		if (getsockopt(c->fd[1], SOL_SOCKET, SO_ERROR, &e, &l) < 0 || e) {
			conn_close(f, c);
			return;
		}
		c->connecting = false;
	}
	if (!conn_pump(c) || (events & EPOLLERR)) {
		conn_close(f, c);
		return;
	}
	/* A hang-up: this side's peer is done both ways, but what it sent may
	 * still wait in its socket and in buf[side] for a slower other side.
	 * Level-triggered HUP cannot be masked, so the socket leaves epoll;
	 * conn_pump reads the rest of it whenever the other side can take
	 * more, and the connection ends when both ways are done. */
	if ((events & EPOLLHUP) && !c->unwatched[side]) {
		epoll_ctl(f->ep, EPOLL_CTL_DEL, c->fd[side], NULL);
		c->unwatched[side] = true;
	}
	conn_watch(f, c);
}

static void accept_one(struct fwd *f, const struct hnet_port *p, int lfd, int maker)
{
	struct sockaddr_in to = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)p->container_port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct fwd_conn *c;
	int cfd, ufd;

	for (;;) {
		cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0)
			return;
		if (f->n_conns >= FWD_MAX_CONNS) {
			close(cfd);
			continue;
		}
		ufd = maker >= 0 ? hnet_socket_from(maker, AF_INET)
				 : socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (ufd < 0) {
			close(cfd);
			continue;
		}
		if (connect(ufd, (struct sockaddr *)&to, sizeof(to)) < 0 && errno != EINPROGRESS) {
			close(cfd);
			close(ufd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(cfd);
			close(ufd);
			continue;
		}
		c->fd[0] = cfd;
		c->fd[1] = ufd;
		c->connecting = true;
		for (int i = 0; i < 2; i++) {
			struct epoll_event ev = { .data.ptr = &c->tag[i] };

			c->tag[i] = (struct fwd_tag){ .kind = TAG_CONN, .conn = c, .side = i };
			epoll_ctl(f->ep, EPOLL_CTL_ADD, c->fd[i], &ev);
		}
		c->next = f->conns;
		if (f->conns)
			f->conns->prev = c;
		f->conns = c;
		f->n_conns++;
		conn_watch(f, c);
	}
}

int hnet_forward_run(const struct hnet_port *ports, const int *listeners, size_t n, int init_pidfd,
		     int maker)
{
	struct fwd f = { .ep = epoll_create1(EPOLL_CLOEXEC) };
	struct fwd_tag *ltags = calloc(n + 1, sizeof(*ltags));
	struct fwd_tag ptag = { .kind = TAG_PIDFD }, stag = { .kind = TAG_SIGNAL };
	struct epoll_event ev;
	sigset_t mask;
	int sfd, ret = 0;
	bool done = false;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (f.ep < 0 || !ltags || sfd < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		ltags[i] = (struct fwd_tag){ .kind = TAG_LISTEN, .index = i };
		ev = (struct epoll_event){ .events = EPOLLIN, .data.ptr = &ltags[i] };
		epoll_ctl(f.ep, EPOLL_CTL_ADD, listeners[i], &ev);
	}
	ev = (struct epoll_event){ .events = EPOLLIN, .data.ptr = &ptag };
	epoll_ctl(f.ep, EPOLL_CTL_ADD, init_pidfd, &ev);
	ev = (struct epoll_event){ .events = EPOLLIN, .data.ptr = &stag };
	epoll_ctl(f.ep, EPOLL_CTL_ADD, sfd, &ev);
	while (!done) {
		struct epoll_event evs[64];
		int k = epoll_wait(f.ep, evs, 64, -1);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			ret = -1;
			break;
		}
		for (int i = 0; i < k; i++) {
			struct fwd_tag *t = evs[i].data.ptr;

			if (t->kind == TAG_PIDFD || t->kind == TAG_SIGNAL)
				done = true;
			else if (t->kind == TAG_LISTEN)
				accept_one(&f, &ports[t->index], listeners[t->index], maker);
			else if (t->conn->fd[0] >= 0)
				conn_event(&f, t->conn, t->side, evs[i].events);
		}
		while (f.dead) {
			struct fwd_conn *c = f.dead;

			f.dead = c->next;
			free(c);
		}
	}
	while (f.conns)
		conn_close(&f, f.conns);
	while (f.dead) {
		struct fwd_conn *c = f.dead;

		f.dead = c->next;
		free(c);
	}
	for (size_t i = 0; i < n; i++)
		close(listeners[i]);
	free(ltags);
	close(sfd);
	close(f.ep);
	return ret;
}
