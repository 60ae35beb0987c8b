// emulation.h -- run the CUDA C kernels of this folder, unchanged, on the CPU.
//
// Why: a student without an NVIDIA GPU (and the project's CI, which has none) can still compile,
// run, test and sanitize every .cu file here. The emulator (kernels/cuda/emulator.py) compiles a
// .cu file with g++ as C++17 *after* this header, which turns CUDA's keywords into plain C++ and
// supplies threadIdx / blockIdx / blockDim / gridDim, __syncthreads() and atomicAdd. For each
// `extern "C" __global__` kernel K, EMU_EXPORT(K) then exports three C functions for ctypes:
//
//   int emu_launch_K(const unsigned grid[3], const unsigned block[3], void** params)
//       runs the whole grid. `params` means what cuLaunchKernel's kernelParams means (and what
//       CuPy builds): params[i] points at the value of argument i, and exactly sizeof(argument i)
//       bytes are read from there. Returns 0, a launch error (see check_launch) or KERNEL_ERROR.
//   const char* emu_last_error_K()     what went wrong when emu_launch_K returned KERNEL_ERROR.
//   const char* emu_signature_K()      the C parameter types, e.g. "P:f:const,P:f,S64", so that
//       Python can check every argument (CuPy and the driver do not: wrong bytes are silently
//       reinterpreted).
//
// Execution modes, chosen when the file is compiled:
//   default      blocks one after another, and the threads of a block one after another, each to
//                completion. Fast. __syncthreads() is an error in this mode.
//   EMU_FIBERS   every CUDA thread of a block is a fiber (ucontext) with its own stack. A thread
//                that calls __syncthreads() is parked until every thread of its block has
//                arrived, so kernels that share memory run unchanged. Threads waiting at
//                *different* __syncthreads() calls, or threads that end while others wait, are
//                reported: both are undefined behaviour on a GPU.
//   -fsanitize=address   (with either mode) AddressSanitizer reports out-of-bounds accesses to the
//                arrays, with the .cu line. Fiber stack switches are announced to it.
//   -fsanitize=thread    a race checker: fibers, plus one OS thread per block, and every CUDA
//                thread a ThreadSanitizer fiber. Switching fibers does not synchronise, so TSan
//                sees all CUDA threads as concurrent, ordered only by __syncthreads() inside a
//                block: it reports a missing barrier and a plain += where an atomicAdd was needed.
//                Keep grids small (at most 64 blocks).
//
// What is NOT modelled (a kernel that passes here can still be wrong on a GPU):
//   - warps: no warp intrinsics (__shfl_sync, __ballot_sync, ...), no lock-step execution;
//   - the GPU's weak memory ordering (only TSan's happens-before model, see above);
//   - fused multiply-add: nvcc contracts a*b+c into one rounding, g++ here does not (compare
//     results with a tolerance);
//   - dynamic `extern __shared__` arrays, streams, timing, occupancy, register or shared-memory
//     limits (the launch checks below are the launch-configuration limits only).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#if defined(__SANITIZE_THREAD__)
#define EMU_TSAN 1
#ifndef EMU_FIBERS
#define EMU_FIBERS 1
#endif
#include <sanitizer/tsan_interface.h>

#include <thread>
// The scheduler's own bookkeeping is shared between fibers by design: not instrumented.
#define EMU_UNTRACKED __attribute__((no_sanitize_thread, noinline))
#else
#define EMU_UNTRACKED
#endif
#if defined(__SANITIZE_ADDRESS__)
#define EMU_ASAN 1
#include <sanitizer/common_interface_defs.h>
#endif
#ifdef EMU_FIBERS
#include <ucontext.h>
#endif

// ---- CUDA keywords ------------------------------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
// One copy per OS thread; the emulator runs one block per OS thread at a time, so this is one
// copy per running block, as on a GPU. (__restrict__ is already a g++ keyword.)
#define __shared__ static thread_local

struct uint3 {
  unsigned int x, y, z;
};
struct dim3 {
  unsigned int x, y, z;
};
static constexpr int warpSize = 32;

