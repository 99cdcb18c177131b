#include "common/cpu_count.h"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>

namespace tq {
namespace {

std::optional<std::string> ReadFirstLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return std::nullopt;
  return line;
}

std::optional<int> CeilQuota(long long quota, long long period) {
  if (quota <= 0 || period <= 0) return std::nullopt;
  return static_cast<int>(std::max<long long>(1, (quota + period - 1) / period));
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
  std::istringstream fields(*line);
  std::string quota;
  long long period = 0;
  if (!(fields >> quota >> period) || quota == "max") return std::nullopt;
  try {
    return CeilQuota(std::stoll(quota), period);
  } catch (...) {
    return std::nullopt;
  }
}

std::optional<int> CgroupV1CpuLimit(const std::string& cpu_dir) {
  auto quota = ReadFirstLine(cpu_dir + "/cpu.cfs_quota_us");
  auto period = ReadFirstLine(cpu_dir + "/cpu.cfs_period_us");
  if (!quota || !period) return std::nullopt;
  try {
    return CeilQuota(std::stoll(*quota), std::stoll(*period));
  } catch (...) {
    return std::nullopt;
  }
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
