// Writes the seed corpus of the fuzz targets (tests/fuzz/corpus/<target>/):
// a few valid inputs of each layout, and near misses. Run by hand after a
// layout or protocol change (the files are committed; CI only reads them):
//   build-asan/tests/fuzz/make_fuzz_seeds tests/fuzz/corpus
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "broker/journal_format.h"
#include "common/protocol.h"
#include "tq/v1/tq.pb.h"

namespace {

namespace fs = std::filesystem;

void Write(const fs::path& dir, const std::string& name, const std::string& bytes) {
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary) << bytes;
}

std::string U16(uint16_t v) {
  return std::string{static_cast<char>(v & 0xff), static_cast<char>(v >> 8)};
}
std::string U64(uint64_t v) {
  std::string out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
  return out;
}

// envelope_fuzzer's layout: frame count, u16 sizes, envelope, frames.
std::string Message(const tq::v1::Envelope& envelope,
                    const std::vector<std::string>& frames) {
  std::string out(1, static_cast<char>(frames.size()));
  for (const std::string& f : frames) out += U16(static_cast<uint16_t>(f.size()));
  out += tq::SerializeEnvelope(envelope);
  for (const std::string& f : frames) out += f;
  return out;
}

void EnvelopeSeeds(const fs::path& dir) {
  tq::v1::Envelope hello;
  hello.mutable_hello()->set_protocol_version(tq::kProtocolVersion);
  hello.mutable_hello()->set_role(tq::v1::ROLE_WORKER);
  hello.mutable_hello()->set_name("worker-1");
  hello.mutable_hello()->set_threads(4);
  hello.mutable_hello()->add_tasks("primes");
  Write(dir, "hello", Message(hello, {}));

  tq::v1::Envelope submit;
  submit.mutable_submit_job()->set_request_id(1);
  submit.mutable_submit_job()->set_task("primes");
  submit.mutable_submit_job()->set_chunk_size(1000);
  (*submit.mutable_submit_job()->mutable_params())["us"] = "500";
  submit.add_payload_sizes(5);
  Write(dir, "submit_one_payload", Message(submit, {"12345"}));

  tq::v1::Envelope reports;
  tq::v1::ChunkReport* report = reports.mutable_chunk_reports()->add_reports();
  report->set_job_id(3);
  report->set_chunk_index(7);
  report->set_attempt(1);
  report->set_result_payload(0);
  report->set_run_micros(1234);
  reports.mutable_chunk_reports()->set_credit(2);
  reports.add_payload_sizes(3);
  reports.add_payload_sizes(0);
  reports.add_payload_sizes(4);
  Write(dir, "reports_three_payloads", Message(reports, {"abc", "defg"}));
  Write(dir, "reports_frame_too_short", Message(reports, {"abc", "de"}));
  Write(dir, "reports_extra_frame", Message(reports, {"abc", "defg", "h"}));

  tq::v1::Envelope results;
  tq::v1::ChunkResult* result = results.mutable_job_results()->add_results();
  result->set_job_id(3);
  result->set_chunk_index(7);
  result->set_first_item(7000);
  result->set_item_count(1000);
  result->set_payload(0);
  results.add_payload_sizes(2);
  Write(dir, "job_results", Message(results, {"\x0a\x00"}));

  tq::v1::Envelope error;
  error.mutable_error()->set_code(8);
  error.mutable_error()->set_message("busy");
  error.mutable_error()->set_retryable(true);
  Write(dir, "error_busy", Message(error, {}));

  tq::v1::Envelope oversized;
  oversized.mutable_heartbeat();
  oversized.add_payload_sizes(uint64_t{17} << 20);
  Write(dir, "payload_over_limit", Message(oversized, {}));

  Write(dir, "no_body", Message(tq::v1::Envelope(), {}));
  Write(dir, "garbage", std::string("\x00\xff\xff\xff\xff\x0f", 6));
}

// chunk_decoder_fuzzer's layout: u16 items, flags, lo, first_item,
// chunk_index, payload.
std::string Chunk(uint16_t items, uint8_t flags, const tq::v1::ChunkOutput& output) {
  return U16(items) + std::string(1, static_cast<char>(flags)) + U64(100) +
         U64(2000) + U64(2) + output.SerializeAsString();
}

