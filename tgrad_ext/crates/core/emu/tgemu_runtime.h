/* tgrad GPU emulator: the block scheduler and the C ABI a compiled program exports.
 *
 * A block's threads are fibers on one OS thread (tgemu_fiber.h). A fiber runs until it blocks:
 * at a barrier, at a warp (simdgroup) collective, or at its end. The scheduler then picks the
 * next runnable fiber by the launch's order: forward (lowest thread index), reverse (highest) or
 * seeded random. A barrier releases when every thread of the block waits at the same call site;
 * a warp collective executes when every lane of the warp has arrived at the same call site, and
 * is run once, by the last lane to arrive, on all lanes' operands. Anything else (threads at
 * different barriers, a barrier some threads never reach, lanes that diverge) is reported as an
 * error that names thread ids and call sites. */
#pragma once
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define TGEMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TGEMU_ASAN 1
#endif
#endif
#ifndef TGEMU_ASAN
#define TGEMU_ASAN 0
#endif
#if TGEMU_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

#include "tgemu_fiber.h"

#define TGEMU_EXPORT extern "C" __attribute__((visibility("default")))
#define TGEMU_ALWAYS_INLINE inline __attribute__((always_inline))

namespace tgemu {

/* Bumped whenever Launch or the exported functions change (checked by the Rust side). */
constexpr uint32_t ABI_VERSION = 1;
constexpr uint32_t WARP = 32;
constexpr uint32_t MAX_THREADS = 1024;
constexpr uint32_t FLAG_POISON_SHARED = 1;

/* One launch, as the Rust side describes it (#[repr(C)] there). */
struct Launch {
  uint32_t grid[3];
  uint32_t block[3];
  uint32_t dyn_shared;
  uint32_t order; /* 0 forward, 1 reverse, 2 seeded random */
  uint64_t seed;
  const uint64_t* args;
  uint32_t nargs;
  uint32_t flags;
};

struct u3 {
  unsigned x, y, z;
};

enum State : uint8_t { RUNNABLE, AT_BARRIER, AT_WARP, EXITED };

struct Site {
  const char* what;
  const char* file;
  int line;
};

static inline bool same_site(const Site& a, const Site& b) {
  return a.line == b.line && strcmp(a.what, b.what) == 0 && strcmp(a.file, b.file) == 0;
}

struct Block;
struct Fiber;
typedef void (*CollectiveFn)(Block& b, Fiber* const* lanes, uint32_t n);

/* A fiber's control block (at the base of its region). `arg`/`out` carry a collective's
 * operands and results. */
struct Fiber {
  void* sp;
  Block* blk;
  u3 tid;
  uint32_t linear, lane, warp;
  State state;
  Site site;
  CollectiveFn op;
  const void* arg[4];
  uint64_t val[4];
  void* out[4];
#if TGEMU_ASAN
  void* fake_stack;
#endif
};

struct Block {
  const Launch* d;
  u3 bid, bdim, gdim;
  uint32_t n, nwarps;
  uint64_t runnable[MAX_THREADS / 64];
  uint32_t at_barrier, exited;
  uint32_t warp_arrived[MAX_THREADS / WARP];
  uint32_t warp_exited[MAX_THREADS / WARP];
  void* sched_sp;
  void (*entry)(const uint64_t*);
  unsigned char* smem;
  size_t smem_bytes;
  uint64_t rng;
  bool failed;
  char* err;
  size_t errcap;
  FiberRegions* regions;
#if TGEMU_ASAN
  const void* sched_bottom;
  size_t sched_size;
  void* sched_fake;
#endif
};

struct Worker {
  FiberRegions regions;
  Block blk;
};

/* The fiber running now: its control block sits at the base of the aligned region holding the
 * current stack. Valid only on a fiber's stack (kernel code). */
static TGEMU_ALWAYS_INLINE Fiber* self() {
  return (Fiber*)((uintptr_t)__builtin_frame_address(0) & ~(uintptr_t)(FIBER_BYTES - 1));
}

static inline Fiber* fiber_at(Block& b, uint32_t i) { return (Fiber*)b.regions->region(i); }

static inline bool on_own_stack(const void* p) {
  uintptr_t base = (uintptr_t)self();
  return (uintptr_t)p - base < FIBER_BYTES;
}

static inline void set_runnable(Block& b, uint32_t i) { b.runnable[i >> 6] |= 1ull << (i & 63); }
static inline void clear_runnable(Block& b, uint32_t i) { b.runnable[i >> 6] &= ~(1ull << (i & 63)); }

static inline uint32_t lanes_in_warp(const Block& b, uint32_t w) {
  uint32_t rest = b.n - w * WARP;
  return rest < WARP ? rest : WARP;
}

/* Records the block's first error (later ones are dropped). */
static inline void verror(Block& b, const char* fmt, va_list ap) {
  if (b.failed) return;
  b.failed = true;
  int k = snprintf(b.err, b.errcap, "block (%u,%u,%u): ", b.bid.x, b.bid.y, b.bid.z);
  if (k >= 0 && (size_t)k < b.errcap) vsnprintf(b.err + k, b.errcap - (size_t)k, fmt, ap);
}

static inline void error(Block& b, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
static inline void error(Block& b, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  verror(b, fmt, ap);
  va_end(ap);
}

/* Appends `fmt` to the block's error message. */
static inline void append(Block& b, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
static inline void append(Block& b, const char* fmt, ...) {
  size_t len = strlen(b.err);
  if (len + 1 >= b.errcap) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(b.err + len, b.errcap - len, fmt, ap);
  va_end(ap);
}

static inline void to_scheduler(Fiber* f, bool dying) {
  Block& b = *f->blk;
#if TGEMU_ASAN
  __sanitizer_start_switch_fiber(dying ? nullptr : &f->fake_stack, b.sched_bottom, b.sched_size);
#else
  (void)dying;
#endif
  tgemu_switch(&f->sp, b.sched_sp);
#if TGEMU_ASAN
  __sanitizer_finish_switch_fiber(f->fake_stack, nullptr, nullptr);
#endif
}

/* Stops the running fiber for good after an error; the scheduler abandons the block. */
[[noreturn]] static inline void abandon(Fiber* f) {
  f->blk->failed = true;
  to_scheduler(f, true);
  __builtin_unreachable();
}

/* Reports an error from kernel code and abandons the block. */
[[noreturn]] static inline void fail(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
[[noreturn]] static inline void fail(const char* fmt, ...) {
  Fiber* f = self();
  va_list ap;
  va_start(ap, fmt);
  verror(*f->blk, fmt, ap);
  va_end(ap);
  abandon(f);
}

/* Appends "a-b,c" style ranges of the threads for which `pick(i)` holds. */
template <class P>
static void append_threads(Block& b, P pick) {
  bool first = true;
  uint32_t i = 0;
  while (i < b.n) {
    if (!pick(i)) {
      i++;
      continue;
    }
    uint32_t j = i;
    while (j + 1 < b.n && pick(j + 1)) j++;
    if (j == i) append(b, "%s%u", first ? "" : ",", i);
    else append(b, "%s%u-%u", first ? "" : ",", i, j);
    first = false;
    i = j + 1;
  }
}

/* Appends every group of threads by what they wait at. */
static void append_waits(Block& b) {
  bool done[MAX_THREADS] = {};
  for (uint32_t i = 0; i < b.n; i++) {
    if (done[i]) continue;
    Fiber* f = fiber_at(b, i);
    auto same = [&](uint32_t j) {
      Fiber* g = fiber_at(b, j);
      if (g->state != f->state) return false;
      if (f->state == AT_BARRIER || f->state == AT_WARP) return same_site(g->site, f->site);
      return true;
    };
    append(b, "; threads ");
    append_threads(b, [&](uint32_t j) { return !done[j] && same(j); });
    for (uint32_t j = i; j < b.n; j++)
      if (!done[j] && same(j)) done[j] = true;
    switch (f->state) {
    case AT_BARRIER:
    case AT_WARP: append(b, " wait at %s (%s:%d)", f->site.what, f->site.file, f->site.line); break;
    case EXITED: append(b, " exited"); break;
    case RUNNABLE: append(b, " are runnable"); break;
    }
  }
}

static void barrier_complete(Block& b) {
  if (b.exited > 0) {
    error(b, "barrier that not every thread of the block reaches (divergent barrier)");
    append_waits(b);
    return;
  }
  Fiber* f0 = fiber_at(b, 0);
  for (uint32_t i = 1; i < b.n; i++) {
    if (!same_site(fiber_at(b, i)->site, f0->site)) {
      error(b, "divergent barrier: threads wait at different barriers");
      append_waits(b);
      return;
    }
  }
  for (uint32_t i = 0; i < b.n; i++) {
    fiber_at(b, i)->state = RUNNABLE;
    set_runnable(b, i);
  }
  b.at_barrier = 0;
}

/* __syncthreads() / threadgroup_barrier(): wait until every thread of the block waits here. */
static inline void barrier(const char* what, const char* file, int line) {
  Fiber* f = self();
  Block& b = *f->blk;
  f->state = AT_BARRIER;
  f->site = Site{what, file, line};
  clear_runnable(b, f->linear);
  if (++b.at_barrier + b.exited == b.n) barrier_complete(b);
  if (b.failed) abandon(f);
  to_scheduler(f, false);
}

static void warp_error(Block& b, uint32_t w, const char* why) {
  error(b, "warp %u: %s", w, why);
  append_waits(b);
}

/* A warp collective: the lane's operands are already in f->arg/val/out. Blocks until all lanes
 * of the warp arrive; the last one runs `op` over all of them. */
static inline void collective(Fiber* f, CollectiveFn op, const char* what, const char* file, int line) {
  Block& b = *f->blk;
  f->state = AT_WARP;
  f->site = Site{what, file, line};
  f->op = op;
  clear_runnable(b, f->linear);
  uint32_t w = f->warp, nl = lanes_in_warp(b, w);
  uint32_t arrived = ++b.warp_arrived[w];
  if (arrived == nl) {
    Fiber* lanes[WARP];
    for (uint32_t l = 0; l < nl; l++) {
      lanes[l] = fiber_at(b, w * WARP + l);
      if (lanes[l]->state != AT_WARP || !same_site(lanes[l]->site, f->site)) {
        warp_error(b, w, "lanes diverge at warp collectives");
        abandon(f);
      }
    }
    op(b, lanes, nl);
    if (b.failed) abandon(f);
    for (uint32_t l = 0; l < nl; l++) {
      lanes[l]->state = RUNNABLE;
      set_runnable(b, w * WARP + l);
    }
    b.warp_arrived[w] = 0;
  } else if (arrived + b.warp_exited[w] == nl) {
    warp_error(b, w, "a warp collective that exited lanes never reach");
    abandon(f);
  }
  to_scheduler(f, false);
}

static inline void fiber_exit(Fiber* f) {
  Block& b = *f->blk;
  f->state = EXITED;
  clear_runnable(b, f->linear);
  b.exited++;
  uint32_t w = f->warp;
  b.warp_exited[w]++;
  if (b.at_barrier > 0 && b.at_barrier + b.exited == b.n) barrier_complete(b);
  else if (b.warp_arrived[w] > 0 && b.warp_arrived[w] + b.warp_exited[w] == lanes_in_warp(b, w))
    warp_error(b, w, "a warp collective that exited lanes never reach");
  to_scheduler(f, true);
  __builtin_unreachable();
}

static inline uint64_t next_random(Block& b) {
  /* xorshift64* */
  b.rng ^= b.rng >> 12;
  b.rng ^= b.rng << 25;
  b.rng ^= b.rng >> 27;
  return b.rng * 2685821657736338717ull;
}

/* The next fiber to run by the launch's order, or -1 when none is runnable. */
static int pick(Block& b) {
  uint32_t words = (b.n + 63) / 64;
  if (b.d->order == 1) {
    for (uint32_t k = words; k-- > 0;)
      if (b.runnable[k]) return (int)(k * 64 + 63 - (uint32_t)__builtin_clzll(b.runnable[k]));
    return -1;
  }
  uint32_t start = b.d->order == 2 ? (uint32_t)(next_random(b) % b.n) : 0;
  uint32_t k0 = start / 64;
  uint64_t first = b.runnable[k0] & (~0ull << (start % 64));
  if (first) return (int)(k0 * 64 + (uint32_t)__builtin_ctzll(first));
  for (uint32_t s = 1; s <= words; s++) {
    uint32_t k = (k0 + s) % words;
    if (b.runnable[k]) return (int)(k * 64 + (uint32_t)__builtin_ctzll(b.runnable[k]));
  }
  return -1;
}

/* Runs one block to its end or to its first error; returns 0 or 1 (error in b.err). */
static int run_block(Worker* w, const Launch* d, uint64_t linear, void (*entry)(const uint64_t*),
                     unsigned char* smem, size_t smem_cap, char* err, size_t errcap) {
  Block& b = w->blk;
  b.d = d;
  b.bdim = u3{d->block[0], d->block[1], d->block[2]};
  b.gdim = u3{d->grid[0], d->grid[1], d->grid[2]};
  b.bid.x = (unsigned)(linear % d->grid[0]);
  b.bid.y = (unsigned)(linear / d->grid[0] % d->grid[1]);
  b.bid.z = (unsigned)(linear / ((uint64_t)d->grid[0] * d->grid[1]));
  b.n = d->block[0] * d->block[1] * d->block[2];
  b.nwarps = (b.n + WARP - 1) / WARP;
  b.err = err;
  b.errcap = errcap;
  b.failed = false;
  if (errcap) err[0] = 0;
  if (b.n == 0 || b.n > w->regions.count) {
    error(b, "%u threads per block; this worker holds %u", b.n, w->regions.count);
    return 1;
  }
  b.at_barrier = b.exited = 0;
  memset(b.runnable, 0, sizeof b.runnable);
  memset(b.warp_arrived, 0, sizeof b.warp_arrived);
  memset(b.warp_exited, 0, sizeof b.warp_exited);
  b.entry = entry;
  b.smem = smem;
  b.smem_bytes = d->dyn_shared;
  b.rng = (d->seed ^ (linear * 0x9E3779B97F4A7C15ull)) | 1;
  if (smem && (d->flags & FLAG_POISON_SHARED)) memset(smem, 0xff, d->dyn_shared);
#if TGEMU_ASAN
  if (smem) {
    __asan_unpoison_memory_region(smem, d->dyn_shared);
    __asan_poison_memory_region(smem + d->dyn_shared, smem_cap - d->dyn_shared);
  }
#else
  (void)smem_cap;
#endif
  for (uint32_t i = 0; i < b.n; i++) {
    Fiber* f = fiber_at(b, i);
    f->blk = &b;
    f->linear = i;
    f->tid = u3{i % b.bdim.x, i / b.bdim.x % b.bdim.y, i / (b.bdim.x * b.bdim.y)};
    f->lane = i % WARP;
    f->warp = i / WARP;
    f->state = RUNNABLE;
    f->sp = fiber_frame((unsigned char*)f + FIBER_BYTES, f);
    set_runnable(b, i);
  }
  for (;;) {
    int i = pick(b);
    if (i < 0) break;
    Fiber* f = fiber_at(b, (uint32_t)i);
#if TGEMU_ASAN
    __sanitizer_start_switch_fiber(&b.sched_fake, (unsigned char*)f + STACK_LO, FIBER_BYTES - STACK_LO);
#endif
    tgemu_switch(&b.sched_sp, f->sp);
#if TGEMU_ASAN
    __sanitizer_finish_switch_fiber(b.sched_fake, nullptr, nullptr);
#endif
    if (b.failed) return 1;
  }
  if (b.exited != b.n) {
    error(b, "deadlock: no thread can run");
    append_waits(b);
    return 1;
  }
  return 0;
}

/* Fiber stacks for blocks of up to `threads` threads (reused block after block). */
static Worker* worker_new(uint32_t threads) {
  Worker* w = (Worker*)calloc(1, sizeof(Worker));
  if (!w) return nullptr;
  if (!w->regions.allocate(threads)) {
    free(w);
    return nullptr;
  }
#if TGEMU_ASAN
  /* fresh mappings may reuse addresses whose shadow still holds an old poison */
  __asan_unpoison_memory_region(w->regions.base, (size_t)threads * FIBER_BYTES);
#endif
  w->blk.regions = &w->regions;
  return w;
}

static void worker_free(Worker* w) {
  w->regions.release();
  free(w);
}

} // namespace tgemu

extern "C" __attribute__((visibility("hidden"), noreturn, used)) void tgemu_fiber_main(tgemu::Fiber* f) {
#if TGEMU_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &f->blk->sched_bottom, &f->blk->sched_size);
#endif
  f->blk->entry(f->blk->d->args);
  tgemu::fiber_exit(f);
  __builtin_unreachable();
}

/* The exported functions of a program; the trampoline passes its kernel entry, the dynamic
 * shared memory buffer and the static threadgroup memory size. */
#define TGEMU_DEFINE_EXPORTS(ENTRY, SMEM, SMEM_CAP, STATIC_SHARED)                                      \
  TGEMU_EXPORT uint32_t tgemu_abi_version(void) { return tgemu::ABI_VERSION; }                            \
  TGEMU_EXPORT uint64_t tgemu_static_shared_bytes(void) { return (uint64_t)(STATIC_SHARED); }            \
  TGEMU_EXPORT uint64_t tgemu_shared_capacity(void) { return (uint64_t)(SMEM_CAP); }                     \
  TGEMU_EXPORT int tgemu_asan(void) { return TGEMU_ASAN; }                                                \
  TGEMU_EXPORT void* tgemu_worker_new(uint32_t threads) { return tgemu::worker_new(threads); }           \
  TGEMU_EXPORT void tgemu_worker_free(void* w) { tgemu::worker_free((tgemu::Worker*)w); }                \
  TGEMU_EXPORT int tgemu_run_block(void* w, const tgemu::Launch* d, uint64_t block, char* err, size_t cap) { \
    return tgemu::run_block((tgemu::Worker*)w, d, block, (ENTRY), (SMEM), (SMEM_CAP), err, cap);          \
  }
