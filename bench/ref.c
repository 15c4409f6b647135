/*
 * The C reference for `npm run bench`: the same map operations the
 * JavaScript side runs, issued as raw bpf(2) syscalls with nothing in
 * between. It serves the bench over a pipe so that each C measurement runs
 * right next to the matching JavaScript one (the machine's speed drifts):
 *
 *   ref N BATCH ARRAY_N    then, per line on stdin, an operation name;
 *                          it answers with nanoseconds per element.
 */
#include <errno.h>
#include <linux/bpf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <stddef.h>

/* The attr sizes libbpf passes (and bpfmap): up to the last field each command uses. */
#define ELEM_ATTR_SIZE (offsetof(union bpf_attr, flags) + sizeof(((union bpf_attr *)0)->flags))
#define BATCH_ATTR_SIZE (offsetof(union bpf_attr, batch.flags) + sizeof(((union bpf_attr *)0)->batch.flags))

static long sys_bpf(int cmd, union bpf_attr *attr, size_t size) { return syscall(__NR_bpf, cmd, attr, size); }

static int map_create(enum bpf_map_type type, uint32_t ksz, uint32_t vsz, uint32_t max) {
  union bpf_attr a;
  memset(&a, 0, sizeof a);
  a.map_type = type;
  a.key_size = ksz;
  a.value_size = vsz;
  a.max_entries = max;
  long fd = sys_bpf(BPF_MAP_CREATE, &a, sizeof a);
  if (fd < 0) {
    fprintf(stderr, "ref: map create (type %d): %s\n", type, strerror(errno));
    exit(1);
  }
  return (int)fd;
}

static long elem(int cmd, int fd, const void *key, void *value, uint64_t flags) {
  union bpf_attr a;
  memset(&a, 0, sizeof a);
  a.map_fd = fd;
  a.key = (uint64_t)(uintptr_t)key;
  a.value = (uint64_t)(uintptr_t)value;
  a.flags = flags;
  return sys_bpf(cmd, &a, ELEM_ATTR_SIZE);
}

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static void must(long r, const char *what) {
  if (r < 0) {
    fprintf(stderr, "ref: %s: %s\n", what, strerror(errno));
    exit(1);
  }
}

static volatile uint64_t sink;

static void fill(int fd, uint32_t n) {
  for (uint32_t k = 0; k < n; k++) {
    uint64_t v = k;
    must(elem(BPF_MAP_UPDATE_ELEM, fd, &k, &v, BPF_ANY), "fill");
  }
}

static uint32_t n, batch, an, rn;
static int ncpu, h, s, a, pa;
static uint32_t *bkeys, *rkeys;
static uint64_t *bvals, *pv, *rvals;

struct pair {
  uint32_t a;
  uint64_t b;
};

static int possible_cpus(void) {
  /* "0-1" or "0,2-3" */
  FILE *f = fopen("/sys/devices/system/cpu/possible", "r");
  char buf[256] = {0};
  if (!f || !fgets(buf, sizeof buf, f)) must(-1, "read possible cpus");
  fclose(f);
  int count = 0;
  for (char *p = buf; *p && *p != '\n';) {
    int lo = (int)strtol(p, &p, 10), hi = lo;
    if (*p == '-') hi = (int)strtol(p + 1, &p, 10);
    count += hi - lo + 1;
    if (*p == ',') p++;
  }
  return count;
}

