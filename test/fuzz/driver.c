/* driver.c: a standalone fuzz driver for compilers without libFuzzer. */

/*
 * It accepts the libFuzzer command line the fuzz tests use, so the meson
 * tests are the same either way:
 *
 *   fuzz_x [-max_total_time=S] [-seed=N] [-runs=N] [-artifact_prefix=P] DIR|FILE...
 *
 * Every file (directly named or inside a named directory) is a seed and runs
 * once as is.  Then, until the time or run budget is spent, a seeded
 * generator picks a seed, applies a few random mutations and runs the
 * result.  Other "-flag=value" options are accepted and ignored.
 *
 * When a run crashes, the input is written to P "crash-seed-N-run-I" and the
 * replay command is printed; passing that file as the only argument replays
 * it.  The same -seed gives the same sequence of inputs.
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "test/fuzz/fuzz.h"

#define DRIVER_MAX_SEEDS 4096u
#define DRIVER_MAX_INPUT_BYTES (1024u * 1024u)
#define DRIVER_MAX_GROWTH 64u
#define DRIVER_MAX_MUTATIONS 6u
#define DRIVER_TIME_CHECK_EVERY 256u

struct seed {
	uint8_t *data;
	size_t len;
};

static struct seed seeds[DRIVER_MAX_SEEDS];
static size_t n_seeds;
static uint64_t rng_state;
static uint64_t run_seed = 1;
static char artifact_prefix[1024] = "./";
static const char *program = "the fuzz target";

/* The input being run, for the crash handler. */
static const uint8_t *volatile current_data;
static volatile size_t current_len;
static volatile uint64_t current_run;

/* SanitizerCommon's death hook, present only in sanitizer builds. */
extern void __sanitizer_set_death_callback(void (*cb)(void)) __attribute__((weak));

static uint64_t rng_next(void)
{
	/* xorshift64*: small, fast and fully determined by the seed. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1DULL;
}

static size_t rng_below(size_t n)
{
	return n ? (size_t)(rng_next() % n) : 0;
}

/* Formats v in decimal at p without stdio (usable in a signal handler). */
static size_t put_u64(char *p, uint64_t v)
{
	char tmp[24];
	size_t n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (size_t i = 0; i < n; i++)
		p[i] = tmp[n - 1 - i];
	return n;
}

static void save_crash(void)
{
	static volatile sig_atomic_t saved;
	if (saved || current_data == NULL)
		return;
	saved = 1;
	char path[1200];
	size_t n = strlen(artifact_prefix);
	memcpy(path, artifact_prefix, n);
	memcpy(path + n, "crash-seed-", 11);
	n += 11;
	n += put_u64(path + n, run_seed);
	memcpy(path + n, "-run-", 5);
	n += 5;
	n += put_u64(path + n, current_run);
	path[n] = 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd >= 0) {
		ssize_t w = write(fd, (const void *)current_data, current_len);
		(void)w;
		close(fd);
	}
	const char *msg = "\nfuzz driver: crashing input saved; replay with: ";
	ssize_t w = write(2, msg, strlen(msg));
	w = write(2, program, strlen(program));
	w = write(2, " ", 1);
	w = write(2, path, n);
	w = write(2, "\n", 1);
	(void)w;
}

static void crash_signal(int sig)
{
	save_crash();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void add_seed_file(const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || n_seeds >= DRIVER_MAX_SEEDS)
		return;
	size_t len = (size_t)st.st_size < DRIVER_MAX_INPUT_BYTES ? (size_t)st.st_size
							       : DRIVER_MAX_INPUT_BYTES;
	FILE *f = fopen(path, "rb");
	if (!f)
		return;
	uint8_t *data = malloc(len ? len : 1);
	if (data && fread(data, 1, len, f) == len) {
		seeds[n_seeds].data = data;
		seeds[n_seeds].len = len;
		n_seeds++;
	} else {
		free(data);
	}
	fclose(f);
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Adds every file of dir, in name order so that runs are reproducible. */
static void add_seed_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	char *names[DRIVER_MAX_SEEDS];
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL && n < DRIVER_MAX_SEEDS) {
		if (e->d_name[0] != '.')
			names[n++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), compare_names);
	for (size_t i = 0; i < n; i++) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		add_seed_file(path);
		free(names[i]);
	}
}

/* Runs one input from an exactly sized heap copy, so that a read one byte
 * past the end is caught by the address sanitizer. */
static void run_one(const uint8_t *data, size_t len, uint64_t run)
{
	uint8_t *copy = malloc(len ? len : 1);
	if (!copy)
		abort();
	memcpy(copy, data, len);
	current_run = run;
	current_len = len;
	current_data = copy;
	LLVMFuzzerTestOneInput(copy, len);
	current_data = NULL;
	free(copy);
}

static const uint8_t interesting8[] = { 0x00, 0x01, 0x02, 0x7f, 0x80, 0xfe, 0xff };
static const uint32_t interesting32[] = { 0, 1, 2, 49, 61, 0x7f, 0x80, 0xff, 0x7fffffffu,
					  0x80000000u, 0xffffffffu, 0x01000000u };

