/*
 * bpfmap native core: issues syscalls on buffers handed over from JavaScript.
 *
 * It holds no policy: attribute layouts, validation and error messages live in
 * TypeScript (src/sys/). Each function returns the syscall result or -errno.
 * As a second line of defence it checks that every buffer is at least as long
 * as the caller says the kernel will touch, and refuses (-EFAULT) otherwise
 * (a null buffer is passed to the kernel as a NULL pointer).
 */
#define NAPI_VERSION 8
#include <node_api.h>

#include <errno.h>
#include <stddef.h>
#include <linux/bpf.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_ARGS 32

/* Fetches a Uint8Array's memory; a null/undefined argument gives data = NULL. */
static int get_bytes(napi_env env, napi_value v, void **data, size_t *len) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return -1;
  if (t == napi_null || t == napi_undefined) {
    *data = NULL;
    *len = 0;
    return 0;
  }
  bool is_ta = false;
  napi_is_typedarray(env, v, &is_ta);
  if (!is_ta) return -1;
  napi_typedarray_type tt;
  size_t n;
  if (napi_get_typedarray_info(env, v, &tt, &n, data, NULL, NULL) != napi_ok) return -1;
  if (tt != napi_uint8_array) return -1;
  *len = n;
  return 0;
}

static napi_value ret_int(napi_env env, int64_t r) {
  napi_value out;
  napi_create_int64(env, r, &out);
  return out;
}

static napi_value throw_type(napi_env env, const char *msg) {
  napi_throw_type_error(env, NULL, msg);
  return NULL;
}

/*
 * bpf(2): the result or -errno. On x86-64 the syscall instruction is issued
 * inline rather than through libc's syscall(): with the kernel's return-stack
 * mitigations, every return to a frame entered before a syscall mispredicts
 * after it, so each call level between JavaScript and the syscall costs
 * several nanoseconds per operation (measured: about 7 ns a level here).
 */
static inline int64_t sys_bpf(int cmd, void *attr, size_t size) {
#if defined(__x86_64__)
  long r;
  __asm__ volatile("syscall"
                   : "=a"(r)
                   : "0"((long)__NR_bpf), "D"((long)cmd), "S"(attr), "d"((long)(unsigned int)size)
                   : "rcx", "r11", "memory");
  return r;
#else
  long r = syscall(__NR_bpf, cmd, attr, (unsigned int)size);
  return r < 0 ? -(int64_t)errno : (int64_t)r;
#endif
}

/*
 * Writes the address of buffer `bufv` (a Uint8Array, or null for NULL) into
 * `target` at byte offset `offv` (8-aligned, inside target), after checking
 * the buffer holds at least `minv` bytes. Returns 0, or -EFAULT when a length
 * or the offset is wrong; sets *err (and returns 1) for arguments of the
 * wrong type.
 */
static int patch_pointer(napi_env env, void *target, size_t target_len, napi_value offv, napi_value bufv, napi_value minv,
                         const char **err) {
  uint32_t off, min_len;
  void *buf;
  size_t buf_len;
  if (napi_get_value_uint32(env, offv, &off) != napi_ok || napi_get_value_uint32(env, minv, &min_len) != napi_ok) {
    *err = "offset and minLength must be numbers";
    return 1;
  }
  if (get_bytes(env, bufv, &buf, &buf_len)) {
    *err = "pointer argument must be a Uint8Array or null";
    return 1;
  }
  if ((size_t)off + 8 > target_len || off % 8 != 0) return -EFAULT;
  if (buf && buf_len < min_len) return -EFAULT;
  uint64_t addr = (uint64_t)(uintptr_t)buf;
  memcpy((char *)target + off, &addr, sizeof addr);
  return 0;
}

/*
 * bpf(cmd, attr, [offset, buffer|null, minLength]...)
 * Writes each buffer's address into attr at offset (u64), then calls bpf(2)
 * with attr's whole length.
 */
