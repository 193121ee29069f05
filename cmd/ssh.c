/*
 * cmd/ssh.c - ssh: the hot path. Reads state.json, enters, execs; nothing else.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "util/cleanup.h"
#include "util/banned.h"

struct ssh_opts {
	const char *command, *user;
	struct dv_strv secrets; /* --secret NAME... */
};

static int ssh_opt(int c, const char *arg, void *data, struct dv_error *err)
{
	(void)err;
	if (c == 's') {
		dv_strv_push(&((struct ssh_opts *)data)->secrets, arg);
		return 0;
	}
	if (c == 'u') {
		((struct ssh_opts *)data)->user = arg;
		return 0;
	}
	if (c != 'c')
		return -1;
	((struct ssh_opts *)data)->command = arg;
	return 0;
}

/* --secret NAME...: declared in the Envfile, its requests allowed, read
 * now (memory only), on /run/secrets in the command's own mount
 * namespace, owned by its user, masked in what it prints. */
static int session_secrets(const struct dv_ctx *ctx, const struct layer_store *st,
			   const struct env *env, const struct dv_strv *names,
			   struct prov_secrets *sec, struct ctr_secret **out, struct ctr_exec *x,
			   struct dv_error *err)
{
	for (size_t i = 0; i < names->n; i++) {
		bool found = false;

		for (size_t j = 0; j < env->spec.n_secrets && !found; j++)
			found = !strcmp(env->spec.secrets[j].name, names->v[i]);
		if (!found) {
			struct dv_buf shown = { 0 };

			dv_buf_add_safe(&shown, names->v[i], strlen(names->v[i]));
			dv_err_usage(err, "--secret '%s': %s declares no such secret", shown.s,
				     env->spec.display);
			dv_buf_release(&shown);
			return -1;
		}
	}
	if (prov_trust_check(ctx, st, env->id, &env->spec, err) < 0 ||
	    prov_secrets_read_names(&env->spec, names, sec, err) < 0)
		return -1;
	x->n_secrets = prov_secrets_for(sec, names, 0, 0, out);
	x->secrets = *out;
	return 0;
}

int cmd_ssh(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
	    struct dv_error *err)
{
	struct ssh_opts so = { 0 };
	struct prov_secrets sec = { 0 };
	dv_autofree struct ctr_secret *secrets = NULL;
	struct opt_spec os = { NULL, NULL, ssh_opt, &so };
	struct ctr_owner owner;
	struct env env = { .lock_fd = -1 };
	struct dv_strv envp = { 0 };
	struct hnet_agent agent = HNET_AGENT_INIT;
	int hold[2] = { -1, -1 };
	char cwd[PATH_MAX], dir[PATH_MAX];
	bool helped;
	int oi = cmd_parse_opts(ctx, call, &os, &helped, err), status = 0, ret = -1;
	const char *term = getenv("TERM");

