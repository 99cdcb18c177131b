// tq-client: run a task over a range or a list of numbers on a tq cluster
// (or an embedded one) and stream the results to stdout.
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/numeric/int128.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "broker/job_plan.h"
#include "client/cli_run.h"
#include "client/interrupt_watcher.h"
#include "client/number_parse.h"
#include "client/output_file.h"
#include "client/output_writer.h"
#include "client/pool.h"
#include "client/progress_bar.h"
#include "client/status_view.h"
#include "common/cli.h"
#include "common/malloc_reuse.h"
#include "common/zmq_socket.h"
#include "tasks/task.h"

ABSL_FLAG(std::string, broker, tq::ClientOptions{}.broker,
          "broker endpoint, e.g. tcp://host:5555, or a standby pair's two, "
          "tcp://a:5555,tcp://b:5555; default: $TQ_BROKER, and without it an "
          "embedded in-process cluster");
ABSL_FLAG(std::string, format, "tsv", "output: tsv, json, true, count or bitmap");
ABSL_FLAG(bool, unordered, false,
          "print chunks as they complete instead of in input order");
ABSL_FLAG(uint64_t, chunk_size, tq::JobSpec{}.chunk_size,
          "items per chunk; 0 lets the broker choose");
// Declared for --help; main() takes every --param out of argv itself, since
// absl keeps only the last of a repeated flag.
ABSL_FLAG(std::vector<std::string>, param, {},
          "task parameter key=value (repeatable)");
ABSL_FLAG(double, connect_timeout,
          tq::ClientOptions{}.connect_timeout_ms / 1000.0,
          "seconds to wait for the broker");
ABSL_FLAG(double, resume_timeout,
          tq::ClientOptions{}.resume_timeout_ms / 1000.0,
          "seconds to keep reconnecting to a lost broker to resume the job "
          "(0: fail at once)");
ABSL_FLAG(int, threads, tq::ClientOptions{}.embedded_threads,
          "embedded cluster worker threads; 0 = the usable CPUs");
ABSL_FLAG(std::string, progress, "auto",
          "progress bar on stderr: auto (if a terminal), always or never");
ABSL_FLAG(bool, json, false,
          "status, jobs: print the broker's answer as JSON, one line per "
          "snapshot");
ABSL_FLAG(double, watch, 0,
          "status, jobs: refresh every SECONDS until interrupted (a bare "
          "--watch means 2)");
ABSL_FLAG(std::string, curve_key, tq::ClientOptions{}.curve_key_file,
          "CurveZMQ: our secret key file (tq-keygen NAME.key); default "
          "$TQ_CURVE_KEY; needs --curve-server-key");
ABSL_FLAG(std::string, curve_server_key,
          tq::ClientOptions{}.curve_server_key_file,
          "CurveZMQ: the broker's public key file (.pub); for a pair, one per "
          "broker, comma-separated; default $TQ_CURVE_SERVER_KEY");
ABSL_FLAG(bool, skip_failed, tq::JobSpec{}.skip_failed,
          "map: items that fail on every attempt do not fail the job; they "
          "are reported as failed (tsv/json: a line 'N<TAB>error: CAUSE'; "
          "other formats: on stderr) and tq-client exits 5");
ABSL_FLAG(double, chunk_timeout, 0,
          "map: seconds one hand-out of a chunk may run before it counts as "
          "a failed attempt; 0 = the broker's default");
ABSL_FLAG(uint32_t, max_attempts, tq::JobSpec{}.max_attempts,
          "map: failed attempts of an item before the job fails (or, with "
          "--skip-failed, the item is reported failed); 0 = the broker's "
          "default");
ABSL_FLAG(double, timeout, 0,
          "map: seconds the whole job may take; the broker cancels it then "
          "(exit 2); 0 = no limit");
ABSL_FLAG(bool, stats, false,
          "map: at the end print one line to stderr: tq-client stats: "
          "{\"chunks\": N, \"items\": N, \"duplicates\": D, "
          "\"failed_items\": F}");
ABSL_FLAG(std::string, input, "",
          "file of numbers separated by whitespace ('-' = stdin), instead of "
          "LO HI");
