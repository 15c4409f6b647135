// libbpf's side of bench/objects.mjs: bpf_object__open_file + bpf_object__load of one object,
// R times; prints the mean milliseconds of one open+load, and of the first one alone.
#include <bpf/libbpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

static int quiet(enum libbpf_print_level level, const char *fmt, va_list args) {
  return level == LIBBPF_WARN ? vfprintf(stderr, fmt, args) : 0;
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* user and system CPU milliseconds this process has used so far */
static void cpu_ms(double *user, double *sys) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  *user = ru.ru_utime.tv_sec * 1e3 + ru.ru_utime.tv_usec / 1e3;
  *sys = ru.ru_stime.tv_sec * 1e3 + ru.ru_stime.tv_usec / 1e3;
}

int main(int argc, char **argv) {
  if (argc < 3) return 64;
  int rounds = atoi(argv[2]);
  libbpf_set_print(quiet);
  double first = 0, total = 0, first_cpu = 0, first_user = 0, user_total = 0, sys_total = 0;
  for (int i = 0; i < rounds; i++) {
    double u0, s0, u1, s1;
    cpu_ms(&u0, &s0);
    double t0 = now_ms();
    struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
    if (!obj || bpf_object__load(obj)) return 1;
    double dt = now_ms() - t0;
    cpu_ms(&u1, &s1);
    bpf_object__close(obj);
    if (i == 0) {
      first = dt;
      first_cpu = (u1 - u0) + (s1 - s0);
      first_user = u1 - u0;
    }
    total += dt;
    user_total += u1 - u0;
    sys_total += s1 - s0;
  }
  printf("{\"firstMs\": %.3f, \"meanMs\": %.3f, \"firstCpuMs\": %.3f, \"meanCpuMs\": %.3f, "
         "\"firstUserMs\": %.3f, \"meanUserMs\": %.3f, \"meanSysMs\": %.3f}\n",
         first, total / rounds, first_cpu, (user_total + sys_total) / rounds, first_user, user_total / rounds,
         sys_total / rounds);
  return 0;
}
