/*
 * bpfmap native core: issues syscalls on buffers handed over from JavaScript.
 *
 * It holds no policy: attribute layouts, validation and error messages live in
 * TypeScript (src/sys/). Each function returns the syscall result or -errno.
 * As a second line of defence it checks that every buffer is at least as long
 * as the caller says the kernel will touch, and refuses (-EFAULT) otherwise
 * (a null buffer is passed to the kernel as a NULL pointer; a detached or
 * empty one is a buffer of length 0, never NULL).
 *
 * Its state (the call block, the staging areas) belongs to one load of the
 * module, reached through each function's `data` pointer: two copies of the
 * package whose addon files are one file (hard links, as pnpm stores make)
 * share the loaded library but not its state.
 */
#define NAPI_VERSION 8
#include <node_api.h>

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <linux/bpf.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_ARGS 32

/*
 * Fetches a Uint8Array's memory; a null/undefined argument gives data = NULL
 * and *given = 0. A detached or empty array gives length 0 (its data pointer
 * may be NULL too), so a length check refuses it rather than passing NULL.
 */
static int get_bytes(napi_env env, napi_value v, void **data, size_t *len, int *given) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return -1;
  if (t == napi_null || t == napi_undefined) {
    *data = NULL;
    *len = 0;
    if (given) *given = 0;
    return 0;
  }
  bool is_ta = false;
  napi_is_typedarray(env, v, &is_ta);
  if (!is_ta) return -1;
  napi_typedarray_type tt;
  size_t n;
  if (napi_get_typedarray_info(env, v, &tt, &n, data, NULL, NULL) != napi_ok) return -1;
  if (tt != napi_uint8_array) return -1;
  if (*data == NULL) n = 0;
  *len = n;
  if (given) *given = 1;
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
 * several nanoseconds per operation (docs/architecture.md, "The hot path").
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
 * Per-load state. The call block: CALL_BLOCK_SIZE bytes shared with
 * JavaScript as an ArrayBuffer, one per load of the module in each Node
 * environment (main thread, each worker). For the element fast path
 * JavaScript writes the arguments into its header and the key/value bytes
 * after it, then calls elemBlock() with no arguments: no typed-array lookups,
 * no copies to the JS heap's side. Header (u32 words, little-endian): cmd,
 * fd, key offset, key length, value offset, value length, flags low, flags
 * high, then the result (i32: the syscall's result or -errno). An offset of
 * 0xffffffff passes NULL.
 *
 * How many bytes the kernel copies is decided by the map behind the fd at the
 * time of the call, not by the sizes JavaScript checked: if the number was
 * closed behind the library's back and reused by a map with larger values,
 * the kernel copies more than the caller staged. So the kernel only ever sees
 * memory that is followed by a PROT_NONE guard page: the call block (value
 * area last, guard right after it), and staging areas for everything else
 * whose size comes from a map (elem(), batch commands), each placed to end
 * exactly at its guard. An oversize copy faults and the kernel returns
 * EFAULT; it can neither write past a buffer nor read heap bytes into a map.
 */
#define CALL_BLOCK_SIZE 65536
#define CALL_BLOCK_HEADER 64
#define NO_BUFFER 0xffffffffu
#define CALL_BLOCK_RESULT 32
/* Pointer arguments bpf() takes: (MAX_ARGS - 2) / 3. */
#define MAX_STAGES 10
/* A staging area larger than this is unmapped after the call rather than kept. */
#define STAGE_KEEP (1u << 20)

/* A guarded staging area: `cap` bytes (a multiple of the page size), then a PROT_NONE page. */
struct stage {
  uint8_t *base;
  size_t cap;
};

struct instance {
  uint8_t *block;
  /* Bytes mapped for the block and its guard; 0 when the block is a plain ArrayBuffer (no guard). */
  size_t block_mapped;
  napi_ref ref;
  size_t page;
  struct stage stages[MAX_STAGES];
};

static size_t round_page(size_t n, size_t page) { return (n + page - 1) / page * page; }

/* `len` bytes of read-write memory followed by one PROT_NONE page, or NULL. */
static uint8_t *map_guarded(size_t len, size_t page) {
  void *p = mmap(NULL, len + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return NULL;
  if (mprotect((uint8_t *)p + len, page, PROT_NONE) != 0) {
    munmap(p, len + page);
    return NULL;
  }
  return p;
}

static void stage_drop(struct instance *in, struct stage *s) {
  if (s->base) munmap(s->base, s->cap + in->page);
  s->base = NULL;
  s->cap = 0;
}

/* Room for `len` bytes ending exactly at a guard page: the pointer to hand the kernel, or NULL (ENOMEM). */
static uint8_t *stage_for(struct instance *in, struct stage *s, size_t len) {
  if (s->cap < len || s->base == NULL) {
    stage_drop(in, s);
    size_t cap = round_page(len ? len : 1, in->page);
    uint8_t *p = map_guarded(cap, in->page);
    if (!p) return NULL;
    s->base = p;
    s->cap = cap;
  }
  return s->base + s->cap - len;
}

/* After the call: copies the staged bytes back into the caller's buffer where the kernel changed them. */
static void stage_back(struct instance *in, struct stage *s, void *buf, const uint8_t *staged, size_t len) {
  if (len && memcmp(buf, staged, len) != 0) memcpy(buf, staged, len);
  if (s->cap > STAGE_KEEP) stage_drop(in, s);
}

static void free_instance(napi_env env, void *data, void *hint) {
  (void)hint;
  struct instance *in = data;
  if (in->ref) napi_delete_reference(env, in->ref);
  if (in->block_mapped) munmap(in->block, in->block_mapped);
  for (int i = 0; i < MAX_STAGES; i++) stage_drop(in, &in->stages[i]);
  free(in);
}

/* The commands whose copy sizes come from the map behind attr's fd, and whose buffers are staged. */
static int sized_by_map(int cmd) {
  switch (cmd) {
    case BPF_MAP_LOOKUP_BATCH:
    case BPF_MAP_LOOKUP_AND_DELETE_BATCH:
    case BPF_MAP_UPDATE_BATCH:
    case BPF_MAP_DELETE_BATCH:
    case BPF_MAP_LOOKUP_ELEM:
    case BPF_MAP_UPDATE_ELEM:
    case BPF_MAP_DELETE_ELEM:
    case BPF_MAP_GET_NEXT_KEY:
    case BPF_MAP_LOOKUP_AND_DELETE_ELEM:
      return 1;
    default:
      return 0;
  }
}

/* One pointer argument: where its address goes, the caller's buffer and the bytes the caller says the kernel may touch. */
struct pointer_arg {
  uint8_t *target;
  uint32_t off;
  void *buf;
  size_t len;
  void *staged;
};

/*
 * Reads one [offset, buffer|null, minLength] triple for `target`. Returns 0,
 * or -EFAULT when a length or the offset is wrong; sets *err (and returns 1)
 * for arguments of the wrong type.
 */
static int read_pointer(napi_env env, uint8_t *target, size_t target_len, napi_value offv, napi_value bufv, napi_value minv,
                        struct pointer_arg *pa, const char **err) {
  uint32_t off, min_len;
  int given;
  if (napi_get_value_uint32(env, offv, &off) != napi_ok || napi_get_value_uint32(env, minv, &min_len) != napi_ok) {
    *err = "offset and minLength must be numbers";
    return 1;
  }
  if (get_bytes(env, bufv, &pa->buf, &pa->len, &given)) {
    *err = "pointer argument must be a Uint8Array or null";
    return 1;
  }
  if ((size_t)off + 8 > target_len || off % 8 != 0) return -EFAULT;
  if (given && pa->len < min_len) return -EFAULT;
  pa->target = target;
  pa->off = off;
  pa->staged = pa->buf;
  return 0;
}

/*
 * Issues `cmd` with the pointers in `pa` written into their targets. For
 * commands sized by a map, each buffer is copied to its own guarded staging
 * area first and copied back after (see the call block's comment).
 */
static napi_value call_with_pointers(napi_env env, struct instance *in, int32_t cmd, void *attr, size_t attr_len,
                                     struct pointer_arg *pa, size_t n) {
  int staged = sized_by_map(cmd) && n <= MAX_STAGES;
  for (size_t i = 0; i < n; i++) {
    if (staged && pa[i].buf) {
      uint8_t *p = stage_for(in, &in->stages[i], pa[i].len);
      if (!p) return ret_int(env, -ENOMEM);
      if (pa[i].len) memcpy(p, pa[i].buf, pa[i].len);
      pa[i].staged = p;
    }
  }
  for (size_t i = 0; i < n; i++) {
    uint64_t addr = (uint64_t)(uintptr_t)pa[i].staged;
    memcpy(pa[i].target + pa[i].off, &addr, sizeof addr);
  }
  int64_t r = sys_bpf(cmd, attr, attr_len);
  if (staged)
    for (size_t i = 0; i < n; i++)
      if (pa[i].buf) stage_back(in, &in->stages[i], pa[i].buf, pa[i].staged, pa[i].len);
  return ret_int(env, r);
}

/*
 * bpf(cmd, attr, [offset, buffer|null, minLength]...)
 * Writes each buffer's address into attr at offset (u64), then calls bpf(2)
 * with attr's whole length.
 */
static napi_value Bpf(napi_env env, napi_callback_info info) {
  size_t argc = MAX_ARGS;
  napi_value argv[MAX_ARGS];
  struct instance *in = NULL;
  napi_get_cb_info(env, info, &argc, argv, NULL, (void **)&in);
  /* argc is the real count, which may exceed what argv holds. */
  if (argc > MAX_ARGS || argc < 2 || (argc - 2) % 3 != 0)
    return throw_type(env, "bpf(cmd, attr, [offset, buffer, minLength]...) with at most 10 pointers");
  int32_t cmd;
  if (napi_get_value_int32(env, argv[0], &cmd) != napi_ok) return throw_type(env, "cmd must be a number");
  void *attr;
  size_t attr_len;
  if (get_bytes(env, argv[1], &attr, &attr_len, NULL) || attr == NULL) return throw_type(env, "attr must be a Uint8Array");
  struct pointer_arg pa[MAX_STAGES];
  size_t n = 0;
  for (size_t i = 2; i < argc; i += 3, n++) {
    const char *err = NULL;
    int r = read_pointer(env, attr, attr_len, argv[i], argv[i + 1], argv[i + 2], &pa[n], &err);
    if (err) return throw_type(env, err);
    if (r) return ret_int(env, r);
  }
  return call_with_pointers(env, in, cmd, attr, attr_len, pa, n);
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
  struct instance *in = NULL;
  napi_get_cb_info(env, info, &argc, argv, NULL, (void **)&in);
  if (argc > MAX_ARGS || argc < 2 || (argc - 2) % 4 != 0)
    return throw_type(env, "bpfNested(cmd, attr, [target, offset, buffer, minLength]...) with at most 7 pointers");
  int32_t cmd;
  if (napi_get_value_int32(env, argv[0], &cmd) != napi_ok) return throw_type(env, "cmd must be a number");
  void *attr;
  size_t attr_len;
  if (get_bytes(env, argv[1], &attr, &attr_len, NULL) || attr == NULL) return throw_type(env, "attr must be a Uint8Array");
  struct pointer_arg pa[MAX_STAGES];
  size_t n = 0;
  for (size_t i = 2; i < argc; i += 4, n++) {
    void *target;
    size_t target_len;
    if (get_bytes(env, argv[i], &target, &target_len, NULL) || target == NULL) return throw_type(env, "target must be a Uint8Array");
    const char *err = NULL;
    int r = read_pointer(env, target, target_len, argv[i + 1], argv[i + 2], argv[i + 3], &pa[n], &err);
    if (err) return throw_type(env, err);
    if (r) return ret_int(env, r);
  }
  return call_with_pointers(env, in, cmd, attr, attr_len, pa, n);
}

/*
 * elem(cmd, fd, key|null, keyLength, value|null, valueLength, flags)
 * The element commands with caller buffers (values too large for the call
 * block, fd numbers from the libbpf-shaped functions): one bpf(2) call on
 * guarded copies of the key and value.
 */
static napi_value Elem(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  struct instance *in = NULL;
  napi_get_cb_info(env, info, &argc, argv, NULL, (void **)&in);
  if (argc != 7) return throw_type(env, "elem(cmd, fd, key, keyLength, value, valueLength, flags)");
  int32_t cmd, fd;
  uint32_t key_min, value_min;
  int64_t flags;
  void *key, *value;
  size_t key_len, value_len;
  int key_given, value_given;
  if (napi_get_value_int32(env, argv[0], &cmd) != napi_ok || napi_get_value_int32(env, argv[1], &fd) != napi_ok ||
      napi_get_value_uint32(env, argv[3], &key_min) != napi_ok ||
      napi_get_value_uint32(env, argv[5], &value_min) != napi_ok ||
      napi_get_value_int64(env, argv[6], &flags) != napi_ok)
    return throw_type(env, "elem: numeric arguments expected");
  if (get_bytes(env, argv[2], &key, &key_len, &key_given) || get_bytes(env, argv[4], &value, &value_len, &value_given))
    return throw_type(env, "elem: key and value must be Uint8Array or null");
  if ((key_given && key_len < key_min) || (value_given && value_len < value_min)) return ret_int(env, -EFAULT);
  /* The kernel reads the key and reads or writes the value: hand it guarded copies. */
  uint8_t *k = NULL, *v = NULL;
  if (key_given) {
    if (!(k = stage_for(in, &in->stages[0], key_len))) return ret_int(env, -ENOMEM);
    if (key_len) memcpy(k, key, key_len);
  }
  if (value_given) {
    if (!(v = stage_for(in, &in->stages[1], value_len))) return ret_int(env, -ENOMEM);
    if (value_len) memcpy(v, value, value_len);
  }
  struct elem_attr attr = {
      .map_fd = (uint32_t)fd,
      .key = (uint64_t)(uintptr_t)k,
      .value = (uint64_t)(uintptr_t)v, /* aliases next_key */
      .flags = (uint64_t)flags,
  };
  int64_t r = sys_bpf(cmd, &attr, sizeof attr);
  if (key_given) stage_back(in, &in->stages[0], key, k, key_len);
  if (value_given) stage_back(in, &in->stages[1], value, v, value_len);
  return ret_int(env, r);
}

/* callBlock() -> this load's call block as an ArrayBuffer (the same one on every call). */
static napi_value CallBlock(napi_env env, napi_callback_info info) {
  struct instance *in = NULL;
  napi_get_cb_info(env, info, NULL, NULL, NULL, (void **)&in);
  napi_value ab;
  if (in->ref && napi_get_reference_value(env, in->ref, &ab) == napi_ok && ab) return ab;
  napi_status st = napi_generic_failure;
  if (in->block_mapped) st = napi_create_external_arraybuffer(env, in->block, CALL_BLOCK_SIZE, NULL, NULL, &ab);
  if (st != napi_ok) {
    /* A runtime that refuses external buffers (V8's sandbox): a plain ArrayBuffer, without the guard. */
    void *data;
    if (napi_create_arraybuffer(env, CALL_BLOCK_SIZE, &data, &ab) != napi_ok) return throw_type(env, "callBlock: cannot allocate");
    if (in->block_mapped) munmap(in->block, in->block_mapped);
    in->block_mapped = 0;
    in->block = data;
    memset(in->block, 0, CALL_BLOCK_SIZE);
  }
  if (napi_create_reference(env, ab, 1, &in->ref) != napi_ok) return throw_type(env, "callBlock: cannot allocate");
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
  struct instance *in;
  napi_get_cb_info(env, info, NULL, NULL, NULL, (void **)&in);
  uint8_t *b = in->block;
  if (!in->ref) return throw_type(env, "elemBlock: call callBlock() first");
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

/* The argument of a function that takes exactly one int32: 1 when there is one, 0 otherwise. */
static int one_int32(napi_env env, napi_callback_info info, int32_t *v) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  return argc == 1 && napi_get_value_int32(env, argv[0], v) == napi_ok;
}

/* pidfdOpen(pid) -> a pidfd or -errno (keys of task storage maps). */
static napi_value PidfdOpen(napi_env env, napi_callback_info info) {
  int32_t pid;
  if (!one_int32(env, info, &pid)) return throw_type(env, "pidfdOpen(pid)");
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

/*
 * perfEventOpen(attr, pid, cpu, groupFd, flags[, name]) -> fd or -errno (perf_event_open(2); attr laid
 * out in TypeScript). `name`, a Uint8Array holding a NUL-terminated string (the uprobe PMU's path, the
 * kprobe PMU's symbol), is copied and the copy's address written into attr.config1 (offset 56): the
 * copy keeps its NUL whatever another thread does to the array, so the kernel's string read stops
 * inside it. -EFAULT when attr is shorter than 64 bytes or name is empty or does not end in 0.
 * The kernel reads a copy of attr (so attr.size is read once, whatever another thread writes to a
 * shared buffer meanwhile; -E2BIG past 512 bytes). For a dynamic PMU (type >= PERF_TYPE_MAX: the
 * uprobe and kprobe PMUs) config1 may hold only the address this function puts there: without a
 * name a non-zero config1 is -EFAULT, so no caller-made address reaches the kernel as a string.
 */
static napi_value PerfEventOpen(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *attr, *name = NULL;
  size_t attr_len, name_len = 0;
  int32_t pid, cpu, group;
  uint32_t flags;
  int given = 0, name_given = 0;
  if (argc < 5 || argc > 6 || get_bytes(env, argv[0], &attr, &attr_len, &given) || !given ||
      napi_get_value_int32(env, argv[1], &pid) != napi_ok || napi_get_value_int32(env, argv[2], &cpu) != napi_ok ||
      napi_get_value_int32(env, argv[3], &group) != napi_ok || napi_get_value_uint32(env, argv[4], &flags) != napi_ok ||
      (argc == 6 && get_bytes(env, argv[5], &name, &name_len, &name_given)))
    return throw_type(env, "perfEventOpen(attr, pid, cpu, groupFd, flags[, name: Uint8Array])");
  /* attr.size says how many bytes the kernel reads (0 means the first version's 64): check the buffer holds it first. */
  if (attr_len < 8) return ret_int(env, -EFAULT);
  uint32_t size;
  memcpy(&size, (char *)attr + 4, sizeof size);
  size_t need = size ? size : 64;
  if (need > attr_len) return ret_int(env, -EFAULT);
  uint64_t local[64] = {0}; /* 512 bytes: perf_event_attr is 136 bytes in 6.x */
  if (need > sizeof local) return ret_int(env, -E2BIG);
  memcpy(local, attr, need);
  memcpy((char *)local + 4, &size, sizeof size); /* the size that was checked, whatever the copy read */
  uint32_t type;
  memcpy(&type, local, sizeof type);
  if (!name_given && type >= 6 /* PERF_TYPE_MAX */ && need >= 64 && local[7] != 0) return ret_int(env, -EFAULT);
  char *copy = NULL;
  if (name_given) {
    if (need < 64 || name_len == 0) return ret_int(env, -EFAULT);
    copy = malloc(name_len);
    if (!copy) return ret_int(env, -ENOMEM);
    memcpy(copy, name, name_len);
    if (copy[name_len - 1] != 0) {
      free(copy);
      return ret_int(env, -EFAULT);
    }
    local[7] = (uint64_t)(uintptr_t)copy; /* config1, offset 56 */
  }
  long r = syscall(SYS_perf_event_open, local, pid, cpu, group, (unsigned long)flags);
  int64_t out = r < 0 ? -(int64_t)errno : r;
  free(copy);
  return ret_int(env, out);
}

/* pageSize() -> sysconf(_SC_PAGESIZE) */
static napi_value PageSize(napi_env env, napi_callback_info info) {
  (void)info;
  return ret_int(env, sysconf(_SC_PAGESIZE));
}

/* close(fd) -> 0 or -errno */
static napi_value Close(napi_env env, napi_callback_info info) {
  int32_t fd;
  if (!one_int32(env, info, &fd)) return throw_type(env, "close(fd)");
  return ret_int(env, close(fd) < 0 ? -(int64_t)errno : 0);
}

/*
 * ioctl(fd, request, arg) -> the result or -errno, for requests whose argument is a plain integer
 * that the kernel never dereferences: PERF_EVENT_IOC_ENABLE, _DISABLE, _RESET (arg 0 or
 * PERF_IOC_FLAG_GROUP) and _SET_BPF (arg: a program fd). Any other request is -EINVAL: with an
 * integer for its argument, a pointer-taking request would let the kernel read or write anywhere.
 */
static napi_value Ioctl(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd;
  uint32_t request, arg;
  if (argc != 3 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || napi_get_value_uint32(env, argv[1], &request) != napi_ok ||
      napi_get_value_uint32(env, argv[2], &arg) != napi_ok)
    return throw_type(env, "ioctl(fd, request, arg)");
  switch (request) {
  case 0x2400:     /* PERF_EVENT_IOC_ENABLE */
  case 0x2401:     /* PERF_EVENT_IOC_DISABLE */
  case 0x2403:     /* PERF_EVENT_IOC_RESET */
  case 0x40042408: /* PERF_EVENT_IOC_SET_BPF */
    break;
  default:
    return ret_int(env, -EINVAL);
  }
  int r = ioctl(fd, (unsigned long)request, (unsigned long)arg);
  return ret_int(env, r < 0 ? -(int64_t)errno : r);
}

/* dup(fd) -> a new fd (close-on-exec) for the same open file, or -errno. */
static napi_value Dup(napi_env env, napi_callback_info info) {
  int32_t fd;
  if (!one_int32(env, info, &fd)) return throw_type(env, "dup(fd)");
  int r = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  return ret_int(env, r < 0 ? -(int64_t)errno : r);
}

static napi_value Init(napi_env env, napi_value exports) {
  /* This load's state, handed to the functions that use it as their `data`. */
  struct instance *in = calloc(1, sizeof *in);
  if (!in) return throw_type(env, "bpfmap: out of memory");
  in->page = (size_t)sysconf(_SC_PAGESIZE);
  in->block = map_guarded(CALL_BLOCK_SIZE, in->page);
  if (in->block) in->block_mapped = CALL_BLOCK_SIZE + in->page;
  if (napi_set_instance_data(env, in, free_instance, NULL) != napi_ok) {
    free_instance(env, in, NULL);
    return throw_type(env, "bpfmap: cannot set instance data");
  }
  napi_property_descriptor props[] = {
      {"bpf", NULL, Bpf, NULL, NULL, NULL, napi_default, in},
      {"bpfNested", NULL, BpfNested, NULL, NULL, NULL, napi_default, in},
      {"elem", NULL, Elem, NULL, NULL, NULL, napi_default, in},
      {"close", NULL, Close, NULL, NULL, NULL, napi_default, NULL},
      {"dup", NULL, Dup, NULL, NULL, NULL, napi_default, NULL},
      {"ioctl", NULL, Ioctl, NULL, NULL, NULL, napi_default, NULL},
      {"mmap", NULL, Mmap, NULL, NULL, NULL, napi_default, NULL},
      {"unmap", NULL, Unmap, NULL, NULL, NULL, napi_default, NULL},
      {"pageSize", NULL, PageSize, NULL, NULL, NULL, napi_default, NULL},
      {"pidfdOpen", NULL, PidfdOpen, NULL, NULL, NULL, napi_default, NULL},
      {"perfEventOpen", NULL, PerfEventOpen, NULL, NULL, NULL, napi_default, NULL},
      {"epollCreate", NULL, EpollCreate, NULL, NULL, NULL, napi_default, NULL},
      {"epollAdd", NULL, EpollAdd, NULL, NULL, NULL, napi_default, NULL},
      {"epollWait", NULL, EpollWait, NULL, NULL, NULL, napi_default, NULL},
      {"callBlock", NULL, CallBlock, NULL, NULL, NULL, napi_default, in},
      {"elemBlock", NULL, ElemBlock, NULL, NULL, NULL, napi_default, in},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