// ---- the device functions the kernels use (CUDA has them built in) -----------------------------
using std::isinf;
using std::isnan;
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }

template <typename T>
inline T atomicAdd(T* address, T value) {  // a relaxed read-modify-write, as on the GPU
  T old, desired;
  __atomic_load(address, &old, __ATOMIC_RELAXED);
  do {
    desired = old + value;
  } while (!__atomic_compare_exchange(address, &old, &desired, true, __ATOMIC_RELAXED,
                                      __ATOMIC_RELAXED));
  return old;
}

namespace emu {

// ---- which thread is running: the built-in variables -------------------------------------------
inline thread_local uint3 thread_idx_, block_idx_;
inline thread_local dim3 block_dim_, grid_dim_;
EMU_UNTRACKED inline uint3 thread_idx() { return thread_idx_; }
EMU_UNTRACKED inline uint3 block_idx() { return block_idx_; }
EMU_UNTRACKED inline dim3 block_dim() { return block_dim_; }
EMU_UNTRACKED inline dim3 grid_dim() { return grid_dim_; }

// ---- errors -------------------------------------------------------------------------------------
// Undefined behaviour the emulator saw (not a crash): the launch returns KERNEL_ERROR and
// emu_last_error_K() says what happened and where.
constexpr int KERNEL_ERROR = 6;
inline thread_local char last_error[256];

inline int report(const char* what) {
  std::snprintf(last_error, sizeof last_error, "%s (block (%u,%u,%u), thread (%u,%u,%u))", what,
                block_idx_.x, block_idx_.y, block_idx_.z, thread_idx_.x, thread_idx_.y,
                thread_idx_.z);
  return KERNEL_ERROR;
}

[[noreturn]] inline void fail(const char* what) {
  report(what);
  std::fprintf(stderr, "cuda emulation: %s\n", last_error);
  std::abort();
}

// The body of one CUDA thread: runs the kernel with the launch's arguments.
using Body = void (*)(void* call);

#ifndef EMU_FIBERS
// ---- a block's threads one after another -------------------------------------------------------

inline void syncthreads() {
  fail("__syncthreads() in a file compiled without EMU_FIBERS (the emulator adds it when the "
       "source contains __syncthreads)");
}

inline int run_block(Body body, void* call) {
  for (unsigned z = 0; z < block_dim_.z; ++z)
    for (unsigned y = 0; y < block_dim_.y; ++y)
      for (unsigned x = 0; x < block_dim_.x; ++x) {
        thread_idx_ = {x, y, z};
        body(call);
      }
  return 0;
}

#else
// ---- a block's threads as fibers ---------------------------------------------------------------
//
// run_block() is a tiny scheduler. In each *phase* it resumes every runnable fiber in turn; a
// fiber runs until it reaches __syncthreads() (it parks) or ends. When no fiber is runnable, all
// of them are at a barrier (release them all: next phase) or done (the block is finished). Any
// other mix is a barrier some threads can never reach, which the emulator reports.

#ifndef EMU_STACK_BYTES
#ifdef EMU_TSAN
#define EMU_STACK_BYTES (64 * 1024)
#else
#define EMU_STACK_BYTES (256 * 1024)
#endif
#endif

enum class FiberState { runnable, at_barrier, done };

struct Fiber {
  ucontext_t context;
  char* stack = nullptr;
  FiberState state = FiberState::runnable;
  uint3 thread{};
  void* barrier_site = nullptr;  // which __syncthreads() call it waits at
#ifdef EMU_TSAN
  void* tsan_fiber = nullptr;
  unsigned barrier_generation = 0;
#endif
};

struct Scheduler {
  ucontext_t scheduler_context;
  std::vector<Fiber> fibers;
  int current = -1;
  Body body = nullptr;
  void* call = nullptr;
#ifdef EMU_TSAN
  void* tsan_scheduler = nullptr;
  unsigned generation = 0;                    // barriers passed by this block so far
  std::vector<char> barrier_tokens = std::vector<char>(1 << 16);  // one sync address per barrier
  char block_token = 0;                       // every fiber releases it when it ends
#endif
#ifdef EMU_ASAN
  void* fake_stack = nullptr;
  const void* scheduler_stack_bottom = nullptr;
  size_t scheduler_stack_size = 0;
#endif
  ~Scheduler() {
    for (Fiber& f : fibers) std::free(f.stack);
  }
};
inline thread_local Scheduler scheduler;

// From the scheduler into fiber i; returns when that fiber parks at a barrier or ends.
EMU_UNTRACKED inline void resume(unsigned i) {
  Fiber& f = scheduler.fibers[i];
  scheduler.current = static_cast<int>(i);
  thread_idx_ = f.thread;
#ifdef EMU_TSAN
  // With synchronisation: the fiber sees what the block's OS thread did before (the inputs).
  // The OS thread acquires nothing from its fibers until the block ends, so no two CUDA threads
  // are ordered through it.
  __tsan_switch_to_fiber(f.tsan_fiber, 0);
#endif
#ifdef EMU_ASAN
  __sanitizer_start_switch_fiber(&scheduler.fake_stack, f.stack, EMU_STACK_BYTES);
#endif
  swapcontext(&scheduler.scheduler_context, &f.context);
#ifdef EMU_ASAN
  __sanitizer_finish_switch_fiber(scheduler.fake_stack, nullptr, nullptr);
#endif
}

// On a fiber: back to the scheduler, parked (or for good when `ending`).
EMU_UNTRACKED inline void switch_to_scheduler(bool ending) {
  Fiber& f = scheduler.fibers[scheduler.current];
#ifdef EMU_TSAN
  __tsan_switch_to_fiber(scheduler.tsan_scheduler, __tsan_switch_to_fiber_no_sync);
#endif
#ifdef EMU_ASAN
  void* fake_stack = nullptr;
  __sanitizer_start_switch_fiber(ending ? nullptr : &fake_stack, scheduler.scheduler_stack_bottom,
                                 scheduler.scheduler_stack_size);
#endif
  if (ending) setcontext(&scheduler.scheduler_context);
  swapcontext(&f.context, &scheduler.scheduler_context);
#ifdef EMU_ASAN
  __sanitizer_finish_switch_fiber(fake_stack, &scheduler.scheduler_stack_bottom,
                                  &scheduler.scheduler_stack_size);
#endif
}

EMU_UNTRACKED inline void fiber_main() {
#ifdef EMU_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &scheduler.scheduler_stack_bottom,
                                  &scheduler.scheduler_stack_size);
#endif
  scheduler.body(scheduler.call);
#ifdef EMU_TSAN
  __tsan_release(&scheduler.block_token);
#endif
  scheduler.fibers[scheduler.current].state = FiberState::done;
  switch_to_scheduler(true);
}

