/*
 * teardown: how long the kit takes to tear a container down.
 *
 * Starts `RUNTIME run --pids-max N sh -c ...` whose shell starts N-1
 * sleeping processes (N in all, so pids.max = N fits exactly), waits until
 * the container's pids cgroup counts all N, then asks the container to stop
 * and measures the time from that request until the cgroup directory is
 * gone, and until the runtime has exited. The cgroup is CGROUP_ROOT's
 * minidocker-PIDNS-PID, as the stage names it: PID is the runtime's pid and
 * PIDNS the inode number of its PID namespace (/proc/PID/ns/pid). bench/run
 * gives CGROUP_ROOT as lib/kit.bash finds it (cgroup_root pids), so the
 * cgroup layout is told apart in one place.
 *
 * The stop request is a line on the container's stdin: its first process
 * (the shell, PID 1 inside) reads it and exits. When the PID 1 of a PID
 * namespace ends, the kernel kills every other process in it; the runtime
 * then removes the cgroup with its own cleanup (rmdir, and on EBUSY it kills
 * what is left and tries again). The request does not go through the
 * runtime's signal handling, so what is measured is the teardown alone.
 *
 * The cgroup's end is seen with inotify(7): rmdir(2) raises IN_DELETE on the
 * hierarchy's directory. The time is taken when this program reads the
 * event, so it can only overstate the teardown, never understate it.
 *
 * With --unshare, the same processes run under util-linux's
 * `unshare --pid --fork --mount --mount-proc chroot ROOTFS`, which has no
 * cgroup: its time to exit is what the kernel alone takes to end them, the
 * floor for any runtime's teardown on this machine.
 *
 * Prints one JSON object a line, e.g.
 *   {"processes":1000,"pids_max":1000,"cgroup_gone_ms":12.345,"runtime_exit_ms":12.789}
 * (pids_max and cgroup_gone_ms are null with --unshare).
 *
 * Usage: teardown RUNTIME CGROUP_ROOT ROOTFS PROCESSES
 *        teardown --unshare ROOTFS PROCESSES
 * bench/run builds it into build/bench/teardown, and runs it once a
 * measure; it needs root.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* How long starting the processes, and stopping them, may take (ms). */
enum { START_TIMEOUT_MS = 60000, STOP_TIMEOUT_MS = 10000 };

/* PID 1: start PROCESSES-1 sleepers, say so, exit on a line (or EOF). */
static const char script[] =
	"n=1; while [ \"$n\" -lt \"$1\" ]; do sleep 1000 & n=$((n + 1)); done;"
	" echo ready; read line";

/*** errors ***/

/* Say what failed, with errno's text where a system call failed (failx, for
 * failures that are no system call's, sets errno to 0 first). */
static _Noreturn void fail(const char *what, ...)
{
	int saved_errno = errno;
	va_list ap;

	fputs("teardown: ", stderr);
	va_start(ap, what);
	vfprintf(stderr, what, ap);
	va_end(ap);
	if (saved_errno)
		fprintf(stderr, ": %s", strerror(saved_errno));
	fputc('\n', stderr);
	exit(1);
}

#define failx(...) (errno = 0, fail(__VA_ARGS__))

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000 };

	nanosleep(&ts, NULL);
}

/*** the container's cgroup ***/

/* The number in a cgroup file such as pids.current; -1 if there is none. */
static long read_number(const char *path)
{
	char text[32];
	char *end;
	ssize_t length = -1;
	long number;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd != -1) {
		length = read(fd, text, sizeof text - 1);
		close(fd);
	}
	if (length <= 0)
		return -1;
	text[length] = '\0';
	number = strtol(text, &end, 10);
	return end == text ? -1 : number;
}

/*** one container: started, filled, stopped ***/

struct run {
	const char *runtime;	/* a kit stage, or NULL for unshare */
	const char *rootfs;
	const char *hierarchy;	/* CGROUP_ROOT: where the stage makes its cgroup */
	long processes;
};

