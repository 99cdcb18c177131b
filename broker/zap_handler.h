// The broker's ZAP handler (ZeroMQ RFC 27): libzmq asks it, over
// inproc://zeromq.zap.01 in the broker's context, whether a peer that
// completed a CURVE handshake may connect. A key in the code clients
// allowlist is accepted with User-Id "code-client:<name>" (a client that may
// also submit code jobs), one in the clients allowlist with "client:<name>",
// one in the workers allowlist with "worker:<name>"; anything else gets 400
// and the connection is refused. On the standby pair link's domain
// (kPairZapDomain), only the peer broker's key gets in ("pair-peer").
// The User-Id then travels on every message of that connection, and the
// broker loop authorises each message by it (peer_authorizer.h).
//
// Without CURVE the broker still runs a handler (ZAP domain set on its
// plaintext ROUTER, mechanism NULL): it accepts every peer with an empty
// User-Id, and is there for connection caps. Either way, a peer the
// admission check refuses (ConnectionLimiter: too many connections in
// total or from its address) gets 300 ("busy", RFC 27's temporary error)
// and is disconnected before its first message.
//
// Thread safety: not thread-safe; the broker loop thread owns the socket.
#ifndef TQ_BROKER_ZAP_HANDLER_H_
#define TQ_BROKER_ZAP_HANDLER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/curve.h"
#include "zmq.hpp"

namespace tq {

// The endpoint libzmq sends ZAP requests to (fixed by RFC 27).
inline constexpr char kZapEndpoint[] = "inproc://zeromq.zap.01";

struct ZapReply {
  std::string request_id;
  std::string status_code;  // "200" accepted, "400" refused, "500" bad request
  std::string status_text;
  std::string user_id;
};

// Decides one request, given its frames (after the REP envelope): version,
// request id, domain, address, routing id, mechanism, credentials...
// Pure, for tests.
ZapReply DecideZapRequest(const std::vector<std::string>& frames,
                          const CurveAllowlist& clients,
                          const CurveAllowlist& workers,
                          const CurveAllowlist& code_clients = {});

// The same for a plaintext broker: NULL mechanism only, User-Id empty.
ZapReply DecidePlaintextZapRequest(const std::vector<std::string>& frames);

// The ZAP domain of a standby pair's link (broker/pair_peer.h).
inline constexpr char kPairZapDomain[] = "tq-pair";

// A request on the pair link's domain: with `curve`, only `peer_key` (Z85)
// gets in; without, NULL mechanism only. User-Id "pair-peer".
ZapReply DecidePairZapRequest(const std::vector<std::string>& frames,
                              bool curve, const std::string& peer_key);

class ZapHandler {
 public:
  // Given a peer's address (numeric IP), nullopt to let it in, or why not.
  using Admission =
      std::function<std::optional<std::string>(const std::string& address)>;

  // A CURVE handler: keys in the allowlists only.
  ZapHandler(CurveAllowlist clients, CurveAllowlist workers,
             CurveAllowlist code_clients = {});
  // A plaintext handler: every NULL-mechanism peer (subject to admission).
  static std::unique_ptr<ZapHandler> Plaintext();

  // The pair peer broker's public key (Z85), for the pair domain.
  void set_pair_peer_key(std::string key) { pair_peer_key_ = std::move(key); }

  // Asked about every peer the mechanism accepts (not the pair peer);
  // unset: all pass.
  void set_admission(Admission admission) { admission_ = std::move(admission); }

  // Binds the ZAP endpoint in `context`. Call before the CURVE socket binds:
  // until then libzmq refuses every peer (ZAP_ENFORCE_DOMAIN). Fails if
  // another handler is bound in that context.
  absl::Status Bind(zmq::context_t& context);
  // For the loop's poll set. Valid after Bind().
  zmq::socket_t& socket() { return *socket_; }
  // Answers every waiting request without blocking; `log` (may be empty)
  // hears about refusals.
  void AnswerPending(const std::function<void(absl::string_view)>& log);

  uint64_t accepted() const { return accepted_; }
  uint64_t refused() const { return refused_; }
  // Of refused(): by the admission check.
  uint64_t refused_busy() const { return refused_busy_; }

 private:
  ZapHandler(bool curve, CurveAllowlist clients, CurveAllowlist workers,
             CurveAllowlist code_clients);

  const bool curve_;
  const CurveAllowlist clients_;
  const CurveAllowlist workers_;
  const CurveAllowlist code_clients_;
  std::string pair_peer_key_;
  std::optional<zmq::socket_t> socket_;
  uint64_t accepted_ = 0;
  uint64_t refused_ = 0;
  uint64_t refused_busy_ = 0;
  Admission admission_;
};

}  // namespace tq

#endif  // TQ_BROKER_ZAP_HANDLER_H_
