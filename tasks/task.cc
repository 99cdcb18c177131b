#include "tasks/task.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tq {

void TaskRegistry::Register(std::unique_ptr<Task> task) {
  if (Find(task->name()) != nullptr) {
    fprintf(stderr, "tq: task '%s' registered twice\n",
            std::string(task->name()).c_str());
    abort();
  }
  tasks_.push_back(std::move(task));
}

const Task* TaskRegistry::Find(absl::string_view name) const {
  for (const auto& task : tasks_) {
    if (task->name() == name) return task.get();
  }
  return nullptr;
}

absl::StatusOr<const Task*> TaskRegistry::Lookup(absl::string_view name) const {
  if (const Task* task = Find(name)) return task;
  return absl::NotFoundError(absl::StrCat("unknown task '", name,
                                          "'; this cluster offers: ",
                                          absl::StrJoin(Names(), ", ")));
}

std::vector<std::string> TaskRegistry::Names() const {
  std::vector<std::string> names;
  for (const auto& task : tasks_) names.emplace_back(task->name());
  std::sort(names.begin(), names.end());
  return names;
}

TaskRegistry& BuiltinTasks() {
  static TaskRegistry* registry = new TaskRegistry;
  return *registry;
}

}  // namespace tq