ABSL_FLAG(std::string, output, "",
          "map, attach: write the results to FILE instead of stdout; they are "
          "acknowledged to the broker only once synced, so 'attach JOB "
          "--output=FILE' continues the file of a client that died exactly");
ABSL_FLAG(std::string, token, "",
          "attach: the job's token (32 hex digits), printed when it was "
          "submitted; default $TQ_JOB_TOKEN (under CURVE, the key that "
          "submitted the job needs none)");

#ifdef NDEBUG
// Debian's Abseil is built without NDEBUG, so every absl::Mutex lock feeds
// its deadlock detector (a debugging aid that keeps a graph of lock order),
// from the flags' registration at static initialisation on. A release
// build goes without it, as Abseil's own release builds do. Priority 101:
// before the other static initialisers, the flags' included.
__attribute__((constructor(101))) static void SkipMutexDeadlockDetection() {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}
#endif

namespace tq {
namespace {

constexpr char kUsage[] =
    "Runs a task over numbers on a tq cluster and prints the results.\n\n"
    "  tq-client [flags] map TASK LO HI          inclusive range, 0..2^64-1\n"
    "  tq-client [flags] map TASK --input=FILE   numbers in FILE ('-' = stdin)\n"
    "  tq-client [flags] attach JOB --token=HEX  results of a running job not\n"
    "                                            yet handled by its client\n"
    "  tq-client [flags] tasks                   list the cluster's tasks\n"
    "  tq-client [flags] status [--watch[=S]] [--json]\n"
    "                                            workers, queue, running jobs\n"
    "  tq-client [flags] jobs [--json]           running jobs with progress\n"
    "attach, status and jobs need --broker (or $TQ_BROKER); --watch refreshes until\n"
    "Ctrl-C (exit 130).\n\n"
    "Exit codes: 0 ok, 1 bad usage or input, 2 job failed, 3 broker "
    "unreachable or lost, 4 broker busy (retry later), 5 done with failed "
    "items (--skip-failed), 130 interrupted.";

[[noreturn]] void Fail(int code, absl::string_view message) {
  fprintf(stderr, "tq-client: %s\n", std::string(message).c_str());
  fflush(stdout);
  std::exit(code);
}

[[noreturn]] void UsageError(absl::string_view message) {
  Fail(kExitUsage, absl::StrCat(message, " (see tq-client --help)"));
}

// Numbers per chunk of --input: --chunk-size, else what the broker would
// choose for a range of that many items (stdin, of unknown length: as for a
// large one), within what one chunk of numbers may hold.
size_t ListChunkItems(const JobSpec& spec, absl::uint128 total, Pool& pool) {
  if (spec.chunk_size != 0) return spec.chunk_size;
  const Task* task = BuiltinTasks().Find(spec.task);
  if (task == nullptr) return 1 << 16;  // the broker refuses the task anyway
  ChunkSizing sizing = task->sizing(spec.reduction == Reduction::kCount
                                        ? v1::REDUCTION_COUNT
                                        : v1::REDUCTION_NONE);
  sizing.max_items = std::min(sizing.max_items, kMaxListChunkItems);
  if (total == 0) {
    return std::clamp<uint64_t>(1 << 16, sizing.min_items, sizing.max_items);
  }
  return AutoChunkSize(static_cast<unsigned __int128>(total),
                       std::max(1, pool.worker_threads()), sizing,
                       task->shape());
}

ClientOptions OptionsFromFlags() {
  ClientOptions options;
  options.broker = FlagOrEnv(absl::GetFlag(FLAGS_broker), "TQ_BROKER");
  // Rounded up, so a positive timeout never becomes 0 ms; absl::Seconds
  // saturates inf and nan instead of overflowing, and the rules refuse them.
  options.connect_timeout_ms = absl::ToInt64Milliseconds(
      absl::Ceil(absl::Seconds(absl::GetFlag(FLAGS_connect_timeout)),
                 absl::Milliseconds(1)));
  options.resume_timeout_ms = absl::ToInt64Milliseconds(
      absl::Ceil(absl::Seconds(absl::GetFlag(FLAGS_resume_timeout)),
                 absl::Milliseconds(1)));
  options.embedded_threads = absl::GetFlag(FLAGS_threads);
  options.curve_key_file =
      FlagOrEnv(absl::GetFlag(FLAGS_curve_key), "TQ_CURVE_KEY");
  options.curve_server_key_file =
      FlagOrEnv(absl::GetFlag(FLAGS_curve_server_key), "TQ_CURVE_SERVER_KEY");
  // Checked here too (Connect() would) so bad flags stop before anything
  // starts, with the usage hint.
  if (absl::Status valid = ValidateClientOptions(options); !valid.ok()) {
    UsageError(valid.message());
  }
  return options;
}

std::unique_ptr<Pool> ConnectOrExit(const ClientOptions& options) {
  absl::StatusOr<std::unique_ptr<Pool>> pool = Pool::Connect(options);
  if (!pool.ok()) Fail(ExitCodeFor(pool.status()), pool.status().message());
  return *std::move(pool);
}

int ListTasks(const std::vector<std::string>& args) {
  if (args.size() != 1) UsageError("'tasks' takes no arguments");
  std::unique_ptr<Pool> pool = ConnectOrExit(OptionsFromFlags());
  for (const std::string& name : pool->tasks()) {
    const Task* task = BuiltinTasks().Find(name);
    if (task != nullptr) {
      printf("%s\t%s\n", name.c_str(), std::string(task->description()).c_str());
    } else {
      printf("%s\n", name.c_str());
    }
  }
  return kExitOk;
}

// `status` / `jobs`: asks the broker what it is doing and prints it, once
// or every --watch seconds until SIGINT (the watcher exits 130).
int ShowStatus(const std::vector<std::string>& args) {
  const bool jobs_only = args[0] == "jobs";
  if (args.size() != 1) {
    UsageError(absl::StrCat("'", args[0], "' takes no arguments"));
  }
  const double watch = absl::GetFlag(FLAGS_watch);
  if (!(watch >= 0) || watch > 86400) {
    UsageError("--watch takes seconds between 0 and 86400");
  }
  ClientOptions options = OptionsFromFlags();
  if (options.broker.empty()) {
    Fail(kExitUsage,
         absl::StrCat("'", args[0],
                      "' needs a broker: give --broker=tcp://HOST:PORT or set "
                      "TQ_BROKER (an embedded cluster has nothing to show)"));
  }
  std::unique_ptr<Pool> pool = ConnectOrExit(options);
  const bool json = absl::GetFlag(FLAGS_json);
  // On a terminal each refresh replaces the last; into a file or pipe the
  // snapshots follow one another (JSON: one line each).
  const bool redraw = watch > 0 && !json && isatty(STDOUT_FILENO);
  for (bool first = true;; first = false) {
    absl::StatusOr<v1::StatusReply> reply = v1::StatusReply();
    if (absl::Status s = pool->Status(&*reply); !s.ok()) {
      Fail(ExitCodeFor(s), s.message());
    }
    std::string text;
    if (json) {
      text = (jobs_only ? JobsJson(*reply) : StatusJson(*reply)) + "\n";
    } else {
      text = jobs_only ? FormatJobs(*reply) : FormatStatus(*reply, pool->endpoint());
    }
    if (redraw) {
      fputs("\033[H\033[2J", stdout);  // cursor home, clear screen
      printf("every %gs; Ctrl-C to stop\n\n", watch);
    } else if (!first && !json) {
      fputs("\n", stdout);
    }
    fputs(text.c_str(), stdout);
    fflush(stdout);
    if (watch == 0) return kExitOk;
    std::this_thread::sleep_for(std::chrono::duration<double>(watch));
  }
}

// --progress: whether to show the bar (exits on a bad value).
bool ShowProgressOrExit() {
  const std::string flag = absl::GetFlag(FLAGS_progress);
  if (flag != "auto" && flag != "always" && flag != "never") {
    UsageError(absl::StrCat("unknown --progress '", flag,
                            "'; choose auto, always or never"));
  }
  return flag == "always" || (flag == "auto" && isatty(STDERR_FILENO));
}

// --output=FILE for a new job: the file, created; nullptr without the flag.
std::unique_ptr<OutputFile> CreateOutputOrExit(OutputFormat format) {
  const std::string path = absl::GetFlag(FLAGS_output);
  if (path.empty()) return nullptr;
  if (format == OutputFormat::kBitmap) {
    UsageError("--output takes --format=tsv, json, true or count");
  }
  absl::StatusOr<std::unique_ptr<OutputFile>> file =
      OutputFile::Create(path, absl::GetFlag(FLAGS_format));
  if (!file.ok()) UsageError(file.status().message());
  return *std::move(file);
}

// A count of items for messages: 2^64 does not fit a uint64.
std::string ItemsText(absl::uint128 items) {
  return absl::Uint128High64(items) > 0
             ? std::string("2^64")
             : absl::StrCat(absl::Uint128Low64(items));
}

// After RunJob: finishes the output (with --output, syncs it and
// acknowledges the last results), says what failed, prints --stats.
// Returns the exit code.
int EndRun(int code, Job& job, OutputWriter& writer, OutputFile* durable,
           const RunReport& report) {
  absl::Status finished = writer.Finish(code == kExitOk);
  if (code == kExitOk && finished.ok()) {
    if (durable == nullptr) {
      job.Acknowledge();
    } else if (absl::StatusOr<std::string> mark = durable->Sync(writer);
               mark.ok()) {
      job.Acknowledge(*std::move(mark));
    } else {
      finished = mark.status();
    }
  }
  if (code == kExitOk && !finished.ok()) {
    fprintf(stderr, "tq-client: %s\n", std::string(finished.message()).c_str());
    code = kExitJobFailed;
  }
  if (code == kExitOk && report.failed_items > 0) {
    fprintf(stderr,
            "tq-client: done, but %llu item%s failed on every attempt "
            "(--skip-failed): %s\n",
            static_cast<unsigned long long>(report.failed_items),
            report.failed_items == 1 ? "" : "s",
            writer.ShowsFailures()
                ? "their lines say 'error' instead of a result"
                : "named above; the output has no result for them");
    code = kExitItemsFailed;
  }
  if (absl::GetFlag(FLAGS_stats) && report.stats.has_value()) {
    fprintf(stderr,
            "tq-client stats: {\"chunks\": %llu, \"items\": %llu, "
            "\"duplicates\": %llu, \"failed_items\": %llu}\n",
            static_cast<unsigned long long>(report.stats->chunks),
            static_cast<unsigned long long>(report.stats->items),
            static_cast<unsigned long long>(report.stats->duplicates),
            static_cast<unsigned long long>(report.stats->failed_items));
  }
  return code;
}

// Seconds from a flag as milliseconds (rounded up, so a positive value never
// becomes 0); `name` for the error. Exits on a negative, nan or over a day.
int64_t MillisecondsFlag(double seconds, absl::string_view name) {
  if (!(seconds >= 0) || seconds > 86400 * 365) {
    UsageError(absl::StrCat("--", name, " takes seconds, 0 to 31536000"));
  }
  return absl::ToInt64Milliseconds(
      absl::Ceil(absl::Seconds(seconds), absl::Milliseconds(1)));
}

int Map(const std::vector<std::string>& args,
        const std::vector<std::string>& params) {
  std::string input_path = absl::GetFlag(FLAGS_input);
  if (args.size() < 2) UsageError("'map' needs a TASK");
  if (input_path.empty() && args.size() != 4) {
    UsageError("'map' takes TASK LO HI, or TASK with --input=FILE");
  }
  if (!input_path.empty() && args.size() != 2) {
    UsageError("'map' with --input takes only TASK (no LO HI)");
  }
  absl::StatusOr<OutputFormat> format =
      ParseOutputFormat(absl::GetFlag(FLAGS_format));
  if (!format.ok()) UsageError(format.status().message());
  bool ordered = !absl::GetFlag(FLAGS_unordered);
  if (*format == OutputFormat::kBitmap && !ordered) {
    UsageError("--format=bitmap needs input order; drop --unordered");
  }
  if (*format == OutputFormat::kCount) ordered = false;  // order is moot

  JobSpec spec;
  spec.task = args[1];
  spec.chunk_size = absl::GetFlag(FLAGS_chunk_size);
  spec.skip_failed = absl::GetFlag(FLAGS_skip_failed);
  spec.max_attempts = absl::GetFlag(FLAGS_max_attempts);
  spec.chunk_timeout_ms =
      MillisecondsFlag(absl::GetFlag(FLAGS_chunk_timeout), "chunk-timeout");
  spec.timeout_ms = MillisecondsFlag(absl::GetFlag(FLAGS_timeout), "timeout");
  spec.reduction = *format == OutputFormat::kCount ? Reduction::kCount
                                                   : Reduction::kNone;
  for (const std::string& param : params) {
    size_t eq = param.find('=');
    if (eq == std::string::npos || eq == 0) {
      UsageError(absl::StrCat("--param '", param, "' is not key=value"));
    }
    spec.params[param.substr(0, eq)] = param.substr(eq + 1);
  }
  // A task this binary knows can be checked before connecting.
  if (const Task* task = BuiltinTasks().Find(spec.task);
      task != nullptr && NeedsBoolTask(*format) &&
      task->shape() != ResultShape::kBool) {
    UsageError(absl::StrCat("--format=", absl::GetFlag(FLAGS_format),
                            " needs a task with true/false results; '",
                            spec.task, "' has other results"));
  }

  // A range is checked before anything is submitted; so is a file of
  // numbers, in a first pass (stdin can only be checked as it streams).
  absl::uint128 total = 0;
  FILE* input_file = nullptr;
  std::string input_name;
  if (input_path.empty()) {
    absl::StatusOr<uint64_t> lo = ParseNumber(args[2]);
    if (!lo.ok()) UsageError(absl::StrCat("LO: ", lo.status().message()));
    absl::StatusOr<uint64_t> hi = ParseNumber(args[3]);
    if (!hi.ok()) UsageError(absl::StrCat("HI: ", hi.status().message()));
    if (*lo > *hi) {
      UsageError(absl::StrCat("LO ", *lo, " is greater than HI ", *hi));
    }
    spec.input = NumberRange{*lo, *hi};
    total = absl::uint128(*hi - *lo) + 1;
  } else {
    input_name = input_path == "-" ? "stdin" : input_path;
    input_file = input_path == "-" ? stdin : fopen(input_path.c_str(), "rb");
    if (input_file == nullptr) {
      UsageError(absl::StrCat("cannot read --input '", input_path,
                              "': ", strerror(errno)));
    }
    if (input_file != stdin) {
      NumberReader check(input_file, input_name);
      std::vector<uint64_t> scratch;
      while (true) {
        absl::StatusOr<size_t> read = check.Read(1 << 16, &scratch);
        if (!read.ok()) UsageError(read.status().message());
        if (*read == 0) break;
        scratch.clear();
      }
      total = check.count();
      rewind(input_file);
    }
    spec.input = StreamedInput{};
  }

  InterruptWatcher::Install();
  std::unique_ptr<Pool> pool = ConnectOrExit(OptionsFromFlags());
  std::unique_ptr<OutputFile> file = CreateOutputOrExit(*format);
  // With --output, results are acknowledged once synced (not for counts:
  // their acknowledgements carry the counts, and the file only the total).
  spec.manual_ack = file != nullptr && *format != OutputFormat::kCount;
  absl::StatusOr<std::unique_ptr<Job>> job = pool->Submit(spec);
  if (!job.ok()) {
    // Unknown task, bad parameters or chunk size: the broker's message says
    // which (an unknown task's lists the tasks offered).
    Fail(ExitCodeFor(job.status()), job.status().message());
  }
  if (!pool->embedded()) {
    fprintf(stderr,
            "tq-client: job %llu; to read it from another process: "
            "tq-client attach %llu --token=%s\n",
            static_cast<unsigned long long>((*job)->id()),
            static_cast<unsigned long long>((*job)->id()),
            absl::BytesToHexString((*job)->token()).c_str());
  }
  std::unique_ptr<OutputWriter> writer =
      MakeOutputWriter(*format, file != nullptr ? file->file() : stdout);
  ProgressBar progress(stderr, ShowProgressOrExit(), total);
  int code = kExitOk;
  RunReport report;
  if (input_file == nullptr) {
    code = RunJob(*pool, **job, *writer, progress, ordered, &report, {},
                  spec.manual_ack ? file.get() : nullptr);
  } else {
    NumberReader reader(input_file, input_name);
    code = RunJob(*pool, **job, *writer, progress, ordered, &report,
                  InputFeed{&reader, ListChunkItems(spec, total, *pool)},
                  spec.manual_ack ? file.get() : nullptr);
    if (input_file != stdin) fclose(input_file);
  }
  progress.Clear();
  code = EndRun(code, **job, *writer, spec.manual_ack ? file.get() : nullptr,
                report);
  if (pool->embedded()) {
    // Everything owed to the user is out: the output flushed by Finish()
    // (and with --output, synced), messages on unbuffered stderr. The
    // embedded cluster dies with this process and nobody else holds its
    // state, so it is not torn down: stopping the worker and broker,
    // joining their threads, closing the ZeroMQ context and running the
    // static destructors (exit() would, while those threads still run)
    // take a millisecond or more, a tenth of a small job.
    fflush(nullptr);
    _exit(code);
  }
  return code;
}

// `attach JOB`: the results of a job another client submitted that were not
// acknowledged, to stdout or (continuing that client's) --output file.
int Attach(const std::vector<std::string>& args) {
  if (args.size() != 2) UsageError("'attach' takes one JOB id");
  absl::StatusOr<uint64_t> job_id = ParseNumber(args[1]);
  if (!job_id.ok()) UsageError(absl::StrCat("JOB: ", job_id.status().message()));
  AttachSpec spec;
  spec.job_id = *job_id;
  const std::string token = FlagOrEnv(absl::GetFlag(FLAGS_token), "TQ_JOB_TOKEN");
  if (!token.empty() &&
      (token.size() != 32 ||
       token.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)) {
    UsageError("--token takes the 32 hex digits tq-client printed at submit");
  }
  spec.token = absl::HexStringToBytes(token);
  bool ordered = !absl::GetFlag(FLAGS_unordered);
  // The default (tsv) leaves the form to the job: a count job prints its
  // count.
  const bool format_given = absl::GetFlag(FLAGS_format) != "tsv";
  absl::StatusOr<OutputFormat> format =
      ParseOutputFormat(absl::GetFlag(FLAGS_format));
  if (!format.ok()) UsageError(format.status().message());
  ClientOptions options = OptionsFromFlags();
  if (options.broker.empty()) {
    Fail(kExitUsage,
         "'attach' needs a broker: give --broker=tcp://HOST:PORT or set "
         "TQ_BROKER (an embedded cluster's jobs end with their client)");
  }
  const bool show_progress = ShowProgressOrExit();
  const std::string output_path = absl::GetFlag(FLAGS_output);
  // Synced acknowledgements unless it turns out to be a count job.
  spec.manual_ack = !output_path.empty();

  InterruptWatcher::Install();
  std::unique_ptr<Pool> pool = ConnectOrExit(options);
  absl::StatusOr<std::unique_ptr<Job>> job = pool->Attach(spec);
  if (!job.ok()) {
    // A wrong token or a job attach cannot take is the user's to fix.
    const absl::StatusCode code = job.status().code();
    Fail(code == absl::StatusCode::kPermissionDenied ||
                 code == absl::StatusCode::kFailedPrecondition
             ? kExitUsage
             : ExitCodeFor(job.status()),
         job.status().message());
  }
  Job& attached = **job;
  // Continuing a file: in the form its first client wrote it in.
  std::string file_format = absl::GetFlag(FLAGS_format);
  if (uint64_t bytes = 0; !output_path.empty() &&
      OutputFile::ParseMark(attached.mark(), &bytes, &file_format)) {
    if (format_given && file_format != absl::GetFlag(FLAGS_format)) {
      Fail(kExitUsage, absl::StrCat("--output '", output_path, "' holds --format=",
                                    file_format, " output; attach writes the same"));
    }
    format = ParseOutputFormat(file_format);
    if (!format.ok()) Fail(kExitUsage, format.status().message());
  }
  // A count job prints the whole job's count; other jobs print in the
  // form asked for (tsv by default).
  if (attached.reduction() == Reduction::kCount) {
    if (format_given && *format != OutputFormat::kCount) {
      Fail(kExitUsage, absl::StrCat("job ", attached.id(),
                                    " counts its results: attach it with "
                                    "--format=count (or no --format)"));
    }
    format = OutputFormat::kCount;
  } else if (*format == OutputFormat::kCount) {
    Fail(kExitUsage,
         absl::StrCat("job ", attached.id(), " was not submitted with "
                      "--format=count: its acknowledged results hold no count"));
  }
  if (NeedsBoolTask(*format)) {
    const Task* task = BuiltinTasks().Find(attached.task());
    if (task == nullptr || task->shape() != ResultShape::kBool) {
      Fail(kExitUsage,
           absl::StrCat("--format=", absl::GetFlag(FLAGS_format),
                        " needs a task with true/false results; job ",
                        attached.id(), " runs '", attached.task(), "'"));
    }
  }
  if (*format == OutputFormat::kCount) ordered = false;  // order is moot
  std::unique_ptr<OutputFile> file;
  if (!output_path.empty()) {
    if (*format == OutputFormat::kBitmap) {
      Fail(kExitUsage, "--output takes --format=tsv, json, true or count");
    }
    absl::StatusOr<std::unique_ptr<OutputFile>> opened =
        *format == OutputFormat::kCount
            ? OutputFile::Create(output_path, "count")
            : OutputFile::Continue(output_path, attached.mark(), file_format);
    if (!opened.ok()) Fail(kExitUsage, opened.status().message());
    file = *std::move(opened);
  }
  OutputFile* durable =
      *format == OutputFormat::kCount ? nullptr : file.get();
  std::unique_ptr<OutputWriter> writer = MakeOutputWriter(
      *format, file != nullptr ? file->file() : stdout,
      attached.acknowledged_count_before());
  const absl::uint128 before = attached.acknowledged_items_before();
  ProgressBar progress(stderr, show_progress,
                       attached.item_count() - before);
  if (before > 0) {
    fprintf(stderr,
            "tq-client: attached to job %llu; %s of its %s items were "
            "handled by its earlier client\n",
            static_cast<unsigned long long>(attached.id()),
            ItemsText(before).c_str(), ItemsText(attached.item_count()).c_str());
  }
  RunReport report;
  const int code =
      RunJob(*pool, attached, *writer, progress, ordered, &report, {}, durable);
  progress.Clear();
  return EndRun(code, attached, *writer, durable, report);
}

}  // namespace
}  // namespace tq

