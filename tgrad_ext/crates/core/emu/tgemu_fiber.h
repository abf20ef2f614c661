/* tgrad GPU emulator: fibers. Every emulated GPU thread is a fiber with its own stack; all fibers
 * of one block run on one OS thread and switch by a hand-written context switch that saves only
 * the callee-saved registers and the floating-point control words (no syscall, unlike
 * swapcontext).
 *
 * A fiber's region is FIBER_BYTES long and FIBER_BYTES aligned: its control block sits at the
 * base, a guard page follows, and the stack grows down from the top. The running fiber is found
 * from the stack pointer alone (round down to FIBER_BYTES), so no thread-local lookup is needed. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#if !defined(__x86_64__)
#error "tgrad's GPU emulator switches fibers with x86-64 assembly only; other hosts are not supported"
#endif

namespace tgemu {

#if TGEMU_ASAN
constexpr size_t FIBER_BYTES = 512 * 1024; /* ASan redzones grow every frame */
#else
constexpr size_t FIBER_BYTES = 64 * 1024;
#endif
constexpr size_t PAGE_BYTES = 4096;
/* control block page + guard page below the stack */
constexpr size_t STACK_LO = 2 * PAGE_BYTES;

} // namespace tgemu

/* tgemu_switch(save, to): store the current stack pointer in *save and continue on stack `to`
 * (a pointer stored by an earlier switch, or a frame made by tgemu::fiber_frame).
 * tgemu_fiber_start: where a new fiber begins; calls tgemu_fiber_main(r12). */
extern "C" void tgemu_switch(void** save, void* to) __attribute__((visibility("hidden")));
extern "C" void tgemu_fiber_start(void) __attribute__((visibility("hidden")));

__asm__(
    ".text\n"
    ".p2align 4\n"
    ".globl tgemu_switch\n"
    ".hidden tgemu_switch\n"
    ".type tgemu_switch,@function\n"
    "tgemu_switch:\n"
    "  pushq %rbp\n"
    "  pushq %rbx\n"
    "  pushq %r12\n"
    "  pushq %r13\n"
    "  pushq %r14\n"
    "  pushq %r15\n"
    "  subq $8, %rsp\n"
    "  stmxcsr (%rsp)\n"
    "  fnstcw 4(%rsp)\n"
    "  movq %rsp, (%rdi)\n"
    "  movq %rsi, %rsp\n"
    "  ldmxcsr (%rsp)\n"
    "  fldcw 4(%rsp)\n"
    "  addq $8, %rsp\n"
    "  popq %r15\n"
    "  popq %r14\n"
    "  popq %r13\n"
    "  popq %r12\n"
    "  popq %rbx\n"
    "  popq %rbp\n"
    "  ret\n"
    ".size tgemu_switch, .-tgemu_switch\n"
    ".p2align 4\n"
    ".globl tgemu_fiber_start\n"
    ".hidden tgemu_fiber_start\n"
    ".type tgemu_fiber_start,@function\n"
    "tgemu_fiber_start:\n"
    "  movq %r12, %rdi\n"
    "  call tgemu_fiber_main\n"
    "  ud2\n"
    ".size tgemu_fiber_start, .-tgemu_fiber_start\n");

namespace tgemu {

/* A first frame for a fiber whose stack ends at `top` (16-byte aligned): what tgemu_switch pops
 * (control words, r15..r12, rbx, rbp) and then returns into tgemu_fiber_start with r12 = arg and
 * a 16-byte aligned stack for its call. */
static inline void* fiber_frame(unsigned char* top, void* arg) {
  uint64_t* sp = (uint64_t*)(top - 80);
  uint32_t mxcsr;
  uint16_t fcw;
  __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
  __asm__ volatile("fnstcw %0" : "=m"(fcw));
  sp[0] = (uint64_t)mxcsr | ((uint64_t)fcw << 32);
  sp[1] = 0;              /* r15 */
  sp[2] = 0;              /* r14 */
  sp[3] = 0;              /* r13 */
  sp[4] = (uint64_t)arg;  /* r12 */
  sp[5] = 0;              /* rbx */
  sp[6] = 0;              /* rbp */
  sp[7] = (uint64_t)(void*)&tgemu_fiber_start;
  sp[8] = 0;
  sp[9] = 0;
  return sp;
}

/* `count` fiber regions, each FIBER_BYTES aligned, with a guard page above each control block. */
struct FiberRegions {
  unsigned char* map = nullptr;
  size_t map_bytes = 0;
  unsigned char* base = nullptr;
  uint32_t count = 0;

  bool allocate(uint32_t n) {
    map_bytes = (size_t)n * FIBER_BYTES + FIBER_BYTES;
    void* m = mmap(nullptr, map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) {
      map = nullptr;
      return false;
    }
    map = (unsigned char*)m;
    base = (unsigned char*)(((uintptr_t)map + FIBER_BYTES - 1) & ~(uintptr_t)(FIBER_BYTES - 1));
    count = n;
    for (uint32_t i = 0; i < n; i++) mprotect(region(i) + PAGE_BYTES, PAGE_BYTES, PROT_NONE);
    return true;
  }
  unsigned char* region(uint32_t i) const { return base + (size_t)i * FIBER_BYTES; }
  void release() {
    if (map) munmap(map, map_bytes);
    map = nullptr;
  }
};

} // namespace tgemu
