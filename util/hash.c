/* util/hash.c - SHA-256 (FIPS 180-4): portable C, and the x86 SHA
 * extensions where the CPU has them (chosen at run time; 5-10 times the
 * speed, which a pull hashing every layer twice feels). */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#define DV_SHA_NI 1
#endif

#include "hash.h"
#include "banned.h"

static const uint32_t K[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
	0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
	0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
	0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
	0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
	0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
	0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
	0xc67178f2,
};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void block(struct dv_sha256 *c, const unsigned char *p)
{
	uint32_t w[64], a, b, cc, d, e, f, g, h, t1, t2;
	int i;

	for (i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (i = 16; i < 64; i++) {
		uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
		uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	a = c->h[0];
	b = c->h[1];
	cc = c->h[2];
	d = c->h[3];
	e = c->h[4];
	f = c->h[5];
	g = c->h[6];
	h = c->h[7];
	for (i = 0; i < 64; i++) {
		t1 = h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
		t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & cc) ^ (b & cc));
		h = g;
		g = f;
		f = e;
		e = d + t1;
		d = cc;
		cc = b;
		b = a;
		a = t1 + t2;
	}
	c->h[0] += a;
	c->h[1] += b;
	c->h[2] += cc;
	c->h[3] += d;
	c->h[4] += e;
	c->h[5] += f;
	c->h[6] += g;
	c->h[7] += h;
}

#ifdef DV_SHA_NI
/* n blocks with SHA-NI (Intel's reference flow, the schedule rotating
 * through four registers). State in ABEF/CDGH order inside. */
__attribute__((target("sha,sse4.1"))) static void blocks_shani(uint32_t h[8],
							       const unsigned char *p, size_t n)
{
	const __m128i mask = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
	__m128i s0, s1, tmp, msg, m[4], abef, cdgh;
	int i;

	tmp = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&h[0]), 0xB1); /* CDAB */
	s1 = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&h[4]), 0x1B);  /* EFGH */
	s0 = _mm_alignr_epi8(tmp, s1, 8);                                       /* ABEF */
	s1 = _mm_blend_epi16(s1, tmp, 0xF0);                                    /* CDGH */
	for (; n; n--, p += 64) {
		abef = s0;
		cdgh = s1;
		for (i = 0; i < 16; i++) {
			if (i < 4)
				m[i] = _mm_shuffle_epi8(_mm_loadu_si128(
								(const __m128i *)(p + 16 * i)),
							mask);
			msg = _mm_add_epi32(m[i & 3], _mm_loadu_si128((const __m128i *)&K[4 * i]));
			s1 = _mm_sha256rnds2_epu32(s1, s0, msg);
			if (i >= 3 && i <= 14) {
				tmp = _mm_alignr_epi8(m[i & 3], m[(i - 1) & 3], 4);
				m[(i + 1) & 3] = _mm_add_epi32(m[(i + 1) & 3], tmp);
				m[(i + 1) & 3] = _mm_sha256msg2_epu32(m[(i + 1) & 3], m[i & 3]);
			}
			msg = _mm_shuffle_epi32(msg, 0x0E);
			s0 = _mm_sha256rnds2_epu32(s0, s1, msg);
			if (i >= 1 && i <= 12)
				m[(i - 1) & 3] = _mm_sha256msg1_epu32(m[(i - 1) & 3], m[i & 3]);
		}
		s0 = _mm_add_epi32(s0, abef);
		s1 = _mm_add_epi32(s1, cdgh);
	}
	tmp = _mm_shuffle_epi32(s0, 0x1B);   /* FEBA */
	s1 = _mm_shuffle_epi32(s1, 0xB1);    /* DCHG */
	s0 = _mm_blend_epi16(tmp, s1, 0xF0); /* DCBA */
	s1 = _mm_alignr_epi8(s1, tmp, 8);    /* HGFE */
	_mm_storeu_si128((__m128i *)&h[0], s0);
	_mm_storeu_si128((__m128i *)&h[4], s1);
}

/* A CPU probe: the same answer every time (STYLE.md 7), made once:
 * pulls hash from several threads, and a lazily set static read by one
 * while another writes it is a data race (TSan). cpuid by hand, not
 * __builtin_cpu_supports("sha"): clang (up to 15 at least) does not know
 * that feature name. SSE4.1 is leaf 1 ECX bit 19, SHA leaf 7 (subleaf 0)
 * EBX bit 29. */
static pthread_once_t shani_once = PTHREAD_ONCE_INIT;
static bool shani;

static void probe_shani(void)
{
	unsigned a, b, c, d;

	shani = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_SSE4_1) &&
		__get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & bit_SHA);
}

static bool have_shani(void)
{
	pthread_once(&shani_once, probe_shani);
	return shani;
}
#endif

/* n consecutive 64-byte blocks. */
static void blocks(struct dv_sha256 *c, const unsigned char *p, size_t n)
{
#ifdef DV_SHA_NI
	if (have_shani()) {
		blocks_shani(c->h, p, n);
		return;
	}
#endif
	for (; n; n--, p += 64)
		block(c, p);
}

void dv_sha256_init(struct dv_sha256 *c)
{
	static const uint32_t iv[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
					0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
	memcpy(c->h, iv, sizeof(iv));
	c->len = 0;
	c->used = 0;
}

void dv_sha256_update(struct dv_sha256 *c, const void *data, size_t n)
{
	const unsigned char *p = data;

	c->len += n;
	if (c->used) {
		size_t take = 64 - c->used < n ? 64 - c->used : n;

		memcpy(c->buf + c->used, p, take);
		c->used += take;
		p += take;
		n -= take;
		if (c->used < 64)
			return;
		blocks(c, c->buf, 1);
		c->used = 0;
	}
	blocks(c, p, n / 64);
	p += n / 64 * 64;
	n %= 64;
	memcpy(c->buf, p, n);
	c->used = n;
}

void dv_sha256_final(struct dv_sha256 *c, unsigned char out[32])
{
	uint64_t bits = c->len * 8;
	unsigned char pad = 0x80, zero = 0, lenb[8];
	int i;

	dv_sha256_update(c, &pad, 1);
	while (c->used != 56)
		dv_sha256_update(c, &zero, 1);
	for (i = 0; i < 8; i++)
		lenb[i] = (unsigned char)(bits >> (56 - 8 * i));
	dv_sha256_update(c, lenb, 8);
	for (i = 0; i < 8; i++) {
		out[4 * i] = (unsigned char)(c->h[i] >> 24);
		out[4 * i + 1] = (unsigned char)(c->h[i] >> 16);
		out[4 * i + 2] = (unsigned char)(c->h[i] >> 8);
		out[4 * i + 3] = (unsigned char)c->h[i];
	}
}

void dv_sha256_final_hex(struct dv_sha256 *c, char out[DV_SHA256_HEX])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char d[32];
	int i;

	dv_sha256_final(c, d);
	for (i = 0; i < 32; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[64] = 0;
}

void dv_sha256_hex(const void *data, size_t n, char out[DV_SHA256_HEX])
{
	struct dv_sha256 c;

	dv_sha256_init(&c);
	dv_sha256_update(&c, data, n);
	dv_sha256_final_hex(&c, out);
}

int dv_sha256_fd(int fd, char out[DV_SHA256_HEX], struct dv_error *err)
{
	unsigned char buf[65536];
	struct dv_sha256 c;
	ssize_t n;

	dv_sha256_init(&c);
	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return dv_err(err, errno, "read");
		if (n == 0)
			break;
		dv_sha256_update(&c, buf, (size_t)n);
	}
	dv_sha256_final_hex(&c, out);
	return 0;
}
