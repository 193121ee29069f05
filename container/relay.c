/*
 * container/relay.c - devenv between a container's processes and the
 * host's fds: nothing in an env ever holds a terminal or a file of the
 * host's (it could TIOCSTI the developer's shell, or chown and chmod the
 * file through /proc/self/fd); devenv copies through pipes or a pty of the
 * env's instead.
 *
 *  - ctr_relay_chunk(): one read's worth from a pipe or pty to our fd
 *    (build steps, ssh, on_up), through the terminal filter (util/term.h)
 *    for what devenv shows of an env's output (steps, on_up), raw for
 *    ssh, the developer's own session, and for the env's log;
 *  - ctr_relay_run(): ssh's and on_up's loop: stdin to the command (pipe
 *    or pty), its stdout and stderr back, signals on to it, until its
 *    supervisor (exec.c) has exited.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "container/internal.h"
#include "util/fs.h"
#include "util/secret.h"
#include "util/term.h"
#include "util/banned.h"

/* A pipe's capacity: one read takes what a fast writer has left there. */
#define RELAY_BUF 65536
#define FILTER_SLICE 16384

/* n bytes of the env's output made safe for a terminal, to `to`, a slice
 * at a time (the filter's room is four times what it takes). */
static int write_filtered(int to, struct dv_term_filter *filt, const char *buf, size_t n,
			  struct dv_error *err)
{
	char safe[DV_TERM_FILTER_OUT(FILTER_SLICE)];

	for (size_t i = 0; i < n; i += FILTER_SLICE) {
		size_t k = n - i < FILTER_SLICE ? n - i : FILTER_SLICE;
		size_t len = dv_term_filter_feed(filt, buf + i, k, safe);

		if (len && dv_write_full(to, safe, len, err) < 0)
			return -1;
	}
	return 0;
}

/* Output read from the env, to `to` (through filt when given) and raw to
 * tee; false when `to` is gone. */
static bool emit(int to, int tee, struct dv_term_filter *filt, const char *buf, size_t n)
{
	struct dv_error ignored = { 0 };

	/* The log is the env's record: what it wrote, as it wrote it. */
	if (tee >= 0 && n)
		dv_write_full(tee, buf, n, &ignored); /* a full disk loses log lines */
	if (to < 0 || !n)
		return true;
	/* Our end is gone (`ssh -c yes | head -1`): close the pipe, so that
	 * the writer gets its SIGPIPE as if it wrote there itself. */
	if (filt)
		return write_filtered(to, filt, buf, n, &ignored) == 0;
	return dv_write_full(to, buf, n, &ignored) == 0;
}

bool ctr_relay_chunk(int from, int to, int tee, struct dv_term_filter *filt, struct dv_mask *mask)
{
	char buf[RELAY_BUF];
	ssize_t n = read(from, buf, sizeof(buf));
	struct dv_buf masked = { 0 };
	bool ok;

	if (n < 0)
		return errno == EINTR || errno == EAGAIN; /* EIO: a pty without slaves */
	if (n == 0)
		return false;
	if (!mask)
		return emit(to, tee, filt, buf, (size_t)n);
	/* Secrets masked before anything sees the output, the log included. */
	dv_mask_feed(mask, buf, (size_t)n, &masked);
	explicit_bzero(buf, (size_t)n);
	ok = emit(to, tee, filt, masked.s, masked.len);
	if (masked.s)
		explicit_bzero(masked.s, masked.len);
	dv_buf_release(&masked);
	return ok;
}

void ctr_relay_mask_end(int to, int tee, struct dv_term_filter *filt, struct dv_mask *mask)
{
	struct dv_buf tail = { 0 };

	dv_mask_end(mask, &tail);
	emit(to, tee, filt, tail.s, tail.len);
	dv_buf_release(&tail);
}

void ctr_relay_end(int to, struct dv_term_filter *filt)
{
	char tail[DV_TERM_FILTER_OUT(0)];
	size_t len = dv_term_filter_end(filt, tail);

	if (to >= 0 && len)
		dv_write_full(to, tail, len, &(struct dv_error){ 0 });
}

static void set_winsize(int from, int to)
{
	struct winsize ws;

	if (ioctl(from, TIOCGWINSZ, &ws) == 0)
		ioctl(to, TIOCSWINSZ, &ws);
}

void ctr_relay_winsize(int master)
{
	set_winsize(0, master);
}

/* A signal for the command: through the lifeline, which the supervisor
 * reads (exec.c). Lost when the supervisor is gone, as the command is. */
static void forward(int life, int sig, bool pgrp)
{
	unsigned char b = (unsigned char)(sig | (pgrp ? 0 : CTR_LIFE_PID));

	if (write(life, &b, 1) < 0) {
		/* the supervisor has exited: nothing to signal */
	}
}

/* Write what we hold of devenv's stdin to the command; false once it
 * cannot take any more (it closed its stdin, or the pty is gone). */
