#include "client/status_view.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/json_string.h"

namespace tq {
namespace {

std::string Plural(uint64_t n, absl::string_view one, absl::string_view many) {
  return absl::StrCat(n, " ", n == 1 ? one : many);
}

absl::string_view StateName(v1::JobStatus::State state) {
  switch (state) {
    case v1::JobStatus::STATE_RUNNING: return "running";
    case v1::JobStatus::STATE_WAITING_FOR_WORKERS: return "waiting-workers";
    case v1::JobStatus::STATE_WAITING_FOR_CLIENT: return "waiting-client";
    case v1::JobStatus::STATE_WAITING_FOR_CAPABLE_WORKER:
      return "waiting-capable-worker";
    default: return "unknown";
  }
}

// A table with left-aligned text columns and right-aligned number columns,
// each as wide as its widest cell, two spaces apart.
class Table {
 public:
  // `right[i]`: column i is right-aligned.
  explicit Table(std::vector<bool> right) : right_(std::move(right)) {}
  void Add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  std::string Render() const {
    std::vector<size_t> width(right_.size(), 0);
    for (const auto& row : rows_) {
      for (size_t i = 0; i < row.size(); ++i) {
        width[i] = std::max(width[i], row[i].size());
      }
    }
    std::string out;
    for (const auto& row : rows_) {
      std::string line;
      for (size_t i = 0; i < row.size(); ++i) {
        if (i > 0) line += "  ";
        const std::string pad(width[i] - row[i].size(), ' ');
        line += right_[i] ? pad + row[i] : row[i] + pad;
      }
      line.erase(line.find_last_not_of(' ') + 1);
      absl::StrAppend(&out, line, "\n");
    }
    return out;
  }

 private:
  std::vector<bool> right_;
  std::vector<std::vector<std::string>> rows_;
};

// One JSON object in the proto3 JSON mapping, as protobuf's own printer
// wrote it (the protocol uses the lite runtime, which has no printer):
// the .proto's field names, every field printed, 64-bit integers as
// strings, enums by name.
class JsonObject {
 public:
  JsonObject& Number(absl::string_view key, uint32_t value) {
    return Raw(key, absl::StrCat(value));
  }
  JsonObject& Int64(absl::string_view key, uint64_t value) {
    return Raw(key, absl::StrCat("\"", value, "\""));
  }
  JsonObject& Bool(absl::string_view key, bool value) {
    return Raw(key, value ? "true" : "false");
  }
  JsonObject& String(absl::string_view key, absl::string_view value) {
    return Raw(key, JsonString(value));
  }
  JsonObject& Raw(absl::string_view key, absl::string_view json) {
    absl::StrAppend(&out_, out_.size() > 1 ? "," : "", JsonString(key), ":", json);
    return *this;
  }
  // The object's text; the builder is spent.
  std::string Close() {
    out_ += "}";
    return std::move(out_);
  }

