/*
 * 10-userns: root in the container is nobody on the host, a user namespace.
 *
 * Adds: a user namespace, owning the others. The runtime maps the container's
 * ids 0 to 65535 to the host's from --userns-base N (100000): root inside, with
 * every capability in the container's namespaces, is user N outside, with none
 * in the host's. The rootfs's files, the host root's, are nobody's inside.
 *
 * Still leaks: the CPU and I/O (no limit on them) and the kernel's system calls
 * (no seccomp filter). And the cable ends at the host: no bridge, no NAT.
 *
 * Try:  sudo build/10-userns run id
 *
 * Read: user_namespaces(7), capabilities(7), subuid(5), newuidmap(1).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <getopt.h>
#include <grp.h>
#include <poll.h>
#include <limits.h>
#include <linux/magic.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define STAGE "10-userns"
#ifndef OPEN_TREE_CLONE	/* <sys/mount.h> has them from glibc 2.36 */
#define OPEN_TREE_CLONE 1
#define MOVE_MOUNT_F_EMPTY_PATH 4
#endif

/* Exit statuses, as chroot(1), unshare(1) and docker run use them. */
enum { EXIT_KIT = 125, EXIT_CANNOT_EXEC = 126, EXIT_NOT_FOUND = 127 };

/*** the command line ***/

struct options {
	const char *hostname;
	const char *rootfs;
	long pids_max;
	const char *memory;	/* as given, "64M": the kernel reads K, M and G */
	const char *net;	/* the veth pair's network, "198.18.0.0/30" */
	long userns_base;	/* the host's uid and gid for the container's 0 */
	long stop_timeout;	/* seconds from SIGINT or SIGTERM to SIGKILL */
	char **command;		/* CMD [ARG...] */
};

static const struct options defaults = {
	.hostname = "container",
	.pids_max = 20,
	.memory = "64M",
	.net = "198.18.0.0/30",
	.userns_base = 100000,
	.stop_timeout = 3,
};
static const char about[] =
	"Run CMD as PID 1 in new namespaces, with DIR as its root, in cgroups.";
static const char options_help[] =
	"  --hostname NAME   the container's hostname (default: container)\n"
	"  --rootfs DIR      the root filesystem (default: rootfs beside this program)\n"
	"  --pids-max N      at most N processes inside (default: 20)\n"
	"  --memory SIZE     at most SIZE of memory: bytes, or 100K, 64M, 1G (64M)\n"
	"  --net CIDR        the veth pair's network, /30 or wider (198.18.0.0/30)\n"
	"  --userns-base N   the host's uid and gid for the container's 0 (100000)\n";
