/* CPU GEMM, static part: spinning, the barrier of Parallel::Barrier GEMMs, and the prefetch
   cursor over the operands of the chunk a thread takes next. Rendered after the generated
   header (tg_gemm.h: types, tile constants, the ABI structs). */
#ifndef TG_SYNC_C
#define TG_SYNC_C
#include <sched.h>
#include "tg_gemm.h"

static inline void tg_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

/* One step of a wait on another thread: a pause while the wait is short, then a yield of the
   core, so a launch with more threads than cores (whose peers may not be running) still
   progresses at scheduling speed instead of spinning out its time slices. */
#define TG_SPIN_PAUSES 2048
static inline void tg_wait(int* spins) {
  if (*spins < TG_SPIN_PAUSES) { (*spins)++; tg_pause(); }
  else sched_yield();
}

/* Two counters a cache line apart at word TG_BARRIER_WORD of the shared workspace (zeroed by
   the host before every launch): arrivals, and the generation the last arrival bumps. */
static inline void tg_barrier(int64_t* bar, int64_t nth) {
  const int64_t gen = __atomic_load_n(&bar[8], __ATOMIC_ACQUIRE);
  if (__atomic_add_fetch(&bar[0], 1, __ATOMIC_ACQ_REL) == nth) {
    __atomic_store_n(&bar[0], 0, __ATOMIC_RELAXED);
    __atomic_store_n(&bar[8], gen + 1, __ATOMIC_RELEASE);
  } else {
    int spins = 0;
    while (__atomic_load_n(&bar[8], __ATOMIC_ACQUIRE) == gen) tg_wait(&spins);
  }
}

/* Each microkernel call prefetches a few lines of the next chunk's operands into L2, so the
   prefetches spread over the chunk instead of flooding the memory queue. */
typedef struct { const char* a; const char* a_end; const char* b; const char* b_end; } tg_pf;
static inline void tg_pf_step(tg_pf* f) {
  for (int i = 0; i < TG_PREFETCH_LINES; i++) {
    if (f->a < f->a_end) { __builtin_prefetch(f->a, 0, 2); f->a += 64; }
    else if (f->b < f->b_end) { __builtin_prefetch(f->b, 0, 2); f->b += 64; }
    else return;
  }
}

/* Element offset of operand `o` at batch index `bi` (abi::OperandParams). */
static inline int64_t tg_off(const tg_operand* o, const int64_t* bi) {
  int64_t r = o->offset;
  for (int d = 0; d < TG_MAX_BATCH; d++) r += bi[d] * o->sb[d];
  return r;
}

/* Batch index `b` unravelled over the (right-aligned) batch dims. */
static inline void tg_batch_index(const tg_gemm_params* P, int64_t b, int64_t* bi) {
  for (int d = TG_MAX_BATCH - 1; d >= 0; d--) { bi[d] = b % P->batch_dims[d]; b /= P->batch_dims[d]; }
}
#endif /* TG_SYNC_C */
