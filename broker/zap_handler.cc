#include "broker/zap_handler.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace tq {
namespace {

ZapReply Refuse(std::string request_id, std::string code, std::string text) {
  return ZapReply{std::move(request_id), std::move(code), std::move(text), ""};
}

}  // namespace

ZapReply DecideZapRequest(const std::vector<std::string>& frames,
                          const CurveAllowlist& clients,
                          const CurveAllowlist& workers,
                          const CurveAllowlist& code_clients) {
  if (frames.size() < 6) return Refuse("", "500", "malformed ZAP request");
  const std::string& request_id = frames[1];
  if (frames[0] != "1.0") return Refuse(request_id, "500", "ZAP version");
  if (frames[2] != kCurveZapDomain) {
    return Refuse(request_id, "400", "unknown ZAP domain");
  }
  if (frames[5] != "CURVE" || frames.size() != 7 || frames[6].size() != 32) {
    return Refuse(request_id, "400", "tq accepts CURVE peers only");
  }
  char z85[kCurveKeyZ85Length + 1];
  if (zmq_z85_encode(z85, reinterpret_cast<const uint8_t*>(frames[6].data()),
                     32) == nullptr) {
    return Refuse(request_id, "500", "cannot encode key");
  }
  if (auto it = code_clients.find(z85); it != code_clients.end()) {
    return ZapReply{request_id, "200", "OK",
                    absl::StrCat("code-client:", it->second)};
  }
  if (auto it = clients.find(z85); it != clients.end()) {
    return ZapReply{request_id, "200", "OK", absl::StrCat("client:", it->second)};
  }
  if (auto it = workers.find(z85); it != workers.end()) {
    return ZapReply{request_id, "200", "OK", absl::StrCat("worker:", it->second)};
  }
  return Refuse(request_id, "400",
                absl::StrCat("CURVE key ", z85, " is not allowed"));
}

ZapReply DecidePlaintextZapRequest(const std::vector<std::string>& frames) {
  if (frames.size() < 6) return Refuse("", "500", "malformed ZAP request");
  const std::string& request_id = frames[1];
  if (frames[0] != "1.0") return Refuse(request_id, "500", "ZAP version");
  if (frames[2] != kCurveZapDomain) {
    return Refuse(request_id, "400", "unknown ZAP domain");
  }
  if (frames[5] != "NULL") {
    return Refuse(request_id, "400", "this broker does not use CURVE");
  }
  return ZapReply{request_id, "200", "OK", ""};
}

ZapReply DecidePairZapRequest(const std::vector<std::string>& frames,
                              bool curve, const std::string& peer_key) {
  if (frames.size() < 6) return Refuse("", "500", "malformed ZAP request");
  const std::string& request_id = frames[1];
  if (frames[0] != "1.0") return Refuse(request_id, "500", "ZAP version");
  if (frames[2] != kPairZapDomain) {
    return Refuse(request_id, "400", "unknown ZAP domain");
  }
  if (!curve) {
    if (frames[5] != "NULL") {
      return Refuse(request_id, "400", "this broker does not use CURVE");
    }
    return ZapReply{request_id, "200", "OK", "pair-peer"};
  }
  if (frames[5] != "CURVE" || frames.size() != 7 || frames[6].size() != 32) {
    return Refuse(request_id, "400", "tq accepts CURVE peers only");
  }
  char z85[kCurveKeyZ85Length + 1];
  if (zmq_z85_encode(z85, reinterpret_cast<const uint8_t*>(frames[6].data()),
                     32) == nullptr) {
    return Refuse(request_id, "500", "cannot encode key");
  }
  if (peer_key.empty() || peer_key != z85) {
    return Refuse(request_id, "400",
                  absl::StrCat("CURVE key ", z85, " is not the pair peer's"));
  }
  return ZapReply{request_id, "200", "OK", "pair-peer"};
}

ZapHandler::ZapHandler(CurveAllowlist clients, CurveAllowlist workers,
                       CurveAllowlist code_clients)
    : ZapHandler(true, std::move(clients), std::move(workers),
                 std::move(code_clients)) {}

std::unique_ptr<ZapHandler> ZapHandler::Plaintext() {
  return std::unique_ptr<ZapHandler>(new ZapHandler(false, {}, {}, {}));
}

ZapHandler::ZapHandler(bool curve, CurveAllowlist clients,
                       CurveAllowlist workers, CurveAllowlist code_clients)
    : curve_(curve),
      clients_(std::move(clients)),
      workers_(std::move(workers)),
      code_clients_(std::move(code_clients)) {}

absl::Status ZapHandler::Bind(zmq::context_t& context) {
  socket_.emplace(context, zmq::socket_type::rep);
  socket_->set(zmq::sockopt::linger, 0);
  try {
    socket_->bind(kZapEndpoint);
  } catch (const zmq::error_t& e) {
    socket_.reset();
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot start the ZAP handler on ", kZapEndpoint, ": ", e.what(),
        " (is another broker listening on TCP in this process and context?)"));
  }
  return absl::OkStatus();
}

void ZapHandler::AnswerPending(
    const std::function<void(absl::string_view)>& log) {
  if (!socket_) return;
  for (;;) {
    std::vector<std::string> frames;
    zmq::message_t frame;
    if (!socket_->recv(frame, zmq::recv_flags::dontwait)) return;
    frames.push_back(frame.to_string());
    while (frame.more() && frames.size() < 16) {
      if (!socket_->recv(frame, zmq::recv_flags::none)) break;
      frames.push_back(frame.to_string());
    }
    while (socket_->get(zmq::sockopt::rcvmore)) {  // beyond any sane request
      (void)socket_->recv(frame, zmq::recv_flags::none);
    }
    const bool pair = frames.size() > 2 && frames[2] == kPairZapDomain;
    ZapReply reply =
        pair    ? DecidePairZapRequest(frames, curve_, pair_peer_key_)
        : curve_ ? DecideZapRequest(frames, clients_, workers_, code_clients_)
                 : DecidePlaintextZapRequest(frames);
    // The pair peer is not counted against the connection caps.
    if (reply.status_code == "200" && admission_ && !pair) {
      if (std::optional<std::string> busy = admission_(frames[3])) {
        reply = Refuse(reply.request_id, "300", *std::move(busy));
        ++refused_busy_;
      }
    }
    if (reply.status_code == "200") {
      ++accepted_;
    } else {
      ++refused_;
      if (log) {
        log(absl::StrCat("refused a connection from ",
                         frames.size() > 3 ? frames[3] : "?", ": ",
                         reply.status_text));
      }
    }
    // REP: one reply per request, always, or the next request never comes.
    socket_->send(zmq::str_buffer("1.0"), zmq::send_flags::sndmore);
    socket_->send(zmq::buffer(reply.request_id), zmq::send_flags::sndmore);
    socket_->send(zmq::buffer(reply.status_code), zmq::send_flags::sndmore);
    socket_->send(zmq::buffer(reply.status_text), zmq::send_flags::sndmore);
    socket_->send(zmq::buffer(reply.user_id), zmq::send_flags::sndmore);
    socket_->send(zmq::str_buffer(""), zmq::send_flags::none);
  }
}

}  // namespace tq