EMU_UNTRACKED __attribute__((noinline)) inline void syncthreads() {
  Fiber& f = scheduler.fibers[scheduler.current];
  f.state = FiberState::at_barrier;
  f.barrier_site = __builtin_return_address(0);  // the call site: to spot divergent barriers
#ifdef EMU_TSAN
  // Everything before the barrier (release) happens before everything after it (acquire), for
  // every thread of the block: that is all the ordering __syncthreads() gives.
  f.barrier_generation = scheduler.generation;
  __tsan_release(&scheduler.barrier_tokens[f.barrier_generation % scheduler.barrier_tokens.size()]);
#endif
  switch_to_scheduler(false);
#ifdef EMU_TSAN
  __tsan_acquire(&scheduler.barrier_tokens[f.barrier_generation % scheduler.barrier_tokens.size()]);
#endif
}

EMU_UNTRACKED inline int run_block(Body body, void* call) {
  const unsigned n = block_dim_.x * block_dim_.y * block_dim_.z;
  if (scheduler.fibers.size() < n) scheduler.fibers.resize(n);
  scheduler.body = body;
  scheduler.call = call;
  static thread_local ucontext_t blank;
  static thread_local bool have_blank = (getcontext(&blank), true);  // one syscall per OS thread
  (void)have_blank;
#ifdef EMU_TSAN
  scheduler.tsan_scheduler = __tsan_get_current_fiber();
#endif
  for (unsigned i = 0; i < n; ++i) {
    Fiber& f = scheduler.fibers[i];
    if (!f.stack && !(f.stack = static_cast<char*>(std::malloc(EMU_STACK_BYTES))))
      fail("out of memory for the fibers' stacks");
    f.thread = {i % block_dim_.x, (i / block_dim_.x) % block_dim_.y,
                i / (block_dim_.x * block_dim_.y)};
    f.state = FiberState::runnable;
#ifdef EMU_TSAN
    f.tsan_fiber = __tsan_create_fiber(0);
#endif
    f.context = blank;
#if defined(__x86_64__) && defined(__GLIBC__)
    f.context.uc_mcontext.fpregs = &f.context.__fpregs_mem;  // must not point into `blank`
#endif
    f.context.uc_stack.ss_sp = f.stack;
    f.context.uc_stack.ss_size = EMU_STACK_BYTES;
    f.context.uc_link = nullptr;
    makecontext(&f.context, fiber_main, 0);
  }
  for (;;) {
    for (unsigned i = 0; i < n; ++i)  // one phase: every thread up to its next barrier or end
      if (scheduler.fibers[i].state == FiberState::runnable) resume(i);
    unsigned waiting = 0, done = 0;
    void* site = nullptr;
    for (unsigned i = 0; i < n; ++i) {
      const Fiber& f = scheduler.fibers[i];
      if (f.state == FiberState::done) {
        ++done;
      } else if (waiting++ == 0) {
        site = f.barrier_site;
      } else if (f.barrier_site != site) {
        thread_idx_ = f.thread;
        return report("threads of one block wait at different __syncthreads() calls (divergent "
                      "barriers: undefined behaviour on a GPU)");
      }
    }
    if (waiting == 0) break;  // every thread ended
    if (done != 0) {
      char message[160];
      std::snprintf(message, sizeof message,
                    "%u thread(s) ended while %u wait at __syncthreads() (a barrier in divergent "
                    "code: undefined behaviour on a GPU)",
                    done, waiting);
      return report(message);
    }
    for (unsigned i = 0; i < n; ++i) scheduler.fibers[i].state = FiberState::runnable;
#ifdef EMU_TSAN
    ++scheduler.generation;
#endif
  }
#ifdef EMU_TSAN
  __tsan_acquire(&scheduler.block_token);  // the block's OS thread now follows all its threads
  for (unsigned i = 0; i < n; ++i) __tsan_destroy_fiber(scheduler.fibers[i].tsan_fiber);
#endif
  return 0;
}

