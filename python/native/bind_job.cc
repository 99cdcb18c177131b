// tq._native.Job: a submitted job (client/job.h via JobCore). Blocking
// waits release the GIL and run in short slices, checking for signals
// between them, so Ctrl-C reaches the caller while a job runs.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "python/native/bind_input.h"
#include "python/native/bindings.h"
#include "python/native/pool_core.h"

namespace tq::python {
namespace {

// Longest wait without a look at pending signals (Ctrl-C). Only the main
// thread runs signal handlers; elsewhere the check is free and finds none.
constexpr absl::Duration kSignalCheckInterval = absl::Milliseconds(50);

// What poll() returns first in its (kind, chunk) pair.
enum PollKind : int { kResult = 0, kDone = 1, kInputRoom = 2, kTimedOut = 3 };

int KindOf(JobEvent::Kind kind) {
  switch (kind) {
    case JobEvent::Kind::kResult:
      return kResult;
    case JobEvent::Kind::kDone:
      return kDone;
    case JobEvent::Kind::kInputRoom:
      return kInputRoom;
    case JobEvent::Kind::kTimedOut:
      return kTimedOut;
  }
  return kTimedOut;
}

py::tuple Poll(JobCore& job, bool ordered, std::optional<double> timeout) {
  const absl::Time deadline =
      timeout.has_value() ? absl::Now() + absl::Seconds(std::max(0.0, *timeout))
                          : absl::InfiniteFuture();
  while (true) {
    const absl::Duration slice =
        std::min(kSignalCheckInterval, deadline - absl::Now());
    absl::StatusOr<JobEvent> event;
    {
      py::gil_scoped_release release;
      event = job.Poll(ordered, std::max(slice, absl::ZeroDuration()));
    }
    if (!event.ok()) ThrowStatus(event.status());
    if (event->kind != JobEvent::Kind::kTimedOut) {
      py::object chunk = py::none();
      if (event->result.has_value())
        chunk = py::cast(*std::move(event->result));
      return py::make_tuple(KindOf(event->kind), chunk);
    }
    if (absl::Now() >= deadline) {
      return py::make_tuple(static_cast<int>(kTimedOut), py::none());
    }
    if (PyErr_CheckSignals() != 0) throw py::error_already_set();
  }
}

void Append(JobCore& job, py::handle chunk) {
  InputChunk input = InputChunkFrom(chunk);
  absl::Status status;
  {
    py::gil_scoped_release release;
    status = job.Append(std::move(input));
  }
  if (!status.ok()) ThrowStatus(status);
}

py::object UserError(JobCore& job) {
  absl::StatusOr<std::optional<UserCodeError>> error;
  {
    py::gil_scoped_release release;
    error = job.user_code_error();
  }
  if (!error.ok()) ThrowStatus(error.status());
  if (!error->has_value()) return py::none();
  const UserCodeError& e = **error;
  return py::make_tuple(e.chunk_index, e.first_item, py::bytes(e.details));
}

}  // namespace

void BindJob(py::module_& m) {
  m.attr("RESULT") = static_cast<int>(kResult);
  m.attr("DONE") = static_cast<int>(kDone);
  m.attr("INPUT_ROOM") = static_cast<int>(kInputRoom);
  m.attr("TIMED_OUT") = static_cast<int>(kTimedOut);
  py::class_<JobCore, std::shared_ptr<JobCore>>(
      m, "Job",
      "A submitted job. Read and append from one thread at a time; cancel() "
      "from any.")
      .def_property_readonly("id", &JobCore::id)
      .def_property_readonly(
          "token", [](const JobCore& job) { return py::bytes(job.token()); },
          "16 bytes that let another process attach (Pool.attach).")
      .def_property_readonly("window", &JobCore::window,
                             "Result credit granted, in chunks; also the most "
                             "appended chunks awaiting results.")
      .def("poll", &Poll, py::arg("ordered") = true,
           py::arg("timeout") = py::none(),
           "Waits up to `timeout` seconds (None: no limit) for the next "
           "chunk (in input order if `ordered`) and returns (kind, chunk): "
           "(RESULT, Chunk), (DONE, None), (INPUT_ROOM, None) while streamed "
           "input may take a chunk, or (TIMED_OUT, None). Raises Error if the "
           "job failed, and KeyboardInterrupt on Ctrl-C (the job goes on: "
           "cancel it).")
      .def("append", &Append, py::arg("chunk"),
           "Appends a chunk of streamed input: (lo, hi) a range of integers "
           "(code jobs), (bytes, count) encoded items (code jobs), or a list "
           "of ints (tasks).")
      .def(
          "end_input",
          [](JobCore& job) {
            absl::Status status;
            {
              py::gil_scoped_release release;
              status = job.EndInput();
            }
            if (!status.ok()) ThrowStatus(status);
          },
          "No more input: the job ends once the appended chunks are done.")
      .def(
          "input_room",
          [](JobCore& job) {
            absl::StatusOr<size_t> room;
            {
              py::gil_scoped_release release;
              room = job.InputRoom();
            }
            if (!room.ok()) ThrowStatus(room.status());
            return *room;
          },
          "Chunks append() may take now.")
      .def("cancel", &JobCore::Cancel, py::call_guard<py::gil_scoped_release>(),
           "Cancels the job on the cluster; poll() then raises CANCELLED.")
      .def("user_code_error", &UserError,
           "After poll() raised ABORTED because the shipped code raised: "
           "(chunk_index, first_item, details), details being the runner's "
           "pickled dict; else None.");
}

}  // namespace tq::python
