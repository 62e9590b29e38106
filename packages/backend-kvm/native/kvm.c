/*
 * Hyvisor KVM addon: the thinnest layer that lets TypeScript drive /dev/kvm.
 *
 * Only what JavaScript cannot do lives here: open/close, ioctl, mmap/munmap, eventfd, the
 * per-vCPU POSIX timer and its signal handler. Every struct is encoded and decoded in
 * TypeScript from the offsets exported in `layout`, computed here with offsetof/sizeof from
 * <linux/kvm.h>, so no C layout is hard-coded on the other side.
 *
 * Conventions (why): functions return an int that is >= 0 on success or -errno on failure, so
 * the TypeScript caller builds one BackendError with the operation name and strerror text, and
 * the hot path (vcpuRun) never allocates (small ints are V8 Smis). Functions that hand back an
 * ArrayBuffer return it on success and -errno otherwise.
 *
 * Safety: nothing here trusts its arguments. Buffers passed to ioctls are checked against the
 * size the kernel will read or write; vCPU handles are indices into a fixed table that is
 * validated on each call; unmapping detaches the ArrayBuffer so a stale view throws a
 * TypeError instead of touching freed memory.
 */
#define _GNU_SOURCE
#ifndef NAPI_VERSION
#define NAPI_VERSION 8
#endif
#include <node_api.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------- helpers */

#define CHECK(call)                                                                                \
  do {                                                                                             \
    if ((call) != napi_ok) return throw_last(env, #call);                                          \
  } while (0)

static napi_value throw_last(napi_env env, const char *what) {
  const napi_extended_error_info *info = NULL;
  napi_get_last_error_info(env, &info);
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) {
    char msg[256];
    snprintf(msg, sizeof msg, "kvm addon: %s: %s", what,
             info && info->error_message ? info->error_message : "N-API call failed");
    napi_throw_error(env, NULL, msg);
  }
  return NULL;
}

static napi_value int_value(napi_env env, int64_t v) {
  napi_value out;
  /* int32 stays a Smi: no allocation on the hot path. */
  if (v >= INT32_MIN && v <= INT32_MAX) napi_create_int32(env, (int32_t)v, &out);
  else napi_create_int64(env, v, &out);
  return out;
}

static napi_value neg_errno(napi_env env) { return int_value(env, -errno); }

/* Reads argument i as an int64; missing or non-number arguments become `fallback`. */
static int64_t arg_i64(napi_env env, napi_value v, int64_t fallback) {
  int64_t out = fallback;
  if (v == NULL || napi_get_value_int64(env, v, &out) != napi_ok) return fallback;
  return out;
}

static double arg_f64(napi_env env, napi_value v, double fallback) {
  double out = fallback;
  if (v == NULL || napi_get_value_double(env, v, &out) != napi_ok) return fallback;
  return out;
}

/* Bytes behind an ArrayBuffer or any typed array/DataView (with its offset applied). */
static int arg_bytes(napi_env env, napi_value v, void **data, size_t *len) {
  bool is = false;
  if (napi_is_arraybuffer(env, v, &is) == napi_ok && is)
    return napi_get_arraybuffer_info(env, v, data, len) == napi_ok ? 0 : -1;
  if (napi_is_typedarray(env, v, &is) == napi_ok && is) {
    napi_typedarray_type type;
    size_t length, offset;
    napi_value ab;
    void *base;
    if (napi_get_typedarray_info(env, v, &type, &length, &base, &ab, &offset) != napi_ok) return -1;
    size_t elem = 1;
    switch (type) {
      case napi_int16_array: case napi_uint16_array: elem = 2; break;
      case napi_int32_array: case napi_uint32_array: case napi_float32_array: elem = 4; break;
      case napi_float64_array: case napi_bigint64_array: case napi_biguint64_array: elem = 8; break;
      default: elem = 1;
    }
    *data = base;
    *len = length * elem;
    return 0;
  }
  if (napi_is_dataview(env, v, &is) == napi_ok && is) {
    napi_value ab;
    size_t offset;
    return napi_get_dataview_info(env, v, len, data, &ab, &offset) == napi_ok ? 0 : -1;
  }
  return -1;
}

#define ARGS(n)                                                                                    \
  size_t argc = (n);                                                                               \
  napi_value argv[(n) > 0 ? (n) : 1] = {0};                                                        \
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL))

/* ---------------------------------------------------------------- files and ioctls */

/* open(path) → fd | -errno. O_CLOEXEC so a child process never inherits a VM. */
static napi_value js_open(napi_env env, napi_callback_info info) {
  ARGS(1);
  char path[4096];
  size_t n = 0;
  if (napi_get_value_string_utf8(env, argv[0], path, sizeof path, &n) != napi_ok) return int_value(env, -EINVAL);
  int fd = open(path, O_RDWR | O_CLOEXEC);
  return fd < 0 ? neg_errno(env) : int_value(env, fd);
}

/* close(fd) → 0 | -errno. */
static napi_value js_close(napi_env env, napi_callback_info info) {
  ARGS(1);
  int fd = (int)arg_i64(env, argv[0], -1);
  if (fd < 0) return int_value(env, -EBADF);
  return close(fd) < 0 ? neg_errno(env) : int_value(env, 0);
}

/* strerror(errno) → text, for messages built in TypeScript. */
static napi_value js_strerror(napi_env env, napi_callback_info info) {
  ARGS(1);
  int e = (int)arg_i64(env, argv[0], 0);
  napi_value out;
  CHECK(napi_create_string_utf8(env, strerror(e), NAPI_AUTO_LENGTH, &out));
  return out;
}

/*
 * Ioctls whose argument is an integer (or nothing). Only these requests are accepted, so a
 * typo in TypeScript cannot turn into an ioctl that writes through a bogus pointer.
 */