#endif  // EMU_FIBERS

// ---- the kernel's parameters: cuLaunchKernel's `void** kernelParams` ---------------------------

// A short code per C type: "f" float, "d" double, "?" bool, "i8" a signed 8-byte integer, "u4"
// an unsigned 4-byte one, "P:f:const" a pointer to const float, "S64" a 64-byte struct by value.
template <typename T>
std::string type_code() {
  if constexpr (std::is_pointer_v<T>) {
    using Pointee = std::remove_pointer_t<T>;
    return "P:" + type_code<std::remove_cv_t<Pointee>>() + (std::is_const_v<Pointee> ? ":const" : "");
  } else if constexpr (std::is_same_v<T, float>) {
    return "f";
  } else if constexpr (std::is_same_v<T, double>) {
    return "d";
  } else if constexpr (std::is_same_v<T, bool>) {
    return "?";
  } else if constexpr (std::is_integral_v<T>) {
    return std::string(std::is_signed_v<T> ? "i" : "u") + std::to_string(sizeof(T));
  } else {
    return "S" + std::to_string(sizeof(T));
  }
}

template <typename... Args>
std::string signature(void (*)(Args...)) {
  std::string s;
  ((s += (s.empty() ? "" : ",") + type_code<std::remove_cv_t<Args>>()), ...);
  return s;
}

