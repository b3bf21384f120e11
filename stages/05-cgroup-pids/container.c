/*
 * 05-cgroup-pids: a limit on the number of processes.
 *
 * Adds: a pids cgroup for each run, with pids.max = N (--pids-max, default
 * 20), on cgroup v2 or v1. The container's first process joins it before it
 * runs CMD, so a fork bomb inside is held at N processes and the host keeps
 * working. When CMD ends, what is left is killed and the cgroup removed.
 *
 * Still leaks: the network (`cat /proc/net/dev` lists the host's interfaces)
 * and the users (root inside is root outside). Real runtimes go on with
 * network and user namespaces, pivot_root(2), capabilities and seccomp.
 *
 * Try:  sudo build/05-cgroup-pids run --pids-max 5 cat /proc/self/cgroup
 *
 * Read: cgroups(7), and cgroup-v2.rst in the kernel's admin-guide.
 */
#define _GNU_SOURCE
#include <dirent.h>
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
	const char *rootfs;
	long pids_max;
	long stop_timeout;	/* seconds from SIGINT or SIGTERM to SIGKILL */
	char **command;		/* CMD [ARG...] */
};

static _Noreturn void usage(FILE *out, int status)
{
	fprintf(out,
		"Usage: %s run [OPTIONS] CMD [ARG...]\n"
		"Run CMD as PID 1 in new namespaces, chrooted into DIR, in a pids cgroup.\n"
		"\n"
		"Options:\n"
		"  --hostname NAME   the container's hostname (default: container)\n"
		"  --rootfs DIR      the root filesystem (default: rootfs beside %s)\n"
		"  --pids-max N      at most N processes inside (default: 20)\n"
		"  --stop-timeout S  after Ctrl-C, SIGTERM or SIGHUP, kill CMD if it is\n"
		"                    still running S seconds later (default: 3)\n"
		"  -v, --verbose     print each kernel step to stderr\n"
		"  -h, --help        print this help and exit\n"
		"\n"
		"Exit status: CMD's own; 128+N if CMD died of signal N; 125 if the\n"
		"kit failed; 126 if CMD cannot be executed; 127 if it is not found.\n",
		program, program);
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
	/* The readlink above left room for it. */
	memcpy(strrchr(rootfs, '/') + 1, "rootfs", sizeof "rootfs");
	return rootfs;
}

