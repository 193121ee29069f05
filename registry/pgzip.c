/* registry/pgzip.c - gzip on several threads, as pigz makes it.
 *
 * The input is cut into blocks of REG_PGZIP_BLOCK (128 KiB). Each block is
 * a raw deflate stream of its own, primed with the previous block's last
 * 32 KiB as its dictionary (so the ratio is close to one stream's), ended
 * with Z_SYNC_FLUSH (byte-aligned: the blocks' outputs simply follow one
 * another), the last one with Z_FINISH. The crc32s of the blocks are
 * joined with crc32_combine. One gzip header without a timestamp or name,
 * the trailer (crc32, size mod 2^32) at the end.
 *
 * Every block's bytes depend only on its input, its dictionary and the
 * level: never on which thread made it or when, so the output is the same
 * for 1 thread or 64, and the same layer always gives the same blob (and
 * pushing it again finds it there). Any gunzip reads it: one gzip member,
 * one deflate stream.
 *
 * The calling thread reads blocks and writes the results in order; the
 * workers take the next block to compress from a ring of slots. At most
 * 2 * threads + 2 blocks are in memory (about 0.3 MB each; threads is
 * capped at REG_PGZIP_MAX_THREADS, so 10 MB at most).
 *
 * zlib is loaded with dlopen() on first use (util/dl.h): only push needs
 * it, so no other command pays for linking it. */
#include <errno.h>
#include <sched.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "internal.h"
#include "util/dl.h"
#include "util/fs.h"
#include "util/banned.h"

#define PGZIP_DICT 32768

#define PGZIP_Z_FUNCS(X) \
	X(deflateInit2_) \
	X(deflate) \
	X(deflateEnd) \
	X(deflateReset) \
	X(deflateSetDictionary) \
	X(deflateBound) \
	X(crc32) \
	X(crc32_combine) \
	X(zlibVersion)

#define PGZIP_Z_FIELD(f) __typeof__(f) *f;
struct pgzip_z {
	PGZIP_Z_FUNCS(PGZIP_Z_FIELD)
};
#undef PGZIP_Z_FIELD
#define PGZIP_Z_OFFSET(f) DV_DL_OFFSET(struct pgzip_z, f)
static const char z_names[] = PGZIP_Z_FUNCS(DV_DL_NAME);
static const unsigned short z_offsets[] = { PGZIP_Z_FUNCS(PGZIP_Z_OFFSET) };
static struct pgzip_z z_table;
static struct dv_dl z_dl = DV_DL_INIT("libz.so.1", z_names, z_offsets, &z_table, NULL);

enum slot_state { SLOT_FREE, SLOT_READY, SLOT_BUSY, SLOT_DONE };

struct slot {
	enum slot_state state;
	unsigned long long seq;
	unsigned char *in;   /* REG_PGZIP_BLOCK bytes */
	size_t len;          /* of in */
	unsigned char *dict; /* the previous block's last bytes */
	size_t dict_len;
	bool last;
	unsigned char *out;
	size_t out_len, out_cap;
	unsigned long crc;
	int zret; /* a zlib error, or Z_OK */
};

struct pgzip {
	const struct pgzip_z *z;
	int level;
	struct slot *slots;
	size_t nslots;
	pthread_mutex_t lock;
	pthread_cond_t work; /* a slot became READY, or stop */
	pthread_cond_t done; /* a slot became DONE */
	bool stop;
};

static int strm_init(const struct pgzip *p, z_stream *s)
{
	memset(s, 0, sizeof(*s));
	/* Raw deflate (-15): the gzip header and trailer are ours. */
	return p->z->deflateInit2_(s, p->level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY,
				   p->z->zlibVersion(), (int)sizeof(*s));
}

/* Compress one slot's block with s (initialised, any earlier use reset). */
static void compress_slot(const struct pgzip *p, z_stream *s, struct slot *sl)
{
	int flush = sl->last ? Z_FINISH : Z_SYNC_FLUSH, r;

	sl->out_len = 0;
	sl->crc = p->z->crc32(0L, Z_NULL, 0);
	sl->crc = p->z->crc32(sl->crc, sl->in, (uInt)sl->len);
	if ((r = p->z->deflateReset(s)) != Z_OK ||
	    (sl->dict_len &&
	     (r = p->z->deflateSetDictionary(s, sl->dict, (uInt)sl->dict_len)) != Z_OK)) {
		sl->zret = r;
		return;
	}
	s->next_in = sl->in;
	s->avail_in = (uInt)sl->len;
	for (;;) {
		if (sl->out_cap - sl->out_len < 64) {
			sl->out_cap = sl->out_cap * 2;
			sl->out = dv_xrealloc(sl->out, sl->out_cap);
		}
		s->next_out = sl->out + sl->out_len;
		s->avail_out = (uInt)(sl->out_cap - sl->out_len);
		r = p->z->deflate(s, flush);
		sl->out_len = sl->out_cap - s->avail_out;
		if (r == Z_STREAM_END ||
		    (r == Z_OK && flush == Z_SYNC_FLUSH && s->avail_in == 0 && s->avail_out > 0))
			break;
		if (r != Z_OK && r != Z_BUF_ERROR) {
			sl->zret = r;
			return;
		}
	}
	sl->zret = Z_OK;
}