static const struct option long_options[] = {
	{ "hostname", required_argument, NULL, 'H' },
	{ "rootfs", required_argument, NULL, 'R' },
	{ "pids-max", required_argument, NULL, 'P' },
	{ "memory", required_argument, NULL, 'M' },
	{ "net", required_argument, NULL, 'N' },
	{ "userns-base", required_argument, NULL, 'U' },
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
static int sync_pipe[2];	/* the child's go; CLOEXEC, the runtime's end open */
/* This stage's own steps, after main. */
static const char *default_rootfs(void);
static void cgroup_create(long pids_max, pid_t child);
static void memory_create(const char *memory, pid_t child);
static void loopback_up(void);
static int network(const char *cidr, uint32_t *first, int *prefix);
static void veth_create(const char *net, pid_t child);
static void userns_map(long base, pid_t child);

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
	/* The kernel reads 64M, refusing 12Q, but takes 0, -1 and overflows. */
	if (opt == 'M' && (*arg < '1' || *arg > '9' || strspn(arg, "0123456789") > 10))
		misuse("--memory needs a size from 1: bytes, or K, M or G of them "
		       "(64M), not '%s'", arg);
	if (opt == 'M')
		opts->memory = arg;
	if (opt == 'N' && network(arg, &(uint32_t){ 0 }, &(int){ 0 }) == -1)
		misuse("--net needs an IPv4 network, a /30 or wider, as "
		       "198.18.0.0/30, not '%s'", arg);
	if (opt == 'N')
		opts->net = arg;
	if (opt == 'U')	/* not 0: the container's root would be the host's */
		opts->userns_base = number(arg, 1, UINT32_MAX - 65536,
					   "--userns-base needs a host uid from 1");
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

	/* And in a new network namespace, which begins with nothing but a
	 * loopback interface, lo, down: without it up not even 127.0.0.1
	 * answers. */
	loopback_up();

	/* And in a new user namespace, owning the others: its ids stay the host
	 * root's, unmapped there, till it takes its own 0 (see userns_map()).
	 * New ids clear the death signal (see tie_to_runtime()): set it again,
	 * then go on only if the runtime still holds its end of the pipe. */
	check(setgroups(0, NULL), NULL, "setgroups(0, NULL)");
	check(setresgid(0, 0, 0), NULL, "setresgid(0, 0, 0)");
	check(setresuid(0, 0, 0), NULL, "setresuid(0, 0, 0)");
	check(prctl(PR_SET_PDEATHSIG, SIGKILL), NULL, "prctl(PR_SET_PDEATHSIG) again");
	if (poll(&(struct pollfd){ .fd = sync_pipe[0] }, 1, 0) != 0)
		_exit(EXIT_KIT);	/* POLLHUP: it died before the prctl */

	/* The new mount namespace began as a copy of the host's mounts, and
	 * where they are shared (systemd makes / shared) a mount made here
	 * would propagate back to the host. Making every mount private, before
	 * mounting anything, cuts that link. See mount_namespaces(7). */
	check(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), NULL,
	      "mount(NULL, \"/\", NULL, MS_REC|MS_PRIVATE)");

	/* pivot_root(2) makes the rootfs the root of this whole mount namespace,
	 * where chroot(2) only changed what "/" means for one process, which a
	 * root process can undo. It takes a mount point: bind-mounting the rootfs
	 * onto itself makes it one. And it refuses (EINVAL) to move a mount that
	 * is shared with another namespace: the private propagation above is
	 * what makes it legal here. The runtime stepped into the rootfs, as the
	 * directories above it may be closed to this root's user (a 0700 home):
	 * open_tree(2) binds ".", move_mount(2) puts it in place. */
	int tree = (int)syscall(SYS_open_tree, AT_FDCWD, ".",
				OPEN_TREE_CLONE | O_CLOEXEC | AT_RECURSIVE);

	check(tree, NULL, "open_tree(\".\", OPEN_TREE_CLONE|AT_RECURSIVE)");
	check(syscall(SYS_move_mount, tree, "", AT_FDCWD, ".",
		      MOVE_MOUNT_F_EMPTY_PATH), NULL, "move_mount(the tree onto \".\")");
	check(fchdir(tree), NULL, "fchdir(the tree)");

	/* With ".", "." the old root ends up mounted on top of the new one, and
	 * umount2() takes it away; MNT_DETACH, as the host's processes still use
	 * it. Left there, ".." from "/" would lead back into the host's tree. */
	int pivoted = (int)syscall(SYS_pivot_root, ".", ".");

	check(pivoted, errno == EINVAL ? "the host's / must be a mount point: not "
	      "a chroot, nor an initramfs (switch_root(8) out of it first)" : NULL,
	      "pivot_root(\".\", \".\")");

	/* ps reads /proc, and a proc filesystem shows the PID namespace of the
	 * process that mounted it. A fresh one mounted here, by PID 1, shows
	 * only the container's processes. See proc(5). */
	check(mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		    NULL), "the rootfs needs a /proc directory",
	      "mount(\"proc\", \"/proc\", \"proc\", MS_NOSUID|MS_NODEV|MS_NOEXEC)");
	/* Only now the old root goes: the root of a user namespace may mount a
	 * proc only where one is seen already, here the host's. */
	check(umount2(".", MNT_DETACH), NULL, "umount2(\".\", MNT_DETACH)");
	check(chdir("/"), NULL, "chdir(\"/\")");

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
	int entered = chdir(opts.rootfs);	/* for the child, see child_main */

	check(entered, errno == ENOTDIR ? "a rootfs is a directory; build one with: "
	      "make rootfs" : "build it with: make rootfs", "chdir(\"%s\")", opts.rootfs);

	/* clone(2) makes the new namespaces and the process inside them in one
	 * step. The child runs child_main on its own stack; SIGCHLD makes it a
	 * child we can wait for like any other. A new PID namespace applies to
	 * children only, never to the caller, which is why it takes clone()
	 * (or unshare() then fork()): the child is its PID 1. */
	pid_t child = clone(child_main, child_stack + sizeof child_stack,
			    CLONE_NEWUSER | CLONE_NEWUTS | CLONE_NEWPID | CLONE_NEWNS |
			    CLONE_NEWNET | SIGCHLD, &opts);

	check(child, NULL, "clone(CLONE_NEWUSER|NEWUTS|NEWPID|NEWNS|NEWNET)");
	userns_map(opts.userns_base, child);	/* before its go, too */
	veth_create(opts.net, child);	/* while the child waits for go */
	cgroup_create(opts.pids_max, child);
	memory_create(opts.memory, child);
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