static napi_value Bpf(napi_env env, napi_callback_info info) {
  size_t argc = MAX_ARGS;
  napi_value argv[MAX_ARGS];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2 || (argc - 2) % 3 != 0) return throw_type(env, "bpf(cmd, attr, [offset, buffer, minLength]...)");
  int32_t cmd;
  if (napi_get_value_int32(env, argv[0], &cmd) != napi_ok) return throw_type(env, "cmd must be a number");
  void *attr;
  size_t attr_len;
  if (get_bytes(env, argv[1], &attr, &attr_len) || attr == NULL) return throw_type(env, "attr must be a Uint8Array");
  for (size_t i = 2; i < argc; i += 3) {
    const char *err = NULL;
    int r = patch_pointer(env, attr, attr_len, argv[i], argv[i + 1], argv[i + 2], &err);
    if (err) return throw_type(env, err);
    if (r) return ret_int(env, r);
  }
  return ret_int(env, sys_bpf(cmd, attr, attr_len));
}

/*
 * bpfNested(cmd, attr, [target, offset, buffer|null, minLength]...)
 * Like bpf(), but each address goes into `target` (attr itself, or a struct
 * attr points to, such as bpf_btf_info whose `btf` member points to a
 * buffer), so nested pointers get the same length checks.
 */
static napi_value BpfNested(napi_env env, napi_callback_info info) {
  size_t argc = MAX_ARGS;
  napi_value argv[MAX_ARGS];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2 || (argc - 2) % 4 != 0)
    return throw_type(env, "bpfNested(cmd, attr, [target, offset, buffer, minLength]...)");
  int32_t cmd;
  if (napi_get_value_int32(env, argv[0], &cmd) != napi_ok) return throw_type(env, "cmd must be a number");
  void *attr;
  size_t attr_len;
  if (get_bytes(env, argv[1], &attr, &attr_len) || attr == NULL) return throw_type(env, "attr must be a Uint8Array");
  for (size_t i = 2; i < argc; i += 4) {
    void *target;
    size_t target_len;
    if (get_bytes(env, argv[i], &target, &target_len) || target == NULL) return throw_type(env, "target must be a Uint8Array");
    const char *err = NULL;
    int r = patch_pointer(env, target, target_len, argv[i + 1], argv[i + 2], argv[i + 3], &err);
    if (err) return throw_type(env, err);
    if (r) return ret_int(env, r);
  }
  return ret_int(env, sys_bpf(cmd, attr, attr_len));
}

/*
 * elem(cmd, fd, key|null, keyLength, value|null, valueLength, flags)
 * The fast path for the element commands (lookup, update, delete,
 * get_next_key, lookup_and_delete): one bpf(2) call, nothing allocated.
 */
static napi_value Elem(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc != 7) return throw_type(env, "elem(cmd, fd, key, keyLength, value, valueLength, flags)");
  int32_t cmd, fd;
  uint32_t key_min, value_min;
  int64_t flags;
  void *key, *value;
  size_t key_len, value_len;
  if (napi_get_value_int32(env, argv[0], &cmd) != napi_ok || napi_get_value_int32(env, argv[1], &fd) != napi_ok ||
      napi_get_value_uint32(env, argv[3], &key_min) != napi_ok ||
      napi_get_value_uint32(env, argv[5], &value_min) != napi_ok ||
      napi_get_value_int64(env, argv[6], &flags) != napi_ok)
    return throw_type(env, "elem: numeric arguments expected");
  if (get_bytes(env, argv[2], &key, &key_len) || get_bytes(env, argv[4], &value, &value_len))
    return throw_type(env, "elem: key and value must be Uint8Array or null");
  if ((key && key_len < key_min) || (value && value_len < value_min)) return ret_int(env, -EFAULT);
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.map_fd = (uint32_t)fd;
  attr.key = (uint64_t)(uintptr_t)key;
  attr.value = (uint64_t)(uintptr_t)value; /* aliases next_key */
  attr.flags = (uint64_t)flags;
  return ret_int(env, sys_bpf(cmd, &attr, offsetof(union bpf_attr, flags) + sizeof attr.flags));
}

/*
 * The call block: an ArrayBuffer of CALL_BLOCK_SIZE bytes shared with
 * JavaScript, one per Node environment (main thread, each worker). For the
 * element fast path JavaScript writes the arguments into its header and the
 * key/value bytes after it, then calls elemBlock() with no arguments: no
 * typed-array lookups, no copies to the JS heap's side. Header (u32 words,
 * little-endian): cmd, fd, key offset, key length, value offset, value
 * length, flags low, flags high, then the result (i32: the syscall's result
 * or -errno). An offset of 0xffffffff passes NULL.
 */
