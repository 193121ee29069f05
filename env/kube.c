/*
 * env/kube.c - `devenv kube generate`'s Pod: an env_spec (and what
 * kubegen.c resolved: the pinned image, the services' images, the clone's
 * remote) as Kubernetes YAML, PersistentVolumeClaims first, then the Pod,
 * then on_up as a commented `kubectl exec` sequence. No I/O: the same
 * input gives the same bytes (the golden files hold it to that). Every
 * Envfile key the Pod cannot express is one warning, never dropped
 * silently.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>

#include "env/env.h"
#include "util/cleanup.h"
#include "util/banned.h"

struct kw {
	struct dv_buf *b;
	const char *bad; /* the first string that is not UTF-8 */
	const struct env_spec *spec;
	struct dv_strv *warnings;
	const char *checkout; /* the checkout volume's name */
};

static void ind(struct kw *w, int n)
{
	for (int i = 0; i < n; i++)
		dv_buf_add(w->b, " ", 1);
}

static void q(struct kw *w, const char *s)
{
	size_t len = w->b->len;

	if (!env_kube_quote(w->b, s)) {
		if (!w->bad)
			w->bad = s;
		w->b->len = len;
		dv_buf_adds(w->b, "\"\"");
	}
}

/* KEY: "VALUE" at indent n (dash: "- KEY: ..." at n). */
static void kv(struct kw *w, int n, bool dash, const char *key, const char *value)
{
	ind(w, n);
	dv_buf_addf(w->b, "%s%s: ", dash ? "- " : "", key);
	q(w, value);
	dv_buf_add(w->b, "\n", 1);
}

static void kn(struct kw *w, int n, bool dash, const char *key, unsigned long long v)
{
	ind(w, n);
	dv_buf_addf(w->b, "%s%s: %llu\n", dash ? "- " : "", key, v);
}

static void key(struct kw *w, int n, bool dash, const char *k)
{
	ind(w, n);
	dv_buf_addf(w->b, "%s%s:\n", dash ? "- " : "", k);
}

/* KEY: ["a", "b"] */
static void list(struct kw *w, int n, const char *k, char *const *v, size_t nv)
{
	ind(w, n);
	dv_buf_addf(w->b, "%s: [", k);
	for (size_t i = 0; i < nv; i++) {
		if (i)
			dv_buf_adds(w->b, ", ");
		q(w, v[i]);
	}
	dv_buf_adds(w->b, "]\n");
}

static void warn(struct kw *w, unsigned line, unsigned col, const char *fmt, const char *arg)
{
	dv_autofree char *what = dv_xasprintf(fmt, arg);

	if (line)
		dv_strv_push_owned(w->warnings,
				   dv_xasprintf("%s:%u:%u: %s", w->spec->display, line, col, what));
	else
		dv_strv_push_owned(w->warnings, dv_xasprintf("%s: %s", w->spec->display, what));
}

/* The length of a sequence at p that a YAML reader takes for a line
 * break or refuses (C0 and C1 controls, DEL; NEL, LS, PS; U+FFFE, U+FFFF),
 * or 0. */
static size_t yaml_unsafe(const char *p)
{
	const unsigned char *u = (const unsigned char *)p;

	if (u[0] < 0x20 || u[0] == 0x7f)
		return 1;
	if (u[0] == 0xc2 && u[1] >= 0x80 && u[1] < 0xa0)
		return 2;
	if ((u[0] == 0xe2 && u[1] == 0x80 && (u[2] == 0xa8 || u[2] == 0xa9)) ||
	    (u[0] == 0xef && u[1] == 0xbf && u[2] >= 0xbe))
		return 3;
	return 0;
}

/* A comment line's text: nothing in it may end the comment. */
static void comment(struct kw *w, const char *s)
{
	dv_buf_adds(w->b, "# ");
	for (const char *p = s; *p;) {
		size_t n = yaml_unsafe(p);

		dv_buf_add(w->b, n ? "?" : p, 1);
		p += n ? n : 1;
	}
	dv_buf_add(w->b, "\n", 1);
}

