// ReuseFreedMemory: for tq-client, tq-worker and tq-broker, first thing in
// main.
//
// A chunk's result is a block of megabytes (a bitmap chunk of `primes` is
// up to 33 MB of wheel bytes), made, copied and freed chunk after chunk, and
// it crosses the broker as 256 KiB frames, each a block of its own. glibc's
// malloc serves blocks over 128 KiB with mmap and unmaps them when freed,
// and trims the heap top above 128 KiB; either way the next block is fresh
// memory whose every page faults on first touch: 10-12k faults in
// `tq-client map primes 1 1e9 --format=bitmap`, about half its CPU in this
// VM, and ~60 % of the broker's CPU for that job through a broker. Here
// blocks up to 32 MiB (glibc's largest mmap threshold) come from the heap,
// and up to 256 MiB freed at its top stays mapped for the next one.
//
// The cost: a process keeps memory it freed, up to its peak, instead of
// returning it. The peak, and so every bound the README gives for the
// broker, is unchanged (the bitmap job's client peak RSS 19.7 -> 21 MB).
// Not for the client library, whose host process's allocator is not ours
// to tune.
#ifndef TQ_COMMON_MALLOC_REUSE_H_
#define TQ_COMMON_MALLOC_REUSE_H_

namespace tq {

void ReuseFreedMemory();

}  // namespace tq

#endif  // TQ_COMMON_MALLOC_REUSE_H_
