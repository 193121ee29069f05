/* util/dl.c - dlopen() on first use, shared by the libcurl, libarchive and
 * libgit2 loaders (util/dl.h). */
#include <dlfcn.h>
#include <string.h>

#include "dl.h"
#include "util/banned.h"

/* dlsym() hands out a void *; POSIX guarantees it converts to a function
 * pointer, which on Linux has the same size and representation. */
_Static_assert(sizeof(void *) == sizeof(void (*)(void)), "function pointers are not void *");

static int load_locked(struct dv_dl *dl, struct dv_error *err)
{
	void *h = dlopen(dl->soname, RTLD_NOW | RTLD_LOCAL);
	const char *name = dl->names;

	if (!h)
		return dv_err(err, 0, "cannot load %s: %s", dl->soname, dlerror());
	for (size_t i = 0; i < dl->nsyms; i++, name += strlen(name) + 1) {
		void *f = dlsym(h, name);

		if (!f) {
			dlclose(h);
			return dv_err(err, 0, "cannot load %s: no symbol '%s'", dl->soname, name);
		}
		memcpy((char *)dl->table + dl->offsets[i], &f, sizeof(f));
	}
	if (dl->init && dl->init(dl->table, err) < 0) {
		dlclose(h);
		return -1;
	}
	return 0;
}

int dv_dl_load(struct dv_dl *dl, struct dv_error *err)
{
	int ret = 0;

	/* The acquire pairs with the release below: a thread that sees the
	 * flag set sees the whole table. */
	if (__atomic_load_n(&dl->loaded, __ATOMIC_ACQUIRE))
		return 0;
	pthread_mutex_lock(&dl->lock);
	if (!dl->loaded) {
		ret = load_locked(dl, err);
		if (ret == 0)
			__atomic_store_n(&dl->loaded, 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&dl->lock);
	return ret;
}