 private:
  std::string out_ = "{";
};

template <typename T, typename ToJson>
std::string JsonArray(const google::protobuf::RepeatedPtrField<T>& items,
                      ToJson to_json) {
  std::string out = "[";
  for (const T& item : items) {
    absl::StrAppend(&out, out.size() > 1 ? "," : "", to_json(item));
  }
  return out + "]";
}

std::string ToJson(const v1::Runtime& runtime) {
  return JsonObject()
      .String("name", runtime.name())
      .String("version", runtime.version())
      .String("detail", runtime.detail())
      .Close();
}

std::string ToJson(const v1::WorkerStatus& w) {
  return JsonObject()
      .String("name", w.name())
      .Number("threads", w.threads())
      .Int64("chunks_held", w.chunks_held())
      .Int64("credit", w.credit())
      .Bool("draining", w.draining())
      .Int64("silent_ms", w.silent_ms())
      .Raw("runtimes", JsonArray(w.runtimes(), [](const v1::Runtime& r) {
             return ToJson(r);
           }))
      .Close();
}

std::string ToJson(const v1::ClusterTotals& t) {
  return JsonObject()
      .Number("workers", t.workers())
      .Int64("threads", t.threads())
      .Int64("busy_threads", t.busy_threads())
      .Int64("chunks_queued", t.chunks_queued())
      .Int64("chunks_in_flight", t.chunks_in_flight())
      .Number("clients", t.clients())
      .Number("jobs", t.jobs())
      .Close();
}

std::string ToJson(const v1::JobStatus& job) {
  return JsonObject()
      .Int64("job_id", job.job_id())
      .String("task", job.task())
      .String("client", job.client())
      .Int64("items_total", job.items_total())
      .Int64("chunks_total", job.chunks_total())
      .Int64("chunks_done", job.chunks_done())
      .Int64("items_done", job.items_done())
      .Int64("chunks_in_flight", job.chunks_in_flight())
      .Int64("chunks_queued", job.chunks_queued())
      .Int64("age_ms", job.age_ms())
      .String("state", v1::JobStatus::State_Name(job.state()))
      .Int64("chunk_size", job.chunk_size())
      .Bool("input_open", job.input_open())
      .String("runtime", job.runtime())
      .String("waiting_for", job.waiting_for())
      .Int64("items_acknowledged", job.items_acknowledged())
      .Bool("detached", job.detached())
      .Close();
}

std::string JobsArray(const v1::StatusReply& reply) {
  return JsonArray(reply.jobs(),
                   [](const v1::JobStatus& job) { return ToJson(job); });
}

}  // namespace

std::string ShortCount(double n) {
  if (n < 10000) return absl::StrFormat("%.0f", n);
  static constexpr const char* kUnits[] = {"k", "M", "G", "T", "P", "E"};
  int unit = -1;
  while (n >= 1000 && unit < 5) {
    n /= 1000;
    ++unit;
  }
  // Two calls, not one with a chosen format: clang checks absl's format
  // strings at compile time and needs each to be a constant.
  if (n < 100) return absl::StrFormat("%.1f%s", n, kUnits[unit]);
  return absl::StrFormat("%.0f%s", n, kUnits[unit]);
}

std::string ShortDuration(double seconds) {
  if (!(seconds >= 0) || std::isinf(seconds)) return "-";
  if (seconds < 60) return absl::StrFormat("%.1fs", seconds);
  const uint64_t s = static_cast<uint64_t>(seconds);
  if (s < 3600) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  if (s < 100 * 3600) return absl::StrFormat("%dh%02dm", s / 3600, s / 60 % 60);
  return absl::StrFormat("%dd%02dh", s / 86400, s / 3600 % 24);
}

std::string FormatJobs(const v1::StatusReply& reply) {
  if (reply.jobs().empty()) return "no running jobs\n";
  Table table({true, false, false, false, true, true, true, true, true, true});
  table.Add({"JOB", "TASK", "CLIENT", "STATE", "DONE", "CHUNKS", "ITEMS",
             "RATE", "ETA", "AGE"});
  for (const v1::JobStatus& job : reply.jobs()) {
    const double total = static_cast<double>(job.items_total());
    const double done = static_cast<double>(job.items_done());
    const double age_s = static_cast<double>(job.age_ms()) / 1000;
    const double percent = total > 0 ? 100 * done / total : 0;
    // Averaged since the job was accepted: one snapshot has no other clock.
    const double rate = age_s > 0 ? done / age_s : 0;
    const std::string eta =
        rate > 0 ? ShortDuration((total - done) / rate) : std::string("-");
    table.Add({absl::StrCat(job.job_id()),
               job.task().empty() ? job.runtime() + " code" : job.task(),
               job.client(),
               std::string(StateName(job.state())),
               absl::StrFormat("%.1f%%", percent),
               absl::StrCat(job.chunks_done(), "/", job.chunks_total()),
               absl::StrCat(ShortCount(done), "/", ShortCount(total)),
               rate > 0 ? absl::StrCat(ShortCount(rate), "/s") : "-", eta,
               ShortDuration(age_s)});
  }
  std::string out = table.Render();
  if (reply.totals().jobs() > static_cast<uint32_t>(reply.jobs_size())) {
    absl::StrAppend(&out, "... and ", reply.totals().jobs() - reply.jobs_size(),
                    " more jobs, not listed\n");
  }
  // What a job waits for that no worker offers, spelled out.
  for (const v1::JobStatus& job : reply.jobs()) {
    if (job.waiting_for().empty()) continue;
    absl::StrAppend(&out, "job ", job.job_id(), " waits for ",
                    job.waiting_for(), "\n");
  }
  return out;
}

std::string FormatStatus(const v1::StatusReply& reply,
                         absl::string_view broker) {
  const v1::ClusterTotals& t = reply.totals();
  std::string out = absl::StrCat(
      "broker ", broker, ": ", Plural(t.workers(), "worker", "workers"), ", ",
      Plural(t.threads(), "thread", "threads"), " (", t.busy_threads(),
      " busy), ", Plural(t.clients(), "client", "clients"), ", ",
      Plural(t.jobs(), "running job", "running jobs"), "\n",
      "chunks: ", t.chunks_queued(), " queued, ", t.chunks_in_flight(),
      " in flight\n\n");
  if (reply.workers().empty()) {
    absl::StrAppend(&out, "no workers connected\n");
  } else {
    Table table({false, true, true, true, true, true, false, false});
    table.Add({"WORKER", "THREADS", "BUSY", "HELD", "CREDIT", "SILENT", "RUNS",
               ""});
    for (const v1::WorkerStatus& w : reply.workers()) {
      std::string runs = "tasks";
      for (const v1::Runtime& runtime : w.runtimes()) {
        absl::StrAppend(&runs, ", ", runtime.name(), " ", runtime.version());
      }
      table.Add({w.name().empty() ? "(unnamed)" : w.name(),
                 absl::StrCat(w.threads()),
                 absl::StrCat(std::min<uint64_t>(w.chunks_held(), w.threads())),
                 absl::StrCat(w.chunks_held()), absl::StrCat(w.credit()),
                 ShortDuration(static_cast<double>(w.silent_ms()) / 1000), runs,
                 w.draining() ? "draining" : ""});
    }
    absl::StrAppend(&out, table.Render());
    if (t.workers() > static_cast<uint32_t>(reply.workers_size())) {
      absl::StrAppend(&out, "... and ", t.workers() - reply.workers_size(),
                      " more workers, not listed\n");
    }
  }
  absl::StrAppend(&out, "\n", FormatJobs(reply));
  return out;
}

// request_id, an artefact of this session rather than of the cluster, is
// left out.
std::string StatusJson(const v1::StatusReply& reply) {
  return JsonObject()
      .Raw("totals", ToJson(reply.totals()))
      .Raw("workers", JsonArray(reply.workers(),
                                [](const v1::WorkerStatus& w) { return ToJson(w); }))
      .Raw("jobs", JobsArray(reply))
      .Close();
}

std::string JobsJson(const v1::StatusReply& reply) {
  return JsonObject().Raw("jobs", JobsArray(reply)).Close();
}

}  // namespace tq
