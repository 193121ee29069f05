/*
 * util/cleanup.h - scope-bound cleanup with __attribute__((cleanup)).
 *
 * Initialise every dv_auto* variable where it is declared. Hand ownership
 * out visibly with dv_steal_ptr() / dv_steal_fd().
 */
#ifndef DV_CLEANUP_H
#define DV_CLEANUP_H

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline void dv_freep(void *p)
{
	free(*(void **)p);
}
static inline void dv_closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd); /* never retried: the fd is gone even after EINTR */
		errno = saved;
	}
}
static inline void dv_fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}
static inline void dv_closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}

#define dv_autofree __attribute__((cleanup(dv_freep)))
#define dv_autoclose __attribute__((cleanup(dv_closep)))
#define dv_autofclose __attribute__((cleanup(dv_fclosep)))
#define dv_autoclosedir __attribute__((cleanup(dv_closedirp)))

static inline void *dv_steal_ptr(void *pp)
{
	void **p = pp, *v = *p;
	*p = NULL;
	return v;
}

static inline int dv_steal_fd(int *fd)
{
	int v = *fd;
	*fd = -1;
	return v;
}

#endif