/* An interface is brought up as ifconfig(8) does it: read its flags, add
 * IFF_UP, write them back (writing IFF_UP alone would clear the others),
 * with ioctl(2)s on a socket, any socket of this network namespace. The
 * kernel then gives lo its addresses itself, 127.0.0.1/8 and ::1. A
 * namespace lives as long as something holds it, here the container's
 * processes: it goes with them, and lo with it. Nothing to clean up. */
static void loopback_up(void)
{
	struct ifreq lo = { .ifr_name = "lo" };
	int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	check(sock, NULL, "socket(AF_INET, SOCK_DGRAM)");
	check(ioctl(sock, SIOCGIFFLAGS, &lo), NULL, "ioctl(SIOCGIFFLAGS, \"lo\")");
	lo.ifr_flags |= IFF_UP;
	check(ioctl(sock, SIOCSIFFLAGS, &lo), NULL,
	      "ioctl(SIOCSIFFLAGS, \"lo\", +IFF_UP)");
	close(sock);
}

/*** the cable: a veth pair, made with rtnetlink ***/

/* A request to the kernel's routing netlink, as `ip` sends it: a header
 * (what to do), a fixed part (which interface, address or route), then
 * attributes, each a type, a length and a value, some nested in others. */
struct request {
	struct nlmsghdr head;
	char body[512];	/* cppcheck-suppress unusedStructMember */
};

static void new_request(struct request *req, int type, int flags,
			const void *fixed, size_t size)
{
	memset(req, 0, sizeof *req);
	req->head.nlmsg_type = (unsigned short)type;
	/* NLM_F_ACK: answer even when it went well, so we learn the errno. */
	req->head.nlmsg_flags = (unsigned short)(NLM_F_REQUEST | NLM_F_ACK | flags);
	req->head.nlmsg_len = NLMSG_LENGTH(size);
	memcpy(NLMSG_DATA(&req->head), fixed, size);
}

/* Append an attribute; one that others nest in is closed by end_nest(). */
static struct rtattr *add_attr(struct request *req, int type, const void *value,
			       size_t size)
{
	struct rtattr *attr = (struct rtattr *)((char *)req +
						NLMSG_ALIGN(req->head.nlmsg_len));

	attr->rta_type = (unsigned short)type;
	attr->rta_len = (unsigned short)RTA_LENGTH(size);
	if (size)
		memcpy(RTA_DATA(attr), value, size);
	req->head.nlmsg_len = NLMSG_ALIGN(req->head.nlmsg_len) +
			      RTA_ALIGN(attr->rta_len);
	return attr;
}

static void end_nest(struct request *req, struct rtattr *nest)
{
	nest->rta_len = (unsigned short)((char *)req + req->head.nlmsg_len -
					 (char *)nest);
}

/* Send a request and read the kernel's answer, an errno (0: done), on a
 * netlink socket, which talks to the network namespace it was made in. The
 * answer comes at once; a request without NLM_F_ACK would get none, and the
 * wait ends after 5 s (EAGAIN) instead of never. */
static int ask(struct request *req)
{
	struct {
		struct nlmsghdr head;
		struct nlmsgerr error;
	} answer = { 0 };
	struct timeval patience = { .tv_sec = 5 };
	int sock = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	int done = sock != -1 && setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &patience,
					    sizeof patience) == 0 &&
		   send(sock, req, req->head.nlmsg_len, 0) != -1 &&
		   recv(sock, &answer, sizeof answer, 0) != -1;

	if (done && answer.error.error)
		errno = -answer.error.error;
	if (sock != -1)
		close(sock);
	return done && !answer.error.error ? 0 : -1;
}

