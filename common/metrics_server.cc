// See metrics_server.h. Responses are written whole with Content-Length and
// Connection: close, so any HTTP/1.x client (Prometheus, kubelet probes, a
// plain socket in tests) reads them without chunked decoding.
#include "common/metrics_server.h"

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "CivetServer.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "civetweb.h"
#include "common/clock.h"
#include "prometheus/text_serializer.h"

namespace tq {
namespace {

void Respond(mg_connection* conn, int code, absl::string_view reason,
             absl::string_view content_type, absl::string_view body) {
  const std::string head = absl::StrCat(
      "HTTP/1.1 ", code, " ", reason, "\r\nContent-Type: ", content_type,
      "\r\nContent-Length: ", body.size(),
      "\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n");
  mg_write(conn, head.data(), head.size());
  mg_write(conn, body.data(), body.size());
}

void RespondProbe(mg_connection* conn, bool ok, absl::string_view what) {
  if (ok) {
    Respond(conn, 200, "OK", "text/plain; charset=utf-8", "ok\n");
  } else {
    Respond(conn, 503, "Service Unavailable", "text/plain; charset=utf-8",
            absl::StrCat("not ", what, "\n"));
  }
}

// "HOST:PORT" with a non-empty host and a port in 0..65535.
bool ValidListenAddress(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  const std::string port = listen.substr(colon + 1);
  uint32_t value = 0;
  return !port.empty() &&
         port.find_first_not_of("0123456789") == std::string::npos &&
         absl::SimpleAtoi(port, &value) && value <= 65535;
}

// Where to connect to reach a server listening on `listen`'s host: the
// loopback for a wildcard, the address itself otherwise (brackets dropped).
std::string WakeHost(const std::string& listen) {
  std::string host = listen.substr(0, listen.rfind(':'));
  if (host == "0.0.0.0") return "127.0.0.1";
  if (host == "[::]") return "::1";
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    return host.substr(1, host.size() - 2);
  }
  return host;
}

// Opens and closes a TCP connection to host:port, ignoring any failure.
void Poke(const std::string& host, int port) {
  addrinfo hints = {};
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0) {
    return;
  }
  const int fd = socket(found->ai_family, found->ai_socktype, 0);
  if (fd >= 0) {
    (void)connect(fd, found->ai_addr, found->ai_addrlen);
    close(fd);
  }
  freeaddrinfo(found);
}

}  // namespace

// One GET handler: a function of the connection.
class MetricsServer::Handler : public CivetHandler {
 public:
  explicit Handler(std::function<void(mg_connection*)> serve)
      : serve_(std::move(serve)) {}
  bool handleGet(CivetServer*, mg_connection* conn) override {
    serve_(conn);
    return true;
  }

 private:
  const std::function<void(mg_connection*)> serve_;
};

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(
    const std::string& listen, std::shared_ptr<prometheus::Registry> registry,
    const LoopHealth* health) {
  if (!ValidListenAddress(listen)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "metrics address '", listen,
        "' is not HOST:PORT (e.g. 0.0.0.0:9464, 127.0.0.1:0)"));
  }
  std::unique_ptr<MetricsServer> server(new MetricsServer());
  server->registry_ = std::move(registry);
  prometheus::Registry* reg = server->registry_.get();
  server->metrics_ = std::make_unique<Handler>([reg](mg_connection* conn) {
    const std::string body = prometheus::TextSerializer().Serialize(reg->Collect());
    Respond(conn, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", body);
  });
  server->healthz_ = std::make_unique<Handler>([health](mg_connection* conn) {
    RespondProbe(conn, health->AliveAt(MonotonicNowUs()), "alive");
  });
  server->readyz_ = std::make_unique<Handler>([health](mg_connection* conn) {
    RespondProbe(conn, health->ready(), "ready");
  });
  const std::vector<std::string> options = {
      "listening_ports", listen, "num_threads", "2",
      "request_timeout_ms", "10000"};
  try {
    server->server_ = std::make_unique<CivetServer>(options);
  } catch (const CivetException&) {
    // civetweb's message ("null context ...") helps no operator.
    return absl::UnavailableError(absl::StrCat(
        "cannot serve metrics on ", listen,
        ": cannot bind (address in use, not local, or not permitted)"));
  }
  server->server_->addHandler("/metrics", server->metrics_.get());
  server->server_->addHandler("/healthz", server->healthz_.get());
  server->server_->addHandler("/readyz", server->readyz_.get());
  const std::vector<int> ports = server->server_->getListeningPorts();
  if (ports.empty()) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve metrics on ", listen, ": no port bound"));
  }
  server->port_ = ports[0];
  server->wake_host_ = WakeHost(listen);
  return server;
}

MetricsServer::~MetricsServer() {
  if (!server_) return;
  // civetweb's listener polls 2 s at a time and sees the stop request only
  // between polls; a connection of our own ends the poll, so stopping takes
  // milliseconds instead of up to 2 s (tq-broker's SIGTERM, every test).
  absl::Notification closed;
  std::thread closer([this, &closed] {
    server_->close();
    closed.Notify();
  });
  do {
    Poke(wake_host_, port_);
  } while (!closed.WaitForNotificationWithTimeout(absl::Milliseconds(20)));
  closer.join();
}

}  // namespace tq