void env_kube_shq(struct dv_buf *b, const char *s)
{
	bool plain = *s != 0;

	for (const char *p = s; *p && plain; p++)
		plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			(*p >= '0' && *p <= '9') || strchr("_-./=:,@%+", *p);
	if (plain) {
		dv_buf_adds(b, s);
		return;
	}
	for (const char *p = s; *p; p++)
		if (yaml_unsafe(p)) {
			/* One line whatever it holds, and nothing a YAML
			 * reader takes for a line break: bash's $'...'. */
			dv_buf_adds(b, "$'");
			for (const char *r = s; *r;) {
				size_t n = yaml_unsafe(r);

				if (*r == '\'' || *r == '\\')
					dv_buf_addf(b, "\\%c", *r);
				for (size_t i = 0; i < n; i++)
					dv_buf_addf(b, "\\x%02x", (unsigned char)r[i]);
				if (!n && *r != '\'' && *r != '\\')
					dv_buf_add(b, r, 1);
				r += n ? n : 1;
			}
			dv_buf_add(b, "'", 1);
			return;
		}
	dv_buf_add(b, "'", 1);
	for (const char *p = s; *p; p++)
		if (*p == '\'')
			dv_buf_adds(b, "'\\''");
		else
			dv_buf_add(b, p, 1);
	dv_buf_add(b, "'", 1);
}

/* The env's capability names, as Kubernetes spells them (no CAP_). */
static int cap_names(const struct env_spec *spec, struct dv_strv *out, bool *sys_admin,
		     struct dv_error *err)
{
	unsigned long long caps;

	if (ctr_caps_mask(&spec->security.cap_add, &spec->security.cap_drop, &caps, err) < 0)
		return dv_err_prefix(err, "%s: security", spec->display);
	*sys_admin = caps & (1ULL << CAP_SYS_ADMIN);
	for (int c = 0; c < 64; c++) {
		char *name, *p;

		if (!(caps & (1ULL << c)) || !(name = cap_to_name((cap_value_t)c)))
			continue;
		p = dv_str_startswith(name, "cap_") ? name + 4 : name;
		for (char *u = p; *u; u++)
			if (*u >= 'a' && *u <= 'z')
				*u = (char)(*u - 32);
		dv_strv_push(out, p);
		cap_free(name);
	}
	return 0;
}

static unsigned long long secs(unsigned long long ms)
{
	return ms ? (ms + 999) / 1000 : 0;
}

/* securityContext: the env's sandbox (service: Docker's default set, as
 * devenv gives a service). */
static void sec_ctx(struct kw *w, int n, const struct dv_strv *caps, bool sys_admin,
		    bool unconfined, bool user)
{
	key(w, n, false, "securityContext");
	/* Kubernetes refuses allowPrivilegeEscalation: false beside
	 * CAP_SYS_ADMIN. */
	if (!sys_admin)
		dv_buf_addf(w->b, "%*sallowPrivilegeEscalation: false\n", n + 2, "");
	key(w, n + 2, false, "capabilities");
	list(w, n + 4, "drop", (char *[]){ "ALL" }, 1);
	list(w, n + 4, "add", caps->v, caps->n);
	key(w, n + 2, false, "seccompProfile");
	dv_buf_addf(w->b, "%*stype: %s\n", n + 4, "", unconfined ? "Unconfined" : "RuntimeDefault");
	if (user) {
		kn(w, n + 2, false, "runAsUser", ENV_KUBE_UID);
		kn(w, n + 2, false, "runAsGroup", ENV_KUBE_UID);
	}
}

static void kenv_list(struct kw *w, int n, const struct env_kv *e, size_t ne)
{
	if (!ne)
		return;
	key(w, n, false, "env");
	for (size_t i = 0; i < ne; i++) {
		kv(w, n, true, "name", e[i].key);
		kv(w, n + 2, false, "value", e[i].value);
	}
}

/* The Pod's volumes: "checkout" (POD-checkout for --clone), then
 * "volume-N" per claim, "mount-N" per host path, in the order first named
 * (the env's, then each service's). */
struct kvols {
	struct dv_strv claims, claim_src; /* PVC names; the Envfile's name */
	struct dv_strv hosts;             /* host paths (real) */
};

static size_t vol_index(struct dv_strv *v, const char *s, bool add)
{
	for (size_t i = 0; i < v->n; i++)
		if (!strcmp(v->v[i], s))
			return i;
	if (add)
		dv_strv_push(v, s);
	return v->n - 1;
}

static void claim_name(const struct env_spec *spec, const char *env_id, const struct env_mount *m,
		       char out[ENV_KUBE_NAME_MAX + 1])
{
	if (m->shared) {
		env_kube_name(m->source, out);
		return;
	}
	char store[ENV_VOL_NAME_MAX + 1];

	env_vol_of(spec, env_id, m, store);
	env_kube_name(store, out);
}