/* Applies one random mutation to buf[0..*len) (capacity cap). */
static void mutate_once(uint8_t *buf, size_t *len, size_t cap)
{
	size_t n = *len;
	size_t at = rng_below(n);
	switch (rng_below(8)) {
	case 0:
		if (n)
			buf[at] ^= (uint8_t)(1u << rng_below(8));
		break;
	case 1:
		if (n)
			buf[at] = (uint8_t)rng_next();
		break;
	case 2:
		if (n)
			buf[at] = interesting8[rng_below(sizeof(interesting8))];
		break;
	case 3:
		if (n < cap) {
			at = rng_below(n + 1);
			memmove(buf + at + 1, buf + at, n - at);
			buf[at] = (uint8_t)rng_next();
			*len = n + 1;
		}
		break;
	case 4:
		if (n) {
			memmove(buf + at, buf + at + 1, n - at - 1);
			*len = n - 1;
		}
		break;
	case 5:
		*len = rng_below(n + 1);
		break;
	case 6:
		if (n >= 4) {
			size_t pick = rng_below(sizeof(interesting32) / sizeof(interesting32[0]));
			uint32_t v = interesting32[pick];
			at = rng_below(n - 3);
			buf[at] = (uint8_t)(v >> 24);
			buf[at + 1] = (uint8_t)(v >> 16);
			buf[at + 2] = (uint8_t)(v >> 8);
			buf[at + 3] = (uint8_t)v;
		}
		break;
	default: {
		/* Splice: overwrite a stretch with bytes from another seed. */
		const struct seed *o = &seeds[rng_below(n_seeds)];
		if (o->len && n) {
			size_t from = rng_below(o->len);
			size_t k = 1 + rng_below(o->len - from);
			if (k > n - at)
				k = n - at;
			memcpy(buf + at, o->data + from, k);
		}
		break;
	}
	}
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void parse_flag(const char *arg, long *max_time, long *max_runs)
{
	if (strncmp(arg, "-max_total_time=", 16) == 0)
		*max_time = atol(arg + 16);
	else if (strncmp(arg, "-runs=", 6) == 0)
		*max_runs = atol(arg + 6);
	else if (strncmp(arg, "-seed=", 6) == 0)
		run_seed = strtoull(arg + 6, NULL, 10);
	else if (strncmp(arg, "-artifact_prefix=", 17) == 0)
		snprintf(artifact_prefix, sizeof(artifact_prefix), "%s", arg + 17);
}

static void install_crash_handlers(void)
{
	signal(SIGABRT, crash_signal);
	signal(SIGSEGV, crash_signal);
	signal(SIGBUS, crash_signal);
	signal(SIGFPE, crash_signal);
	signal(SIGILL, crash_signal);
	if (__sanitizer_set_death_callback)
		__sanitizer_set_death_callback(save_crash);
}

static uint64_t mutate_loop(long max_time, long max_runs)
{
	static uint8_t buf[DRIVER_MAX_INPUT_BYTES + DRIVER_MAX_GROWTH];
	double deadline = now_s() + (double)max_time;
	uint64_t run = 0;
	for (;;) {
		if (max_runs >= 0 && run >= (uint64_t)max_runs)
			break;
		if (run % DRIVER_TIME_CHECK_EVERY == 0 && now_s() >= deadline)
			break;
		const struct seed *s = &seeds[rng_below(n_seeds)];
		size_t len = s->len;
		memcpy(buf, s->data, len);
		size_t cap = len + DRIVER_MAX_GROWTH;
		size_t k = 1 + rng_below(DRIVER_MAX_MUTATIONS);
		for (size_t i = 0; i < k; i++)
			mutate_once(buf, &len, cap);
		run_one(buf, len, n_seeds + run);
		run++;
	}
	return run;
}

int main(int argc, char **argv)
{
	long max_time = 10, max_runs = -1;
	int inputs = 0;
	program = argv[0];
	for (int i = 1; i < argc; i++) {
		if (argv[i][0] == '-') {
			parse_flag(argv[i], &max_time, &max_runs);
			continue;
		}
		struct stat st;
		inputs++;
		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
			add_seed_dir(argv[i]);
		else
			add_seed_file(argv[i]);
	}
	install_crash_handlers();
	rng_state = run_seed * 0x9E3779B97F4A7C15ULL + 1;

	static const uint8_t empty[1];
	run_one(empty, 0, 0);
	for (size_t i = 0; i < n_seeds; i++)
		run_one(seeds[i].data, seeds[i].len, i);

	/* A single file argument is a replay: run it once and stop. */
	if (inputs == 1 && n_seeds == 1 && argc >= 2) {
		struct stat st;
		if (stat(argv[argc - 1], &st) == 0 && S_ISREG(st.st_mode)) {
			printf("replayed %s\n", argv[argc - 1]);
			return 0;
		}
	}
	if (n_seeds == 0) {
		seeds[0].data = (uint8_t *)empty;
		seeds[0].len = 0;
		n_seeds = 1;
	}
	uint64_t runs = mutate_loop(max_time, max_runs);
	printf("fuzz driver: seed %llu, %zu seeds, %llu mutated runs, no crash\n",
	       (unsigned long long)run_seed, n_seeds, (unsigned long long)runs);
	return 0;
}