int main(int argc, char** argv) {
  tq::LookUpProtocolsInFilesOnly();
  tq::ReuseFreedMemory();
  tq::InterruptWatcher::Install();
  // absl would take "-5" for a flag named 5; name the real problem instead.
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "--") break;
    if (arg.size() > 1 && arg[0] == '-' &&
        arg.find_first_not_of("0123456789", 1) == absl::string_view::npos) {
      tq::UsageError(absl::StrCat("negative numbers are not allowed: '", arg, "'"));
    }
  }
  // Every --param=key=value (or --param key=value) is kept, in order.
  std::vector<std::string> params;
  std::vector<char*> rest = {argv[0]};
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "--") {
      rest.insert(rest.end(), argv + i, argv + argc);
      break;
    }
    absl::string_view name = absl::StripPrefix(absl::StripPrefix(arg, "-"), "-");
    if (arg.size() > name.size() && name == "watch") {
      static char kDefaultWatch[] = "--watch=2";
      rest.push_back(kDefaultWatch);
      continue;
    }
    if (arg.size() > name.size() && absl::ConsumePrefix(&name, "param")) {
      if (absl::ConsumePrefix(&name, "=")) {
        params.emplace_back(name);
        continue;
      }
      if (name.empty()) {
        if (i + 1 == argc) tq::UsageError("--param needs key=value");
        params.emplace_back(argv[++i]);
        continue;
      }
    }
    rest.push_back(argv[i]);
  }
  std::vector<std::string> args = tq::ParseFlagsOrExit(
      static_cast<int>(rest.size()), rest.data(), tq::kUsage);
  for (const std::string& param : absl::GetFlag(FLAGS_param)) {
    params.push_back(param);
  }
  if (args.empty()) {
    tq::UsageError("missing command: map, attach, tasks, status or jobs");
  }
  if (args[0] == "map") return tq::Map(args, params);
  if (args[0] == "attach") return tq::Attach(args);
  if (args[0] == "tasks") return tq::ListTasks(args);
  if (args[0] == "status" || args[0] == "jobs") return tq::ShowStatus(args);
  tq::UsageError(absl::StrCat("unknown command '", args[0],
                              "'; use map, attach, tasks, status or jobs"));
}