static void mounts(struct kw *w, int n, const char *env_id, struct kvols *kv_,
		   const struct env_mount *m, size_t nm, const char *checkout_at)
{
	if (!nm && !checkout_at)
		return;
	key(w, n, false, "volumeMounts");
	if (checkout_at) {
		kv(w, n, true, "name", w->checkout);
		kv(w, n + 2, false, "mountPath", checkout_at);
	}
	for (size_t i = 0; i < nm; i++) {
		char name[ENV_KUBE_NAME_MAX + 1], vname[32];

		if (m[i].volume) {
			claim_name(w->spec, env_id, &m[i], name);
			snprintf(vname, sizeof(vname), "volume-%zu",
				 vol_index(&kv_->claims, name, false) + 1);
		} else {
			snprintf(vname, sizeof(vname), "mount-%zu",
				 vol_index(&kv_->hosts,
					   m[i].source_abs ? m[i].source_abs : m[i].source, false) +
					 1);
		}
		kv(w, n, true, "name", vname);
		kv(w, n + 2, false, "mountPath", m[i].target);
		if (m[i].readonly)
			dv_buf_addf(w->b, "%*sreadOnly: true\n", n + 2, "");
	}
}

static void collect(struct kw *w, const char *env_id, struct kvols *v, const struct env_mount *m,
		    size_t nm)
{
	for (size_t i = 0; i < nm; i++) {
		char name[ENV_KUBE_NAME_MAX + 1];

		if (m[i].volume) {
			size_t before = v->claims.n;

			claim_name(w->spec, env_id, &m[i], name);
			vol_index(&v->claims, name, true);
			if (v->claims.n > before)
				dv_strv_push(&v->claim_src, m[i].source);
		} else {
			vol_index(&v->hosts, m[i].source_abs ? m[i].source_abs : m[i].source, true);
		}
	}
}

static void probe(struct kw *w, int n, const struct env_service *s)
{
	const struct env_health *h = &s->health;

	if (!h->line || h->none)
		return;
	if (!h->test.n) {
		warn(w, h->line, h->col,
		     "service '%s': a healthcheck without 'test' (the image's) cannot be a "
		     "readinessProbe: left out",
		     s->name);
		return;
	}
	if (h->start_interval_ms)
		warn(w, h->line, h->col,
		     "service '%s': healthcheck 'start_interval' has no readinessProbe "
		     "equivalent: left out",
		     s->name);
	key(w, n, false, "readinessProbe");
	key(w, n + 2, false, "exec");
	list(w, n + 4, "command", h->test.v, h->test.n);
	if (h->start_period_ms)
		kn(w, n + 2, false, "initialDelaySeconds", secs(h->start_period_ms));
	kn(w, n + 2, false, "periodSeconds",
	   secs(h->interval_ms ? h->interval_ms : ENV_HEALTH_INTERVAL_MS));
	kn(w, n + 2, false, "timeoutSeconds",
	   secs(h->timeout_ms ? h->timeout_ms : ENV_HEALTH_TIMEOUT_MS));
	kn(w, n + 2, false, "failureThreshold",
	   (unsigned long long)(h->retries >= 0 ? h->retries : ENV_HEALTH_RETRIES));
}

/* What the spec asks for that no Pod field holds: one warning each. */
static void unexpressable(struct kw *w)
{
	const struct env_spec *s = w->spec;

	if (s->resources.pids)
		warn(w, 0, 0, "%s", "'resources.pids' has no Pod field: left out");
	if (s->logs.max_size != ENV_LOG_SIZE_DEFAULT || s->logs.max_files != ENV_LOG_FILES_DEFAULT)
		warn(w, 0, 0, "%s", "'logs' is the engine's to cap in a Pod: left out");
	if (s->security.seccomp_abs)
		warn(w, s->security.seccomp_line, s->security.seccomp_col,
		     "'security.seccomp' profile '%s' is a file of this machine's: the Pod gets "
		     "RuntimeDefault",
		     s->security.seccomp);
	if (s->ssh_agent.mode != ENV_AGENT_NONE)
		warn(w, s->ssh_agent.line, s->ssh_agent.col, "%s",
		     "'ssh_agent' is this machine's agent: a Pod has none (left out)");
	if (s->git_credentials.n)
		warn(w, s->git_credentials_line, s->git_credentials_col, "%s",
		     "'git_credentials' are this machine's git's: a Pod has none (left out)");
	for (size_t i = 0; i < s->n_host_env; i++)
		warn(w, s->host_env[i].line, s->host_env[i].col,
		     "'${localEnv:%s}' is read on this machine at up: left out",
		     s->host_env[i].name);
	for (size_t i = 0; i < s->n_on_up; i++)
		if (s->on_up[i].secrets.n)
			warn(w, s->on_up[i].secrets_line, s->on_up[i].secrets_col, "%s",
			     "on_up 'secrets' are read on this machine: the kubectl exec "
			     "sequence does not mount them");
	for (size_t i = 0; i < s->n_ports; i++)
		if (s->ports[i].auto_port)
			warn(w, s->ports[i].line, s->ports[i].col, "%s",
			     "an 'auto' port's host port is devenv's choice: the Pod gets its "
			     "containerPort only");
	for (size_t i = 0; i < s->n_services; i++)
		if (s->services[i].n_depends_on)
			warn(w, s->services[i].depends_on[0].line, s->services[i].depends_on[0].col,
			     "service '%s': 'depends_on' has no Pod field (containers start "
			     "together): left out",
			     s->services[i].name);
	if (s->dotfiles)
		warn(w, 0, 0, "%s",
		     "your config.yaml's 'dotfiles' are copied in by 'up' only: left out");
}