struct result {
	double cgroup_gone_ms, runtime_exit_ms;
};

static _Noreturn void exec_container(const struct run *run)
{
	char count[24];
	char mount_proc[PATH_MAX];

	snprintf(count, sizeof count, "%ld", run->processes);
	if (run->runtime) {
		execl(run->runtime, run->runtime, "run", "--rootfs", run->rootfs,
		      "--pids-max", count, "sh", "-c", script, "sh", count,
		      (char *)NULL);
		fail("execl(\"%s\")", run->runtime);
	}
	snprintf(mount_proc, sizeof mount_proc, "--mount-proc=%s/proc",
		 run->rootfs);
	execlp("unshare", "unshare", "--pid", "--fork", "--mount", mount_proc,
	       "chroot", run->rootfs, "sh", "-c", script, "sh", count,
	       (char *)NULL);
	fail("execlp(\"unshare\")");
}

/* Wait for the line "ready" from PID 1: all its sleepers are forked. */
static void wait_until_ready(int from_container, pid_t runtime_pid,
			     double deadline)
{
	char said[16] = "";
	size_t got = 0;

	while (got < sizeof "ready\n" - 1) {
		struct pollfd ready = { .fd = from_container, .events = POLLIN };

		if (poll(&ready, 1, 100) == 1) {
			ssize_t n = read(from_container, said + got,
					 sizeof said - 1 - got);

			if (n <= 0) {
				int status = 0;

				waitpid(runtime_pid, &status, 0);
				failx("the container ended before it was ready "
				      "(the runtime's wait status: %d)", status);
			}
			got += n;
		}
		if (now_ms() > deadline)
			failx("the container was not ready within %d ms",
			      START_TIMEOUT_MS);
	}
	if (strcmp(said, "ready\n") != 0)
		failx("the container said '%s', not 'ready'", said);
}

/* Watch the hierarchy for removed directories. Set up before the container
 * exists, so that no event of its cgroup can be missed. */
static int watch_hierarchy(const char *hierarchy)
{
	int watch = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);

	if (watch == -1)
		fail("inotify_init1");
	if (inotify_add_watch(watch, hierarchy, IN_DELETE | IN_ONLYDIR) == -1)
		fail("inotify_add_watch(\"%s\")", hierarchy);
	return watch;
}

/* The name the stage gives its cgroup: minidocker-PIDNS-PID, its pid and
 * the inode number of its PID namespace (a pid alone is unique only within
 * its namespace). The runtime was forked from this program, so its
 * namespace is this program's, whether or not it has exec'd yet. */
static void cgroup_name(char *name, size_t size, pid_t runtime_pid)
{
	char ns_path[64];
	struct stat ns;

	snprintf(ns_path, sizeof ns_path, "/proc/%d/ns/pid", (int)runtime_pid);
	if (stat(ns_path, &ns) == -1)
		fail("stat(\"%s\")", ns_path);
	snprintf(name, size, "minidocker-%lu-%d", (unsigned long)ns.st_ino,
		 (int)runtime_pid);
}

/* Wait until the cgroup holds every process, as many as pids.max allows. */
static void wait_until_full(const struct run *run, const char *cgroup,
			    double deadline)
{
	char pids_current[PATH_MAX];

	snprintf(pids_current, sizeof pids_current, "%s/%s/pids.current",
		 run->hierarchy, cgroup);
	while (read_number(pids_current) != run->processes) {
		if (now_ms() > deadline)
			failx("%s is %ld, not %ld", pids_current,
			      read_number(pids_current), run->processes);
		sleep_ms(1);
	}
}

