/*
 * 03-mountns-proc: ps shows only the container.
 *
 * Adds: a new mount namespace, made private before anything is mounted in it,
 * and a fresh proc filesystem on /proc. Now `ps` lists only the container's
 * processes, from PID 1 up. The host's mount table does not change: the new
 * /proc lives and dies with the container's mount namespace.
 *
 * Still leaks: the host's files. `ls /` is the host's root directory, and a
 * file the host leaves in /tmp can be read. Stage 04 gives it its own root.
 *
 * Try:  sudo build/03-mountns-proc run sh -c 'ps -e; ls /'
 *
 * Read: mount_namespaces(7), pid_namespaces(7), proc(5), mount(2).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define STAGE "03-mountns-proc"

/* Exit statuses, as chroot(1), unshare(1) and docker run use them. */
enum { EXIT_KIT = 125, EXIT_CANNOT_EXEC = 126, EXIT_NOT_FOUND = 127 };

/*** errors and the -v trace ***/

static const char *program;	/* argv[0], for usage and hints */
static int verbose;		/* -v: print each kernel step as it happens */

/* Say which step failed and why, adding a hint a person can act on. */
static void report(int status, const char *hint, const char *step, va_list ap)
{
	int saved_errno = errno;
	char what[512];

	if (!hint && status == EXIT_KIT &&
	    (saved_errno == EPERM || saved_errno == EACCES))
		hint = "run as root, e.g. with sudo";
	vsnprintf(what, sizeof what, step, ap);
	/* One fprintf, one write: the lines of parent and child do not mix. */
	fprintf(stderr, "%s: %s: %s%s%s%s\n", STAGE, what, strerror(saved_errno),
		hint ? " (" : "", hint ? hint : "", hint ? ")" : "");
}

static _Noreturn void die(int status, const char *hint, const char *step, ...)
{
	va_list ap;

	va_start(ap, step);
	report(status, hint, step, ap);
	va_end(ap);
	exit(status);
}

/* Check a system call's result: on failure, exit 125 naming the step; with
 * -v, print the step as it succeeds, so students can watch the sequence. */
static void check(long result, const char *hint, const char *step, ...)
{
	va_list ap;

	va_start(ap, step);
	if (result == -1) {
		report(EXIT_KIT, hint, step, ap);
	} else if (verbose) {
		char what[512];

		vsnprintf(what, sizeof what, step, ap);
		fprintf(stderr, "[%.2s] %s ok\n", STAGE, what);
	}
	va_end(ap);
	if (result == -1)
		exit(EXIT_KIT);
}

/*** the command line ***/

struct options {
	const char *hostname;
	long stop_timeout;	/* seconds from SIGINT or SIGTERM to SIGKILL */
	char **command;		/* CMD [ARG...] */
};

static _Noreturn void usage(FILE *out, int status)
{
	fprintf(out,
		"Usage: %s run [OPTIONS] CMD [ARG...]\n"
		"Run CMD as PID 1 in new UTS, PID and mount namespaces, with its own /proc.\n"
		"\n"
		"Options:\n"
		"  --hostname NAME   the container's hostname (default: container)\n"
		"  --stop-timeout S  after Ctrl-C, SIGTERM or SIGHUP, kill CMD if it is\n"
		"                    still running S seconds later (default: 3)\n"
		"  -v, --verbose     print each kernel step to stderr\n"
		"  -h, --help        print this help and exit\n"
		"\n"
		"Exit status: CMD's own; 128+N if CMD died of signal N; 125 if the\n"
		"kit failed; 126 if CMD cannot be executed; 127 if it is not found.\n",
		program);
	exit(status);
}