static const unsigned long INT_IOCTLS[] = {
    KVM_GET_API_VERSION, KVM_CHECK_EXTENSION, KVM_CREATE_VM, KVM_GET_VCPU_MMAP_SIZE,
    KVM_SET_TSS_ADDR,    KVM_CREATE_VCPU,     KVM_GET_TSC_KHZ,   KVM_CREATE_IRQCHIP,
};

/* ioctlInt(fd, request, arg) → result | -errno. */
static napi_value js_ioctl_int(napi_env env, napi_callback_info info) {
  ARGS(3);
  int fd = (int)arg_i64(env, argv[0], -1);
  unsigned long req = (unsigned long)arg_i64(env, argv[1], 0);
  unsigned long arg = (unsigned long)arg_i64(env, argv[2], 0);
  bool known = false;
  for (size_t i = 0; i < sizeof INT_IOCTLS / sizeof INT_IOCTLS[0]; i++) known |= INT_IOCTLS[i] == req;
  if (!known) return int_value(env, -ENOTTY);
  int r;
  do r = ioctl(fd, req, arg); while (r < 0 && errno == EINTR); /* a signal (profiler, SIGWINCH) is no failure */
  return r < 0 ? neg_errno(env) : int_value(env, r);
}

/*
 * Size the kernel reads or writes for a pointer ioctl, given the caller's buffer. Variable-size
 * structs (cpuid2, msrs) carry their count in the first u32, so their size is derived from it.
 * Returns 0 for a request that is not on the list.
 */
static size_t ptr_ioctl_size(unsigned long req, const void *buf, size_t len) {
  uint32_t count = len >= 4 ? *(const uint32_t *)buf : 0;
  switch (req) {
    case KVM_SET_IDENTITY_MAP_ADDR: return sizeof(uint64_t);
    case KVM_GET_REGS: case KVM_SET_REGS: return sizeof(struct kvm_regs);
    case KVM_GET_SREGS: case KVM_SET_SREGS: return sizeof(struct kvm_sregs);
    case KVM_GET_VCPU_EVENTS: case KVM_SET_VCPU_EVENTS: return sizeof(struct kvm_vcpu_events);
    case KVM_INTERRUPT: return sizeof(struct kvm_interrupt);
    case KVM_IOEVENTFD: return sizeof(struct kvm_ioeventfd);
    case KVM_CREATE_PIT2: return sizeof(struct kvm_pit_config);
    case KVM_IRQ_LINE: return sizeof(struct kvm_irq_level);
    case KVM_SIGNAL_MSI: return sizeof(struct kvm_msi);
    case KVM_GET_IRQCHIP: case KVM_SET_IRQCHIP: return sizeof(struct kvm_irqchip);
    case KVM_GET_PIT2: case KVM_SET_PIT2: return sizeof(struct kvm_pit_state2);
    case KVM_GET_LAPIC: case KVM_SET_LAPIC: return sizeof(struct kvm_lapic_state);
    case KVM_GET_MP_STATE: case KVM_SET_MP_STATE: return sizeof(struct kvm_mp_state);
    case KVM_GET_XSAVE: case KVM_SET_XSAVE: return sizeof(struct kvm_xsave);
    case KVM_GET_CLOCK: case KVM_SET_CLOCK: return sizeof(struct kvm_clock_data);
    case KVM_SET_GUEST_DEBUG: return sizeof(struct kvm_guest_debug);
    case KVM_GET_SUPPORTED_CPUID: case KVM_SET_CPUID2:
      if (count > 4096) return SIZE_MAX;
      return sizeof(struct kvm_cpuid2) + (size_t)count * sizeof(struct kvm_cpuid_entry2);
    case KVM_GET_MSRS: case KVM_SET_MSRS:
      if (count > 4096) return SIZE_MAX;
      return sizeof(struct kvm_msrs) + (size_t)count * sizeof(struct kvm_msr_entry);
    default: return 0;
  }
}

/*
 * ioctlBuf(fd, request, buffer) → result | -errno. `buffer` holds the struct encoded by
 * TypeScript; the kernel's answer is written back into it. No allocation: KVM_INTERRUPT and
 * KVM_IRQ_LINE use this with preallocated buffers.
 */
static napi_value js_ioctl_buf(napi_env env, napi_callback_info info) {
  ARGS(3);
  int fd = (int)arg_i64(env, argv[0], -1);
  unsigned long req = (unsigned long)arg_i64(env, argv[1], 0);
  void *buf = NULL;
  size_t len = 0;
  if (arg_bytes(env, argv[2], &buf, &len) != 0 || buf == NULL) return int_value(env, -EFAULT);
  size_t need = ptr_ioctl_size(req, buf, len);
  if (need == 0) return int_value(env, -ENOTTY);
  if (need > len) return int_value(env, -EFAULT);
  int r;
  do r = ioctl(fd, req, buf); while (r < 0 && errno == EINTR);
  return r < 0 ? neg_errno(env) : int_value(env, r);
}

/* ---------------------------------------------------------------- mappings */

/*
 * Every mapping handed out as an external ArrayBuffer has a record. The explicit munmap marks it
 * released; the finalizer (which Node runs later, from a SetImmediate) only unmaps a record that
 * is still live, so an address reused by a newer mapping is never unmapped twice.
 */
typedef struct mapping {
  void *addr;
  size_t len;
  int released;
  struct mapping *next;
} mapping;

static mapping *mappings = NULL;
/* Worker threads may load the addon too; the list is shared by the whole process. */
static pthread_mutex_t mappings_lock = PTHREAD_MUTEX_INITIALIZER;

static void unlink_mapping(mapping *m) {
  for (mapping **p = &mappings; *p; p = &(*p)->next)
    if (*p == m) { *p = m->next; return; }
}