static char host_end[IFNAMSIZ];	/* mdk<the container's netns inode> */
static int host_ns = -1;	/* the runtime's own network namespace */

/* Run by atexit(3). The pair goes with the container's network namespace,
 * but the kernel frees a namespace later, in the background: deleting the
 * host's end deletes both ends now. ENODEV: it had gone already. (A runtime
 * killed with SIGKILL runs no atexit: its container dies with it, see
 * tie_to_runtime(), and the namespace, and so the pair, with the container.) */
static void veth_remove(void)
{
	struct request req;

	setns(host_ns, CLONE_NEWNET);	/* if it failed in the container's */
	new_request(&req, RTM_DELLINK, 0, &(struct ifinfomsg){ 0 },
		    sizeof(struct ifinfomsg));
	add_attr(&req, IFLA_IFNAME, host_end, strlen(host_end) + 1);
	if (ask(&req) == -1 && errno != ENODEV)
		fprintf(stderr, "%s: RTM_DELLINK(\"%s\"): %s\n", STAGE, host_end,
			strerror(errno));
}

/* The cable, before the child's go, so that CMD finds its eth0 ready: every
 * rtnetlink request of this stage but the one at exit, in the order `ip`
 * would send them. */
static void veth_create(const char *net, pid_t child)
{
	const char *name[2] = { host_end, "eth0" };
	char address[2][INET_ADDRSTRLEN];
	struct request req;
	struct stat ns = { 0 };
	uint32_t ip[2];
	uint32_t first = 0;
	int prefix = 0;

	network(net, &first, &prefix);
	for (int i = 0; i < 2; i++) {	/* the host's end, the container's end */
		ip[i] = htonl(first + (uint32_t)i);
		inet_ntop(AF_INET, &ip[i], address[i], sizeof address[i]);
	}
	/* The container's network namespace, by a pidfd: /proc/PID would be
	 * another process where this runtime is in a PID namespace of its own
	 * and /proc is the host's. setns(2) steps in, and a netns file opened
	 * there stays the container's. */
	int pidfd = (int)syscall(SYS_pidfd_open, child, 0);

	host_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	check(host_ns == -1 || pidfd == -1 ? -1 : 0, errno == ENOSYS ? "pidfd_open "
	      "needs Linux 5.3" : NULL, "open(\"/proc/self/ns/net\"), pidfd_open(%d)",
	      (int)child);
	check(setns(pidfd, CLONE_NEWNET), errno == EINVAL ? "setns on a pidfd needs "
	      "Linux 5.8" : NULL, "setns(pidfd of %d, CLONE_NEWNET)", (int)child);
	int child_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);

	check(child_ns == -1 ? -1 : fstat(child_ns, &ns), NULL,
	      "open(\"/proc/self/ns/net\") in the container's");
	check(setns(host_ns, CLONE_NEWNET), NULL, "setns(back to the host's netns)");
	close(pidfd);
	/* Named after that namespace (N of net:[N]): unique on the machine
	 * while it lives, as no pid is across PID namespaces. */
	snprintf(host_end, sizeof host_end, "mdk%lu", (unsigned long)ns.st_ino);

	/* `ip link add mdkN type veth peer name eth0 netns NS`: RTM_NEWLINK,
	 * CREATE (EXCL: fail, not reuse, if the name is taken), ... */
	new_request(&req, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL,
		    &(struct ifinfomsg){ 0 }, sizeof(struct ifinfomsg));
	add_attr(&req, IFLA_IFNAME, host_end, strlen(host_end) + 1); /* its name, */
	struct rtattr *info = add_attr(&req, IFLA_LINKINFO, NULL, 0);
	add_attr(&req, IFLA_INFO_KIND, "veth", sizeof "veth");	/* its kind, */
	struct rtattr *data = add_attr(&req, IFLA_INFO_DATA, NULL, 0);
	struct rtattr *peer = add_attr(&req, VETH_INFO_PEER, &(struct ifinfomsg){ 0 },
				       sizeof(struct ifinfomsg));	/* its peer: */
	add_attr(&req, IFLA_IFNAME, "eth0", sizeof "eth0");	/* eth0, made */
	add_attr(&req, IFLA_NET_NS_FD, &(uint32_t){ (uint32_t)child_ns },
		 4);	/* there */
	end_nest(&req, peer);
	end_nest(&req, data);
	end_nest(&req, info);
	int made = ask(&req);

	check(made, errno == EEXIST ? "a name is taken: eth0, if it was not made "
	      "in the container's netns, or an mdk left by a run: ip link delete "
	      "that mdk" : NULL,
	      "RTM_NEWLINK(\"%s\" type veth, peer \"eth0\" in the container's netns)",
	      host_end);
	if (atexit(veth_remove) != 0)
		die(EXIT_KIT, NULL, "atexit(veth_remove)");

	/* Each end, its address and up; the container's from inside its
	 * namespace, where this process's sockets then talk to. */
	for (int i = 0; i < 2; i++) {
		if (i == 1)
			check(setns(child_ns, CLONE_NEWNET), NULL,
			      "setns(the container's netns)");
		struct ifaddrmsg ifa = { .ifa_family = AF_INET,
			.ifa_prefixlen = (unsigned char)prefix,
			.ifa_index = if_nametoindex(name[i]) };
		/* `ip address add A/P dev NAME`: the interface's own address
		 * (LOCAL), and its ADDRESS, the same but on a point to point
		 * link, where it is the far end's. */
		new_request(&req, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, &ifa, sizeof ifa);
		add_attr(&req, IFA_LOCAL, &ip[i], 4);
		add_attr(&req, IFA_ADDRESS, &ip[i], 4);
		check(ask(&req), NULL, "RTM_NEWADDR(\"%s\", %s/%d)", name[i],
		      address[i], prefix);
		/* `ip link set NAME up`: change IFF_UP (the mask) to on. */
		new_request(&req, RTM_NEWLINK, 0, &(struct ifinfomsg){ .ifi_index =
			(int)ifa.ifa_index, .ifi_flags = IFF_UP, .ifi_change = IFF_UP },
			sizeof(struct ifinfomsg));
		check(ask(&req), NULL, "RTM_NEWLINK(\"%s\", IFF_UP)", name[i]);
	}
	/* `ip route add default via HOST'S END`: a route to everywhere (a
	 * destination of length 0) in the main table, through the host. */
	new_request(&req, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, &(struct rtmsg){
		.rtm_family = AF_INET, .rtm_table = RT_TABLE_MAIN,
		.rtm_protocol = RTPROT_BOOT, .rtm_scope = RT_SCOPE_UNIVERSE,
		.rtm_type = RTN_UNICAST }, sizeof(struct rtmsg));
	add_attr(&req, RTA_GATEWAY, &ip[0], 4);
	check(ask(&req), NULL, "RTM_NEWROUTE(default via %s)", address[0]);
	check(setns(host_ns, CLONE_NEWNET), NULL, "setns(back to the host's netns)");
	close(child_ns);
}

