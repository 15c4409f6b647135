// libbpf's side of bench/objects.mjs: bpf_object__open_file + bpf_object__load of one object,
// R times; prints the mean milliseconds of one open+load, and of the first one alone.
#include <bpf/libbpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static int quiet(enum libbpf_print_level level, const char *fmt, va_list args) {
  return level == LIBBPF_WARN ? vfprintf(stderr, fmt, args) : 0;
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
  if (argc < 3) return 64;
  int rounds = atoi(argv[2]);
  libbpf_set_print(quiet);
  double first = 0, total = 0;
  for (int i = 0; i < rounds; i++) {
    double t0 = now_ms();
    struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
    if (!obj || bpf_object__load(obj)) return 1;
    double dt = now_ms() - t0;
    bpf_object__close(obj);
    if (i == 0) first = dt;
    total += dt;
  }
  printf("{\"firstMs\": %.3f, \"meanMs\": %.3f}\n", first, total / rounds);
  return 0;
}