static void header(struct kw *w, const struct env_kube_in *in)
{
	const struct env_spec *s = w->spec;
	dv_autofree char *l1 =
		dv_xasprintf("Generated by 'devenv kube generate' from %s (env '%s', id %s).",
			     s->relpath ? s->relpath : s->display, s->name, in->env_id);

	comment(w, l1);
	comment(w, "What devenv's sandbox gives locally that a Pod cannot express (README: A");
	comment(w, "Pod for Kubernetes):");
	if (!in->clone_url && !s->security.git_metadata_rw)
		comment(w, "- the checkout's git dir is read-only inside the env; in this hostPath "
			   "it is writable");
	if (s->user)
		comment(w,
			"- 'user' has the host user's uid locally; here runAsUser " ENV_KUBE_UID_STR);
	comment(w, "- ids: locally what the env writes in the checkout stays the host user's");
	comment(w, "  (idmapped or swept); here files get the container's ids as they are");
	comment(w, "- host paths are opened race-free at up locally; a hostPath is the node's path");
	if (s->resources.memory || s->resources.cpus_milli)
		comment(w, "- 'resources' limit the env and its services together locally; here the "
			   "env's container");
}

int env_kube_yaml(const struct env_spec *spec, const struct env_kube_in *in, struct dv_buf *out,
		  struct dv_strv *warnings, struct dv_error *err)
{
	struct kw w = { out, NULL, spec, warnings, "checkout" };
	struct kvols v = { 0 };
	struct dv_strv caps = { 0 }, svc_caps = { 0 };
	char pod[ENV_KUBE_NAME_MAX + 1], ckvol[ENV_KUBE_NAME_MAX + 1];
	bool sys_admin = false, none = false, host = spec->network == ENV_NET_HOST;
	bool unconfined = spec->security.seccomp && !strcmp(spec->security.seccomp, "unconfined");
	const char *clone_script = "git clone --no-checkout -- \"$1\" \"$3\" && "
				   "git -C \"$3\" checkout --detach \"$2\"";
	int ret = -1;

	if (cap_names(spec, &caps, &sys_admin, err) < 0 ||
	    cap_names(&(struct env_spec){ .display = spec->display }, &svc_caps, &none, err) < 0)
		goto out;
	env_kube_name(spec->name, pod);
	if (in->clone_url) {
		/* podman (4.3) makes an emptyDir a volume named as the Pod's
		 * volume is, shared by every Pod that names one so: the Pod's
		 * own name keeps two envs' clones apart. */
		dv_autofree char *n = dv_xasprintf("%s-checkout", pod);

		env_kube_name(n, ckvol);
		w.checkout = ckvol;
	}
	header(&w, in);
	unexpressable(&w);
	collect(&w, in->env_id, &v, spec->volumes, spec->n_volumes);
	collect(&w, in->env_id, &v, spec->mounts, spec->n_mounts);
	for (size_t i = 0; i < spec->n_services; i++)
		collect(&w, in->env_id, &v, spec->services[i].volumes, spec->services[i].n_volumes);

