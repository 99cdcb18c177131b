// Test helpers for the metrics endpoints: a minimal HTTP/1.0 GET over a plain
// loopback socket (no HTTP library needed), and reading one sample's value
// out of the Prometheus text format.
#ifndef TQ_TESTS_METRICS_HTTP_GET_H_
#define TQ_TESTS_METRICS_HTTP_GET_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace tq::testing {

struct HttpResponse {
  int code = 0;
  std::string body;
};

// GET http://127.0.0.1:`port``path`, reading to the end (the server closes).
// Fails after 5 s without progress.
absl::StatusOr<HttpResponse> HttpGet(int port, const std::string& path);

// The value of the sample written exactly `series` (a name, with its labels
// as the server writes them, e.g. `tq_worker_chunks_total{outcome="ok"}`),
// or nullopt if `text` has no such line.
std::optional<double> SampleValue(const std::string& text,
                                  const std::string& series);

// The port of a "metrics on http://HOST:PORT" line's remainder "HOST:PORT".
int PortOf(const std::string& host_port);

}  // namespace tq::testing

#endif  // TQ_TESTS_METRICS_HTTP_GET_H_
