// The frames a worker and its Python runner processes exchange over pipes:
// requests on the runner's fd 3, replies on its fd 4. Pure encoding and
// decoding; RunnerProcess does the I/O. python/tq/runner.py holds the same
// definition; change both together.
//
//   Every message is one frame: a u32 body length, then the body. Integers
//   are little-endian; a blob is a u32 length followed by that many bytes.
//
//   Request body (worker -> runner, fd 3):
//     u8  kind          1 = run a chunk
//     u8  call_style    0 = f(x), 1 = f(*x), 2 = f(*x[0], **x[1])
//     u8  items_kind    0 = integer range, 1 = pickled list
//     u8  flags         bit 0: the chunk has an initializer
//     u32 max_result_bytes
//     u64 job_id
//     u64 chunk_index
//     u64 items_a       range: first;  list: offset of the first item to run
//     u64 items_b       range: last (inclusive);  list: count (0 = to the end)
//     u64 items_c       list: length of the pickled list (0 = unchecked)
//     5 blobs: function sha256, function pickle (empty = "you have it"),
//              initializer sha256 (empty = no initializer), initializer
//              pickle (empty = "you have it" or none), items pickle (empty
//              for a range)
//
//   Reply body (runner -> worker, fd 4):
//     u8  kind          1 = ok, 2 = user error, 3 = need code (resend the
//                       request with the pickles), 4 = protocol error (the
//                       runner exits after sending it), 5 = ready (sent
//                       once, unasked, when the runner has started: a
//                       runner that dies before it failed to start, not the
//                       user's code)
//     u8  flags         bit 0: retire this runner (its state is unusable)
//     u16 reserved, 0
//     u64 run_micros    wall time of the request inside the runner
//     2 blobs: message (UTF-8, one line), payload (ok: the results' pickle;
//              user error: the details' pickle, see PythonOutcome::details)
//
// Why this shape: a fixed header packs with one struct.unpack in Python, and
// blobs let the big pickles go out with writev straight from the caller's
// buffers, never copied into a frame.
#ifndef TQ_WORKER_RUNNERS_RUNNER_PROTOCOL_H_
#define TQ_WORKER_RUNNERS_RUNNER_PROTOCOL_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace tq::runner_protocol {

inline constexpr int kRequestFd = 3;
inline constexpr int kReplyFd = 4;

inline constexpr size_t kLengthSize = 4;
inline constexpr size_t kRequestHeaderSize = 48;
inline constexpr size_t kReplyHeaderSize = 12;
inline constexpr size_t kRequestBlobs = 5;

// Functions a runner keeps loaded (its LRU; tq/runner.py
// FUNCTION_CACHE_SIZE). The worker mirrors it to omit pickles the runner
// has; a wrong guess costs one kNeedCode round trip, never a wrong result.
inline constexpr int kRunnerCodeCacheSize = 32;

// A reply may exceed max_result_bytes by this much (message, traceback and
// the exception's pickle are bounded by the runner well below it).
inline constexpr uint32_t kReplyOverheadBytes = 4 << 20;

enum class ReplyKind : uint8_t {
  kOk = 1,
  kUserError = 2,
  kNeedCode = 3,
  kProtocolError = 4,
  kReady = 5,
};

struct RequestHeader {
  uint8_t call_style = 0;  // PythonCallStyle
  uint8_t items_kind = 0;  // 0 range, 1 pickled list
  bool has_initializer = false;
  uint32_t max_result_bytes = 0;
  uint64_t job_id = 0;
  uint64_t chunk_index = 0;
  uint64_t items_a = 0, items_b = 0, items_c = 0;
};

// The request blobs, in frame order. Views: the frame does not own them.
struct RequestBlobs {
  std::string_view function_sha, function_pickle;
  std::string_view initializer_sha, initializer_pickle;
  std::string_view items_pickle;
};

// A request frame as pieces for writev: the small parts (length, header,
// blob lengths) are encoded into this object, the blobs are referenced where
// they are. Neither copyable nor movable: pieces() points into it.
class RequestFrame {
 public:
  RequestFrame(const RequestHeader& header, const RequestBlobs& blobs);
  RequestFrame(const RequestFrame&) = delete;
  RequestFrame& operator=(const RequestFrame&) = delete;

  const std::vector<std::string_view>& pieces() const { return pieces_; }
  // Bytes of the whole frame, length prefix included.
  size_t size() const { return size_; }
  // False if the body does not fit its u32 length (over 4 GiB of items).
  bool fits() const { return size_ - kLengthSize <= UINT32_MAX; }

 private:
  std::string prefixes_;
  std::vector<std::string_view> pieces_;
  size_t size_ = 0;
};

struct ReplyHeader {
  ReplyKind kind = ReplyKind::kProtocolError;
  bool retire = false;
  uint64_t run_micros = 0;
  uint32_t message_size = 0;  // the first blob's length
};

// Decodes a reply's fixed header and its message length: the first
// kReplyHeaderSize + 4 bytes of the body. `body_size` is the frame's length
// field, to check the message fits. Malformed input (the runner is not
// trusted to be sane: it runs user code) → kDataLoss.
absl::StatusOr<ReplyHeader> DecodeReplyHeader(std::string_view head,
                                              uint32_t body_size);

// Little-endian helpers shared with the reader.
uint32_t LoadU32(const char* p);
void AppendU32(std::string* out, uint32_t v);
void AppendU64(std::string* out, uint64_t v);

// Encodes a reply frame (for tests standing in for a runner).
std::string EncodeReply(const ReplyHeader& header, std::string_view message,
                        std::string_view payload);

}  // namespace tq::runner_protocol

#endif  // TQ_WORKER_RUNNERS_RUNNER_PROTOCOL_H_
