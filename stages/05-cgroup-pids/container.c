/*
 * 05-cgroup-pids: a limit on the number of processes.
 *
 * Adds: a pids cgroup (v2 or v1) for each run, with pids.max = N (--pids-max,
 * default 20). CMD starts inside it, so a fork bomb is held at N processes
 * and the host keeps working; when CMD ends, the cgroup is emptied and removed.
 *
 * Still leaks: the root (a root process climbs out of the chroot with a
 * second chroot, escapes/breakout.c), the network (`cat /proc/net/dev` lists
 * the host's interfaces) and the users (root inside is root outside).
 *
 * Try:  sudo build/05-cgroup-pids run --pids-max 5 cat /proc/self/cgroup
 *
 * Read: cgroups(7), and cgroup-v2.rst in the kernel's admin-guide.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <linux/magic.h>
#include <sched.h>
#include <signal.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define STAGE "05-cgroup-pids"

/* Exit statuses, as chroot(1), unshare(1) and docker run use them. */
enum { EXIT_KIT = 125, EXIT_CANNOT_EXEC = 126, EXIT_NOT_FOUND = 127 };

/*** the command line ***/

struct options {
	const char *hostname;
	const char *rootfs;
	long pids_max;
	long stop_timeout;	/* seconds from SIGINT or SIGTERM to SIGKILL */
	char **command;		/* CMD [ARG...] */
};

static const struct options defaults = {
	.hostname = "container",
	.pids_max = 20,
	.stop_timeout = 3,
};
static const char about[] =
	"Run CMD as PID 1 in new namespaces, chrooted into DIR, in a pids cgroup.";
static const char options_help[] =
	"  --hostname NAME   the container's hostname (default: container)\n"
	"  --rootfs DIR      the root filesystem (default: rootfs beside this program)\n"
	"  --pids-max N      at most N processes inside (default: 20)\n";
static const struct option long_options[] = {
	{ "hostname", required_argument, NULL, 'H' },
	{ "rootfs", required_argument, NULL, 'R' },
	{ "pids-max", required_argument, NULL, 'P' },
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
static void cgroup_create(long pids_max, pid_t child);

/* This stage's own options; parse_args() takes --stop-timeout, -v and -h. */
static void set_option(struct options *opts, int opt, char *arg)
{
	if (opt == 'H' && strlen(arg) > HOST_NAME_MAX)
		misuse("--hostname is at most %d characters", HOST_NAME_MAX);
	if (opt == 'H')
		opts->hostname = arg;
	if (opt == 'R')
		opts->rootfs = arg;
	if (opt == 'P')
		opts->pids_max = number(arg, 1, INT_MAX,
					"--pids-max needs a whole number of at least 1");
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
	cgroup_create(opts.pids_max, child); /* while the child waits for go */
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

/*** the cgroup: a pids limit on the whole container ***/

static char cgroup[PATH_MAX];	/* /sys/fs/cgroup[/pids]/minidocker-NS-PID */

/* Cgroups are set up by writing to their files. */
static void write_file(const char *dir, const char *file, const char *text,
		       const char *hint)
{
	char path[PATH_MAX];
	FILE *out;

	snprintf(path, sizeof path, "%s/%s", dir, file);
	out = fopen(path, "we");
	check(out && fputs(text, out) != EOF && fclose(out) == 0 ? 0 : -1, hint,
	      "write(\"%s\", \"%s\")", path, text);
}

/* Run by atexit(3). rmdir(2) fails while processes are inside: one that joined
 * from outside outlives the PID namespace. Kill what cgroup.procs lists. */
static void cgroup_remove(void)
{
	char procs_path[PATH_MAX + 16];

	snprintf(procs_path, sizeof procs_path, "%s/cgroup.procs", cgroup);
	for (int tries = 0; rmdir(cgroup) == -1; tries++) {
		FILE *procs;

		if (errno != EBUSY || tries == 1000) {
			fprintf(stderr, "%s: rmdir(\"%s\"): %s (make clean "
				"removes it)\n", STAGE, cgroup, strerror(errno));
			_exit(EXIT_KIT);	/* exit(3) must not run twice */
		}
		if ((procs = fopen(procs_path, "re"))) {
			for (int pid; fscanf(procs, "%d", &pid) == 1;) /* NOLINT(cert-err34-c) */
				kill(pid, SIGKILL);
			fclose(procs);
		}
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	}
}

/* Make this run's cgroup and put the child in it. statfs(2) tells v2 (cgroup2
 * on /sys/fs/cgroup) from v1 (the pids controller at /sys/fs/cgroup/pids). */
static void cgroup_create(long pids_max, pid_t child)
{
	const char *hierarchy = "/sys/fs/cgroup/pids";
	char value[16];
	struct statfs fs;
	struct stat pid_ns;

	check(statfs("/sys/fs/cgroup", &fs), NULL, "statfs(\"/sys/fs/cgroup\")");
	if (fs.f_type == CGROUP2_SUPER_MAGIC) {
		/* In v2 a parent enables pids for its children (the root may). */
		hierarchy = "/sys/fs/cgroup";
		write_file(hierarchy, "cgroup.subtree_control", "+pids", NULL);
	}
	/* A cgroup is a directory, and its files are its settings. A pid is
	 * unique only in its PID namespace: the name adds the namespace. */
	check(stat("/proc/self/ns/pid", &pid_ns), NULL, "stat(\"/proc/self/ns/pid\")");
	snprintf(cgroup, sizeof cgroup, "%s/minidocker-%lu-%d", hierarchy,
		 (unsigned long)pid_ns.st_ino, (int)getpid());
	int made = mkdir(cgroup, 0755);

	check(made, errno == EROFS ? "/sys/fs/cgroup is mounted read-only: "
	      "in a container, run it privileged" : NULL, "mkdir(\"%s\")", cgroup);
	if (atexit(cgroup_remove) != 0)
		die(EXIT_KIT, NULL, "atexit(cgroup_remove)");
	snprintf(value, sizeof value, "%ld", pids_max);
	write_file(cgroup, "pids.max", value, "the kernel allows at most 4194304");
	snprintf(value, sizeof value, "%d", (int)child);
	write_file(cgroup, "cgroup.procs", value, NULL);
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
