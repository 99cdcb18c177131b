#include "common/cpu_count.h"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"

namespace tq {
namespace {

// Strict: the whole (whitespace-trimmed) text must be a number; "12x" or
// "1e5" are not limits.
std::optional<long long> ParseInteger(const std::string& text) {
  long long value = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &value)) {
    return std::nullopt;
  }
  return value;
}

std::optional<std::string> ReadFirstLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return std::nullopt;
  return line;
}

std::optional<int> CeilQuota(long long quota, long long period) {
  if (quota <= 0 || period <= 0) return std::nullopt;
  // quota / period rounded up, without overflowing quota + period, and
  // clamped so a huge quota cannot wrap to a negative int.
  long long cpus = quota / period + (quota % period != 0 ? 1 : 0);
  return static_cast<int>(std::clamp<long long>(cpus, 1, 1 << 20));
}

// The cgroup v2 path of this process: the "0::/path" line of
// /proc/self/cgroup.
std::string OwnCgroupV2Dir(const std::string& root) {
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("0::", 0) == 0) return root + line.substr(3);
  }
  return root;
}

}  // namespace

std::optional<int> CgroupV2CpuLimit(const std::string& cgroup_dir) {
  auto line = ReadFirstLine(cgroup_dir + "/cpu.max");
  if (!line) return std::nullopt;
  // "$MAX $PERIOD", where $MAX is "max" for no limit.
  std::istringstream fields(*line);
  std::string quota_text, period_text, extra;
  if (!(fields >> quota_text >> period_text) || (fields >> extra) ||
      quota_text == "max") {
    return std::nullopt;
  }
  std::optional<long long> quota = ParseInteger(quota_text);
  std::optional<long long> period = ParseInteger(period_text);
  if (!quota || !period) return std::nullopt;
  return CeilQuota(*quota, *period);
}

std::optional<int> CgroupV1CpuLimit(const std::string& cpu_dir) {
  auto quota = ReadFirstLine(cpu_dir + "/cpu.cfs_quota_us");
  auto period = ReadFirstLine(cpu_dir + "/cpu.cfs_period_us");
  if (!quota || !period) return std::nullopt;
  std::optional<long long> quota_value = ParseInteger(*quota);
  std::optional<long long> period_value = ParseInteger(*period);
  if (!quota_value || !period_value) return std::nullopt;
  return CeilQuota(*quota_value, *period_value);
}

int AffinityCpuCount() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<int>(n) : 1;
}

int UsableCpuCount() {
  int cpus = AffinityCpuCount();
  // cgroup v2: the limit may sit on this cgroup or any ancestor; the
  // smallest wins.
  std::string dir = OwnCgroupV2Dir("/sys/fs/cgroup");
  while (dir.size() >= std::string("/sys/fs/cgroup").size()) {
    if (auto limit = CgroupV2CpuLimit(dir)) cpus = std::min(cpus, *limit);
    if (dir == "/sys/fs/cgroup") break;
    dir = dir.substr(0, dir.rfind('/'));
  }
  for (const char* v1 : {"/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"}) {
    if (auto limit = CgroupV1CpuLimit(v1)) cpus = std::min(cpus, *limit);
  }
  return std::max(1, cpus);
}

}  // namespace tq