	err->status = 125;
	if (oi < 0) {
		if (!helped)
			err->status = 2;
		return helped ? 0 : -1;
	}
	if (so.command && oi < call->argc)
		return dv_err_usage(err, "give either -c CMD or -- ARGV..., not both");
	/* Only with --secret is the Envfile read (and trusted): it says
	 * where each secret comes from. */
	if (env_locate(ctx, st, so.secrets.n > 0, &env, err) < 0 && !ctx->env_sel)
		goto out;
	if (!env.has_state) {
		/* Not here: the env this checkout (or -e) brought up on another
		 * machine, from its local record (cmd/remote.c); only on this
		 * failure path, so a local ssh pays nothing. */
		dv_autofree char *host = cmd_remote_recorded(ctx);

		if (host) {
			memset(err, 0, sizeof(*err));
			ret = cmd_remote_main(ctx, call->self, host, call->argc, call->argv, err);
			goto out;
		}
		if (ctx->env_sel)
			goto out;
		dv_err_plain(err, ESRCH, "env %s was never brought up; 'devenv up' creates it",
			     env.id);
		goto out;
	}
	if (env_checkout_check(&env.state, err) < 0)
		goto out;
	/* From checkout/sub/dir start in workdir/sub/dir. */
	snprintf(dir, sizeof(dir), "%s", env.state.workdir);
	if (getcwd(cwd, sizeof(cwd))) {
		size_t n = strlen(env.state.checkout);

		if (strncmp(cwd, env.state.checkout, n) == 0 && (cwd[n] == '/' || cwd[n] == 0))
			snprintf(dir, sizeof(dir), "%s%s", env.state.workdir, cwd + n);
	}
	for (size_t i = 0; i < env.state.env.n; i++)
		dv_strv_push(&envp, env.state.env.v[i]);
	/* `ssh_agent`: a filter of the developer's agent for this session
	 * alone (nothing happens without the key). */
	if (env.state.ssh_agent && env.state.ssh_agent[0]) {
		/* confirm asks on our terminal, which a tty session relays:
		 * the relay stops reading it while the filter asks. */
		if (!strcmp(env.state.ssh_agent, "confirm") && ctx->tty_in &&
		    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, hold) < 0) {
			dv_err(err, errno, "socketpair");
			goto out;
		}
		if (env_agent_start(st, &env.state, "ssh", -1, hold[1], &agent, err) < 0) {
			if (err->errnum == ESRCH)
				dv_err_plain(err, ESRCH,
					     "env '%s' is not running; 'devenv up' starts it",
					     env.state.name);
			goto out;
		}
		/* the filter has its own: should it die, the relay reads EOF */
		if (hold[1] >= 0) {
			close(hold[1]);
			hold[1] = -1;
		}
		if (agent.pid)
			dv_strv_push_owned(&envp, dv_xasprintf("SSH_AUTH_SOCK=%s", agent.path));
	}
	bool tty = ctx->tty_in; /* as `docker exec -it`: a terminal in, a pty inside */
	if (tty)
		dv_strv_push_owned(&envp, dv_xasprintf("TERM=%s", term ? term : "xterm"));
	char *shell_argv[] = { env.state.shell, "-c", (char *)so.command, NULL };
	char *login_argv[] = { env.state.shell, "-l", NULL };
	struct ctr_exec x = {
		.argv = so.command        ? shell_argv
			: oi < call->argc ? call->argv + oi
					  : login_argv,
		.envp = envp.v,
		.cwd = dir,
		.tty = tty,
		.tee_fd = -1,
		/* The Envfile's user unless --user says otherwise ("root" included). */
		.user = so.user                               ? so.user
			: env.state.user && env.state.user[0] ? env.state.user
							      : NULL,
		.owner = env_record_owner(&env.state, &owner),
		.hold_fd = hold[0] > 0 ? hold[0] : 0,
	};
	if (so.secrets.n && session_secrets(ctx, st, &env, &so.secrets, &sec, &secrets, &x, err) < 0)
		goto out;
	struct ctr_sandbox sb = { 0 };
	if (ctr_sandbox_load(env.state.seccomp, env.state.caps, &sb, err) < 0)
		goto out;
	sb.nproc = prov_nproc_fallback(&env.state.limits, &env.state.cgroups);
	x.sandbox = &sb;
	/* `git_credentials`: a relay for this session only (hostnet/gitcred.c);
	 * an env without the key pays nothing. Not running: ctr_exec says so. */
	struct hnet_gitcred gcred = { .lifeline = -1 };
	if (env.state.git_credentials.n) {
		struct dv_error gerr = { 0 };

		if (hnet_gitcred_start(&env.state.init, &env.state.git_credentials, &gcred,
				       &gerr) == 0)
			hnet_gitcred_envp(&gcred, &envp);
		else if (gerr.errnum != ESRCH)
			fprintf(stderr,
				"devenv: warning: git_credentials: %s; the session starts "
				"without them\n",
				gerr.msg);
	}
	x.envp = envp.v;
	fflush(stdout);
	/* No separate liveness probe: ctr_exec checks the init's start time and
	 * the freezer itself, and says which (ESRCH, EBUSY). The sweep's
	 * folders ("chown" ownership only) are opened before it enters. */
	struct env_sweep sweep;
	env_sweep_open(&env.state, "command", &sweep);
	int xr = ctr_exec(&env.state.init, &env.state.cgroups, &x, &status, err);
	hnet_gitcred_stop(&gcred);
	ctr_sandbox_release(&sb);
	if (xr == 0)
		env_sweep_run(&sweep);
	env_sweep_release(&sweep);
	if (xr < 0) {
		cmd_exec_failed(&env.state, err);
		goto out;
	}
	err->status = status;
	ret = status == 0 ? 0 : -2; /* -2: exit with the command's status, print nothing */
out:
	hnet_agent_stop(&agent);
	for (int i = 0; i < 2; i++)
		if (hold[i] >= 0)
			close(hold[i]);
	dv_strv_release(&envp);
	dv_strv_release(&so.secrets);
	prov_secrets_release(&sec);
	env_release(&env);
	return ret;
}