static bool feed(struct ctr_relay *r, int to)
{
	ssize_t n = write(to, r->buf + r->off, r->len - r->off);

	if (n < 0)
		return errno == EINTR || errno == EAGAIN;
	r->off += (size_t)n;
	if (r->off == r->len)
		r->off = r->len = 0;
	return true;
}

int ctr_relay_run(struct ctr_relay *r, struct dv_error *err)
{
	/* Slots: the signalfd, the command's output (pty or stdout), its
	 * stderr, its stdin pipe, devenv's stdin. */
	enum { SIG, OUT, ERR, IN, STDIN, HOLD, N };
	int out = r->master >= 0 ? r->master : r->out, st = 0;
	bool exited = false;

	for (;;) {
		struct pollfd p[N];
		int n;

		/* After the supervisor has gone, only drain what is already
		 * there: a background process may keep the pipes or the pty
		 * open forever. */
		p[SIG] = (struct pollfd){ .fd = exited ? -1 : r->sfd, .events = POLLIN };
		p[OUT] = (struct pollfd){ .fd = out, .events = POLLIN };
		p[ERR] = (struct pollfd){ .fd = r->err, .events = POLLIN };
		p[IN] = (struct pollfd){ .fd = exited ? -1 : r->in, .events = r->len ? POLLOUT : 0 };
		p[STDIN] = (struct pollfd){ .fd = exited || !r->stdin_open || r->len || r->held ? -1
												: 0,
					    .events = POLLIN };
		p[HOLD] = (struct pollfd){ .fd = exited ? -1 : r->hold, .events = POLLIN };
		if (r->master >= 0 && r->len && !exited)
			p[OUT].events |= POLLOUT;
		if (exited && out < 0 && r->err < 0)
			break;
		n = poll(p, N, exited ? 0 : -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return dv_err(err, errno, "poll");
		if (exited && n == 0)
			break;
		if (p[SIG].revents) {
			struct signalfd_siginfo si;

			if (read(r->sfd, &si, sizeof(si)) == sizeof(si)) {
				int sig = (int)si.ssi_signo;

				if (sig == SIGWINCH && r->master >= 0)
					set_winsize(0, r->master);
				/* Without a pty the command is not in the
				 * terminal's session any more: ^C and ^\ reach
				 * only us, and go on to its process group. With
				 * one they are bytes; TERM and HUP go to the
				 * command, as before. */
				else if ((sig == SIGINT || sig == SIGQUIT) && r->master < 0)
					forward(r->life, sig, true);
				else if (sig == SIGTERM || sig == SIGHUP)
					forward(r->life, sig, r->master < 0);
			}
			if (waitpid(r->pid, &st, WNOHANG) == r->pid)
				exited = true;
		}
		if (p[OUT].revents & POLLOUT && !feed(r, r->master))
			r->stdin_open = false, r->off = r->len = 0;
		if (p[OUT].revents & (POLLIN | POLLHUP | POLLERR) &&
		    !ctr_relay_chunk(out, r->quiet ? -1 : 1, r->tee, r->filter ? &r->filt[0] : NULL,
				     r->mask ? &r->mask[0] : NULL)) {
			if (r->master < 0)
				close(out);
			out = -1;
			if (r->master < 0)
				r->out = -1;
		}
		if (p[ERR].revents && !ctr_relay_chunk(r->err, r->quiet ? -1 : 2, r->tee,
						       r->filter ? &r->filt[1] : NULL,
						       r->mask ? &r->mask[1] : NULL)) {
			close(r->err);
			r->err = -1;
		}
		if (p[IN].revents & POLLOUT && !feed(r, r->in))
			r->stdin_open = false, r->off = r->len = 0;
		if (p[IN].revents & POLLERR) /* it closed its stdin: read no more of ours */
			r->stdin_open = false, r->off = r->len = 0;
		if (p[STDIN].revents) {
			ssize_t got = read(0, r->buf, sizeof(r->buf));

			if (got > 0)
				r->len = (size_t)got;
			else if (got == 0 || (errno != EINTR && errno != EAGAIN))
				r->stdin_open = false;
		}
		/* Someone asks on our terminal: what is typed meanwhile is
		 * theirs, not the command's. */
		if (p[HOLD].revents) {
			char c = 0;

			if (read(r->hold, &c, 1) != 1) {
				r->hold = -1;
				r->held = false;
			} else if (c == 'h') {
				r->held = true;
				if (write(r->hold, "k", 1) != 1)
					r->held = false;
			} else if (c == 'r') {
				r->held = false;
			}
		}
		/* EOF passed on: the command reads the end of its input. */
		if (!r->stdin_open && !r->len && r->in >= 0) {
			close(r->in);
			r->in = -1;
		}
	}
	for (int i = 0; r->mask && i < 2; i++)
		ctr_relay_mask_end(r->quiet ? -1 : 1 + i, r->tee, r->filter ? &r->filt[i] : NULL,
				   &r->mask[i]);
	if (r->filter) {
		ctr_relay_end(r->quiet ? -1 : 1, &r->filt[0]);
		ctr_relay_end(r->quiet ? -1 : 2, &r->filt[1]);
	}
	return st;
}