static void mapping_finalize(napi_env env, void *data, void *hint) {
  (void)env; (void)data;
  mapping *m = hint;
  pthread_mutex_lock(&mappings_lock);
  if (!m->released) {
    munmap(m->addr, m->len);
    m->released = 1;
  }
  unlink_mapping(m);
  pthread_mutex_unlock(&mappings_lock);
  free(m);
}

/*
 * mmap(length, fd) → ArrayBuffer | -errno. fd < 0: anonymous shared memory (guest RAM, zeroed);
 * fd >= 0: a shared mapping of that fd at offset 0 (the vCPU's kvm_run).
 */
static napi_value js_mmap(napi_env env, napi_callback_info info) {
  ARGS(2);
  int64_t len = arg_i64(env, argv[0], 0);
  int fd = (int)arg_i64(env, argv[1], -1);
  if (len <= 0) return int_value(env, -EINVAL);
  int flags = MAP_SHARED | (fd < 0 ? MAP_ANONYMOUS | MAP_NORESERVE : 0);
  void *addr = mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE, flags, fd, 0);
  if (addr == MAP_FAILED) return neg_errno(env);
  mapping *m = calloc(1, sizeof *m);
  if (!m) { munmap(addr, (size_t)len); return int_value(env, -ENOMEM); }
  m->addr = addr;
  m->len = (size_t)len;
  napi_value ab;
  if (napi_create_external_arraybuffer(env, addr, (size_t)len, mapping_finalize, m, &ab) != napi_ok) {
    munmap(addr, (size_t)len);
    free(m);
    return throw_last(env, "napi_create_external_arraybuffer");
  }
  pthread_mutex_lock(&mappings_lock);
  m->next = mappings;
  mappings = m;
  pthread_mutex_unlock(&mappings_lock);
  return ab;
}

/* munmap(arrayBuffer) → 0 | -errno. Detaches the buffer first: every view of it becomes empty. */
static napi_value js_munmap(napi_env env, napi_callback_info info) {
  ARGS(1);
  void *addr = NULL;
  size_t len = 0;
  bool is = false;
  if (napi_is_arraybuffer(env, argv[0], &is) != napi_ok || !is) return int_value(env, -EINVAL);
  CHECK(napi_get_arraybuffer_info(env, argv[0], &addr, &len));
  if (addr == NULL) return int_value(env, -EINVAL); /* already detached */
  pthread_mutex_lock(&mappings_lock);
  mapping *m = mappings;
  while (m && !(m->addr == addr && !m->released)) m = m->next;
  if (!m) {
    pthread_mutex_unlock(&mappings_lock);
    return int_value(env, -EINVAL); /* not one of ours */
  }
  if (napi_detach_arraybuffer(env, argv[0]) != napi_ok) {
    pthread_mutex_unlock(&mappings_lock);
    return throw_last(env, "napi_detach_arraybuffer");
  }
  m->released = 1;
  int r = munmap(m->addr, m->len);
  int e = errno;
  pthread_mutex_unlock(&mappings_lock);
  return r < 0 ? int_value(env, -e) : int_value(env, 0);
}

/*
 * setMemoryRegion(vmFd, slot, flags, gpa, buffer) → 0 | -errno. KVM_SET_USER_MEMORY_REGION for
 * a whole mapping made by mmap() above (the host address never reaches JavaScript, and only
 * memory this addon owns can be handed to the guest). `buffer` null deletes the slot.
 */
static napi_value js_set_memory_region(napi_env env, napi_callback_info info) {
  ARGS(5);
  int fd = (int)arg_i64(env, argv[0], -1);
  int64_t slot = arg_i64(env, argv[1], -1);
  int64_t flags = arg_i64(env, argv[2], 0);
  double gpa = arg_f64(env, argv[3], -1);
  if (slot < 0 || slot > UINT32_MAX || flags < 0 || !(gpa >= 0) || gpa > 9007199254740992.0)
    return int_value(env, -EINVAL);
  struct kvm_userspace_memory_region r;
  memset(&r, 0, sizeof r);
  r.slot = (uint32_t)slot;
  r.flags = (uint32_t)flags;
  r.guest_phys_addr = (uint64_t)gpa;
  napi_valuetype t = napi_undefined;
  napi_typeof(env, argv[4], &t);
  if (t != napi_null && t != napi_undefined) {
    void *addr = NULL;
    size_t len = 0;
    bool is = false;
    if (napi_is_arraybuffer(env, argv[4], &is) != napi_ok || !is) return int_value(env, -EINVAL);
    CHECK(napi_get_arraybuffer_info(env, argv[4], &addr, &len));
    pthread_mutex_lock(&mappings_lock);
    mapping *m = mappings;
    while (m && !(m->addr == addr && !m->released)) m = m->next;
    pthread_mutex_unlock(&mappings_lock);
    if (!m || addr == NULL) return int_value(env, -EINVAL);
    r.memory_size = m->len;
    r.userspace_addr = (uint64_t)(uintptr_t)m->addr;
  }
  int rc;
  do rc = ioctl(fd, KVM_SET_USER_MEMORY_REGION, &r); while (rc < 0 && errno == EINTR);
  return rc < 0 ? neg_errno(env) : int_value(env, 0);
}

/* ---------------------------------------------------------------- eventfd */

/* eventfd() → fd | -errno, non-blocking so take() never stalls the event loop. */
static napi_value js_eventfd(napi_env env, napi_callback_info info) {
  (void)info;
  int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  return fd < 0 ? neg_errno(env) : int_value(env, fd);
}

