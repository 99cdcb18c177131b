// JobSpec: what to compute. A built-in task or shipped code, its input (an
// inclusive range, a list of numbers, or chunks the caller streams in), how
// to cut it into chunks, whether to reduce, and the job's limits.
//
// Part of the client library's public API: no protocol or socket types.
#ifndef TQ_CLIENT_JOB_SPEC_H_
#define TQ_CLIENT_JOB_SPEC_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace tq {

// Inclusive range of numbers lo..hi; any uint64 values with lo <= hi, so
// 0..2^64-1 is allowed.
struct NumberRange {
  uint64_t lo = 0;
  uint64_t hi = 0;
};

enum class Reduction {
  kNone,   // one result per item
  kCount,  // boolean tasks: one count of true items per chunk
};

// How shipped code is called on each item x.
enum class CallStyle {
  kMap,    // f(x)
  kStar,   // f(*x)
  kApply,  // x is (args, kwargs): f(*args, **kwargs)
};

// Code to run instead of a built-in task: a function shipped by value.
// Needs a broker and workers that allow its runtime (--allow-code).
struct CodeSpec {
  // The runtime that runs it, and the version the blobs were made with;
  // only workers offering that version get its chunks.
  std::string runtime = "python";
  std::string runtime_version;  // e.g. "3.11"
  // The function as the runtime ships it (Python: cloudpickle bytes). At
  // most 16 MiB; content-addressed by SHA-256, so each worker gets it once.
  std::string function;
  // Run once per runner process before its first chunk (Python: the pickled
  // (initializer, initargs)); empty: none.
  std::string initializer;
  CallStyle call_style = CallStyle::kMap;
  // Replace a runner process after this many chunks; 0: never.
  uint32_t max_chunks_per_runner = 0;
};

// Items the runtime decodes itself (Python: a pickled list), with their count.
struct EncodedItems {
  std::string bytes;  // at most 16 MiB
  uint64_t count = 0;
};

// One chunk of input, cut by the caller: numbers (task jobs), or for code
// jobs a range of integers or encoded items.
using InputChunk = std::variant<NumberRange, std::vector<uint64_t>, EncodedItems>;

// Input the caller streams: the first chunks go with the submit, more follow
// through Job::Append until Job::EndInput (or `complete`).
struct StreamedInput {
  std::vector<InputChunk> first_chunks;
  bool complete = false;
};

struct JobSpec {
  // A built-in task ("primes", ...); empty when `code` is set.
  std::string task;
  std::optional<CodeSpec> code;
  // A range (cut by the broker), a list of numbers (cut by the library into
  // chunks of chunk_size, or of an automatic size, and streamed as results
  // make room), or chunks the caller streams.
  std::variant<NumberRange, std::vector<uint64_t>, StreamedInput> input;
  // Items per chunk for range and list input. Default: 0, automatic.
  uint64_t chunk_size = 0;
  Reduction reduction = Reduction::kNone;
  // Task parameters, e.g. {"us": "100"} for spin. Default: none.
  std::map<std::string, std::string> params;
  // At most this many of the job's chunks run at once; 0: no limit.
  uint32_t max_concurrency = 0;
  // The broker cancels the job if it runs longer than this; 0: never.
  int64_t timeout_ms = 0;
  // Run limit of one hand-out of a chunk: running longer counts as a failed
  // attempt (the worker is told to give it up). 0: the broker's default.
  int64_t chunk_timeout_ms = 0;
  // Failed attempts of one item before the job fails (or, with skip_failed,
  // the item is reported failed). 0: the broker's default (--max-attempts).
  uint32_t max_attempts = 0;
  // Items that fail on every attempt do not fail the job: each comes back
  // as a ChunkResult of Kind::kFailed naming the cause, and the job
  // completes. Default: false, the first such item fails the job.
  bool skip_failed = false;
  // Result credit in chunks, overriding ClientOptions::result_window; 0:
  // that one. Also bounds streamed input held for the job.
  uint32_t result_window = 0;
  // Results are acknowledged to the broker (never sent or recomputed again,
  // also after a broker restart) only when Job::Acknowledge() is called,
  // e.g. once they are written and synced. Default: false, they are
  // acknowledged as they are read.
  bool manual_ack = false;
};

// Pool::Attach: reading a job that another client submitted (tq-client
// attach), e.g. after that client died.
struct AttachSpec {
  uint64_t job_id = 0;
  // The job's token (Job::token() of the client that submitted it: 16
  // bytes). Under CURVE the key that submitted the job may leave it empty.
  std::string token;
  // As JobSpec's: result credit in chunks (0: ClientOptions::result_window,
  // else the window the job was submitted with), and acknowledgements only
  // on Job::Acknowledge().
  uint32_t result_window = 0;
  bool manual_ack = false;
};

}  // namespace tq

#endif  // TQ_CLIENT_JOB_SPEC_H_