/* Say what is wrong with the command line, point at --help, exit 125. */
static _Noreturn void misuse(const char *problem, ...)
{
	if (problem) {
		va_list ap;

		fprintf(stderr, "%s: ", STAGE);
		va_start(ap, problem);
		vfprintf(stderr, problem, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
	fprintf(stderr, "Try '%s --help' for more information.\n", program);
	exit(EXIT_KIT);
}

static struct options parse_args(int argc, char **argv)
{
	static const struct option long_options[] = {
		{ "hostname", required_argument, NULL, 'H' },
		{ "stop-timeout", required_argument, NULL, 'T' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct options opts = { .hostname = "container", .stop_timeout = 3 };
	char *end;
	int opt;

	program = argv[0];
	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")))
		usage(stdout, EXIT_SUCCESS);
	if (argc < 2)
		misuse("missing the command 'run'");
	if (strcmp(argv[1], "run") != 0)
		misuse("unknown command '%s' (the only command is 'run')", argv[1]);

	/* The '+' stops option parsing at CMD, so CMD keeps its own options. */
	optind = 2;
	while ((opt = getopt_long(argc, argv, "+vh", long_options, NULL)) != -1) {
		switch (opt) {
		case 'H':
			opts.hostname = optarg;
			break;
		case 'T':
			opts.stop_timeout = strtol(optarg, &end, 10);
			if (*end || end == optarg || opts.stop_timeout < 0 ||
			    opts.stop_timeout > 3600)
				misuse("--stop-timeout needs a whole number of seconds from 0 to 3600, not '%s'",
				       optarg);
			break;
		case 'v':
			verbose = 1;
			break;
		case 'h':
			usage(stdout, EXIT_SUCCESS);
		default:
			misuse(NULL);	/* getopt has said what was wrong */
		}
	}
	if (strlen(opts.hostname) > HOST_NAME_MAX)
		misuse("--hostname is at most %d characters", HOST_NAME_MAX);
	if (optind == argc)
		misuse("missing CMD to run");
	opts.command = argv + optind;
	return opts;
}

/*** the container's first process ***/

static int child_main(void *arg)
{
	struct options *opts = arg;

	/* If the runtime dies, take the container with it rather than leave it
	 * running unwatched. See prctl(2), PR_SET_PDEATHSIG. */
	check(prctl(PR_SET_PDEATHSIG, SIGKILL), NULL,
	      "prctl(PR_SET_PDEATHSIG, SIGKILL)");

	/* This process is in a new UTS namespace, which began as a copy of the
	 * host's hostname. Setting it changes only the copy. */
	check(sethostname(opts->hostname, strlen(opts->hostname)), NULL,
	      "sethostname(\"%s\")", opts->hostname);

	/* The new mount namespace began as a copy of the host's mounts, and
	 * where they are shared (systemd makes / shared) a mount made here
	 * would propagate back to the host. Making every mount private, before
	 * mounting anything, cuts that link. See mount_namespaces(7). */
	check(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), NULL,
	      "mount(NULL, \"/\", NULL, MS_REC|MS_PRIVATE)");

	/* ps reads /proc, and a proc filesystem shows the PID namespace of the
	 * process that mounted it. A fresh one mounted here, by PID 1, shows
	 * only the container's processes. See proc(5). */
	check(mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		    NULL), NULL,
	      "mount(\"proc\", \"/proc\", \"proc\", MS_NOSUID|MS_NODEV|MS_NOEXEC)");

	/* Become CMD. execvp(3) searches PATH; on success it does not return. */
	execvp(opts->command[0], opts->command);
	die(errno == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_EXEC, NULL,
	    "execvp(\"%s\")", opts->command[0]);
}

/*** signals: pass them on to the container, then stop it ***/

static volatile sig_atomic_t child_pid;
static volatile sig_atomic_t stop_signal;	/* the first one passed on */
static volatile sig_atomic_t container_killed;
static unsigned int stop_timeout;		/* --stop-timeout, seconds */

/* Ctrl-C, kill and a closed terminal reach the runtime; the container's first
 * process decides what they mean, as it would outside a container. But a PID
 * 1 ignores every signal it has no handler for (pid_namespaces(7)), as a
 * shell does, so the first signal also starts a timer, as `docker stop` does:
 * a container still running stop_timeout seconds later is killed. */
static void forward_signal(int signo)
{
	if (child_pid <= 0)
		_exit(128 + signo);	/* no container yet: just stop */
	kill(child_pid, signo);
	if (!stop_signal) {
		stop_signal = signo;
		if (stop_timeout > 0)
			alarm(stop_timeout);
		else
			raise(SIGALRM);
	}
}

/* SIGKILL cannot be caught or ignored, even by a PID 1, and when a PID
 * namespace's first process dies the kernel kills the rest of it too. */
static void kill_container(int signo)
{
	(void)signo;
	container_killed = 1;
	kill(child_pid, SIGKILL);
}

static void forward_signals(unsigned int timeout)
{
	struct sigaction action = { .sa_handler = forward_signal };
	const int forwarded[] = { SIGINT, SIGTERM, SIGHUP };

	stop_timeout = timeout;
	sigemptyset(&action.sa_mask);
	for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++)
		if (sigaction(forwarded[i], &action, NULL) == -1)
			die(EXIT_KIT, NULL, "sigaction(%d)", forwarded[i]);
	action.sa_handler = kill_container;
	if (sigaction(SIGALRM, &action, NULL) == -1)
		die(EXIT_KIT, NULL, "sigaction(SIGALRM)");
}

/*** waiting: the container's exit status becomes ours ***/

static int wait_for(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR)
			die(EXIT_KIT, NULL, "waitpid(%d)", (int)pid);
	/* Reaped: its pid may now be reused, so no signal must go to it. */
	alarm(0);
	child_pid = 0;
	/* Killed because it did not stop: report the signal that asked it to,
	 * so Ctrl-C still means 130 and kill means 143. */
	if (container_killed) {
		fprintf(stderr, "%s: the container did not stop within %u s of "
			"SIG%s; killing it\n", STAGE, stop_timeout,
			sigabbrev_np(stop_signal));
		return 128 + stop_signal;
	}
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

/*** main ***/

int main(int argc, char **argv)
{
	static alignas(16) char child_stack[1024 * 1024];
	struct options opts = parse_args(argc, argv);

	forward_signals(opts.stop_timeout);

	/* clone(2) makes the new namespaces and the process inside them in one
	 * step. The child runs child_main on its own stack; SIGCHLD makes it a
	 * child we can wait for like any other. A new PID namespace applies to
	 * children only, never to the caller, which is why it takes clone()
	 * (or unshare() then fork()): the child is its PID 1. */
	child_pid = clone(child_main, child_stack + sizeof child_stack,
			  CLONE_NEWUTS | CLONE_NEWPID | CLONE_NEWNS | SIGCHLD,
			  &opts);
	check(child_pid, NULL, "clone(CLONE_NEWUTS|CLONE_NEWPID|CLONE_NEWNS)");

	return wait_for(child_pid);
}