/* eventfdRead(fd) → counter (resets it) | 0 if nothing was counted | -errno. */
static napi_value js_eventfd_read(napi_env env, napi_callback_info info) {
  ARGS(1);
  int fd = (int)arg_i64(env, argv[0], -1);
  uint64_t v = 0;
  ssize_t n = read(fd, &v, sizeof v);
  if (n < 0) return errno == EAGAIN ? int_value(env, 0) : neg_errno(env);
  napi_value out;
  CHECK(napi_create_double(env, (double)v, &out));
  return out;
}

/* ---------------------------------------------------------------- vCPU contexts, timer, kick */

/*
 * A vCPU context lives in a static table that is never freed, so the signal handler can always
 * dereference the pointer it gets in si_value, even for a signal that was queued just before the
 * vCPU went away: the handler only follows `run` while it is non-NULL.
 */
#define MAX_VCPU_CTX 1024
typedef struct vcpu_ctx {
  int in_use;
  int fd;
  struct kvm_run *volatile run;
  pid_t tid;
  timer_t timer;
} vcpu_ctx;

static vcpu_ctx contexts[MAX_VCPU_CTX];
static int kick_signal = 0;
static __thread pid_t my_tid = 0;

static pid_t current_tid(void) {
  if (my_tid == 0) my_tid = (pid_t)syscall(SYS_gettid);
  return my_tid;
}

/*
 * The kick handler. Setting immediate_exit (rather than only interrupting the syscall) means a
 * kick that lands between the JS check and the KVM_RUN ioctl is not lost: KVM_RUN sees the flag
 * and returns -EINTR at once.
 */
static void kick_handler(int sig, siginfo_t *si, void *uc) {
  (void)sig; (void)uc;
  vcpu_ctx *c = si ? (vcpu_ctx *)si->si_value.sival_ptr : NULL;
  if (c < contexts || c >= contexts + MAX_VCPU_CTX) return; /* a kick sent by someone else */
  struct kvm_run *run = c->run;
  if (run) run->immediate_exit = 1;
}

/* Installs the handler once (SA_SIGINFO, deliberately no SA_RESTART) and unblocks the signal here. */
static int ensure_signal(void) {
  if (kick_signal == 0) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = kick_handler;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    int sig = SIGRTMIN + 4;
    if (sigaction(sig, &sa, NULL) < 0) return -errno;
    kick_signal = sig;
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, kick_signal);
  int e = pthread_sigmask(SIG_UNBLOCK, &set, NULL);
  return e ? -e : 0;
}

static vcpu_ctx *ctx_of(napi_env env, napi_value v) {
  int64_t h = arg_i64(env, v, -1);
  if (h < 0 || h >= MAX_VCPU_CTX || !contexts[h].in_use) return NULL;
  return &contexts[h];
}

/*
 * vcpuAttach(vcpuFd, kvmRunBuffer) → handle | -errno. Remembers the fd and kvm_run, and creates
 * the deadline timer aimed at the calling thread (the thread that must call vcpuRun).
 */
static napi_value js_vcpu_attach(napi_env env, napi_callback_info info) {
  ARGS(2);
  int fd = (int)arg_i64(env, argv[0], -1);
  void *run = NULL;
  size_t len = 0;
  bool is = false;
  if (fd < 0) return int_value(env, -EBADF);
  if (napi_is_arraybuffer(env, argv[1], &is) != napi_ok || !is) return int_value(env, -EINVAL);
  CHECK(napi_get_arraybuffer_info(env, argv[1], &run, &len));
  if (run == NULL || len < sizeof(struct kvm_run)) return int_value(env, -EINVAL);
  int e = ensure_signal();
  if (e < 0) return int_value(env, e);
  int h = -1;
  for (int i = 0; i < MAX_VCPU_CTX; i++)
    if (!contexts[i].in_use) { h = i; break; }
  if (h < 0) return int_value(env, -EMFILE);
  vcpu_ctx *c = &contexts[h];
  struct sigevent sev;
  memset(&sev, 0, sizeof sev);
  sev.sigev_notify = SIGEV_THREAD_ID;
  sev.sigev_signo = kick_signal;
  sev.sigev_value.sival_ptr = c;
  sev._sigev_un._tid = current_tid();
  if (timer_create(CLOCK_MONOTONIC, &sev, &c->timer) < 0) return neg_errno(env);
  c->fd = fd;
  c->tid = current_tid();
  c->run = run;
  c->in_use = 1;
  return int_value(env, h);
}

/* vcpuDetach(handle) → 0 | -errno. Stops the timer; the fd and mapping are closed by their owners. */
static napi_value js_vcpu_detach(napi_env env, napi_callback_info info) {
  ARGS(1);
  vcpu_ctx *c = ctx_of(env, argv[0]);
  if (!c) return int_value(env, -EBADF);
  c->run = NULL; /* first, so a late signal no longer writes into the mapping */
  timer_delete(c->timer);
  c->fd = -1;
  c->in_use = 0;
  return int_value(env, 0);
}

/*
 * vcpuRun(handle) → 0 | -errno. The hot path: one ioctl, nothing allocated. After -EINTR the
 * kick flag is cleared so the next run enters the guest again.
 */
static napi_value js_vcpu_run(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t h = -1;
  if (argc < 1 || napi_get_value_int32(env, argv[0], &h) != napi_ok || h < 0 || h >= MAX_VCPU_CTX ||
      !contexts[h].in_use)
    return int_value(env, -EBADF);
  vcpu_ctx *c = &contexts[h];
  int r = ioctl(c->fd, KVM_RUN, 0);
  if (r < 0) {
    int e = errno;
    if (e == EINTR) c->run->immediate_exit = 0;
    return int_value(env, -e);
  }
  return int_value(env, r);
}

