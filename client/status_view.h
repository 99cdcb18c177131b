// How tq-client shows the broker's StatusReply: a human summary (`status`),
// a table of running jobs (`jobs`), or JSON for scripts (`--json`). Pure
// formatting: no I/O, so tests check the text directly.
//
// Thread safety: free functions over their arguments only.
#ifndef TQ_CLIENT_STATUS_VIEW_H_
#define TQ_CLIENT_STATUS_VIEW_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "tq/v1/tq.pb.h"

namespace tq {

// "broker ADDR: N workers, T threads (B busy), ..." then a table of workers
// and one of running jobs (see FormatJobs). Ends with a newline.
std::string FormatStatus(const v1::StatusReply& reply, absl::string_view broker);

// One line per running job: id, task, owner, state, progress %, chunks,
// items, rate and ETA (both averaged since the job was accepted), age.
// "no running jobs" when there are none. Ends with a newline.
std::string FormatJobs(const v1::StatusReply& reply);

// {"totals":{...},"workers":[...],"jobs":[...]} on one line: each part in
// the proto3 JSON mapping with the .proto's field names, every field
// printed (zeros included), 64-bit integers as strings as that mapping
// says, enums by name.
std::string StatusJson(const v1::StatusReply& reply);
// Only {"jobs": [...]}, as one line of JSON.
std::string JobsJson(const v1::StatusReply& reply);

// Short human forms, exposed for tests: 1234 -> "1234", 12345 -> "12.3k",
// 4.5e6 -> "4.5M"; seconds -> "3.7s", "4m12s", "2h05m".
std::string ShortCount(double n);
std::string ShortDuration(double seconds);

}  // namespace tq

#endif  // TQ_CLIENT_STATUS_VIEW_H_
