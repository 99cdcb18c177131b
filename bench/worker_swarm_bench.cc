// Many real worker connections against one real broker (issue 9, part 3):
// starts tq-broker on an ephemeral loopback port, connects N DEALER
// sockets from this one process, each speaking the worker protocol (Hello,
// then a ChunkReports for every Assignment, a Heartbeat every second), runs
// a job `noop 1 ITEMS` with chunk size 1 through them from one more DEALER
// speaking the client protocol (Hello, SubmitJob, a ClientCredit for every
// JobResults, until JobFinished: what `tq-client map noop 1 ITEMS
// --chunk-size=1` sends, minus its output), and prints the chunks/s and the
// broker's CPU time (utime + stime from /proc) over the job.
//
//   build/bench/worker_swarm_bench BUILD_DIR [WORKERS=2000] [ITEMS=100000]
//
// File descriptors: each DEALER holds a TCP socket and a mailbox (eventfd),
// the broker one TCP socket per worker; the soft RLIMIT_NOFILE is raised to
// the hard limit here (the broker inherits it) and printed. One thread
// answers every socket, so at high rates this process, not the broker, may
// be the limit: its own CPU time is printed too.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/payload.h"
#include "common/protocol.h"
#include "common/zmq_socket.h"
#include "tq/v1/tq.pb.h"
#include "zmq.hpp"

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

// utime + stime of `pid`, in seconds.
double CpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(in, line);
  // Fields after the command (which may hold spaces) start past ')'.
  std::istringstream rest(line.substr(line.rfind(')') + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) / sysconf(_SC_CLK_TCK);
}

double SelfCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
         (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

pid_t Spawn(const std::vector<std::string>& argv, int stdout_fd) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (stdout_fd >= 0) posix_spawn_file_actions_adddup2(&actions, stdout_fd, 1);
  std::vector<char*> args;
  for (const std::string& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  if (posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ) !=
      0) {
    std::perror(args[0]);
    std::exit(1);
  }
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s BUILD_DIR [WORKERS] [ITEMS]\n", argv[0]);
    return 2;
  }
  const std::string build = argv[1];
  const int workers = argc > 2 ? std::atoi(argv[2]) : 2000;
  const long items = argc > 3 ? std::atol(argv[3]) : 100000;

  setvbuf(stdout, nullptr, _IOLBF, 0);
  rlimit files{};
  getrlimit(RLIMIT_NOFILE, &files);
  files.rlim_cur = files.rlim_max;
  setrlimit(RLIMIT_NOFILE, &files);
  std::printf("RLIMIT_NOFILE %llu\n",
              static_cast<unsigned long long>(files.rlim_cur));

  // The broker, its "listening on" line through a pipe.
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) return 1;
  const std::string limit = std::to_string(workers + 64);
  const pid_t broker = Spawn(
      {build + "/broker/tq-broker", "--listen=tcp://127.0.0.1:*",
       "--max_connections=" + limit, "--max_connections_per_address=" + limit},
      pipe_fds[1]);
  close(pipe_fds[1]);
  FILE* broker_out = fdopen(pipe_fds[0], "r");
  char line[512] = {};
  std::string endpoint;
  while (fgets(line, sizeof line, broker_out) != nullptr) {
    std::string text(line);
    if (text.rfind("listening on ", 0) == 0) {
      endpoint = text.substr(13, text.find_last_not_of("\r\n") - 12);
      break;
    }
  }
  if (endpoint.empty()) {
    std::fprintf(stderr, "tq-broker printed no endpoint\n");
    return 1;
  }

  zmq::context_t context(1);
  context.set(zmq::ctxopt::max_sockets, workers + 16);
  std::vector<std::unique_ptr<zmq::socket_t>> sockets;
  std::vector<zmq::pollitem_t> items_poll;
  tq::v1::Envelope hello;
  hello.mutable_hello()->set_protocol_version(tq::kProtocolVersion);
  hello.mutable_hello()->set_role(tq::v1::ROLE_WORKER);
  hello.mutable_hello()->set_threads(1);
  hello.mutable_hello()->set_credit(2);
  hello.mutable_hello()->add_tasks("noop");
  tq::v1::Envelope heartbeat;
  heartbeat.mutable_heartbeat();
  auto last_beat = Clock::now();
  for (int i = 0; i < workers; ++i) {
    auto socket =
        std::make_unique<zmq::socket_t>(context, zmq::socket_type::dealer);
    tq::ConfigureSocket(*socket);
    socket->connect(endpoint);
    hello.mutable_hello()->set_name("swarm-" + std::to_string(i));
    // Queued until the connection is up (DEALER).
    while (!tq::Send(*socket, hello).ok()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    items_poll.push_back({static_cast<void*>(*socket), 0, ZMQ_POLLIN, 0});
    sockets.push_back(std::move(socket));
    // Those connected keep saying they are alive meanwhile.
    if (Clock::now() - last_beat > std::chrono::milliseconds(500)) {
      for (auto& connected : sockets) (void)tq::Send(*connected, heartbeat);
      last_beat = Clock::now();
    }
  }

  uint64_t welcomed = 0;
  uint64_t chunks = 0;
  // The client: one more DEALER, polled last.
  zmq::socket_t client(context, zmq::socket_type::dealer);
  tq::ConfigureSocket(client);
  client.connect(endpoint);
  items_poll.push_back({static_cast<void*>(client), 0, ZMQ_POLLIN, 0});
  bool submitted = false;
  uint64_t results = 0;
  Clock::time_point started;
  double broker_cpu_before = 0;
  double self_cpu_before = 0;
  const auto setup_started = Clock::now();
  for (;;) {
    if (!submitted && welcomed == static_cast<uint64_t>(workers)) {
      std::printf("%d workers connected in %.2f s\n", workers,
                  Seconds(Clock::now() - setup_started));
      tq::v1::Envelope env;
      env.mutable_hello()->set_protocol_version(tq::kProtocolVersion);
      env.mutable_hello()->set_role(tq::v1::ROLE_CLIENT);
      env.mutable_hello()->set_name("swarm-client");
      while (!tq::Send(client, env).ok()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      broker_cpu_before = CpuSeconds(broker);
      self_cpu_before = SelfCpuSeconds();
      started = Clock::now();
      tq::v1::Envelope submit;
      tq::v1::SubmitJob* s = submit.mutable_submit_job();
      s->set_request_id(1);
      s->set_task("noop");
      s->mutable_range()->set_first(1);
      s->mutable_range()->set_last(static_cast<uint64_t>(items));
      s->set_chunk_size(1);
      s->set_result_window(tq::kDefaultMaxResultWindow);
      (void)tq::Send(client, submit);
      submitted = true;
    }
    bool finished = false;
    if (items_poll.back().revents & ZMQ_POLLIN) {
      while (auto received = tq::TryReceive(client, false)) {
        if (!received->envelope.ok()) continue;
        const tq::v1::Envelope& env = *received->envelope;
        if (env.has_error()) {
          std::fprintf(stderr, "client: %s\n", env.error().message().c_str());
        }
        if (env.has_job_finished()) {
          finished = true;
          if (env.job_finished().code() != 0) {
            std::fprintf(stderr, "job failed: %s\n",
                         env.job_finished().message().c_str());
          }
        }
        if (!env.has_job_results()) continue;
        const int n = env.job_results().results_size();
        results += static_cast<uint64_t>(n);
        tq::v1::Envelope credit;
        credit.mutable_client_credit()->set_job_id(
            env.job_results().results(0).job_id());
        credit.mutable_client_credit()->set_chunks(static_cast<uint32_t>(n));
        (void)tq::Send(client, credit);
      }
    }
    if (finished) {
      const double wall = Seconds(Clock::now() - started);
      const double broker_cpu = CpuSeconds(broker) - broker_cpu_before;
      const double self_cpu = SelfCpuSeconds() - self_cpu_before;
      std::printf(
          "%llu results of %ld chunks in %.3f s: %.0f chunks/s; broker CPU "
          "%.3f s (%.1f us/chunk); swarm CPU %.3f s; chunks run %llu\n",
          static_cast<unsigned long long>(results), items, wall,
          static_cast<double>(items) / wall, broker_cpu,
          1e6 * broker_cpu / static_cast<double>(items), self_cpu,
          static_cast<unsigned long long>(chunks));
      break;
    }
    if (Clock::now() - last_beat > std::chrono::milliseconds(1000)) {
      for (auto& socket : sockets) (void)tq::Send(*socket, heartbeat);
      if (submitted) (void)tq::Send(client, heartbeat);
      last_beat = Clock::now();
    }
    tq::PollIgnoringEintr(items_poll, std::chrono::milliseconds(100));
    for (size_t i = 0; i < sockets.size(); ++i) {
      if (!(items_poll[i].revents & ZMQ_POLLIN)) continue;
      while (auto received = tq::TryReceive(*sockets[i], false)) {
        if (!received->envelope.ok()) continue;
        const tq::v1::Envelope& env = *received->envelope;
        if (env.has_welcome()) ++welcomed;
        if (!env.has_assignments()) continue;
        tq::v1::Envelope reply;
        tq::v1::ChunkReports* reports = reply.mutable_chunk_reports();
        reports->set_session(env.assignments().session());
        reports->set_broker_epoch(env.assignments().broker_epoch());
        std::vector<tq::Payload> payloads;
        for (const tq::v1::Assignment& a : env.assignments().assignments()) {
          tq::v1::ChunkReport* r = reports->add_reports();
          r->set_job_id(a.job_id());
          r->set_chunk_index(a.chunk_index());
          r->set_attempt(a.attempt());
          r->set_run_micros(1);
          // noop: each item unchanged.
          tq::v1::ChunkOutput output;
          for (uint64_t n = a.input().range().first();
               n <= a.input().range().last(); ++n) {
            output.mutable_values()->add_values(n);
          }
          r->set_result_payload(static_cast<uint32_t>(payloads.size()));
          payloads.push_back(
              tq::Payload::FromString(output.SerializeAsString()));
          ++chunks;
        }
        reports->set_credit(static_cast<uint32_t>(reports->reports_size()));
        (void)tq::Send(*sockets[i], reply, payloads);
      }
    }
  }
  kill(broker, SIGTERM);
  waitpid(broker, nullptr, 0);
  return 0;
}