/* "198.18.0.0/30": the network's first address, in host order, and its
 * prefix, /30 or wider: room for the network, two ends and a broadcast. */
static int network(const char *cidr, uint32_t *first, int *prefix)
{
	char address[16];
	char extra;
	struct in_addr net;

	/* NOLINTNEXTLINE(cert-err34-c): the prefix is checked below */
	if (sscanf(cidr, "%15[0-9.]/%d%c", address, prefix, &extra) != 2 ||
	    inet_pton(AF_INET, address, &net) != 1 || *prefix < 8 || *prefix > 30)
		return -1;
	*first = (ntohl(net.s_addr) & ~(0xffffffffU >> *prefix)) + 1;
	return 0;
}

/*** the cgroups: a limit on processes, and one on memory ***/

static char cgroup[PATH_MAX];	/* /sys/fs/cgroup[/pids]/minidocker-NS-PID */
static char memory_cgroup[PATH_MAX];	/* v1: .../memory/NAME; v2: cgroup */
static const char *memory_limit;	/* --memory, for the OOM message */

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
static void remove_one(const char *cgroup)
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

/* The kernel counts OOM kills ("oom_kill N" in memory.events, or v1's
 * memory.oom_control). Say so, as docker's OOMKilled: 137 says only SIGKILL. */
