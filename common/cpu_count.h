// How many CPUs this process may really use: the smallest of the affinity
// mask, the cgroup v2 cpu.max quota and the cgroup v1 CFS quota (a container
// limited to 1.5 CPUs gets 2 threads, rounding up; never less than 1).
#ifndef TQ_COMMON_CPU_COUNT_H_
#define TQ_COMMON_CPU_COUNT_H_

#include <optional>
#include <string>

namespace tq {

int UsableCpuCount();

// The pieces, exposed for tests. `root` is where cgroup files are read
// (normally "/sys/fs/cgroup"); nullopt when no limit is found there.
std::optional<int> CgroupV2CpuLimit(const std::string& cgroup_dir);
std::optional<int> CgroupV1CpuLimit(const std::string& cpu_dir);
int AffinityCpuCount();

}  // namespace tq

#endif  // TQ_COMMON_CPU_COUNT_H_