void ChunkSeeds(const fs::path& dir) {
  tq::v1::ChunkOutput bits;
  bits.set_bits(std::string("\xa5\xff\x03", 3));
  Write(dir, "bits_19_items", Chunk(19, 0, bits));
  Write(dir, "bits_wrong_size", Chunk(30, 0, bits));
  tq::v1::ChunkOutput values;
  for (uint64_t v : {2, 3, 5, 7}) values.mutable_values()->add_values(v);
  Write(dir, "values_list_input", Chunk(4, 1, values));
  tq::v1::ChunkOutput lists;
  for (uint32_t n : {0, 2, 1}) lists.mutable_lists()->add_lengths(n);
  for (uint64_t v : {2, 2, 3}) lists.mutable_lists()->add_values(v);
  Write(dir, "lists_3_items", Chunk(3, 0, lists));
  lists.mutable_lists()->add_values(9);
  Write(dir, "lists_extra_value", Chunk(3, 0, lists));
  tq::v1::ChunkOutput count;
  count.set_count(12);
  Write(dir, "count", Chunk(20, 0, count));
  Write(dir, "count_over_size", Chunk(10, 0, count));
  Write(dir, "no_output", Chunk(5, 0, tq::v1::ChunkOutput()));
}

void NumberSeeds(const fs::path& dir) {
  Write(dir, "list", std::string(1, '\x03') + "1 2 3\n42\t18446744073709551615\n");
  Write(dir, "overflow", std::string(1, '\x00') + "18446744073709551616");
  Write(dir, "negative", std::string(1, '\x01') + "-5 7");
  Write(dir, "not_a_number", std::string(1, '\x02') + "1\n2\nabc\n");
  Write(dir, "long_token", std::string(1, '\x07') + std::string(100, '9'));
  Write(dir, "whitespace_only", std::string(1, '\x00') + " \r\n\v\f\t");
  Write(dir, "leading_zeros", std::string(1, '\x05') + "000000000000000000000000000001 0");
}

// journal_reader_fuzzer's layouts: mode 0 + a raw segment; mode 1 + u16
// keep, u16 flip position, u8 mask, then records (u8 type, u16 length,
// payload).
std::string Segment() {
  std::string segment = tq::EncodeJournalHeader(1, 7);
  tq::AppendJournalRecord(1, "job 1 accepted", &segment);
  tq::AppendJournalRecord(2, "", &segment);
  tq::AppendJournalRecord(3, std::string(40, 'c'), &segment);
  return segment;
}

std::string ScriptRecord(uint8_t type, const std::string& payload) {
  return std::string(1, static_cast<char>(type)) +
         U16(static_cast<uint16_t>(payload.size())) + payload;
}

void JournalSeeds(const fs::path& dir) {
  const std::string raw(1, '\x00');
  const std::string segment = Segment();
  Write(dir, "raw_valid", raw + segment);
  Write(dir, "raw_torn", raw + segment.substr(0, segment.size() - 7));
  std::string flipped = segment;
  flipped[tq::kJournalHeaderBytes + 12] ^= 0x20;
  Write(dir, "raw_flipped", raw + flipped);
  std::string huge_length = tq::EncodeJournalHeader(1, 7);
  huge_length += std::string("\xff\xff\xff\xff\x00\x00\x00\x00\x01", 9);
  Write(dir, "raw_impossible_length", raw + huge_length);
  Write(dir, "raw_bad_magic", raw + "TQJ0" + segment.substr(4));
  Write(dir, "raw_zero_tail", raw + tq::EncodeJournalHeader(1, 7) +
                                  std::string(64, '\x00'));
  const std::string records = ScriptRecord(1, "first") + ScriptRecord(2, "") +
                              ScriptRecord(9, std::string(300, 'z'));
  const std::string script(1, '\x01');
  Write(dir, "script_intact", script + U16(0) + U16(0) + '\x00' + records);
  Write(dir, "script_cut", script + U16(60) + U16(0) + '\x00' + records);
  Write(dir, "script_flip", script + U16(0) + U16(40) + '\x04' + records);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR (tests/fuzz/corpus)\n", argv[0]);
    return 2;
  }
  const fs::path root = argv[1];
  EnvelopeSeeds(root / "envelope_fuzzer");
  ChunkSeeds(root / "chunk_decoder_fuzzer");
  NumberSeeds(root / "number_parse_fuzzer");
  JournalSeeds(root / "journal_reader_fuzzer");
  return 0;
}