	/* The claims, before the Pod that names them. */
	for (size_t i = 0; i < v.claims.n; i++) {
		dv_buf_adds(out, "---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n");
		kv(&w, 2, false, "name", v.claims.v[i]);
		key(&w, 2, false, "labels");
		kv(&w, 4, false, "app.kubernetes.io/managed-by", "devenv");
		key(&w, 2, false, "annotations");
		kv(&w, 4, false, "dev.devenv.volume", v.claim_src.v[i]);
		dv_buf_adds(out, "spec:\n  accessModes: [\"ReadWriteOnce\"]\n  resources:\n"
				 "    requests:\n      storage: \"" ENV_KUBE_PVC_SIZE "\"\n");
	}

	dv_buf_adds(out, "---\napiVersion: v1\nkind: Pod\nmetadata:\n");
	kv(&w, 2, false, "name", pod);
	key(&w, 2, false, "labels");
	kv(&w, 4, false, "app.kubernetes.io/managed-by", "devenv");
	kv(&w, 4, false, "app.kubernetes.io/name", pod);
	key(&w, 2, false, "annotations");
	kv(&w, 4, false, "dev.devenv.env", spec->name);
	kv(&w, 4, false, "dev.devenv.env-id", in->env_id);
	/* podman (4.3) gives an init container the Pod's restartPolicy: with
	 * Always it runs the clone again each time it exits and the env's
	 * container never starts. The env's idle loop exits 0 only on TERM,
	 * so OnFailure keeps it up as Always would. */
	dv_buf_addf(out, "spec:\n  restartPolicy: %s\n", in->clone_url ? "OnFailure" : "Always");
	if (host)
		dv_buf_adds(out, "  hostNetwork: true\n");
	if (spec->n_services) {
		/* Each service answers its name, as with up. */
		key(&w, 2, false, "hostAliases");
		kv(&w, 2, true, "ip", "127.0.0.1");
		key(&w, 4, false, "hostnames");
		for (size_t i = 0; i < spec->n_services; i++) {
			ind(&w, 4);
			dv_buf_adds(out, "- ");
			q(&w, spec->services[i].name);
			dv_buf_add(out, "\n", 1);
		}
	}
	if (in->clone_url) {
		key(&w, 2, false, "initContainers");
		kv(&w, 2, true, "name", "clone");
		kv(&w, 4, false, "image", in->image);
		list(&w, 4, "command",
		     (char *[]){ "/bin/sh", "-c", (char *)clone_script, "clone",
				 (char *)in->clone_url, (char *)in->clone_commit, spec->workdir },
		     7);
		sec_ctx(&w, 4, &caps, sys_admin, unconfined, spec->user != NULL);
		key(&w, 4, false, "volumeMounts");
		kv(&w, 4, true, "name", w.checkout);
		kv(&w, 6, false, "mountPath", spec->workdir);
	}
	key(&w, 2, false, "containers");

	/* The env: its image, idle so that the Pod stays up for exec. */
	kv(&w, 2, true, "name", pod);
	kv(&w, 4, false, "image", in->image);
	list(&w, 4, "command",
	     (char *[]){ spec->shell, "-c",
			 "trap 'exit 0' TERM; while :; do sleep 3600 & wait; done" },
	     3);
	kv(&w, 4, false, "workingDir", spec->workdir);
	kenv_list(&w, 4, spec->env, spec->n_env);
	/* With hostNetwork the env's ports are the node's already, and podman
	 * refuses a Pod that lists any ("PortMappings can only be used with
	 * Bridge or slirp4netns networking"): none then. */
	if (spec->n_ports && !host) {
		key(&w, 4, false, "ports");
		for (size_t i = 0; i < spec->n_ports; i++) {
			const struct env_port *p = &spec->ports[i];

			kn(&w, 4, true, "containerPort", p->container_port);
			if (!p->auto_port) {
				kn(&w, 6, false, "hostPort", p->host_port);
				kv(&w, 6, false, "hostIP", p->host_ip ? p->host_ip : "127.0.0.1");
			}
			dv_buf_addf(out, "%*sprotocol: TCP\n", 6, "");
		}
	}
	if (spec->resources.memory || spec->resources.cpus_milli) {
		key(&w, 4, false, "resources");
		for (int r = 0; r < 2; r++) {
			key(&w, 6, false, r ? "requests" : "limits");
			if (spec->resources.cpus_milli)
				dv_buf_addf(out, "%*scpu: \"%um\"\n", 8, "",
					    spec->resources.cpus_milli);
			if (spec->resources.memory)
				dv_buf_addf(out, "%*smemory: \"%llu\"\n", 8, "",
					    spec->resources.memory);
		}
	}
	sec_ctx(&w, 4, &caps, sys_admin, unconfined, spec->user != NULL);
	{
		/* The env's volumes and host mounts, after the checkout. */
		dv_autofree struct env_mount *all =
			dv_xcalloc(spec->n_volumes + spec->n_mounts + 1, sizeof(*all));

		/* (memcpy from NULL is undefined even for 0 bytes) */
		if (spec->n_volumes)
			memcpy(all, spec->volumes, spec->n_volumes * sizeof(*all));
		if (spec->n_mounts)
			memcpy(all + spec->n_volumes, spec->mounts, spec->n_mounts * sizeof(*all));
		mounts(&w, 4, in->env_id, &v, all, spec->n_volumes + spec->n_mounts, spec->workdir);
	}