#define CALL_BLOCK_SIZE 65536
#define CALL_BLOCK_HEADER 64
#define NO_BUFFER 0xffffffffu
#define CALL_BLOCK_RESULT 32

/* The leading fields of union bpf_attr that element commands use (checked below). */
struct elem_attr {
  uint32_t map_fd;
  uint32_t pad;
  uint64_t key;
  uint64_t value;
  uint64_t flags;
};
_Static_assert(offsetof(struct elem_attr, map_fd) == offsetof(union bpf_attr, map_fd), "map_fd");
_Static_assert(offsetof(struct elem_attr, key) == offsetof(union bpf_attr, key), "key");
_Static_assert(offsetof(struct elem_attr, value) == offsetof(union bpf_attr, value), "value");
_Static_assert(offsetof(struct elem_attr, flags) == offsetof(union bpf_attr, flags), "flags");
_Static_assert(sizeof(struct elem_attr) == offsetof(union bpf_attr, flags) + sizeof(uint64_t), "size");

/*
 * This thread's call block, for elemBlock(): found without asking N-API.
 * Node runs each environment on its own thread; the environment's teardown
 * clears it.
 */
static __thread uint8_t *thread_block;

struct instance {
  uint8_t *block;
  napi_ref ref;
};

static void free_instance(napi_env env, void *data, void *hint) {
  (void)hint;
  struct instance *in = data;
  if (thread_block == in->block) thread_block = NULL;
  if (in->ref) napi_delete_reference(env, in->ref);
  free(in);
}

/* callBlock() -> the environment's ArrayBuffer (created on first use). */
static napi_value CallBlock(napi_env env, napi_callback_info info) {
  (void)info;
  struct instance *in = NULL;
  napi_value ab;
  if (napi_get_instance_data(env, (void **)&in) == napi_ok && in && in->ref &&
      napi_get_reference_value(env, in->ref, &ab) == napi_ok && ab)
    return ab;
  in = calloc(1, sizeof *in);
  if (!in) return throw_type(env, "callBlock: out of memory");
  void *data;
  if (napi_create_arraybuffer(env, CALL_BLOCK_SIZE, &data, &ab) != napi_ok ||
      napi_create_reference(env, ab, 1, &in->ref) != napi_ok) {
    free(in);
    return throw_type(env, "callBlock: cannot allocate");
  }
  in->block = data;
  thread_block = data;
  memset(in->block, 0, CALL_BLOCK_SIZE);
  napi_set_instance_data(env, in, free_instance, NULL);
  return ab;
}

/* A pointer into the block for [off, off + len), NULL for NO_BUFFER; -1 when out of bounds. */
static int block_ptr(uint8_t *block, uint32_t off, uint32_t len, void **p) {
  if (off == NO_BUFFER) {
    *p = NULL;
    return 0;
  }
  if (off < CALL_BLOCK_HEADER || off > CALL_BLOCK_SIZE || len > CALL_BLOCK_SIZE - off) return -1;
  *p = block + off;
  return 0;
}

/*
 * elemBlock(): the element command described in the call block's header; the
 * result goes to the header's result word. Returns nothing, so that the call
 * creates no JavaScript value.
 */
static napi_value ElemBlock(napi_env env, napi_callback_info info) {
  (void)info;
  uint8_t *b = thread_block;
  if (!b) return throw_type(env, "elemBlock: call callBlock() first");
  uint32_t h[8];
  memcpy(h, b, sizeof h);
  void *key, *value;
  int32_t r;
  if (block_ptr(b, h[2], h[3], &key) || block_ptr(b, h[4], h[5], &value)) {
    r = -EFAULT;
  } else {
    struct elem_attr attr = {
        .map_fd = h[1],
        .key = (uint64_t)(uintptr_t)key,
        .value = (uint64_t)(uintptr_t)value,
        .flags = (uint64_t)h[6] | ((uint64_t)h[7] << 32),
    };
    r = (int32_t)sys_bpf((int)h[0], &attr, sizeof attr);
  }
  memcpy(b + CALL_BLOCK_RESULT, &r, sizeof r);
  return NULL;
}

