/*
 * 04-chroot: a root filesystem of its own.
 *
 * Adds: chroot(2) into a busybox root filesystem (build/rootfs, or --rootfs
 * DIR), with the fresh /proc and a tmpfs /tmp mounted inside it. `ls /` shows
 * the rootfs, CMD is looked up there, and the host's files are out of sight.
 *
 * Still leaks: resources. Nothing limits how many processes the container
 * may start, so a fork bomb inside would use up the host's PIDs. Its cgroup
 * is the host's: `cat /proc/self/cgroup`. Stage 05 adds a pids limit. And a
 * chroot holds no root process: a second chroot climbs out of it (the
 * breakout, escapes/breakout.c), which stage 06's pivot_root stops.
 *
 * Try:  sudo build/04-chroot run sh -c 'ls /; ps'
 *
 * Read: chroot(2), mount_namespaces(7), tmpfs(5), and pivot_root(2) for
 * what real runtimes use instead.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
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

#define STAGE "04-chroot"

/* Exit statuses, as chroot(1), unshare(1) and docker run use them. */
enum { EXIT_KIT = 125, EXIT_CANNOT_EXEC = 126, EXIT_NOT_FOUND = 127 };

/*** the command line ***/

struct options {
	const char *hostname;
	const char *rootfs;
	long stop_timeout;	/* seconds from SIGINT or SIGTERM to SIGKILL */
	char **command;		/* CMD [ARG...] */
};

static const struct options defaults = {
	.hostname = "container",
	.stop_timeout = 3,
};
static const char about[] =
	"Run CMD as PID 1 in new UTS, PID and mount namespaces, chrooted into DIR.";
static const char options_help[] =
	"  --hostname NAME   the container's hostname (default: container)\n"
	"  --rootfs DIR      the root filesystem (default: rootfs beside this program)\n";
static const struct option long_options[] = {
	{ "hostname", required_argument, NULL, 'H' },
	{ "rootfs", required_argument, NULL, 'R' },
	{ "stop-timeout", required_argument, NULL, 'T' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};
static const char *program;	/* argv[0], for usage and hints */
static int verbose;		/* -v: print each kernel step as it happens */

/* The plumbing every stage shares, below the banner at the end of the file. */
static _Noreturn void die(int status, const char *hint, const char *step, ...);
static void check(long result, const char *hint, const char *step, ...);
static _Noreturn void misuse(const char *problem, ...);
static long number(const char *text, long min, long max, const char *needs);
static struct options parse_args(int argc, char **argv);
static void start_watch(void);
static void tie_to_runtime(void);
static int wait_for(pid_t pid, unsigned int stop_timeout);
/* This stage's own steps, after main. */
static const char *default_rootfs(void);

/* This stage's own options; parse_args() takes --stop-timeout, -v and -h. */
static void set_option(struct options *opts, int opt, char *arg)
{
	if (opt == 'H' && strlen(arg) > HOST_NAME_MAX)
		misuse("--hostname is at most %d characters", HOST_NAME_MAX);
	if (opt == 'H')
		opts->hostname = arg;
	if (opt == 'R')
		opts->rootfs = arg;
}

/*** the container's first process ***/

static int child_main(void *arg)
{
	struct options *opts = arg;

	/* If the runtime dies, so does the container (see below the banner). */
	tie_to_runtime();

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

	/* chroot(2) changes what "/" means for this process and its children:
	 * every path is now looked up inside the rootfs, and the host's files
	 * are out of reach. It does not move the working directory, which
	 * still points into the host's tree, so chdir("/") must follow. */
	int chrooted = chroot(opts->rootfs);

	check(chrooted, errno == ENOTDIR ?
	      "a rootfs is a directory; build one with: make rootfs" :
	      "build it with: make rootfs", "chroot(\"%s\")", opts->rootfs);
	check(chdir("/"), NULL, "chdir(\"/\")");

	/* ps reads /proc, and a proc filesystem shows the PID namespace of the
	 * process that mounted it. A fresh one mounted here, by PID 1, shows
	 * only the container's processes. See proc(5). */
	check(mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		    NULL), "the rootfs needs a /proc directory",
	      "mount(\"proc\", \"/proc\", \"proc\", MS_NOSUID|MS_NODEV|MS_NOEXEC)");

	/* A tmpfs gives the container a /tmp of its own, in memory. Like the
	 * /proc above it lives only in this mount namespace, so it vanishes
	 * with the container and nothing stays mounted under the rootfs. */
	check(mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777"),
	      "the rootfs needs a /tmp directory",
	      "mount(\"tmpfs\", \"/tmp\", \"tmpfs\", MS_NOSUID|MS_NODEV)");

	/* Become CMD. execvp(3) searches PATH; on success it does not return. */
	execvp(opts->command[0], opts->command);
	die(errno == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_EXEC, NULL,
	    "execvp(\"%s\")", opts->command[0]);
}