/* vcpuSetDeadline(handle, ms) → 0 | -errno. One-shot; 0 (or less) disarms. */
static napi_value js_vcpu_set_deadline(napi_env env, napi_callback_info info) {
  ARGS(2);
  vcpu_ctx *c = ctx_of(env, argv[0]);
  if (!c) return int_value(env, -EBADF);
  double ms = arg_f64(env, argv[1], 0);
  struct itimerspec its;
  memset(&its, 0, sizeof its);
  if (ms > 0) {
    double ns = ms * 1e6;
    its.it_value.tv_sec = (time_t)(ns / 1e9);
    its.it_value.tv_nsec = (long)(ns - (double)its.it_value.tv_sec * 1e9);
    if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0) its.it_value.tv_nsec = 1;
  }
  return timer_settime(c->timer, 0, &its, NULL) < 0 ? neg_errno(env) : int_value(env, 0);
}

/*
 * vcpuKick(handle) → 0 | -errno. Sets immediate_exit directly; if the vCPU belongs to another
 * thread (which may be inside KVM_RUN right now) it is also signalled so the ioctl returns.
 */
static napi_value js_vcpu_kick(napi_env env, napi_callback_info info) {
  ARGS(1);
  vcpu_ctx *c = ctx_of(env, argv[0]);
  if (!c) return int_value(env, -EBADF);
  struct kvm_run *run = c->run;
  if (run) run->immediate_exit = 1;
  if (c->tid != current_tid()) {
    union sigval v;
    v.sival_ptr = c;
    /* rt_tgsigqueueinfo carries si_value like the timer does, so the handler finds the context. */
    siginfo_t si;
    memset(&si, 0, sizeof si);
    si.si_signo = kick_signal;
    si.si_code = SI_QUEUE;
    si.si_pid = getpid();
    si.si_uid = getuid();
    si.si_value = v;
    if (syscall(SYS_rt_tgsigqueueinfo, getpid(), c->tid, kick_signal, &si) < 0) return neg_errno(env);
  }
  return int_value(env, 0);
}

/* ---------------------------------------------------------------- constants and layout */

static void set_num(napi_env env, napi_value obj, const char *name, double v) {
  napi_value n;
  napi_create_double(env, v, &n);
  napi_set_named_property(env, obj, name, n);
}

static napi_value new_object(napi_env env, napi_value parent, const char *name) {
  napi_value o;
  napi_create_object(env, &o);
  napi_set_named_property(env, parent, name, o);
  return o;
}

#define NUM(obj, name) set_num(env, obj, #name, (double)(name))
#define OFF(obj, key, type, member) set_num(env, obj, key, (double)offsetof(type, member))
#define SEG(obj, key, member) set_num(env, obj, key, (double)offsetof(struct kvm_sregs, member))

