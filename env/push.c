/*
 * env/push.c - `devenv push`: the env's provisioning as a registry image,
 * on the base its record pins (provision/teamcache.c does the pushing).
 */
#include <stdlib.h>
#include <string.h>

#include "env/env.h"
#include "env/internal.h"
#include "util/banned.h"

int env_push_sign(const struct dv_ctx *ctx, const struct layer_store *st, struct env *env,
		  const char *dest, enum reg_compression comp, const char *sign,
		  struct dv_error *err)
{
	const struct env_spec *spec = &env->spec;
	const char *pinned = NULL;

	/* The keys as the build made them: the lock's commits and times. */
	if (env_lock_pins(&env->spec, err) < 0)
		return -1;
	/* A team's base the env pinned for its `image:` (plan_make, up.c). */
	if (env->has_state && env->state.image_for && !strcmp(env->state.image_for, spec->image))
		pinned = env->state.image;
	{
		char *name = NULL, digest[65];
		int r = prov_team_push_out(ctx, st, spec, pinned, dest, comp, sign, &name, digest,
					   err);

		/* What `kube generate` names, pinned. */
		if (r == 0 && env->has_state)
			env_push_record(st, env->id, name, digest);
		free(name);
		return r;
	}
}
