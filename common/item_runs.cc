#include "common/item_runs.h"

#include <algorithm>
#include <iterator>

namespace tq {
namespace {

using absl::uint128;

uint64_t Count(uint128 first, uint128 end) {
  return static_cast<uint64_t>(end - first);  // callers keep it below 2^64
}

}  // namespace

void ItemRuns::Add(uint64_t first, uint64_t count) {
  if (count != 0) AddSpan(first, uint128(first) + count);
}

void ItemRuns::AddSpan(uint64_t first, absl::uint128 span_end) {
  // The first run that could overlap or touch: the one before `first`, if
  // it reaches it.
  auto it = runs_.lower_bound(first);
  if (it != runs_.begin()) {
    auto prev = std::prev(it);
    if (prev->second >= first) it = prev;
  }
  if (it == runs_.end() || uint128(it->first) > span_end) {
    runs_.emplace_hint(it, first, span_end);  // touches nothing
    size_ += span_end - first;
    return;
  }
  // Grow `it` in place (its node is reused: acknowledging items in order
  // extends one run and allocates nothing) and swallow what it now reaches.
  if (it->first > first) {
    auto node = runs_.extract(it);
    size_ -= node.mapped() - node.key();
    node.key() = first;
    size_ += node.mapped() - node.key();
    it = runs_.insert(std::move(node)).position;
  }
  span_end = std::max(span_end, it->second);
  for (auto next = std::next(it);
       next != runs_.end() && uint128(next->first) <= span_end;) {
    span_end = std::max(span_end, next->second);
    size_ -= next->second - next->first;
    next = runs_.erase(next);
  }
  size_ += span_end - it->second;
  it->second = span_end;
}

void ItemRuns::Add(const ItemRuns& other) {
  for (const auto& [first, end] : other.runs_) AddSpan(first, end);
}

bool ItemRuns::Contains(uint64_t first, uint64_t count) const {
  if (count == 0) return true;
  auto it = runs_.upper_bound(first);
  if (it == runs_.begin()) return false;
  --it;
  return it->second >= uint128(first) + count;
}

bool ItemRuns::Overlaps(uint64_t first, uint64_t count) const {
  if (count == 0) return false;
  const uint128 end = uint128(first) + count;
  auto it = runs_.lower_bound(first);
  if (it != runs_.end() && uint128(it->first) < end) return true;
  if (it == runs_.begin()) return false;
  return std::prev(it)->second > first;
}

std::vector<ItemRuns::Run> ItemRuns::Runs() const {
  std::vector<Run> out;
  out.reserve(runs_.size());
  for (const auto& [first, end] : runs_) out.push_back({first, Count(first, end)});
  return out;
}

std::vector<ItemRuns::Run> ItemRuns::Missing(uint64_t first,
                                             uint64_t count) const {
  std::vector<Run> out;
  if (count == 0) return out;
  const uint128 end = uint128(first) + count;
  uint128 at = first;
  auto it = runs_.upper_bound(first);
  if (it != runs_.begin()) --it;
  for (; it != runs_.end() && uint128(it->first) < end && at < end; ++it) {
    if (it->second <= at) continue;
    if (uint128(it->first) > at) {
      out.push_back({static_cast<uint64_t>(at), Count(at, it->first)});
    }
    at = it->second;
  }
  if (at < end) out.push_back({static_cast<uint64_t>(at), Count(at, end)});
  return out;
}

void ItemRuns::ToRanges(
    google::protobuf::RepeatedPtrField<v1::Range>* out) const {
  for (const auto& [first, end] : runs_) {
    v1::Range* range = out->Add();
    range->set_first(first);
    range->set_last(static_cast<uint64_t>(end - 1));
  }
}

bool ItemRuns::FromRanges(
    const google::protobuf::RepeatedPtrField<v1::Range>& in, ItemRuns* out) {
  for (const v1::Range& range : in) {
    if (range.first() > range.last()) return false;
  }
  for (const v1::Range& range : in) {
    // last - first + 1 may be 2^64: add it in two parts.
    if (range.last() - range.first() == UINT64_MAX) {
      out->Add(0, UINT64_MAX);
      out->Add(UINT64_MAX, 1);
    } else {
      out->Add(range.first(), range.last() - range.first() + 1);
    }
  }
  return true;
}

}  // namespace tq