	for (size_t i = 0; i < spec->n_services; i++) {
		const struct env_service *s = &spec->services[i];
		char name[ENV_KUBE_NAME_MAX + 1];

		env_kube_name(s->name, name);
		if (!strcmp(name, pod))
			snprintf(name, sizeof(name), "service-%zu", i + 1);
		kv(&w, 2, true, "name", name);
		kv(&w, 4, false, "image",
		   in->svc_images && in->svc_images[i] ? in->svc_images[i] : s->image);
		if (s->command.n)
			list(&w, 4, "command", s->command.v, s->command.n);
		kenv_list(&w, 4, s->env, s->n_env);
		probe(&w, 4, s);
		/* Docker's default set, as devenv gives a service, as root. */
		sec_ctx(&w, 4, &svc_caps, false, false, false);
		mounts(&w, 4, in->env_id, &v, s->volumes, s->n_volumes, NULL);
	}

	key(&w, 2, false, "volumes");
	kv(&w, 2, true, "name", w.checkout);
	if (in->clone_url) {
		dv_buf_adds(out, "    emptyDir: {}\n");
	} else {
		key(&w, 4, false, "hostPath");
		kv(&w, 6, false, "path", spec->checkout);
		kv(&w, 6, false, "type", "Directory");
	}
	for (size_t i = 0; i < v.claims.n; i++) {
		char vname[32];

		snprintf(vname, sizeof(vname), "volume-%zu", i + 1);
		kv(&w, 2, true, "name", vname);
		key(&w, 4, false, "persistentVolumeClaim");
		kv(&w, 6, false, "claimName", v.claims.v[i]);
	}
	for (size_t i = 0; i < v.hosts.n; i++) {
		char vname[32];

		snprintf(vname, sizeof(vname), "mount-%zu", i + 1);
		kv(&w, 2, true, "name", vname);
		key(&w, 4, false, "hostPath");
		kv(&w, 6, false, "path", v.hosts.v[i]);
	}

	if (spec->n_on_up) {
		bool waits = false;

		dv_buf_adds(out, "# on_up: once the Pod runs, in order (bash or zsh quoting):\n");
		for (size_t i = 0; i < spec->n_on_up; i++)
			waits |= spec->on_up[i].wait_for.n > 0;
		if (waits)
			dv_buf_addf(out,
				    "#   kubectl wait --for=condition=Ready pod/%s --timeout=%llus\n",
				    pod, secs(ENV_WAIT_TIMEOUT_MS));
		for (size_t i = 0; i < spec->n_on_up; i++) {
			const struct env_step *st = &spec->on_up[i];
			struct dv_buf line = { 0 };

			dv_buf_addf(&line, "kubectl exec %s -c %s -- ", pod, pod);
			if (st->n_env) {
				dv_buf_adds(&line, "env ");
				for (size_t e = 0; e < st->n_env; e++) {
					dv_autofree char *a = dv_xasprintf("%s=%s", st->env[e].key,
									   st->env[e].value);

					env_kube_shq(&line, a);
					dv_buf_add(&line, " ", 1);
				}
			}
			env_kube_shq(&line, spec->shell);
			dv_buf_adds(&line, " -c ");
			env_kube_shq(&line, st->run);
			dv_buf_adds(out, "#   ");
			dv_buf_adds(out, line.s);
			dv_buf_add(out, "\n", 1);
			dv_buf_release(&line);
		}
	}
	if (w.bad) {
		dv_err_plain(err, EILSEQ,
			     "%s: a path or value of the env is not UTF-8, and a Pod cannot name "
			     "it: rename it (or, for the checkout's path, use --clone)",
			     spec->display);
		goto out;
	}
	ret = 0;
out:
	dv_strv_release(&v.claims);
	dv_strv_release(&v.claim_src);
	dv_strv_release(&v.hosts);
	dv_strv_release(&caps);
	dv_strv_release(&svc_caps);
	return ret;
}