static void report_oom(void)
{
	char line[PATH_MAX + 32];	/* the file's path, then its lines */
	long kills = 0;
	FILE *in;

	snprintf(line, sizeof line, "%s/memory.%s", memory_cgroup,
		 strcmp(memory_cgroup, cgroup) ? "oom_control" : "events");
	in = fopen(line, "re");
	while (in && fgets(line, sizeof line, in))
		(void)sscanf(line, "oom_kill %ld", &kills); /* NOLINT(cert-err34-c) */
	if (in)
		fclose(in);
	if (kills > 0)
		fprintf(stderr, "%s: the container hit its memory limit (%s): the OOM "
			"killer killed %ld of its processes\n", STAGE, memory_limit, kills);
}

/* At exit: each cgroup of the run (v1: two), once it says what the OOM killer did. */
static void cgroup_remove(void)
{
	report_oom();
	remove_one(cgroup);
	if (strcmp(memory_cgroup, cgroup) != 0 && access(memory_cgroup, F_OK) == 0)
		remove_one(memory_cgroup);	/* v1 */
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
		/* In v2 a parent enables controllers for its children (the root may). */
		hierarchy = "/sys/fs/cgroup";
		write_file(hierarchy, "cgroup.subtree_control", "+pids +memory", NULL);
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

/* The memory limit, before the child runs CMD (what it touched before joining
 * stays charged where it was), and no swap past it. v2 has one tree for all
 * controllers: the limit goes in the cgroup above; swap.max is swap alone. v1
 * has a tree each: a cgroup in memory's too; memsw is memory and swap. */
static void memory_create(const char *memory, pid_t child)
{
	int v1 = !strncmp(cgroup, "/sys/fs/cgroup/pids/", 20);
	char swap[PATH_MAX + 32];
	char pid[16];

	snprintf(memory_cgroup, sizeof memory_cgroup, "%s%s", v1 ?
		 "/sys/fs/cgroup/memory" : "", v1 ? strrchr(cgroup, '/') : cgroup);
	if (v1)
		check(mkdir(memory_cgroup, 0755), NULL, "mkdir(\"%s\")", memory_cgroup);
	memory_limit = memory;
	write_file(memory_cgroup, v1 ? "memory.limit_in_bytes" : "memory.max",
		   memory, "--memory takes bytes, or K, M or G of them: 64M");
	snprintf(swap, sizeof swap, "%s/memory.%s", memory_cgroup, v1 ?
		 "memsw.limit_in_bytes" : "swap.max");
	if (access(swap, F_OK) == 0)
		write_file(memory_cgroup, strrchr(swap, '/') + 1, v1 ? memory : "0", NULL);
	snprintf(pid, sizeof pid, "%d", (int)child);
	if (v1)
		write_file(memory_cgroup, "cgroup.procs", pid, NULL);
}

/*** the users: who the container's ids are on the host ***/

/* A user namespace maps no ids till its uid_map and gid_map are written, once:
 * "0 BASE 65536", the container's 0 to 65535 are the host's BASE on, as many as
 * /etc/subuid hands a user. It takes CAP_SETUID and CAP_SETGID where the
 * namespace was made. /proc/PID: PID as this /proc numbers it (see fdinfo). */
static void userns_map(long base, pid_t child)
{
	char path[64];
	char line[64];
	int pid = 0;
	int pidfd = (int)syscall(SYS_pidfd_open, child, 0);
	FILE *info;

	snprintf(path, sizeof path, "/proc/self/fdinfo/%d", pidfd);
	for (info = fopen(path, "re"); info && fgets(line, sizeof line, info);)
		(void)sscanf(line, "Pid: %d", &pid); /* NOLINT(cert-err34-c) */
	check(pid > 0 && fclose(info) == 0 ? 0 : -1, NULL, "%s: Pid:", path);
	snprintf(path, sizeof path, "/proc/%d", pid);
	snprintf(line, sizeof line, "0 %ld 65536", base);
	write_file(path, "uid_map", line, NULL);
	write_file(path, "gid_map", line, NULL);
	close(pidfd);
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
