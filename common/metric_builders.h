// Shorthands for building prometheus-cpp metrics once, at start-up, and the
// histogram buckets broker and worker share (so their chunk run times can be
// compared bucket by bucket). Callers cache the returned references: Add()
// locks and hashes labels, so it never runs on a hot path.
#ifndef TQ_COMMON_METRIC_BUILDERS_H_
#define TQ_COMMON_METRIC_BUILDERS_H_

#include <string>

#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace tq {

// Chunks aim at milliseconds; the tails catch mis-sized jobs and slow tasks.
inline const prometheus::Histogram::BucketBoundaries &ChunkRunSecondsBuckets() {
  static const auto *buckets = new prometheus::Histogram::BucketBoundaries{
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
      0.1,    0.25,    0.5,    1,     2.5,    5,     10,   30,    60};
  return *buckets;
}

// An unlabelled counter / gauge / histogram named `name`.
inline prometheus::Counter &AddCounter(prometheus::Registry &r,
                                       const std::string &name,
                                       const std::string &help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(r).Add({});
}

inline prometheus::Gauge &AddGauge(prometheus::Registry &r,
                                   const std::string &name,
                                   const std::string &help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(r).Add({});
}

inline prometheus::Histogram &
AddHistogram(prometheus::Registry &r, const std::string &name,
             const std::string &help,
             const prometheus::Histogram::BucketBoundaries &buckets) {
  return prometheus::BuildHistogram().Name(name).Help(help).Register(r).Add(
      {}, buckets);
}

} // namespace tq

#endif // TQ_COMMON_METRIC_BUILDERS_H_
