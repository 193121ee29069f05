#ifndef DV_FAULT_H
#define DV_FAULT_H
/*
 * util/fault.h - fault points for the crash tests (README "Testing").
 *
 * dv_fault_point("up.cgroup") does nothing unless the environment variable
 * DEVENV_FAULT names that point: `point` (its first hit), `point:N` (its
 * N-th hit), `point:term` or `point:hup` (SIGTERM or SIGHUP instead of
 * SIGKILL; `point:N:term` both), or `point:stop` (SIGSTOP: held there
 * until a SIGCONT, to widen a race). There the process kills itself. Always
 * compiled in: a point costs a strcmp when DEVENV_FAULT is set, a load
 * otherwise.
 */
void dv_fault_point(const char *point);

#endif
