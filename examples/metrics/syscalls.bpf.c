// SPDX-License-Identifier: GPL-2.0
// Syscalls by process, and their latency as a log2 histogram: the example for `bpfmap export`
// (syscalls.yaml, syscalls-pinned.yaml, docs/metrics.md).
// Build: clang -g -O2 -target bpf -I/usr/include/$(uname -m)-linux-gnu -c syscalls.bpf.c -o syscalls.bpf.o
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define TASK_COMM_LEN 16
#define SLOTS 32

/* Only this process (tgid) when set; 0: every process. Set by the config's `variables`. */
const volatile __u32 target_pid = 0;

struct comm_key {
	char comm[TASK_COMM_LEN];
	__u32 nr; /* syscall number */
};

/* Latency in log2 slots, bcc's way: slot 0 counts 0 ns, slot 1 counts 1 ns, slot i counts [2^(i-1), 2^i) ns. */
struct hist {
	__u64 slots[SLOTS];
	__u64 sum_ns;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, struct comm_key);
	__type(value, __u64);
} syscall_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct hist);
} latency SEC(".maps");

/* When each thread entered its current syscall. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u64);
	__type(value, __u64);
} start SEC(".maps");

/* The raw_syscalls tracepoints' records (see /sys/kernel/tracing/events/raw_syscalls/sys_enter/format). */
struct sys_enter_args {
	__u64 common;
	long id;
	unsigned long args[6];
};

struct sys_exit_args {
	__u64 common;
	long id;
	long ret;
};

static __always_inline int wanted(__u64 pid_tgid)
{
	return target_pid == 0 || (__u32)(pid_tgid >> 32) == target_pid;
}

SEC("tracepoint/raw_syscalls/sys_enter")
int count_enter(struct sys_enter_args *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (!wanted(id))
		return 0;
	struct comm_key key = {};
	bpf_get_current_comm(key.comm, sizeof(key.comm));
	key.nr = (__u32)ctx->id;
	__u64 one = 1, *n = bpf_map_lookup_elem(&syscall_counts, &key);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&syscall_counts, &key, &one, BPF_NOEXIST);
	__u64 now = bpf_ktime_get_ns();
	bpf_map_update_elem(&start, &id, &now, BPF_ANY);
	return 0;
}

SEC("tracepoint/raw_syscalls/sys_exit")
int time_exit(struct sys_exit_args *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u64 *t0 = bpf_map_lookup_elem(&start, &id);
	if (!t0)
		return 0;
	__u64 delta = bpf_ktime_get_ns() - *t0;
	bpf_map_delete_elem(&start, &id);
	__u32 slot = 0;
	for (__u64 v = delta; v && slot < SLOTS - 1; v >>= 1)
		slot++;
	__u32 zero = 0;
	struct hist *h = bpf_map_lookup_elem(&latency, &zero);
	if (!h)
		return 0;
	__sync_fetch_and_add(&h->slots[slot & (SLOTS - 1)], 1);
	__sync_fetch_and_add(&h->sum_ns, delta);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