/* Read inotify events until one says that CGROUP was removed. */
static void wait_until_removed(int watch, const char *hierarchy,
			       const char *cgroup)
{
	alignas(struct inotify_event) char events[4096];

	for (;;) {
		struct pollfd readable = { .fd = watch, .events = POLLIN };
		ssize_t length;

		if (poll(&readable, 1, STOP_TIMEOUT_MS) != 1)
			failx("%s/%s was not removed within %d ms", hierarchy,
			      cgroup, STOP_TIMEOUT_MS);
		length = read(watch, events, sizeof events);
		for (char *at = events; length > 0 && at < events + length;) {
			const struct inotify_event *event = (void *)at;

			if (event->len && !strcmp(event->name, cgroup))
				return;
			at += sizeof *event + event->len;
		}
	}
}

static struct result measure(const struct run *run)
{
	char cgroup[64];
	int to_container[2];
	int from_container[2];
	int watch = -1;
	int status;
	struct result result = { -1, -1 };
	double start;
	double deadline = now_ms() + START_TIMEOUT_MS;
	pid_t runtime_pid;

	if (pipe2(to_container, O_CLOEXEC) == -1 ||
	    pipe2(from_container, O_CLOEXEC) == -1)
		fail("pipe2");
	if (run->runtime)
		watch = watch_hierarchy(run->hierarchy);

	runtime_pid = fork();
	if (runtime_pid == -1)
		fail("fork");
	if (runtime_pid == 0) {
		dup2(to_container[0], STDIN_FILENO);
		dup2(from_container[1], STDOUT_FILENO);
		exec_container(run);
	}
	close(to_container[0]);
	close(from_container[1]);
	if (run->runtime)
		cgroup_name(cgroup, sizeof cgroup, runtime_pid);

	wait_until_ready(from_container[0], runtime_pid, deadline);
	if (run->runtime)
		wait_until_full(run, cgroup, deadline);

	/* The stop request: a line for PID 1. */
	start = now_ms();
	if (write(to_container[1], "\n", 1) != 1)
		fail("write(stdin of the container)");
	if (run->runtime) {
		wait_until_removed(watch, run->hierarchy, cgroup);
		result.cgroup_gone_ms = now_ms() - start;
		close(watch);
	}
	if (waitpid(runtime_pid, &status, 0) == -1)
		fail("waitpid");
	result.runtime_exit_ms = now_ms() - start;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		failx("the runtime ended with status %d, not 0", status);

	close(to_container[1]);
	close(from_container[0]);
	return result;
}

/*** main ***/

static _Noreturn void usage(const char *program)
{
	fprintf(stderr,
		"Usage: %s RUNTIME CGROUP_ROOT ROOTFS PROCESSES\n"
		"       %s --unshare ROOTFS PROCESSES\n",
		program, program);
	exit(2);
}

int main(int argc, char **argv)
{
	struct run run = { 0 };
	struct result r;
	char *end;

	if (argc == 4 && strcmp(argv[1], "--unshare") == 0) {
		run.rootfs = argv[2];
	} else if (argc == 5 && strcmp(argv[1], "--unshare") != 0) {
		run.runtime = argv[1];
		run.hierarchy = argv[2];
		run.rootfs = argv[3];
	} else {
		usage(argv[0]);
	}
	run.processes = strtol(argv[argc - 1], &end, 10);
	if (*end || run.processes < 1)
		usage(argv[0]);
	/* A container whose stdin is gone must not kill this program. */
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		fail("signal(SIGPIPE)");

	r = measure(&run);
	if (run.runtime)
		printf("{\"processes\":%ld,\"pids_max\":%ld,"
		       "\"cgroup_gone_ms\":%.3f,\"runtime_exit_ms\":%.3f}\n",
		       run.processes, run.processes, r.cgroup_gone_ms,
		       r.runtime_exit_ms);
	else
		printf("{\"processes\":%ld,\"pids_max\":null,"
		       "\"cgroup_gone_ms\":null,\"runtime_exit_ms\":%.3f}\n",
		       run.processes, r.runtime_exit_ms);
	if (fflush(stdout) == EOF)
		fail("write(stdout)");
	return 0;
}