/*** main ***/

int main(int argc, char **argv)
{
	static alignas(16) char child_stack[1024 * 1024];
	struct options opts = parse_args(argc, argv);

	if (!opts.rootfs)
		opts.rootfs = default_rootfs();
	start_watch();

	/* clone(2) makes the new namespaces and the process inside them in one
	 * step. The child runs child_main on its own stack; SIGCHLD makes it a
	 * child we can wait for like any other. A new PID namespace applies to
	 * children only, never to the caller, which is why it takes clone()
	 * (or unshare() then fork()): the child is its PID 1. */
	pid_t child = clone(child_main, child_stack + sizeof child_stack,
			    CLONE_NEWUTS | CLONE_NEWPID | CLONE_NEWNS | SIGCHLD,
			    &opts);

	check(child, NULL, "clone(CLONE_NEWUTS|CLONE_NEWPID|CLONE_NEWNS)");
	return wait_for(child, opts.stop_timeout);
}

/* The kit keeps its rootfs beside the binary (build/rootfs next to
 * build/04-chroot), so the default works from any working directory. */
static const char *default_rootfs(void)
{
	static char rootfs[PATH_MAX];
	ssize_t length = readlink("/proc/self/exe", rootfs,
				  sizeof rootfs - sizeof "rootfs");

	if (length == -1)
		die(EXIT_KIT, NULL, "readlink(\"/proc/self/exe\")");
	rootfs[length] = '\0';
	memcpy(strrchr(rootfs, '/') + 1, "rootfs", sizeof "rootfs");
	return rootfs;
}

/*** below: the same in every stage ***/

/* Say which step failed and why, with a hint a person can act on; or, with
 * -v, that a step went well (status 0), so students can watch them go by. */
static void report(int status, const char *hint, const char *step, va_list ap)
{
	int saved_errno = errno;
	char what[512];

	vsnprintf(what, sizeof what, step, ap);
	if (!hint && status == EXIT_KIT &&
	    (saved_errno == EPERM || saved_errno == EACCES))
		hint = "run as root, e.g. with sudo";
	/* One fprintf, one write: the lines of parent and child do not mix. */
	if (status == 0)
		fprintf(stderr, "[%.2s] %s ok\n", STAGE, what);
	else
		fprintf(stderr, "%s: %s: %s%s%s%s\n", STAGE, what,
			strerror(saved_errno), hint ? " (" : "",
			hint ? hint : "", hint ? ")" : "");
}

static _Noreturn void die(int status, const char *hint, const char *step, ...)
{
	va_list ap;

	va_start(ap, step);
	report(status, hint, step, ap);
	va_end(ap);
	exit(status);
}

/* A system call's result: on failure, exit 125 naming the step. */
static void check(long result, const char *hint, const char *step, ...)
{
	va_list ap;

	if (result != -1 && !verbose)
		return;
	va_start(ap, step);
	report(result == -1 ? EXIT_KIT : 0, hint, step, ap);
	va_end(ap);
	if (result == -1)
		exit(EXIT_KIT);
}

static _Noreturn void usage(void)
{
	printf("Usage: %s run [OPTIONS] CMD [ARG...]\n%s\n\nOptions:\n%s"
		"  --stop-timeout S  after Ctrl-C, SIGTERM or SIGHUP, kill CMD if it is\n"
		"                    still running S seconds later (default: 3)\n"
		"  -v, --verbose     print each kernel step to stderr\n"
		"  -h, --help        print this help and exit\n\n"
		"Exit status: CMD's own; 128+N if CMD died of signal N; 125 if the\n"
		"kit failed; 126 if CMD cannot be executed; 127 if it is not found.\n",
		program, about, options_help);
	exit(EXIT_SUCCESS);
}

/* Say what is wrong with the command line, point at --help, exit 125. */
static _Noreturn void misuse(const char *problem, ...)
{
	va_list ap;

	va_start(ap, problem);
	if (problem) {
		fprintf(stderr, "%s: ", STAGE);
		vfprintf(stderr, problem, ap);
		fputc('\n', stderr);
	}
	va_end(ap);
	fprintf(stderr, "Try '%s --help' for more information.\n", program);
	exit(EXIT_KIT);
}

/* TEXT as a whole number from MIN to MAX, or misuse saying what it needs. */
static long number(const char *text, long min, long max, const char *needs)
{
	char *end;
	long value = strtol(text, &end, 10);

	if (*end || end == text || value < min || value > max)
		misuse("%s, not '%s'", needs, text);
	return value;
}

