// tq._native.connect and tq._native.Pool: a connection to a broker or an
// embedded cluster (client/pool.h via PoolCore), and job submission.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "python/native/bind_input.h"
#include "python/native/bindings.h"
#include "python/native/pool_core.h"

namespace tq::python {
namespace {

std::shared_ptr<PoolCore> Connect(
    const std::string& broker, int64_t connect_timeout_ms, int embedded_threads,
    uint32_t result_window, const std::string& name,
    const std::string& curve_key_file, const std::string& curve_server_key_file,
    std::optional<std::vector<std::string>> python) {
  ClientOptions options;
  options.broker = broker;
  options.connect_timeout_ms = connect_timeout_ms;
  options.embedded_threads = embedded_threads;
  options.result_window = result_window;
  options.name = name;
  options.curve_key_file = curve_key_file;
  options.curve_server_key_file = curve_server_key_file;
  if (python.has_value()) {
    if (python->size() != 4) {
      throw py::value_error(
          "python is (interpreter, version, detail, path), 4 strings");
    }
    options.embedded_python =
        EmbeddedPython{(*python)[0], (*python)[1], (*python)[2], (*python)[3]};
  }
  absl::StatusOr<std::shared_ptr<PoolCore>> pool;
  {
    // Waits up to connect_timeout_ms; Ctrl-C shows when it returns.
    py::gil_scoped_release release;
    pool = PoolCore::Connect(std::move(options));
  }
  if (!pool.ok()) ThrowStatus(pool.status());
  return *std::move(pool);
}

std::shared_ptr<JobCore> Submit(PoolCore& pool, const JobSpec& spec) {
  absl::StatusOr<std::shared_ptr<JobCore>> job;
  {
    py::gil_scoped_release release;
    job = pool.Submit(spec);
  }
  if (!job.ok()) ThrowStatus(job.status());
  return *std::move(job);
}

// The fields every job shares: its limits and what a failing item does.
struct Limits {
  uint32_t max_concurrency = 0;
  int64_t timeout_ms = 0;
  uint32_t window = 0;
  int64_t chunk_timeout_ms = 0;
  uint32_t max_attempts = 0;
  bool skip_failed = false;
};

void SetLimits(JobSpec& spec, const Limits& limits) {
  spec.max_concurrency = limits.max_concurrency;
  spec.timeout_ms = limits.timeout_ms;
  spec.result_window = limits.window;
  spec.chunk_timeout_ms = limits.chunk_timeout_ms;
  spec.max_attempts = limits.max_attempts;
  spec.skip_failed = limits.skip_failed;
}

std::shared_ptr<JobCore> SubmitTask(
    PoolCore& pool, const std::string& task, py::object range,
    py::object numbers, bool streamed, uint64_t chunk_size, bool count,
    const std::map<std::string, std::string>& params, uint32_t max_concurrency,
    int64_t timeout_ms, uint32_t window, int64_t chunk_timeout_ms,
    uint32_t max_attempts, bool skip_failed) {
  JobSpec spec;
  spec.task = task;
  const int inputs = !range.is_none() + !numbers.is_none() + streamed;
  if (inputs != 1) {
    throw py::value_error(
        "give one of range=(lo, hi), numbers=[...] or "
        "streamed=True");
  }
  if (!range.is_none()) {
    py::tuple pair = range.cast<py::tuple>();
    if (pair.size() != 2) throw py::value_error("range is (lo, hi)");
    spec.input = NumberRange{U64From(pair[0], "lo"), U64From(pair[1], "hi")};
  } else if (!numbers.is_none()) {
    spec.input = NumbersFrom(numbers);
  } else {
    spec.input = StreamedInput{};
  }
  spec.chunk_size = chunk_size;
  spec.reduction = count ? Reduction::kCount : Reduction::kNone;
  spec.params = params;
  SetLimits(spec, Limits{max_concurrency, timeout_ms, window, chunk_timeout_ms,
                         max_attempts, skip_failed});
  return Submit(pool, spec);
}

std::shared_ptr<JobCore> SubmitCode(
    PoolCore& pool, const py::bytes& function, const py::bytes& initializer,
    int call_style, const std::string& runtime_version,
    uint32_t max_chunks_per_runner, uint32_t max_concurrency,
    int64_t timeout_ms, uint32_t window, const py::list& first_chunks,
    bool complete, int64_t chunk_timeout_ms, uint32_t max_attempts,
    bool skip_failed) {
  CodeSpec code;
  code.runtime = "python";
  code.runtime_version = runtime_version;
  code.function = function;
  code.initializer = initializer;
  switch (call_style) {
    case 0:
      code.call_style = CallStyle::kMap;
      break;
    case 1:
      code.call_style = CallStyle::kStar;
      break;
    case 2:
      code.call_style = CallStyle::kApply;
      break;
    default:
      throw py::value_error("call_style is CALL_MAP, CALL_STAR or CALL_APPLY");
  }
  code.max_chunks_per_runner = max_chunks_per_runner;
  JobSpec spec;
  spec.code = std::move(code);
  StreamedInput input;
  for (py::handle chunk : first_chunks) {
    input.first_chunks.push_back(InputChunkFrom(chunk));
  }
  input.complete = complete;
  spec.input = std::move(input);
  SetLimits(spec, Limits{max_concurrency, timeout_ms, window, chunk_timeout_ms,
                         max_attempts, skip_failed});
  return Submit(pool, spec);
}

std::shared_ptr<JobCore> AttachJob(PoolCore& pool, uint64_t job_id,
                                   const py::bytes& token, uint32_t window) {
  AttachSpec spec;
  spec.job_id = job_id;
  spec.token = token;
  spec.result_window = window;
  absl::StatusOr<std::shared_ptr<JobCore>> job;
  {
    py::gil_scoped_release release;
    job = pool.Attach(spec);
  }
  if (!job.ok()) ThrowStatus(job.status());
  return *std::move(job);
}

}  // namespace

void BindPool(py::module_& m) {
  m.attr("CALL_MAP") = 0;
  m.attr("CALL_STAR") = 1;
  m.attr("CALL_APPLY") = 2;
  m.def("connect", &Connect, py::kw_only(), py::arg("broker") = "",
        py::arg("connect_timeout_ms") = 10'000, py::arg("embedded_threads") = 0,
        py::arg("result_window") = 0, py::arg("name") = "",
        py::arg("curve_key_file") = "", py::arg("curve_server_key_file") = "",
        py::arg("python") = py::none(),
        "Connects to `broker` (empty: starts an embedded cluster) and returns "
        "a Pool. `python`: (interpreter, version, detail, path) lets the "
        "embedded cluster run shipped Python code.");
  py::class_<PoolCore, std::shared_ptr<PoolCore>>(
      m, "Pool", "A connection to a tq cluster. Thread-safe.")
      .def_property_readonly("tasks", &PoolCore::tasks)
      .def_property_readonly("code_runtimes", &PoolCore::code_runtimes)
      .def_property_readonly("endpoint", &PoolCore::endpoint)
      .def_property_readonly("embedded", &PoolCore::embedded)
      .def_property_readonly("worker_threads", &PoolCore::worker_threads)
      .def_property_readonly("closed", &PoolCore::closed)
      .def(
          "status_json",
          [](PoolCore& pool) {
            absl::StatusOr<std::string> json;
            {
              py::gil_scoped_release release;
              json = pool.StatusJson();
            }
            if (!json.ok()) ThrowStatus(json.status());
            return *json;
          },
          "The broker's StatusReply as one line of JSON.")
      .def("submit_task", &SubmitTask, py::arg("task"), py::kw_only(),
           py::arg("range") = py::none(), py::arg("numbers") = py::none(),
           py::arg("streamed") = false, py::arg("chunk_size") = 0,
           py::arg("count") = false,
           py::arg("params") = std::map<std::string, std::string>(),
           py::arg("max_concurrency") = 0, py::arg("timeout_ms") = 0,
           py::arg("window") = 0, py::arg("chunk_timeout_ms") = 0,
           py::arg("max_attempts") = 0, py::arg("skip_failed") = false,
           "Submits a built-in task over range=(lo, hi), numbers=[...] or "
           "streamed input (append lists of ints). chunk_timeout_ms, "
           "max_attempts: 0 for the broker's defaults; skip_failed: items "
           "failing every attempt come as 'failed' chunks.")
      .def("submit_code", &SubmitCode, py::arg("function"), py::kw_only(),
           py::arg("initializer") = py::bytes(), py::arg("call_style") = 0,
           py::arg("runtime_version"), py::arg("max_chunks_per_runner") = 0,
           py::arg("max_concurrency") = 0, py::arg("timeout_ms") = 0,
           py::arg("window") = 0, py::arg("first_chunks") = py::list(),
           py::arg("complete") = false, py::arg("chunk_timeout_ms") = 0,
           py::arg("max_attempts") = 0, py::arg("skip_failed") = false,
           "Submits shipped Python code (a cloudpickled function) over "
           "streamed input: first_chunks, then append(). Limits as for "
           "submit_task.")
      .def("attach", &AttachJob, py::arg("job_id"), py::kw_only(),
           py::arg("token") = py::bytes(), py::arg("window") = 0,
           "Reads a job another client submitted (its id and token): every "
           "result not yet acknowledged. window 0: the job's own.")
      .def("close", &PoolCore::Close, py::call_guard<py::gil_scoped_release>(),
           "Cancels and forgets every job, then disconnects (stopping an "
           "embedded cluster). Idempotent.");
}

}  // namespace tq::python
