/* registry/pull_layer.c - one layer of an image, from its registry into a
 * staging folder, unpacked while it downloads.
 *
 * Two threads per layer, joined by a pipe: the download (blob.c's
 * reg_blob_stream: hashed as it arrives, resumed with Range when cut)
 * writes the compressed blob into it; this thread's extractor (layers/extract.c,
 * which hashes the uncompressed stream for the diff_id) reads from it. The
 * blob never touches the disk. Its digest is only known once its last byte
 * has gone into the extractor, so nothing extracted counts until both
 * digests are checked: on any failure the staging folder is removed, and a
 * good one is only committed by the caller (pull.c commits an image's
 * layers once all of them are checked). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/parse.h"
#include "util/banned.h"

/* The pipe holds this much, so that the download and the extractor do not
 * wait on each other for every 64 KiB. */
#define PULL_PIPE_SIZE (1 << 20)

struct download {
	struct reg *reg;
	const char *hex;
	unsigned long long size;
	int fd; /* the pipe's write end, closed by the thread */
	reg_progress_fn progress;
	void *progress_data;
	int ret;
	struct dv_error err;
};

static void *download_main(void *data)
{
	struct download *d = data;
	sigset_t pipe_sig;

	/* An extractor that gave up closes its end: our write then fails with
	 * EPIPE instead of killing the process. */
	sigemptyset(&pipe_sig);
	sigaddset(&pipe_sig, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_sig, NULL);
	d->ret = reg_blob_stream(d->reg, d->hex, d->size, d->fd, "layer", d->progress,
				 d->progress_data, &d->err);
	close(d->fd);
	d->fd = -1;
	return NULL;
}

/* Read what is left in fd, so the writer can finish (a blob may also go
 * on after the end of its compressed stream; its digest covers it all). */
static void drain(int fd)
{
	char buf[65536];
	ssize_t n;

	do
		n = read(fd, buf, sizeof(buf));
	while (n > 0 || (n < 0 && errno == EINTR));
}

int reg_pull_layer(const struct layer_store *st, struct reg *reg, const char *hex,
		   unsigned long long size, const char *diff_hex, reg_progress_fn progress,
		   void *progress_data, char **out_staging, struct dv_error *err)
{
	const struct layer_ar *ar = layer_ar_load(err);
	dv_autofree char *staging = NULL;
	dv_autoclose int rootfd = -1, rfd = -1;
	struct download d = { .reg = reg,
			      .hex = hex,
			      .size = size,
			      .fd = -1,
			      .progress = progress,
			      .progress_data = progress_data };
	struct dv_error xerr = { 0 };
	char got[65], what[160];
	int fds[2], xret, e;
	pthread_t t;

	if (!ar)
		return -1;
	if (!dv_is_sha256_hex(hex) || !dv_is_sha256_hex(diff_hex))
		return dv_err(err, EINVAL, "invalid layer digest 'sha256:%s'", hex);
	if (layer_staging_create(st, false, "pull", &staging, err) < 0)
		return -1;
	if ((rootfd = dv_open_dir_at(st->tmp_fd, staging, err)) < 0)
		goto fail;
	{
		int diff = dv_open_dir_at(rootfd, "diff", err);

		close(rootfd);
		if ((rootfd = diff) < 0)
			goto fail;
	}
	if (pipe2(fds, O_CLOEXEC) < 0) {
		dv_err(err, errno, "cannot create a pipe");
		goto fail;
	}
	fcntl(fds[1], F_SETPIPE_SZ, PULL_PIPE_SIZE); /* a hint: the default works too */
	rfd = fds[0];
	d.fd = fds[1];
	if ((e = pthread_create(&t, NULL, download_main, &d))) {
		close(d.fd);
		dv_err(err, e, "cannot start a download thread");
		goto fail;
	}
	snprintf(what, sizeof(what), "layer sha256:%.12s of '%s'", hex, reg_name(reg));
	xret = layer_extract(ar, rfd, what, rootfd, st->rootless, got, NULL, &xerr);
	/* Even when the extractor failed, the download goes on to its end
	 * (unless cancelled): a blob that is not what its digest says is the
	 * failure to report, not what the extractor made of its bytes. */
	drain(rfd);
	close(rfd);
	rfd = -1;
	pthread_join(t, NULL);
	if (d.ret < 0 && !(xret < 0 && d.err.errnum == EPIPE)) {
		*err = d.err;
		goto fail;
	}
	if (xret < 0) {
		*err = xerr;
		goto fail;
	}
	if (strcmp(got, diff_hex)) {
		dv_err_plain(err, EBADMSG,
			     "digest mismatch: layer sha256:%.12s... of '%s' unpacks to "
			     "sha256:%.12s..., but its config says sha256:%.12s...",
			     hex, reg_name(reg), got, diff_hex);
		goto fail;
	}
	*out_staging = dv_steal_ptr(&staging);
	return 0;
fail:
	layer_rm_tree(st->tmp_fd, staging, &(struct dv_error){ 0 });
	return -1;
}