static void export_constants(napi_env env, napi_value exports) {
  napi_value ioc = new_object(env, exports, "ioctls");
  NUM(ioc, KVM_GET_API_VERSION); NUM(ioc, KVM_CHECK_EXTENSION); NUM(ioc, KVM_CREATE_VM);
  NUM(ioc, KVM_GET_VCPU_MMAP_SIZE); NUM(ioc, KVM_SET_TSS_ADDR); NUM(ioc, KVM_CREATE_VCPU);
  NUM(ioc, KVM_GET_TSC_KHZ); NUM(ioc, KVM_SET_USER_MEMORY_REGION); NUM(ioc, KVM_SET_IDENTITY_MAP_ADDR);
  NUM(ioc, KVM_GET_REGS); NUM(ioc, KVM_SET_REGS); NUM(ioc, KVM_GET_SREGS); NUM(ioc, KVM_SET_SREGS);
  NUM(ioc, KVM_GET_VCPU_EVENTS); NUM(ioc, KVM_SET_VCPU_EVENTS); NUM(ioc, KVM_INTERRUPT);
  NUM(ioc, KVM_IOEVENTFD); NUM(ioc, KVM_GET_SUPPORTED_CPUID); NUM(ioc, KVM_SET_CPUID2);
  NUM(ioc, KVM_GET_MSRS); NUM(ioc, KVM_SET_MSRS);
  NUM(ioc, KVM_CREATE_IRQCHIP); NUM(ioc, KVM_CREATE_PIT2); NUM(ioc, KVM_IRQ_LINE); NUM(ioc, KVM_GET_IRQCHIP);
  NUM(ioc, KVM_GET_PIT2); NUM(ioc, KVM_GET_LAPIC); NUM(ioc, KVM_GET_MP_STATE); NUM(ioc, KVM_SIGNAL_MSI);
  NUM(ioc, KVM_SET_IRQCHIP); NUM(ioc, KVM_SET_PIT2); NUM(ioc, KVM_SET_LAPIC); NUM(ioc, KVM_SET_MP_STATE);
  NUM(ioc, KVM_GET_XSAVE); NUM(ioc, KVM_SET_XSAVE); NUM(ioc, KVM_GET_CLOCK); NUM(ioc, KVM_SET_CLOCK);

  napi_value caps = new_object(env, exports, "caps");
  NUM(caps, KVM_CAP_IRQCHIP); NUM(caps, KVM_CAP_USER_MEMORY); NUM(caps, KVM_CAP_SET_TSS_ADDR);
  NUM(caps, KVM_CAP_EXT_CPUID); NUM(caps, KVM_CAP_NR_VCPUS); NUM(caps, KVM_CAP_NR_MEMSLOTS);
  NUM(caps, KVM_CAP_IOEVENTFD); NUM(caps, KVM_CAP_SET_IDENTITY_MAP_ADDR); NUM(caps, KVM_CAP_GET_TSC_KHZ);
  NUM(caps, KVM_CAP_MAX_VCPUS); NUM(caps, KVM_CAP_MAX_VCPU_ID); NUM(caps, KVM_CAP_SYNC_REGS);
  NUM(caps, KVM_CAP_READONLY_MEM); NUM(caps, KVM_CAP_IMMEDIATE_EXIT); NUM(caps, KVM_CAP_VM_TSC_CONTROL);
  NUM(caps, KVM_CAP_VCPU_EVENTS); NUM(caps, KVM_CAP_TSC_DEADLINE_TIMER); NUM(caps, KVM_CAP_XSAVE);
  NUM(caps, KVM_CAP_PIT2); NUM(caps, KVM_CAP_SPLIT_IRQCHIP);

  napi_value k = new_object(env, exports, "constants");
  NUM(k, KVM_API_VERSION); NUM(k, KVM_MEM_READONLY); NUM(k, KVM_EXIT_IO_IN); NUM(k, KVM_EXIT_IO_OUT);
  NUM(k, KVM_SYNC_X86_REGS); NUM(k, KVM_SYNC_X86_SREGS); NUM(k, KVM_SYNC_X86_EVENTS);
  NUM(k, KVM_IOEVENTFD_FLAG_DATAMATCH); NUM(k, KVM_IOEVENTFD_FLAG_PIO); NUM(k, KVM_IOEVENTFD_FLAG_DEASSIGN);
  NUM(k, KVM_CPUID_FLAG_SIGNIFCANT_INDEX); NUM(k, KVM_NR_INTERRUPTS);
  NUM(k, KVM_IRQCHIP_PIC_MASTER); NUM(k, KVM_IRQCHIP_PIC_SLAVE); NUM(k, KVM_IRQCHIP_IOAPIC);
  NUM(k, KVM_IOAPIC_NUM_PINS); NUM(k, KVM_MP_STATE_RUNNABLE); NUM(k, KVM_MP_STATE_HALTED);
  set_num(env, k, "KICK_SIGNAL", (double)(SIGRTMIN + 4));

  napi_value ex = new_object(env, exports, "exitReasons");
  NUM(ex, KVM_EXIT_UNKNOWN); NUM(ex, KVM_EXIT_EXCEPTION); NUM(ex, KVM_EXIT_IO); NUM(ex, KVM_EXIT_HYPERCALL);
  NUM(ex, KVM_EXIT_DEBUG); NUM(ex, KVM_EXIT_HLT); NUM(ex, KVM_EXIT_MMIO); NUM(ex, KVM_EXIT_IRQ_WINDOW_OPEN);
  NUM(ex, KVM_EXIT_SHUTDOWN); NUM(ex, KVM_EXIT_FAIL_ENTRY); NUM(ex, KVM_EXIT_INTR);
  NUM(ex, KVM_EXIT_INTERNAL_ERROR); NUM(ex, KVM_EXIT_SYSTEM_EVENT);

  napi_value lay = new_object(env, exports, "layout");

  napi_value run = new_object(env, lay, "run");
  set_num(env, run, "size", sizeof(struct kvm_run));
  OFF(run, "requestInterruptWindow", struct kvm_run, request_interrupt_window);
  OFF(run, "immediateExit", struct kvm_run, immediate_exit);
  OFF(run, "exitReason", struct kvm_run, exit_reason);
  OFF(run, "readyForInterruptInjection", struct kvm_run, ready_for_interrupt_injection);
  OFF(run, "ifFlag", struct kvm_run, if_flag);
  OFF(run, "flags", struct kvm_run, flags);
  OFF(run, "cr8", struct kvm_run, cr8);
  OFF(run, "apicBase", struct kvm_run, apic_base);
  OFF(run, "hwExitReason", struct kvm_run, hw.hardware_exit_reason);
  OFF(run, "failEntryReason", struct kvm_run, fail_entry.hardware_entry_failure_reason);
  OFF(run, "failEntryCpu", struct kvm_run, fail_entry.cpu);
  OFF(run, "exException", struct kvm_run, ex.exception);
  OFF(run, "exErrorCode", struct kvm_run, ex.error_code);
  OFF(run, "ioDirection", struct kvm_run, io.direction);
  OFF(run, "ioSize", struct kvm_run, io.size);
  OFF(run, "ioPort", struct kvm_run, io.port);
  OFF(run, "ioCount", struct kvm_run, io.count);
  OFF(run, "ioDataOffset", struct kvm_run, io.data_offset);
  OFF(run, "mmioPhysAddr", struct kvm_run, mmio.phys_addr);
  OFF(run, "mmioData", struct kvm_run, mmio.data);
  OFF(run, "mmioLen", struct kvm_run, mmio.len);
  OFF(run, "mmioIsWrite", struct kvm_run, mmio.is_write);
  OFF(run, "hypercallNr", struct kvm_run, hypercall.nr);
  OFF(run, "internalSuberror", struct kvm_run, internal.suberror);
  OFF(run, "internalNdata", struct kvm_run, internal.ndata);
  OFF(run, "internalData", struct kvm_run, internal.data);
  set_num(env, run, "internalDataMax", sizeof(((struct kvm_run *)0)->internal.data) / sizeof(__u64));
  OFF(run, "kvmValidRegs", struct kvm_run, kvm_valid_regs);
  OFF(run, "kvmDirtyRegs", struct kvm_run, kvm_dirty_regs);
  OFF(run, "syncRegs", struct kvm_run, s.regs.regs);
  OFF(run, "syncSregs", struct kvm_run, s.regs.sregs);
  OFF(run, "syncEvents", struct kvm_run, s.regs.events);

  napi_value regs = new_object(env, lay, "regs");
  set_num(env, regs, "size", sizeof(struct kvm_regs));
  OFF(regs, "rax", struct kvm_regs, rax); OFF(regs, "rbx", struct kvm_regs, rbx);
  OFF(regs, "rcx", struct kvm_regs, rcx); OFF(regs, "rdx", struct kvm_regs, rdx);
  OFF(regs, "rsi", struct kvm_regs, rsi); OFF(regs, "rdi", struct kvm_regs, rdi);
  OFF(regs, "rsp", struct kvm_regs, rsp); OFF(regs, "rbp", struct kvm_regs, rbp);
  OFF(regs, "r8", struct kvm_regs, r8); OFF(regs, "r9", struct kvm_regs, r9);
  OFF(regs, "r10", struct kvm_regs, r10); OFF(regs, "r11", struct kvm_regs, r11);
  OFF(regs, "r12", struct kvm_regs, r12); OFF(regs, "r13", struct kvm_regs, r13);
  OFF(regs, "r14", struct kvm_regs, r14); OFF(regs, "r15", struct kvm_regs, r15);
  OFF(regs, "rip", struct kvm_regs, rip); OFF(regs, "rflags", struct kvm_regs, rflags);

  napi_value seg = new_object(env, lay, "segment");
  set_num(env, seg, "size", sizeof(struct kvm_segment));
  OFF(seg, "base", struct kvm_segment, base); OFF(seg, "limit", struct kvm_segment, limit);
  OFF(seg, "selector", struct kvm_segment, selector); OFF(seg, "type", struct kvm_segment, type);
  OFF(seg, "present", struct kvm_segment, present); OFF(seg, "dpl", struct kvm_segment, dpl);
  OFF(seg, "db", struct kvm_segment, db); OFF(seg, "s", struct kvm_segment, s);
  OFF(seg, "l", struct kvm_segment, l); OFF(seg, "g", struct kvm_segment, g);
  OFF(seg, "avl", struct kvm_segment, avl); OFF(seg, "unusable", struct kvm_segment, unusable);

  napi_value dt = new_object(env, lay, "dtable");
  OFF(dt, "base", struct kvm_dtable, base); OFF(dt, "limit", struct kvm_dtable, limit);

  napi_value sregs = new_object(env, lay, "sregs");
  set_num(env, sregs, "size", sizeof(struct kvm_sregs));
  SEG(sregs, "cs", cs); SEG(sregs, "ds", ds); SEG(sregs, "es", es); SEG(sregs, "fs", fs);
  SEG(sregs, "gs", gs); SEG(sregs, "ss", ss); SEG(sregs, "tr", tr); SEG(sregs, "ldt", ldt);
  SEG(sregs, "gdt", gdt); SEG(sregs, "idt", idt);
  SEG(sregs, "cr0", cr0); SEG(sregs, "cr2", cr2); SEG(sregs, "cr3", cr3); SEG(sregs, "cr4", cr4);
  SEG(sregs, "cr8", cr8); SEG(sregs, "efer", efer); SEG(sregs, "apicBase", apic_base);
  SEG(sregs, "interruptBitmap", interrupt_bitmap);

  napi_value mem = new_object(env, lay, "memoryRegion");
  set_num(env, mem, "size", sizeof(struct kvm_userspace_memory_region));
  OFF(mem, "slot", struct kvm_userspace_memory_region, slot);
  OFF(mem, "flags", struct kvm_userspace_memory_region, flags);
  OFF(mem, "guestPhysAddr", struct kvm_userspace_memory_region, guest_phys_addr);
  OFF(mem, "memorySize", struct kvm_userspace_memory_region, memory_size);
  OFF(mem, "userspaceAddr", struct kvm_userspace_memory_region, userspace_addr);

  napi_value cpuid = new_object(env, lay, "cpuid");
  set_num(env, cpuid, "headerSize", sizeof(struct kvm_cpuid2));
  set_num(env, cpuid, "entrySize", sizeof(struct kvm_cpuid_entry2));
  OFF(cpuid, "nent", struct kvm_cpuid2, nent);
  OFF(cpuid, "function", struct kvm_cpuid_entry2, function);
  OFF(cpuid, "index", struct kvm_cpuid_entry2, index);
  OFF(cpuid, "flags", struct kvm_cpuid_entry2, flags);
  OFF(cpuid, "eax", struct kvm_cpuid_entry2, eax); OFF(cpuid, "ebx", struct kvm_cpuid_entry2, ebx);
  OFF(cpuid, "ecx", struct kvm_cpuid_entry2, ecx); OFF(cpuid, "edx", struct kvm_cpuid_entry2, edx);

  napi_value msrs = new_object(env, lay, "msrs");
  set_num(env, msrs, "headerSize", sizeof(struct kvm_msrs));
  set_num(env, msrs, "entrySize", sizeof(struct kvm_msr_entry));
  OFF(msrs, "nmsrs", struct kvm_msrs, nmsrs);
  OFF(msrs, "index", struct kvm_msr_entry, index);
  OFF(msrs, "data", struct kvm_msr_entry, data);

  napi_value ioev = new_object(env, lay, "ioeventfd");
  set_num(env, ioev, "size", sizeof(struct kvm_ioeventfd));
  OFF(ioev, "datamatch", struct kvm_ioeventfd, datamatch); OFF(ioev, "addr", struct kvm_ioeventfd, addr);
  OFF(ioev, "len", struct kvm_ioeventfd, len); OFF(ioev, "fd", struct kvm_ioeventfd, fd);
  OFF(ioev, "flags", struct kvm_ioeventfd, flags);

  napi_value irq = new_object(env, lay, "interrupt");
  set_num(env, irq, "size", sizeof(struct kvm_interrupt));
  OFF(irq, "irq", struct kvm_interrupt, irq);

  napi_value events = new_object(env, lay, "vcpuEvents");
  set_num(env, events, "size", sizeof(struct kvm_vcpu_events));
  OFF(events, "interruptInjected", struct kvm_vcpu_events, interrupt.injected);
  OFF(events, "interruptNr", struct kvm_vcpu_events, interrupt.nr);
  OFF(events, "interruptShadow", struct kvm_vcpu_events, interrupt.shadow);
  OFF(events, "interruptSoft", struct kvm_vcpu_events, interrupt.soft);
  OFF(events, "exceptionInjected", struct kvm_vcpu_events, exception.injected);
  OFF(events, "exceptionNr", struct kvm_vcpu_events, exception.nr);
  OFF(events, "exceptionHasErrorCode", struct kvm_vcpu_events, exception.has_error_code);
  OFF(events, "exceptionPending", struct kvm_vcpu_events, exception.pending);
  OFF(events, "exceptionErrorCode", struct kvm_vcpu_events, exception.error_code);
  OFF(events, "nmiInjected", struct kvm_vcpu_events, nmi.injected);
  OFF(events, "nmiPending", struct kvm_vcpu_events, nmi.pending);
  OFF(events, "nmiMasked", struct kvm_vcpu_events, nmi.masked);
  OFF(events, "flags", struct kvm_vcpu_events, flags);
  set_num(env, events, "VALID_NMI_PENDING", KVM_VCPUEVENT_VALID_NMI_PENDING);
  set_num(env, events, "VALID_SHADOW", KVM_VCPUEVENT_VALID_SHADOW);

  napi_value xs = new_object(env, lay, "xsave");
  set_num(env, xs, "size", sizeof(struct kvm_xsave));

  napi_value clk = new_object(env, lay, "clock");
  set_num(env, clk, "size", sizeof(struct kvm_clock_data));
  OFF(clk, "clock", struct kvm_clock_data, clock); OFF(clk, "flags", struct kvm_clock_data, flags);

  napi_value lvl = new_object(env, lay, "irqLevel");
  set_num(env, lvl, "size", sizeof(struct kvm_irq_level));
  OFF(lvl, "irq", struct kvm_irq_level, irq);
  OFF(lvl, "level", struct kvm_irq_level, level);
  napi_value msi = new_object(env, lay, "msi");
  set_num(env, msi, "size", sizeof(struct kvm_msi));
  OFF(msi, "address_lo", struct kvm_msi, address_lo);
  OFF(msi, "address_hi", struct kvm_msi, address_hi);
  OFF(msi, "data", struct kvm_msi, data);

  napi_value pitc = new_object(env, lay, "pitConfig");
  set_num(env, pitc, "size", sizeof(struct kvm_pit_config));
  OFF(pitc, "flags", struct kvm_pit_config, flags);

  /* struct kvm_irqchip with chip.pic (struct kvm_pic_state) and chip.ioapic.redirtbl. */
  napi_value chip = new_object(env, lay, "irqchip");
  set_num(env, chip, "size", sizeof(struct kvm_irqchip));
  OFF(chip, "chipId", struct kvm_irqchip, chip_id);
  OFF(chip, "picIrr", struct kvm_irqchip, chip.pic.irr);
  OFF(chip, "picImr", struct kvm_irqchip, chip.pic.imr);
  OFF(chip, "picIsr", struct kvm_irqchip, chip.pic.isr);
  OFF(chip, "picIrqBase", struct kvm_irqchip, chip.pic.irq_base);
  OFF(chip, "picElcr", struct kvm_irqchip, chip.pic.elcr);
  OFF(chip, "picInitState", struct kvm_irqchip, chip.pic.init_state);
  OFF(chip, "ioapicIrr", struct kvm_irqchip, chip.ioapic.irr);
  OFF(chip, "ioapicRedirtbl", struct kvm_irqchip, chip.ioapic.redirtbl);

  napi_value pit = new_object(env, lay, "pitState2");
  set_num(env, pit, "size", sizeof(struct kvm_pit_state2));
  set_num(env, pit, "channelSize", sizeof(struct kvm_pit_channel_state));
  OFF(pit, "channels", struct kvm_pit_state2, channels);
  OFF(pit, "flags", struct kvm_pit_state2, flags);
  OFF(pit, "count", struct kvm_pit_channel_state, count);
  OFF(pit, "mode", struct kvm_pit_channel_state, mode);
  OFF(pit, "gate", struct kvm_pit_channel_state, gate);

  napi_value lapic = new_object(env, lay, "lapicState");
  set_num(env, lapic, "size", sizeof(struct kvm_lapic_state));
  OFF(lapic, "regs", struct kvm_lapic_state, regs);

  napi_value mp = new_object(env, lay, "mpState");
  set_num(env, mp, "size", sizeof(struct kvm_mp_state));
  OFF(mp, "mpState", struct kvm_mp_state, mp_state);
}

/* ---------------------------------------------------------------- module */

static napi_value init(napi_env env, napi_value exports) {
  static const struct {
    const char *name;
    napi_callback cb;
  } fns[] = {
      {"open", js_open},
      {"close", js_close},
      {"strerror", js_strerror},
      {"ioctlInt", js_ioctl_int},
      {"ioctlBuf", js_ioctl_buf},
      {"mmap", js_mmap},
      {"munmap", js_munmap},
      {"setMemoryRegion", js_set_memory_region},
      {"eventfd", js_eventfd},
      {"eventfdRead", js_eventfd_read},
      {"vcpuAttach", js_vcpu_attach},
      {"vcpuDetach", js_vcpu_detach},
      {"vcpuRun", js_vcpu_run},
      {"vcpuSetDeadline", js_vcpu_set_deadline},
      {"vcpuKick", js_vcpu_kick},
  };
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value f;
    if (napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].cb, NULL, &f) != napi_ok ||
        napi_set_named_property(env, exports, fns[i].name, f) != napi_ok)
      return throw_last(env, "export");
  }
  export_constants(env, exports);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