// One launch: the kernel and its packed parameters; body() runs the kernel for one thread.
template <typename... Args>
struct Call {
  void (*kernel)(Args...);
  void** params;
  template <std::size_t... I>
  void run(std::index_sequence<I...>) {
    kernel(*static_cast<std::remove_cv_t<Args>*>(params[I])...);
  }
  static void body(void* self) {
    static_cast<Call*>(self)->run(std::index_sequence_for<Args...>{});
  }
};

// ---- launching ----------------------------------------------------------------------------------

// The launch limits of every GPU since compute capability 3.0 (the driver's error in brackets).
inline int check_launch(const unsigned* g, const unsigned* b) {
  if (!g[0] || !g[1] || !g[2] || !b[0] || !b[1] || !b[2]) return 1;  // [invalid configuration]
  if (b[0] > 1024 || b[1] > 1024 || b[2] > 64) return 2;
  if (uint64_t(b[0]) * b[1] * b[2] > 1024) return 3;
  if (g[0] > 2147483647u || g[1] > 65535 || g[2] > 65535) return 4;
#ifdef EMU_TSAN
  if (uint64_t(g[0]) * g[1] * g[2] > 64) return 5;  // the race checker runs all blocks at once
#endif
  return 0;
}

template <typename... Args>
int launch(void (*kernel)(Args...), const unsigned* g, const unsigned* b, void** params) {
  if (int rc = check_launch(g, b)) return rc;
  Call<Args...> call{kernel, params};
  const dim3 grid{g[0], g[1], g[2]}, block{b[0], b[1], b[2]};
#ifndef EMU_TSAN
  grid_dim_ = grid;
  block_dim_ = block;
  for (unsigned z = 0; z < grid.z; ++z)
    for (unsigned y = 0; y < grid.y; ++y)
      for (unsigned x = 0; x < grid.x; ++x) {
        block_idx_ = {x, y, z};
        if (int rc = run_block(&Call<Args...>::body, &call)) return rc;
      }
#else
  // Every block alive at once, each on its own OS thread (its own __shared__ copies, no order
  // between blocks); joining them orders the whole launch before whatever comes next.
  std::vector<std::thread> blocks;
  std::vector<int> codes(size_t(grid.x) * grid.y * grid.z);
  std::vector<std::string> errors(codes.size());
  for (unsigned z = 0; z < grid.z; ++z)
    for (unsigned y = 0; y < grid.y; ++y)
      for (unsigned x = 0; x < grid.x; ++x)
        blocks.emplace_back([=, &call, &codes, &errors] {
          grid_dim_ = grid;
          block_dim_ = block;
          block_idx_ = {x, y, z};
          const size_t k = (size_t(z) * grid.y + y) * grid.x + x;
          if ((codes[k] = run_block(&Call<Args...>::body, &call))) errors[k] = last_error;
        });
  for (std::thread& t : blocks) t.join();
  for (size_t k = 0; k < codes.size(); ++k)
    if (codes[k]) {
      std::snprintf(last_error, sizeof last_error, "%s", errors[k].c_str());
      return codes[k];
    }
#endif
  return 0;
}

}  // namespace emu

// From here on (the kernels) the built-in variables are read-only values.
#define threadIdx (emu::thread_idx())
#define blockIdx (emu::block_idx())
#define blockDim (emu::block_dim())
#define gridDim (emu::grid_dim())
#define __syncthreads() emu::syncthreads()

#define EMU_EXPORT(kernel)                                                                \
  extern "C" int emu_launch_##kernel(const unsigned* grid, const unsigned* block,        \
                                     void** params) {                                    \
    return emu::launch(kernel, grid, block, params);                                     \
  }                                                                                       \
  extern "C" const char* emu_last_error_##kernel() { return emu::last_error; }            \
  extern "C" const char* emu_signature_##kernel() {                                       \
    static const std::string s = emu::signature(kernel);                                  \
    return s.c_str();                                                                     \
  }