/* `run [OPTIONS] CMD [ARG...]`; the options not every stage has go to
 * set_option(). */
static struct options parse_args(int argc, char **argv)
{
	struct options opts = defaults;
	int opt;

	program = argv[0];
	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")))
		usage();
	if (argc < 2)
		misuse("missing the command 'run'");
	if (strcmp(argv[1], "run") != 0)
		misuse("unknown command '%s' (the only command is 'run')", argv[1]);
	/* The '+' stops option parsing at CMD, so CMD keeps its own options. */
	optind = 2;
	while ((opt = getopt_long(argc, argv, "+vh", long_options, NULL)) != -1) {
		if (opt == 'T')
			opts.stop_timeout = number(optarg, 0, 3600, "--stop-timeout "
				"needs a whole number of seconds from 0 to 3600");
		else if (opt == 'v')
			verbose = 1;
		else if (opt == 'h')
			usage();
		else if (opt == '?')
			misuse(NULL);	/* getopt has said what was wrong */
		else
			set_option(&opts, opt, optarg);
	}
	if (optind == argc)
		misuse("missing CMD to run");
	opts.command = argv + optind;
	return opts;
}

static sigset_t events, unheld;	/* signals wait_for() takes as events */
static int sync_pipe[2];	/* the child waits here for wait_for() */

/* Before clone(): from here on, the signals that matter to the runtime are
 * held back, to be taken one at a time by wait_for(), so none is lost. */
static void start_watch(void)
{
	const int signals[] = { SIGINT, SIGTERM, SIGHUP, SIGALRM, SIGCHLD };

	sigemptyset(&events);
	for (size_t i = 0; i < sizeof signals / sizeof *signals; i++)
		sigaddset(&events, signals[i]);
	if (sigprocmask(SIG_BLOCK, &events, &unheld) || pipe2(sync_pipe, O_CLOEXEC))
		die(EXIT_KIT, NULL, "sigprocmask or pipe2");
}

/* The container's first step: if the runtime dies, die too rather than run
 * unwatched (prctl(2), PR_SET_PDEATHSIG); then wait for wait_for()'s go.
 * A runtime that died, even before the prctl, has closed the pipe. */
static void tie_to_runtime(void)
{
	char go;

	check(prctl(PR_SET_PDEATHSIG, SIGKILL), NULL,
	      "prctl(PR_SET_PDEATHSIG, SIGKILL)");
	close(sync_pipe[1]);
	if (read(sync_pipe[0], &go, 1) != 1)
		_exit(EXIT_KIT);	/* the runtime failed, and has said why */
	sigprocmask(SIG_SETMASK, &unheld, NULL);
}

/* Let the container go on, and make its exit status ours. Ctrl-C, kill and
 * a closed terminal reach the runtime, which passes them on: the container's
 * first process decides what they mean. But as PID 1 of a PID namespace
 * (stage 02 on) it ignores a signal it has no handler for (pid_namespaces(7)),
 * so the first one also starts a timer, as `docker stop` does: still running
 * stop_timeout seconds later, the container gets SIGKILL, which no process
 * can ignore; and when a PID 1 dies, the kernel kills the rest of its PID
 * namespace too. */
static int wait_for(pid_t pid, unsigned int stop_timeout)
{
	int status;
	int stop_signal = 0;
	int killed = 0;
	pid_t reaped;

	if (write(sync_pipe[1], "go", 1) != 1)
		die(EXIT_KIT, NULL, "write(sync_pipe)");
	while ((reaped = waitpid(pid, &status, WNOHANG)) == 0) {
		int signo = sigwaitinfo(&events, NULL);	/* SIGCHLD: look again */


		if (signo == SIGALRM) {
			killed = kill(pid, SIGKILL) == 0;
		} else if (signo > 0 && signo != SIGCHLD) {
			kill(pid, signo);
			if (!stop_signal) {
				stop_signal = signo;
				if (stop_timeout > 0)
					alarm(stop_timeout);
				else
					raise(SIGALRM);	/* held back: the next event */
			}
		}
	}
	if (reaped == -1)
		die(EXIT_KIT, NULL, "waitpid(%d)", (int)pid);
	/* Killed because it did not stop: report the signal that asked it to,
	 * so Ctrl-C still means 130 and kill means 143. */
	if (killed) {
		fprintf(stderr, "%s: the container did not stop within %u s of "
			"SIG%s; killing it\n", STAGE, stop_timeout,
			stop_signal == SIGINT ? "INT" :
			stop_signal == SIGTERM ? "TERM" : "HUP");
		return 128 + stop_signal;
	}
	return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}