/* Runs one operation over every element; returns elapsed nanoseconds. */
static double run(const char *op) {
  uint64_t v = 0;
  double t = now_ns();
  if (!strcmp(op, "hash.update")) {
    for (uint32_t k = 0; k < n; k++) {
      v = k + 1;
      must(elem(BPF_MAP_UPDATE_ELEM, h, &k, &v, BPF_ANY), "update");
    }
  } else if (!strcmp(op, "hash.lookup")) {
    for (uint32_t k = 0; k < n; k++) {
      must(elem(BPF_MAP_LOOKUP_ELEM, h, &k, &v, 0), "lookup");
      sink += v;
    }
  } else if (!strcmp(op, "hash.delete")) {
    for (uint32_t k = 0; k < n; k++) must(elem(BPF_MAP_DELETE_ELEM, h, &k, NULL, 0), "delete");
    t = now_ns() - t;
    fill(h, n); /* untimed */
    return t;
  } else if (!strcmp(op, "hash.iterate.getNextKey")) {
    uint32_t key, next;
    uint64_t count = 0;
    long r = elem(BPF_MAP_GET_NEXT_KEY, h, NULL, &next, 0);
    while (r == 0) {
      must(elem(BPF_MAP_LOOKUP_ELEM, h, &next, &v, 0), "iter lookup");
      sink += v;
      count++;
      key = next;
      r = elem(BPF_MAP_GET_NEXT_KEY, h, &key, &next, 0);
    }
    if (count != n) must(-1, "get-next-key walk count");
  } else if (!strcmp(op, "hash.iterate.batch")) {
    uint32_t in = 0, out = 0;
    uint64_t count = 0;
    for (int first = 1;; first = 0) {
      union bpf_attr at;
      memset(&at, 0, sizeof at);
      at.batch.map_fd = h;
      at.batch.in_batch = first ? 0 : (uint64_t)(uintptr_t)&in;
      at.batch.out_batch = (uint64_t)(uintptr_t)&out;
      at.batch.keys = (uint64_t)(uintptr_t)bkeys;
      at.batch.values = (uint64_t)(uintptr_t)bvals;
      at.batch.count = batch;
      long r = sys_bpf(BPF_MAP_LOOKUP_BATCH, &at, BATCH_ATTR_SIZE);
      if (r < 0 && errno != ENOENT) must(r, "lookup batch");
      for (uint32_t i = 0; i < at.batch.count; i++) sink += bvals[i] + bkeys[i];
      count += at.batch.count;
      if (r < 0) break;
      in = out;
    }
    if (count != n) must(-1, "batch walk count");
  } else if (!strcmp(op, "hash.lookupRandom")) {
    /* What libbpf users do for arbitrary keys: one lookup each. rn keys from [0, 2n), half absent. */
    uint32_t x = 1;
    for (uint32_t i = 0; i < rn; i++) {
      x = x * 1103515245u + 12345u;
      uint32_t k = (x & 0x7fffffff) % (2 * n);
      if (elem(BPF_MAP_LOOKUP_ELEM, h, &k, &v, 0) == 0) sink += v;
      else if (errno != ENOENT) must(-1, "random lookup");
    }
  } else if (!strcmp(op, "array.iterate.batch")) {
    uint32_t in = 0, out = 0;
    uint64_t count = 0;
    for (int first = 1;; first = 0) {
      union bpf_attr at;
      memset(&at, 0, sizeof at);
      at.batch.map_fd = a;
      at.batch.in_batch = first ? 0 : (uint64_t)(uintptr_t)&in;
      at.batch.out_batch = (uint64_t)(uintptr_t)&out;
      at.batch.keys = (uint64_t)(uintptr_t)bkeys;
      at.batch.values = (uint64_t)(uintptr_t)bvals;
      at.batch.count = batch;
      long r = sys_bpf(BPF_MAP_LOOKUP_BATCH, &at, BATCH_ATTR_SIZE);
      if (r < 0 && errno != ENOENT) must(r, "array lookup batch");
      for (uint32_t i = 0; i < at.batch.count; i++) sink += bvals[i] + bkeys[i];
      count += at.batch.count;
      if (r < 0) break;
      in = out;
    }
    if (count != an) must(-1, "array batch walk count");
  } else if (!strcmp(op, "hash.updateBatch") || !strcmp(op, "hash.deleteBatch")) {
    /* rn existing keys 0..rn-1 overwritten (or deleted) with BPF_MAP_UPDATE_BATCH / DELETE_BATCH. */
    int del = !strcmp(op, "hash.deleteBatch");
    union bpf_attr at;
    memset(&at, 0, sizeof at);
    at.batch.map_fd = h;
    at.batch.keys = (uint64_t)(uintptr_t)rkeys;
    at.batch.values = del ? 0 : (uint64_t)(uintptr_t)rvals;
    at.batch.count = rn;
    must(sys_bpf(del ? BPF_MAP_DELETE_BATCH : BPF_MAP_UPDATE_BATCH, &at, BATCH_ATTR_SIZE), op);
    if (at.batch.count != rn) must(-1, "batch count");
    if (del) {
      t = now_ns() - t;
      fill(h, n); /* untimed */
      return t;
    }
  } else if (!strcmp(op, "struct.lookup")) {
    struct pair p;
    for (uint32_t k = 0; k < n; k++) {
      must(elem(BPF_MAP_LOOKUP_ELEM, s, &k, &p, 0), "struct lookup");
      sink += p.a + p.b;
    }
  } else if (!strcmp(op, "array.lookup")) {
    for (uint32_t k = 0; k < an; k++) {
      must(elem(BPF_MAP_LOOKUP_ELEM, a, &k, &v, 0), "array lookup");
      sink += v;
    }
  } else if (!strcmp(op, "percpuArray.lookup")) {
    for (uint32_t k = 0; k < an; k++) {
      must(elem(BPF_MAP_LOOKUP_ELEM, pa, &k, pv, 0), "percpu array lookup");
      for (int c = 0; c < ncpu; c++) sink += pv[c];
    }
  } else {
    fprintf(stderr, "ref: unknown operation %s\n", op);
    exit(2);
  }
  return now_ns() - t;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: ref N BATCH ARRAY_N (then operation names on stdin)\n");
    return 2;
  }
  n = (uint32_t)atoi(argv[1]);
  batch = (uint32_t)atoi(argv[2]);
  an = (uint32_t)atoi(argv[3]);
  rn = n / 2;
  rkeys = malloc((size_t)rn * 4);
  rvals = malloc((size_t)rn * 8);
  for (uint32_t i = 0; i < rn; i++) {
    rkeys[i] = i;
    rvals[i] = i + 1;
  }
  ncpu = possible_cpus();
  h = map_create(BPF_MAP_TYPE_HASH, 4, 8, n);
  fill(h, n);
  s = map_create(BPF_MAP_TYPE_HASH, 4, sizeof(struct pair), n);
  for (uint32_t k = 0; k < n; k++) {
    struct pair p = {k, (uint64_t)k * 3};
    must(elem(BPF_MAP_UPDATE_ELEM, s, &k, &p, BPF_ANY), "struct fill");
  }
  a = map_create(BPF_MAP_TYPE_ARRAY, 4, 8, an);
  pa = map_create(BPF_MAP_TYPE_PERCPU_ARRAY, 4, 8, an);
  bkeys = malloc((size_t)batch * 4);
  bvals = malloc((size_t)batch * 8);
  pv = calloc((size_t)ncpu, 8);
  printf("ready\n");
  fflush(stdout);
  char line[128];
  while (fgets(line, sizeof line, stdin)) {
    line[strcspn(line, "\n")] = 0;
    if (!line[0]) continue;
    double ns = run(line);
    uint32_t count = !strcmp(line, "hash.lookupRandom") || !strcmp(line, "hash.updateBatch") || !strcmp(line, "hash.deleteBatch") ? rn : strncmp(line, "hash.", 5) && strcmp(line, "struct.lookup") ? an : n;
    printf("%.1f\n", ns / count);
    fflush(stdout);
  }
  return 0;
}