static struct options parse_args(int argc, char **argv)
{
	static const struct option long_options[] = {
		{ "hostname", required_argument, NULL, 'H' },
		{ "rootfs", required_argument, NULL, 'R' },
		{ "pids-max", required_argument, NULL, 'P' },
		{ "stop-timeout", required_argument, NULL, 'T' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct options opts = { .hostname = "container", .stop_timeout = 3,
				.pids_max = 20 };
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
		case 'R':
			opts.rootfs = optarg;
			break;
		case 'P':
			opts.pids_max = strtol(optarg, &end, 10);
			if (*end || opts.pids_max < 1 || opts.pids_max > INT_MAX)
				misuse("--pids-max needs a whole number of at least 1, not '%s'",
				       optarg);
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
	if (!opts.rootfs)
		opts.rootfs = default_rootfs();
	return opts;
}

/*** the cgroup: a pids limit on the whole container ***/

static char cgroup[64];		/* e.g. /sys/fs/cgroup/pids/minidocker-42 */
static int sync_pipe[2];	/* the child waits here until it is inside */

/* Cgroups are set up by writing to their files. */
static int write_file(const char *dir, const char *file, const char *text)
{
	char path[PATH_MAX];
	FILE *out;

	snprintf(path, sizeof path, "%s/%s", dir, file);
	if (!(out = fopen(path, "we")))
		return -1;
	fputs(text, out);
	return fclose(out) == EOF ? -1 : 0;
}

/* Remove the cgroup, killing what is left in it. atexit(3) runs this however
 * the runtime exits, once the cgroup exists. */
static void cgroup_remove(void)
{
	char procs_path[PATH_MAX];

	snprintf(procs_path, sizeof procs_path, "%s/cgroup.procs", cgroup);
	/* rmdir(2) fails with EBUSY while processes are inside. Kill them, all
	 * at once with cgroup.kill (v2, Linux 5.14+), else each one listed in
	 * cgroup.procs, and try again. */
	for (int tries = 0; rmdir(cgroup) == -1; tries++) {
		FILE *procs;
		int pid;

		if (errno != EBUSY || tries == 1000) {
			fprintf(stderr, "%s: rmdir(\"%s\"): %s (make clean "
				"removes it)\n", STAGE, cgroup, strerror(errno));
			_exit(EXIT_KIT);	/* exit(3) must not run twice */
		}
		if (write_file(cgroup, "cgroup.kill", "1") == -1 &&
		    (procs = fopen(procs_path, "re"))) {
			/* NOLINTNEXTLINE(cert-err34-c): pids the kernel wrote */
			while (fscanf(procs, "%d", &pid) == 1)
				kill(pid, SIGKILL);
			fclose(procs);
		}
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	}
	if (verbose)
		fprintf(stderr, "[%.2s] rmdir(\"%s\") ok\n", STAGE, cgroup);
}

/* A runtime killed with SIGKILL cannot remove its cgroup, but its container
 * died with it (PR_SET_PDEATHSIG), so the cgroup is empty: remove each one
 * whose runtime is gone, as the next run starts. */
static void remove_stale_cgroups(const char *hierarchy)
{
	DIR *dir = opendir(hierarchy);
	struct dirent *entry;
	char stale[PATH_MAX];
	char *end;
	long pid;

	while (dir && (entry = readdir(dir))) {
		/* Only minidocker-PID, PID a whole number: anyone root may
		 * name a cgroup, and kill(0 or -1, 0) would not mean a pid. */
		if (strncmp(entry->d_name, "minidocker-", 11) != 0)
			continue;
		pid = strtol(entry->d_name + 11, &end, 10);
		if (*end || pid < 1 || pid > INT_MAX ||
		    kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		snprintf(stale, sizeof stale, "%s/%s", hierarchy, entry->d_name);
		if (rmdir(stale) == 0 && verbose)
			fprintf(stderr, "[%.2s] rmdir(\"%s\") ok: left by a killed "
				"run\n", STAGE, stale);
	}
	if (dir)
		closedir(dir);
}

/* Make this run's cgroup and put the child in it. statfs(2) tells the cgroup
 * layouts apart: cgroup2 on /sys/fs/cgroup is unified (v2); otherwise the
 * v1 pids controller has its own mount at /sys/fs/cgroup/pids. */
static void cgroup_create(long pids_max, pid_t child)
{
	const char *hierarchy = "/sys/fs/cgroup/pids";
	char number[16];
	struct statfs fs;

	check(statfs("/sys/fs/cgroup", &fs), NULL, "statfs(\"/sys/fs/cgroup\")");
	if (fs.f_type == CGROUP2_SUPER_MAGIC) {
		/* In v2 a parent enables pids for its children. The root may,
		 * though it has processes: the no-internal-process rule spares
		 * the root cgroup. */
		hierarchy = "/sys/fs/cgroup";
		check(write_file(hierarchy, "cgroup.subtree_control", "+pids"), NULL,
		      "write(\"%s/cgroup.subtree_control\", \"+pids\")", hierarchy);
	}
	remove_stale_cgroups(hierarchy);
	/* A cgroup is a directory, and its files are its settings. */
	snprintf(cgroup, sizeof cgroup, "%s/minidocker-%d", hierarchy, getpid());
	int made = mkdir(cgroup, 0755);

	check(made, errno == EROFS ? "/sys/fs/cgroup is mounted read-only: "
	      "in a container, run it privileged" : NULL,
	      "mkdir(\"%s\")", cgroup);
	if (atexit(cgroup_remove) != 0)
		die(EXIT_KIT, NULL, "atexit(cgroup_remove)");
	snprintf(number, sizeof number, "%ld", pids_max);
	check(write_file(cgroup, "pids.max", number),
	      "the kernel allows at most 4194304",
	      "write(\"%s/pids.max\", \"%s\")", cgroup, number);
	snprintf(number, sizeof number, "%d", (int)child);
	check(write_file(cgroup, "cgroup.procs", number), NULL,
	      "write(\"%s/cgroup.procs\", \"%s\")", cgroup, number);
}

/*** the container's first process ***/

static int child_main(void *arg)
{
	struct options *opts = arg;
	char go;

	/* Wait until the runtime has put this process in the cgroup, so that
	 * CMD and all it starts count against pids.max. */
	close(sync_pipe[1]);
	if (read(sync_pipe[0], &go, 1) != 1)
		_exit(EXIT_KIT);	/* the runtime failed, and has said why */

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
	check(pipe2(sync_pipe, O_CLOEXEC), NULL, "pipe2(sync_pipe)");

	/* clone(2) makes the new namespaces and the process inside them in one
	 * step. The child runs child_main on its own stack; SIGCHLD makes it a
	 * child we can wait for like any other. A new PID namespace applies to
	 * children only, never to the caller, which is why it takes clone()
	 * (or unshare() then fork()): the child is its PID 1. */
	child_pid = clone(child_main, child_stack + sizeof child_stack,
			  CLONE_NEWUTS | CLONE_NEWPID | CLONE_NEWNS | SIGCHLD,
			  &opts);
	check(child_pid, NULL, "clone(CLONE_NEWUTS|CLONE_NEWPID|CLONE_NEWNS)");

	/* The child waits while it is put in the cgroup, then runs CMD. */
	cgroup_create(opts.pids_max, child_pid);
	check(write(sync_pipe[1], "go", 1), NULL, "write(sync_pipe)");

	return wait_for(child_pid);
}
