// CodeCache: the code blobs (shipped functions) a worker was sent, kept by
// SHA-256 so each reaches a worker once per broker session (the broker tracks
// what it sent). Bounded by bytes, least recently used out first; a chunk
// whose blob was evicted is reported FAILURE_CODE_MISSING and the broker
// sends the blob again.
//
// Not thread-safe: the worker session owns it.
#ifndef TQ_WORKER_CODE_CACHE_H_
#define TQ_WORKER_CODE_CACHE_H_

#include <cstddef>
#include <list>
#include <optional>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "common/payload.h"

namespace tq {

// 256 MiB: sixteen of the largest blobs (kMaxPayloadBytes), thousands of
// typical ones (a few KiB).
inline constexpr size_t kDefaultCodeCacheBytes = size_t{256} << 20;

class CodeCache {
 public:
  explicit CodeCache(size_t max_bytes = kDefaultCodeCacheBytes)
      : max_bytes_(max_bytes) {}

  // Keeps `blob` under `sha256`, evicting the least recently used others
  // while over the bound (never the one just added).
  void Put(const std::string& sha256, Payload blob);
  // The blob, marked recently used; nullopt if absent.
  std::optional<Payload> Get(const std::string& sha256);

  size_t bytes() const { return bytes_; }
  size_t size() const { return index_.size(); }

 private:
  using Entry = std::pair<std::string, Payload>;
  const size_t max_bytes_;
  size_t bytes_ = 0;
  std::list<Entry> lru_;  // most recently used first
  absl::flat_hash_map<std::string, std::list<Entry>::iterator> index_;
};

}  // namespace tq

#endif  // TQ_WORKER_CODE_CACHE_H_
