#include "common/broker_endpoints.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace tq {
namespace {

std::vector<std::string> SplitList(const std::string& list) {
  std::vector<std::string> items;
  for (absl::string_view item : absl::StrSplit(list, ',')) {
    items.emplace_back(absl::StripAsciiWhitespace(item));
  }
  return items;
}

}  // namespace

absl::StatusOr<std::vector<BrokerEndpoint>> ParseBrokerEndpoints(
    const std::string& brokers, const std::string& key_file,
    const std::string& server_key_files, std::string* warning) {
  std::vector<BrokerEndpoint> endpoints;
  for (std::string& address : SplitList(brokers)) {
    if (address.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("broker list '", brokers,
                       "' has an empty entry (give endpoints "
                       "separated by commas: tcp://a:5555,tcp://b:5555)"));
    }
    endpoints.push_back({std::move(address), std::nullopt});
  }
  if (key_file.empty() && server_key_files.empty()) return endpoints;
  std::vector<std::string> keys = SplitList(server_key_files);
  if (keys.size() != 1 && keys.size() != endpoints.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "CURVE: ", keys.size(), " broker public keys (--curve-server-key) for ",
        endpoints.size(), " brokers; give one per broker, in the same order"));
  }
  for (size_t i = 0; i < endpoints.size(); ++i) {
    const std::string& server_key = keys[keys.size() == 1 ? 0 : i];
    absl::StatusOr<std::optional<CurveClientKeys>> loaded =
        LoadCurveClientKeys(key_file, server_key, warning);
    if (!loaded.ok()) return loaded.status();
    endpoints[i].curve = *std::move(loaded);
  }
  return endpoints;
}

}  // namespace tq
