#include "tasks/task.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "tasks/item_input.h"

namespace tq {

absl::Status Task::Run(const TaskInput& input, const TaskParams& params,
                       v1::Reduction reduction, v1::ChunkOutput* output,
                       const CancelToken* cancel) const {
  static const CancelToken kNeverCancelled;
  output->Clear();
  TQ_RETURN_IF_ERROR(ValidateParams(params));
  if (reduction == v1::REDUCTION_COUNT && shape() != ResultShape::kBool) {
    return absl::InvalidArgumentError(
        absl::StrCat("task '", name(), "' has no true/false results to count"));
  }
  if (reduction != v1::REDUCTION_NONE && reduction != v1::REDUCTION_COUNT) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown reduction ", static_cast<int>(reduction)));
  }
  absl::StatusOr<uint64_t> items =
      ItemCount(input, sizing(reduction).max_items);
  if (!items.ok()) return items.status();
  absl::Status status =
      Compute(input, *items, params, reduction,
              cancel != nullptr ? *cancel : kNeverCancelled, output);
  if (!status.ok()) output->Clear();
  return status;
}

absl::Status Task::CancelledStatus() const {
  return absl::CancelledError(
      absl::StrCat("task '", name(), "' cancelled while running"));
}

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
  return absl::NotFoundError(
      absl::StrCat("unknown task '", name,
                   "'; this cluster offers: ", absl::StrJoin(Names(), ", ")));
}

std::vector<std::string> TaskRegistry::Names(bool with_test_only) const {
  std::vector<std::string> names;
  for (const auto& task : tasks_) {
    if (with_test_only || !task->test_only()) names.emplace_back(task->name());
  }
  std::sort(names.begin(), names.end());
  return names;
}

TaskRegistry& BuiltinTasks() {
  static TaskRegistry* registry = new TaskRegistry;
  return *registry;
}

}  // namespace tq
