// Early-return helpers for absl::Status / absl::StatusOr. Debian's Abseil
// (20220623) has none of its own.
#ifndef TQ_COMMON_STATUS_MACROS_H_
#define TQ_COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define TQ_CONCAT_INNER_(a, b) a##b
#define TQ_CONCAT_(a, b) TQ_CONCAT_INNER_(a, b)

// Returns the status from the enclosing function if `expr` is not OK.
#define TQ_RETURN_IF_ERROR(expr)                    \
  do {                                              \
    if (absl::Status tq_status_ = (expr); !tq_status_.ok()) \
      return tq_status_;                            \
  } while (0)

// `TQ_ASSIGN_OR_RETURN(auto x, MakeX());` declares x from the StatusOr's
// value, or returns its status.
#define TQ_ASSIGN_OR_RETURN(lhs, expr) \
  TQ_ASSIGN_OR_RETURN_IMPL_(TQ_CONCAT_(tq_statusor_, __LINE__), lhs, expr)
#define TQ_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                              \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = std::move(statusor).value()

#endif  // TQ_COMMON_STATUS_MACROS_H_