/*
 * mmap(fd, length, offset, writable) -> [ArrayBuffer, handle] over a
 * MAP_SHARED mapping of fd, or -errno. The mapping is released by
 * unmap(handle, arrayBuffer) (which first detaches the ArrayBuffer, so no view
 * can reach the released memory), or else when the ArrayBuffer is collected.
 * The small record behind both is freed when both have let go of it.
 */
struct mapping {
  void *addr;
  size_t len;
  int mapped;
  int refs;
};

static void mapping_release(struct mapping *m) {
  if (--m->refs == 0) free(m);
}

static void buffer_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)data;
  struct mapping *m = hint;
  if (m->mapped) munmap(m->addr, m->len);
  m->mapped = 0;
  mapping_release(m);
}

static void handle_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  mapping_release(data);
}

static napi_value Mmap(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd;
  int64_t len, off;
  bool writable;
  if (argc != 4 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || napi_get_value_int64(env, argv[1], &len) != napi_ok ||
      napi_get_value_int64(env, argv[2], &off) != napi_ok || napi_get_value_bool(env, argv[3], &writable) != napi_ok)
    return throw_type(env, "mmap(fd, length, offset, writable)");
  if (len <= 0 || off < 0) return ret_int(env, -EINVAL);
  void *p = mmap(NULL, (size_t)len, PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED, fd, (off_t)off);
  if (p == MAP_FAILED) return ret_int(env, -(int64_t)errno);
  struct mapping *m = malloc(sizeof *m);
  if (!m) {
    munmap(p, (size_t)len);
    return ret_int(env, -ENOMEM);
  }
  *m = (struct mapping){.addr = p, .len = (size_t)len, .mapped = 1, .refs = 1};
  napi_value ab, handle, out;
  if (napi_create_external_arraybuffer(env, p, (size_t)len, buffer_finalize, m, &ab) != napi_ok) {
    munmap(p, (size_t)len);
    free(m);
    return ret_int(env, -ENOMEM);
  }
  m->refs++;
  if (napi_create_external(env, m, handle_finalize, NULL, &handle) != napi_ok) {
    m->refs--;
    return throw_type(env, "mmap: cannot create the handle");
  }
  napi_create_array_with_length(env, 2, &out);
  napi_set_element(env, out, 0, ab);
  napi_set_element(env, out, 1, handle);
  return out;
}

/* unmap(handle, arrayBuffer): detaches the ArrayBuffer (its views become empty), then munmaps. */
static napi_value Unmap(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct mapping *m = NULL;
  napi_valuetype t;
  if (argc != 2 || napi_typeof(env, argv[0], &t) != napi_ok || t != napi_external ||
      napi_get_value_external(env, argv[0], (void **)&m) != napi_ok || !m)
    return throw_type(env, "unmap(handle, arrayBuffer)");
  bool detached = false;
  if (napi_is_detached_arraybuffer(env, argv[1], &detached) != napi_ok) return throw_type(env, "unmap: not an ArrayBuffer");
  void *data = NULL;
  size_t len = 0;
  if (!detached) {
    if (napi_get_arraybuffer_info(env, argv[1], &data, &len) != napi_ok || data != m->addr)
      return throw_type(env, "unmap: the ArrayBuffer is not this mapping's");
    if (napi_detach_arraybuffer(env, argv[1]) != napi_ok) return throw_type(env, "unmap: cannot detach");
  }
  if (m->mapped) munmap(m->addr, m->len);
  m->mapped = 0;
  return ret_int(env, 0);
}

/* pidfdOpen(pid) -> a pidfd or -errno (keys of task storage maps). */
static napi_value PidfdOpen(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t pid;
  if (argc != 1 || napi_get_value_int32(env, argv[0], &pid) != napi_ok) return throw_type(env, "pidfdOpen(pid)");
  long r = syscall(SYS_pidfd_open, pid, 0);
  return ret_int(env, r < 0 ? -(int64_t)errno : r);
}

/* epollCreate() -> epoll fd or -errno. */
static napi_value EpollCreate(napi_env env, napi_callback_info info) {
  (void)info;
  int r = epoll_create1(EPOLL_CLOEXEC);
  return ret_int(env, r < 0 ? -(int64_t)errno : r);
}

