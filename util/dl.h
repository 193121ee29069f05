/*
 * util/dl.h - a shared library loaded with dlopen() on first use.
 *
 * libcurl, libarchive and libgit2 cost a process milliseconds to link, and
 * only some commands need them (DESIGN.md "Start-up cost"). A module
 * compiles against the library's header, keeps the functions it calls in a
 * struct of pointers (the table), lists their names with DV_DL_SYM(), and
 * calls dv_dl_load() each time before it uses the table: the first call
 * opens the library and resolves every name, the later ones return at once.
 * The handle stays open for the life of the process.
 *
 *	#define AR_SYM(f) DV_DL_SYM(struct layer_ar, f),
 *	static const struct dv_dl_sym ar_syms[] = { LAYER_AR_FUNCS(AR_SYM) };
 *	static struct layer_ar ar;
 *	static struct dv_dl ar_dl = DV_DL_INIT("libarchive.so.13", ar_syms, &ar, NULL);
 *
 *	return dv_dl_load(&ar_dl, err) < 0 ? NULL : &ar;
 */
#ifndef DV_DL_H
#define DV_DL_H

#include <pthread.h>
#include <stddef.h>

#include "error.h"

/* One function to resolve: its name, and where its pointer goes in the table. */
struct dv_dl_sym {
	const char *name;
	size_t offset;
};
#define DV_DL_SYM(type, f) \
	{ \
#f, offsetof(type, f) \
	}

struct dv_dl {
	const char *soname; /* "libcurl.so.4" */
	const struct dv_dl_sym *syms;
	size_t nsyms;
	void *table; /* the struct the pointers are written into */
	/* Run once the table is complete (libgit2's init), NULL for none: -1
	 * with err filled closes the library again, and the next call retries. */
	int (*init)(void *table, struct dv_error *err);
	/* private */
	pthread_mutex_t lock;
	int loaded;
};
#define DV_DL_INIT(soname, syms, table, init) \
	{ \
		(soname), (syms), sizeof(syms) / sizeof((syms)[0]), (table), (init), \
			PTHREAD_MUTEX_INITIALIZER, 0 \
	}

/* Open dl->soname and fill dl->table, once per process: 0 when the table is
 * ready. Safe from several threads (pulls load libcurl from their workers):
 * the first caller loads while the others wait. -1 with err filled ("cannot
 * load libcurl.so.4: <dlerror>", "cannot load libcurl.so.4: no symbol 'f'")
 * when the library or a function is missing; errnum is 0. */
int dv_dl_load(struct dv_dl *dl, struct dv_error *err);

#endif
