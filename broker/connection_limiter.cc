#include "broker/connection_limiter.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace tq {

ConnectionLimiter::ConnectionLimiter(uint32_t max_total,
                                     uint32_t max_per_address)
    : max_total_(max_total), max_per_address_(max_per_address) {}

void ConnectionLimiter::OnAccepted(int fd, std::string address) {
  // An fd still listed had its close event lost: forget that connection.
  OnClosed(fd);
  if (!address.empty()) ++per_address_[address];
  by_fd_.emplace(fd, std::move(address));
}

void ConnectionLimiter::OnClosed(int fd) {
  auto it = by_fd_.find(fd);
  if (it == by_fd_.end()) return;
  if (!it->second.empty()) {
    auto count = per_address_.find(it->second);
    if (count != per_address_.end() && --count->second == 0) {
      per_address_.erase(count);
    }
  }
  by_fd_.erase(it);
}

uint32_t ConnectionLimiter::from(const std::string& address) const {
  auto it = per_address_.find(address);
  return it == per_address_.end() ? 0 : it->second;
}

std::optional<std::string> ConnectionLimiter::Admit(
    const std::string& address) {
  if (by_fd_.size() > max_total_) {
    ++refusals_.total_cap;
    return absl::StrCat("busy: the broker has ", by_fd_.size(),
                        " connections, more than --max-connections=",
                        max_total_);
  }
  const uint32_t count = from(address);
  if (count > max_per_address_) {
    ++refusals_.per_address_cap;
    return absl::StrCat("busy: ", count, " connections from ", address,
                        ", more than --max-connections-per-address=",
                        max_per_address_);
  }
  return std::nullopt;
}

}  // namespace tq
