/*
 * util/dl.h - a shared library loaded with dlopen() on first use.
 *
 * libcurl, libarchive and libgit2 cost a process milliseconds to link, and
 * only some commands need them (DESIGN.md "Start-up cost"). A module
 * compiles against the library's header, keeps the functions it calls in a
 * struct of pointers (the table), lists them with DV_DL_NAME() and
 * DV_DL_OFFSET(), and
 * calls dv_dl_load() each time before it uses the table: the first call
 * opens the library and resolves every name, the later ones return at once.
 * The handle stays open for the life of the process.
 *
 *	#define AR_OFFSET(f) DV_DL_OFFSET(struct layer_ar, f)
 *	static const char ar_names[] = LAYER_AR_FUNCS(DV_DL_NAME);
 *	static const unsigned short ar_offsets[] = { LAYER_AR_FUNCS(AR_OFFSET) };
 *	static struct layer_ar ar;
 *	static struct dv_dl ar_dl = DV_DL_INIT("libarchive.so.13", ar_names, ar_offsets, &ar, NULL);
 *
 *	return dv_dl_load(&ar_dl, err) < 0 ? NULL : &ar;
 */
#ifndef DV_DL_H
#define DV_DL_H

#include <pthread.h>
#include <stddef.h>

#include "error.h"

/* The functions to resolve, without a pointer per name (each would be a
 * relocation and a word of data: the binary would grow with the lists):
 * their names one after another, each ended by a NUL (DV_DL_NAME), and
 * where each one's pointer goes in the table (DV_DL_OFFSET), in the same
 * order. */
#define DV_DL_NAME(f) #f "\0"
#define DV_DL_OFFSET(type, f) (unsigned short)offsetof(type, f),

struct dv_dl {
	const char *soname;            /* "libcurl.so.4" */
	const char *names;             /* "f1\0f2\0" */
	const unsigned short *offsets; /* one per name */
	size_t nsyms;
	void *table; /* the struct the pointers are written into */
	/* Run once the table is complete (libgit2's init), NULL for none: -1
	 * with err filled closes the library again, and the next call retries. */
	int (*init)(void *table, struct dv_error *err);
	/* private */
	pthread_mutex_t lock;
	int loaded;
};
#define DV_DL_INIT(soname, names, offsets, table, init) \
	{ \
		(soname), (names), (offsets), sizeof(offsets) / sizeof((offsets)[0]), (table), \
			(init), PTHREAD_MUTEX_INITIALIZER, 0 \
	}

/* Open dl->soname and fill dl->table, once per process: 0 when the table is
 * ready. Safe from several threads (pulls load libcurl from their workers):
 * the first caller loads while the others wait. -1 with err filled ("cannot
 * load libcurl.so.4: <dlerror>", "cannot load libcurl.so.4: no symbol 'f'")
 * when the library or a function is missing; errnum is 0. */
int dv_dl_load(struct dv_dl *dl, struct dv_error *err);

#endif
