/*
 * hog: take memory, and touch every page of it, as a program that leaks or
 * a cache that never stops growing would.
 *
 * malloc(3) alone only reserves addresses: the kernel gives a page of real
 * memory, and charges it to the process's memory cgroup, when the page is
 * first written. So the hog writes to each page it takes, one after the
 * other. Under a memory limit (stage 07) the cgroup reaches it, and the
 * kernel's OOM killer ends the hog with SIGKILL (exit status 137); with no
 * limit it takes all it asked for, says so, and exits 0.
 *
 * Usage: hog SIZE [RATE]
 *   SIZE  how much to take: bytes, or with a K, M or G suffix; at most 4G
 *   RATE  how much a second (e.g. 16M), to watch it climb; default: at once
 *
 * Bounded whatever happens: at most 4G, and it ends itself after 60 s
 * (SIGALRM). It prints one line when it has taken SIZE, on stdout.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MIB (1024L * 1024)

/* TEXT as bytes (K, M or G allowed), from 1 byte to 4G; -1 if not. */
static long size(const char *text)
{
	char *end;
	long value = strtol(text, &end, 10);
	int shift = *end == 'K' ? 10 : *end == 'M' ? 20 : *end == 'G' ? 30 : 0;

	if (end == text || end[shift ? 1 : 0] || value < 1 || value > (4L << 30) >> shift)
		return -1;
	return value << shift;
}

int main(int argc, char **argv)
{
	long total = argc >= 2 ? size(argv[1]) : -1;
	long rate = argc == 3 ? size(argv[2]) : 0;
	long page = sysconf(_SC_PAGESIZE);

	if (argc < 2 || argc > 3 || total == -1 || rate == -1) {
		fprintf(stderr, "Usage: hog SIZE [RATE]  (e.g. hog 128M 16M: 128M, 16M a second)\n");
		return 125;
	}
	alarm(60);
	/* One reservation of addresses; the pages become real one by one. */
	char *memory = malloc(total);

	if (!memory) {
		perror("hog: malloc");
		return 1;
	}
	for (long i = 0; i < total; i += page) {
		memory[i] = 1;	/* the page is real, and charged, from here */
		if (rate > 0 && (i + page) % MIB == 0)	/* a megabyte's share of a second */
			nanosleep(&(struct timespec){ .tv_nsec = 1000000000L /
				  (rate / MIB > 0 ? rate / MIB : 1) }, NULL);
	}
	free(memory);
	printf("hog: took %s\n", argv[1]);
	return 0;
}