/* epollAdd(epfd, fd) -> 0 or -errno: wake on EPOLLIN. */
static napi_value EpollAdd(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t epfd, fd;
  if (argc != 2 || napi_get_value_int32(env, argv[0], &epfd) != napi_ok || napi_get_value_int32(env, argv[1], &fd) != napi_ok)
    return throw_type(env, "epollAdd(epfd, fd)");
  struct epoll_event ev = {.events = EPOLLIN, .data = {.fd = fd}};
  return ret_int(env, epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -(int64_t)errno : 0);
}

/* epollWait(epfd, timeoutMs) -> ready count or -errno. Blocks: call it from a worker thread. */
static napi_value EpollWait(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t epfd, timeout;
  if (argc != 2 || napi_get_value_int32(env, argv[0], &epfd) != napi_ok || napi_get_value_int32(env, argv[1], &timeout) != napi_ok)
    return throw_type(env, "epollWait(epfd, timeoutMs)");
  struct epoll_event ev[8];
  int r = epoll_wait(epfd, ev, 8, timeout);
  return ret_int(env, r < 0 ? -(int64_t)errno : r);
}

/* perfEventOpen(attr, pid, cpu, groupFd, flags) -> fd or -errno (perf_event_open(2); attr laid out in TypeScript). */
static napi_value PerfEventOpen(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *attr;
  size_t attr_len;
  int32_t pid, cpu, group;
  uint32_t flags;
  if (argc != 5 || get_bytes(env, argv[0], &attr, &attr_len) || attr == NULL || napi_get_value_int32(env, argv[1], &pid) != napi_ok ||
      napi_get_value_int32(env, argv[2], &cpu) != napi_ok || napi_get_value_int32(env, argv[3], &group) != napi_ok ||
      napi_get_value_uint32(env, argv[4], &flags) != napi_ok)
    return throw_type(env, "perfEventOpen(attr, pid, cpu, groupFd, flags)");
  uint32_t size;
  memcpy(&size, (char *)attr + 4, sizeof size); /* attr.size: the kernel reads that many bytes */
  if (attr_len < 8 || size > attr_len) return ret_int(env, -EFAULT);
  long r = syscall(SYS_perf_event_open, attr, pid, cpu, group, (unsigned long)flags);
  return ret_int(env, r < 0 ? -(int64_t)errno : r);
}

/* pageSize() -> sysconf(_SC_PAGESIZE) */
static napi_value PageSize(napi_env env, napi_callback_info info) {
  (void)info;
  return ret_int(env, sysconf(_SC_PAGESIZE));
}

/* close(fd) -> 0 or -errno */
static napi_value Close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd;
  if (argc != 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok) return throw_type(env, "close(fd)");
  return ret_int(env, close(fd) < 0 ? -(int64_t)errno : 0);
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"bpf", NULL, Bpf, NULL, NULL, NULL, napi_default, NULL},
      {"bpfNested", NULL, BpfNested, NULL, NULL, NULL, napi_default, NULL},
      {"elem", NULL, Elem, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, Close, NULL, NULL, NULL, napi_default, NULL},
      {"mmap", NULL, Mmap, NULL, NULL, NULL, napi_default, NULL},
      {"unmap", NULL, Unmap, NULL, NULL, NULL, napi_default, NULL},
      {"pageSize", NULL, PageSize, NULL, NULL, NULL, napi_default, NULL},
      {"pidfdOpen", NULL, PidfdOpen, NULL, NULL, NULL, napi_default, NULL},
      {"perfEventOpen", NULL, PerfEventOpen, NULL, NULL, NULL, napi_default, NULL},
      {"epollCreate", NULL, EpollCreate, NULL, NULL, NULL, napi_default, NULL},
      {"epollAdd", NULL, EpollAdd, NULL, NULL, NULL, napi_default, NULL},
      {"epollWait", NULL, EpollWait, NULL, NULL, NULL, napi_default, NULL},
      {"callBlock", NULL, CallBlock, NULL, NULL, NULL, napi_default, NULL},
      {"elemBlock", NULL, ElemBlock, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
