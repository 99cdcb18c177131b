// ReuseFreedMemory: for tq-client and tq-worker, first thing in main.
//
// A chunk's result is a block of megabytes (a bitmap chunk of `primes` is
// up to 33 MB of wheel bytes), made, copied and freed chunk after chunk.
// glibc's malloc serves such blocks with mmap and unmaps them when freed, or
// trims the heap top above 128 KiB; either way the next chunk's block is
// fresh memory, and every one of its pages faults on first touch: 10-12k
// faults in `tq-client map primes 1 1e9 --format=bitmap`, ~half of its
// CPU in this VM. Here blocks up to 32 MiB (glibc's largest mmap threshold)
// come from the heap, and up to 256 MiB freed at its top stays mapped for
// the next chunk: ~2k faults and half the time. The cost is that a process
// keeps up to that much freed memory instead of returning it; its peak is
// unchanged (the bitmap job's maximum RSS stayed ~18 MB).
//
// Not for the broker (it forwards results without making them, and its
// memory is bounded against its peers: see the README) nor for the client
// library, whose host process's allocator is not ours to tune.
#ifndef TQ_COMMON_MALLOC_REUSE_H_
#define TQ_COMMON_MALLOC_REUSE_H_

namespace tq {

void ReuseFreedMemory();

}  // namespace tq

#endif  // TQ_COMMON_MALLOC_REUSE_H_
