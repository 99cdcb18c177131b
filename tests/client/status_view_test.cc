// status_view: the text and JSON tq-client prints for `status` and `jobs`.
#include "client/status_view.h"

#include <fstream>
#include <regex>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace tq {
namespace {

v1::StatusReply SampleReply() {
  v1::StatusReply reply;
  reply.set_request_id(99);
  v1::ClusterTotals* t = reply.mutable_totals();
  t->set_workers(2);
  t->set_threads(3);
  t->set_busy_threads(2);
  t->set_chunks_queued(40);
  t->set_chunks_in_flight(2);
  t->set_clients(1);
  t->set_jobs(1);
  v1::WorkerStatus* a = reply.add_workers();
  a->set_name("host-a:1");
  a->set_threads(1);
  a->set_chunks_held(2);
  v1::WorkerStatus* b = reply.add_workers();
  b->set_name("host-b:2");
  b->set_threads(2);
  b->set_draining(true);
  v1::JobStatus* job = reply.add_jobs();
  job->set_job_id(7);
  job->set_task("spin");
  job->set_client("alice");
  job->set_items_total(1000);
  job->set_items_done(250);
  job->set_chunks_total(10);
  job->set_chunks_done(2);
  job->set_age_ms(5000);  // 50 items/s, 750 to go: 15 s
  job->set_state(v1::JobStatus::STATE_RUNNING);
  return reply;
}

TEST(StatusViewTest, SummaryNamesWorkersAndTotals) {
  std::string text = FormatStatus(SampleReply(), "tcp://b:5555");
  EXPECT_TRUE(absl::StartsWith(
      text, "broker tcp://b:5555: 2 workers, 3 threads (2 busy), 1 client, "
            "1 running job\nchunks: 40 queued, 2 in flight\n"))
      << text;
  EXPECT_TRUE(absl::StrContains(text, "host-a:1")) << text;
  EXPECT_TRUE(absl::StrContains(text, "host-b:2")) << text;
  EXPECT_TRUE(absl::StrContains(text, "draining")) << text;
}

TEST(StatusViewTest, JobsShowProgressRateAndEta) {
  std::string text = FormatJobs(SampleReply());
  EXPECT_TRUE(absl::StrContains(text, "25.0%")) << text;
  EXPECT_TRUE(absl::StrContains(text, "2/10")) << text;
  EXPECT_TRUE(absl::StrContains(text, "250/1000")) << text;
  EXPECT_TRUE(absl::StrContains(text, "50/s")) << text;
  EXPECT_TRUE(absl::StrContains(text, "15.0s")) << text;
  EXPECT_TRUE(absl::StrContains(text, "running")) << text;
  EXPECT_EQ(FormatJobs(v1::StatusReply()), "no running jobs\n");
}

// A reply that left workers or jobs out (too many for one frame) says so.
TEST(StatusViewTest, SaysHowManyWorkersAndJobsWereNotListed) {
  v1::StatusReply reply = SampleReply();
  EXPECT_FALSE(absl::StrContains(FormatStatus(reply, "b"), "not listed"));
  reply.mutable_totals()->set_workers(2002);
  reply.mutable_totals()->set_jobs(31);
  std::string text = FormatStatus(reply, "b");
  EXPECT_TRUE(absl::StrContains(text, "... and 2000 more workers, not listed\n"))
      << text;
  EXPECT_TRUE(absl::StrContains(text, "... and 30 more jobs, not listed\n"))
      << text;
}

TEST(StatusViewTest, JobWithoutProgressHasNoRateOrEta) {
  v1::StatusReply reply = SampleReply();
  reply.mutable_jobs(0)->set_items_done(0);
  std::string text = FormatJobs(reply);
  EXPECT_FALSE(absl::StrContains(text, "/s")) << text;
  EXPECT_TRUE(absl::StrContains(text, "0.0%")) << text;
}

TEST(StatusViewTest, JsonIsOneLineWithProtoFieldNamesAndNoRequestId) {
  const std::string json_text = StatusJson(SampleReply());
  const std::string* json = &json_text;
  EXPECT_FALSE(absl::StrContains(*json, "\n"));
  EXPECT_TRUE(absl::StartsWith(*json, "{\"totals\":{")) << *json;
  EXPECT_TRUE(absl::StrContains(*json, "\"busy_threads\":\"2\"")) << *json;
  EXPECT_TRUE(absl::StrContains(*json, "\"name\":\"host-b:2\"")) << *json;
  // Zeros and false are printed, so scripts need no defaults.
  EXPECT_TRUE(absl::StrContains(*json, "\"draining\":false")) << *json;
  EXPECT_TRUE(absl::StrContains(*json, "\"state\":\"STATE_RUNNING\"")) << *json;
  EXPECT_FALSE(absl::StrContains(*json, "request_id")) << *json;

  const std::string jobs_text = JobsJson(SampleReply());
  const std::string* jobs = &jobs_text;
  EXPECT_TRUE(absl::StartsWith(*jobs, "{\"jobs\":[{\"job_id\":\"7\"")) << *jobs;
  EXPECT_FALSE(absl::StrContains(*jobs, "workers")) << *jobs;
  EXPECT_EQ(JobsJson(v1::StatusReply()), "{\"jobs\":[]}");
}

TEST(StatusViewTest, JsonPrintsEachKindOfFieldAsProto3sMappingDoes) {
  v1::StatusReply reply;
  v1::WorkerStatus* w = reply.add_workers();
  w->set_name("w");
  w->set_threads(4);
  w->set_chunks_held(18446744073709551615u);
  v1::Runtime* python = w->add_runtimes();
  python->set_name("python");
  python->set_version("3.11");
  EXPECT_EQ(StatusJson(reply),
            "{\"totals\":{\"workers\":0,\"threads\":\"0\",\"busy_threads\":\"0\","
            "\"chunks_queued\":\"0\",\"chunks_in_flight\":\"0\",\"clients\":0,"
            "\"jobs\":0},\"workers\":[{\"name\":\"w\",\"threads\":4,"
            "\"chunks_held\":\"18446744073709551615\",\"credit\":\"0\","
            "\"draining\":false,\"silent_ms\":\"0\",\"runtimes\":[{\"name\":"
            "\"python\",\"version\":\"3.11\",\"detail\":\"\"}]}],\"jobs\":[]}");
}

TEST(StatusViewTest, JsonEscapesQuotesBackslashesAndControlCharacters) {
  v1::StatusReply reply;
  reply.add_workers()->set_name("a\"b\\c\nd\x01" "e\xc3\xa9");
  EXPECT_TRUE(absl::StrContains(StatusJson(reply),
                                "\"name\":\"a\\\"b\\\\c\\nd\\u0001e\xc3\xa9\""))
      << StatusJson(reply);
}

// The JSON is written field by field (the protocol's lite runtime has no
// reflection): every field the .proto gives these messages must be there.
TEST(StatusViewTest, JsonHasEveryFieldOfTheProto) {
  std::ifstream file(TQ_PROTO_FILE);
  ASSERT_TRUE(file) << TQ_PROTO_FILE;
  const std::string proto((std::istreambuf_iterator<char>(file)),
                          std::istreambuf_iterator<char>());
  v1::StatusReply reply = SampleReply();
  reply.mutable_workers(0)->add_runtimes();
  const std::string json = StatusJson(reply);
  const std::regex field(R"(^\s*(?:repeated\s+|optional\s+)?[\w.]+\s+(\w+)\s*=\s*\d+;)");
  for (const char* message : {"Runtime", "WorkerStatus", "ClusterTotals", "JobStatus"}) {
    const size_t start = proto.find(absl::StrCat("\nmessage ", message, " {"));
    ASSERT_NE(start, std::string::npos) << message;
    const size_t end = proto.find("\n}", start);
    std::istringstream body(proto.substr(start, end - start));
    int fields = 0;
    for (std::string line; std::getline(body, line);) {
      std::smatch match;
      if (!std::regex_search(line, match, field)) continue;
      ++fields;
      EXPECT_TRUE(absl::StrContains(json, absl::StrCat("\"", match[1].str(), "\":")))
          << message << "." << match[1] << " is missing from " << json;
    }
    EXPECT_GE(fields, 3) << message;
  }
}

TEST(StatusViewTest, ShowsWhatWorkersRunAndWhatACodeJobWaitsFor) {
  v1::StatusReply reply = SampleReply();
  v1::Runtime* python = reply.mutable_workers(0)->add_runtimes();
  python->set_name("python");
  python->set_version("3.11");
  v1::JobStatus* job = reply.add_jobs();
  job->set_job_id(8);
  job->set_runtime("python 3.9");
  job->set_state(v1::JobStatus::STATE_WAITING_FOR_CAPABLE_WORKER);
  job->set_waiting_for("a worker offering python 3.9");
  const std::string text = FormatStatus(reply, "tcp://b:5555");
  EXPECT_TRUE(absl::StrContains(text, "tasks, python 3.11")) << text;
  EXPECT_TRUE(absl::StrContains(text, "python 3.9 code")) << text;
  EXPECT_TRUE(absl::StrContains(text, "waiting-capable-worker")) << text;
  EXPECT_TRUE(absl::StrContains(text, "job 8 waits for a worker offering python 3.9"))
      << text;
}

TEST(StatusViewTest, ShortFormsScale) {
  EXPECT_EQ(ShortCount(1234), "1234");
  EXPECT_EQ(ShortCount(12345), "12.3k");
  EXPECT_EQ(ShortCount(4.5e6), "4.5M");
  EXPECT_EQ(ShortCount(250e9), "250G");
  EXPECT_EQ(ShortDuration(3.74), "3.7s");
  EXPECT_EQ(ShortDuration(252), "4m12s");
  EXPECT_EQ(ShortDuration(7500), "2h05m");
  EXPECT_EQ(ShortDuration(-1), "-");
}

}  // namespace
}  // namespace tq