/* The ready slot of the lowest sequence number, or NULL. */
static struct slot *next_ready(struct pgzip *p)
{
	struct slot *best = NULL;

	for (size_t i = 0; i < p->nslots; i++)
		if (p->slots[i].state == SLOT_READY && (!best || p->slots[i].seq < best->seq))
			best = &p->slots[i];
	return best;
}

static void *worker(void *data)
{
	struct pgzip *p = data;
	z_stream s;
	bool ok = strm_init(p, &s) == Z_OK;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		struct slot *sl = NULL;

		while (!p->stop && !(sl = next_ready(p)))
			pthread_cond_wait(&p->work, &p->lock);
		if (p->stop)
			break;
		sl->state = SLOT_BUSY;
		pthread_mutex_unlock(&p->lock);
		if (ok)
			compress_slot(p, &s, sl);
		else
			sl->zret = Z_MEM_ERROR;
		pthread_mutex_lock(&p->lock);
		sl->state = SLOT_DONE;
		pthread_cond_broadcast(&p->done);
	}
	pthread_mutex_unlock(&p->lock);
	if (ok)
		p->z->deflateEnd(&s);
	return NULL;
}

/* Read up to n bytes, fewer only at the end of the input. */
static ssize_t read_full(int fd, unsigned char *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, buf + got, n - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

static void put_le32(unsigned char *b, unsigned long v)
{
	b[0] = (unsigned char)v;
	b[1] = (unsigned char)(v >> 8);
	b[2] = (unsigned char)(v >> 16);
	b[3] = (unsigned char)(v >> 24);
}

unsigned reg_pgzip_threads(void)
{
	cpu_set_t set;
	int n;

	if (sched_getaffinity(0, sizeof(set), &set) == 0 && (n = CPU_COUNT(&set)) > 0)
		return (unsigned)n;
	n = (int)sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}

/* Read the next block into sl (sequence seq), its dictionary the end of
 * the previous block (prev, plen). 0, or -1 on a read error. */
static int fill_slot(int in_fd, struct slot *sl, unsigned long long seq, const unsigned char *prev,
		     size_t plen, unsigned char *peek, bool *have_peek)
{
	ssize_t n;

	/* A slot's buffers on its first use: a small layer needs one. */
	if (!sl->in) {
		sl->in = dv_xmalloc(REG_PGZIP_BLOCK);
		sl->dict = dv_xmalloc(PGZIP_DICT);
		sl->out_cap = REG_PGZIP_BLOCK + REG_PGZIP_BLOCK / 8 + 256;
		sl->out = dv_xmalloc(sl->out_cap);
	}
	/* The previous block ended on a peeked byte: it starts this one. */
	sl->len = 0;
	if (*have_peek) {
		sl->in[0] = *peek;
		sl->len = 1;
		*have_peek = false;
	}
	n = read_full(in_fd, sl->in + sl->len, REG_PGZIP_BLOCK - sl->len);
	if (n < 0)
		return -1;
	sl->len += (size_t)n;
	/* Is there more? A full block may be the last one: peek one byte. */
	sl->last = sl->len < REG_PGZIP_BLOCK;
	if (!sl->last) {
		n = read_full(in_fd, peek, 1);
		if (n < 0)
			return -1;
		*have_peek = n == 1;
		sl->last = n == 0;
	}
	sl->dict_len = plen < PGZIP_DICT ? plen : PGZIP_DICT;
	if (sl->dict_len)
		memcpy(sl->dict, prev + plen - sl->dict_len, sl->dict_len);
	sl->seq = seq;
	sl->zret = Z_OK;
	return 0;
}

/* Write and hash, and tell a reader of out_fd (grow, or NULL). */
static int put(int fd, const void *data, size_t len, struct dv_sha256 *hash, struct reg_grow *grow,
	       struct dv_error *err)
{
	if (hash)
		dv_sha256_update(hash, data, len);
	if (dv_write_full(fd, data, len, err) < 0)
		return dv_err(err, err->errnum, "cannot write 'the compressed layer'");
	if (grow)
		reg_grow_add(grow, len);
	return 0;
}

int reg_pgzip(int in_fd, int out_fd, int level, unsigned threads, struct dv_sha256 *hash,
	      struct dv_error *err)
{
	return reg_pgzip_grow(in_fd, out_fd, level, threads, hash, NULL, err);
}

int reg_pgzip_grow(int in_fd, int out_fd, int level, unsigned threads, struct dv_sha256 *hash,
		   struct reg_grow *grow, struct dv_error *err)
{
	static const unsigned char os_unix = 3;
	struct pgzip p = { .level = level };
	unsigned char head[10] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, os_unix }, tail[8];
	unsigned char *prev = dv_xmalloc(PGZIP_DICT), peek = 0;
	pthread_t *tids = NULL;
	size_t nworkers = 0, started = 0, plen = 0;
	unsigned long long next_read = 0, next_write = 0, total = 0;
	unsigned long crc = 0;
	bool eof = false, have_peek = false;
	z_stream inline_s;
	bool inline_ok = false;
	int ret = -1;

	if (dv_dl_load(&z_dl, err) < 0) {
		free(prev);
		return -1;
	}
	p.z = &z_table;
	if (level < 1 || level > 9)
		level = p.level = 6;
	/* What gzip(1) writes in XFL for its fastest and best levels. */
	head[8] = level == 9 ? 2 : level == 1 ? 4 : 0;
	crc = p.z->crc32(0L, Z_NULL, 0);
	if (threads < 1)
		threads = 1;
	if (threads > REG_PGZIP_MAX_THREADS)
		threads = REG_PGZIP_MAX_THREADS;
	/* One thread: the caller compresses, no worker. */
	nworkers = threads > 1 ? threads : 0;
	p.nslots = nworkers ? 2 * nworkers + 2 : 1;
	p.slots = dv_xcalloc(p.nslots, sizeof(*p.slots));
	pthread_mutex_init(&p.lock, NULL);
	pthread_cond_init(&p.work, NULL);
	pthread_cond_init(&p.done, NULL);
	if (!nworkers) {
		if (strm_init(&p, &inline_s) != Z_OK) {
			dv_err(err, ENOMEM, "cannot start zlib's deflate");
			goto out;
		}
		inline_ok = true;
	}
	tids = dv_xcalloc(nworkers ? nworkers : 1, sizeof(*tids));
	for (; started < nworkers; started++) {
		int e = pthread_create(&tids[started], NULL, worker, &p);

		if (e) {
			dv_err(err, e, "cannot start a compression thread");
			goto out;
		}
	}
	if (put(out_fd, head, sizeof(head), hash, grow, err) < 0)
		goto out;
	pthread_mutex_lock(&p.lock);
	while (!eof || next_write < next_read) {
		struct slot *w = &p.slots[next_write % p.nslots];
		struct slot *r = &p.slots[next_read % p.nslots];

		if (next_write < next_read && w->state == SLOT_DONE) {
			int zret = w->zret;

			pthread_mutex_unlock(&p.lock);
			if (zret != Z_OK) {
				dv_err(err, 0, "zlib's deflate failed (%d)", zret);
				goto out_unlocked;
			}
			if (put(out_fd, w->out, w->out_len, hash, grow, err) < 0)
				goto out_unlocked;
			crc = p.z->crc32_combine(crc, w->crc, (z_off_t)w->len);
			total += w->len;
			pthread_mutex_lock(&p.lock);
			w->state = SLOT_FREE;
			next_write++;
		} else if (!eof && r->state == SLOT_FREE) {
			pthread_mutex_unlock(&p.lock);
			if (fill_slot(in_fd, r, next_read, prev, plen, &peek, &have_peek) < 0) {
				dv_err(err, errno, "cannot read the layer to compress");
				goto out_unlocked;
			}
			eof = r->last;
			/* The next block's dictionary: this one's end. */
			plen = r->len < PGZIP_DICT ? r->len : PGZIP_DICT;
			memcpy(prev, r->in + r->len - plen, plen);
			if (!nworkers) {
				compress_slot(&p, &inline_s, r);
				pthread_mutex_lock(&p.lock);
				r->state = SLOT_DONE;
			} else {
				pthread_mutex_lock(&p.lock);
				r->state = SLOT_READY;
				pthread_cond_signal(&p.work);
			}
			next_read++;
		} else {
			pthread_cond_wait(&p.done, &p.lock);
		}
	}
	pthread_mutex_unlock(&p.lock);
	put_le32(tail, crc);
	put_le32(tail + 4, (unsigned long)(total & 0xffffffffULL));
	if (put(out_fd, tail, sizeof(tail), hash, grow, err) < 0)
		goto out;
	ret = 0;
out_unlocked:
out:
	pthread_mutex_lock(&p.lock);
	p.stop = true;
	pthread_cond_broadcast(&p.work);
	pthread_mutex_unlock(&p.lock);
	for (size_t i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	if (inline_ok)
		p.z->deflateEnd(&inline_s);
	for (size_t i = 0; i < p.nslots; i++) {
		free(p.slots[i].in);
		free(p.slots[i].dict);
		free(p.slots[i].out);
	}
	free(p.slots);
	free(tids);
	free(prev);
	pthread_cond_destroy(&p.done);
	pthread_cond_destroy(&p.work);
	pthread_mutex_destroy(&p.lock);
	return ret;
}
