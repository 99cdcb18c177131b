#include "client/progress_bar.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace tq {
namespace {

double ToDouble(absl::uint128 v) { return static_cast<double>(v); }

std::string Human(double v) {
  if (v >= 1e9) return absl::StrFormat("%.1fG", v / 1e9);
  if (v >= 1e6) return absl::StrFormat("%.1fM", v / 1e6);
  if (v >= 1e3) return absl::StrFormat("%.1fk", v / 1e3);
  return absl::StrFormat("%.0f", v);
}

std::string Duration(double seconds) {
  if (seconds >= 1e9) return "forever";
  uint64_t s = static_cast<uint64_t>(seconds + 0.5);
  if (s >= 3600) return absl::StrFormat("%dh%02dm", s / 3600, s / 60 % 60);
  if (s >= 60) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  return absl::StrCat(s, "s");
}

}  // namespace

ProgressBar::ProgressBar(FILE* out, bool enabled, absl::uint128 total)
    : out_(out),
      enabled_(enabled),
      total_(total),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

ProgressBar::~ProgressBar() { Clear(); }

std::string ProgressBar::Format(absl::uint128 done, absl::uint128 total,
                                double seconds) {
  double rate = seconds > 0 ? ToDouble(done) / seconds : 0;
  if (total == 0) {  // unknown (streamed input): no total, no ETA
    return absl::StrCat(Human(ToDouble(done)), " items  ", Human(rate), "/s");
  }
  std::string line = absl::StrCat(Human(ToDouble(done)), " / ",
                                  Human(ToDouble(total)), " items  ",
                                  Human(rate), "/s");
  if (rate > 0 && done < total) {
    absl::StrAppend(&line, "  ETA ", Duration(ToDouble(total - done) / rate));
  }
  return line;
}

void ProgressBar::Advance(uint64_t items) {
  done_ += items;
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  double seconds = std::chrono::duration<double>(now - start_).count();
  fprintf(out_, "\r\033[K%s", Format(done_, total_, seconds).c_str());
  fflush(out_);
  drawn_ = true;
}

void ProgressBar::Clear() {
  if (!drawn_) return;
  fputs("\r\033[K", out_);
  fflush(out_);
  drawn_ = false;
}

}  // namespace tq
