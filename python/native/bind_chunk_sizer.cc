// tq._native.ChunkSizer: common/chunk_sizer.h, for the Python layer's
// feeders (one per job, used from one thread).
#include <cstdint>
#include <optional>

#include "common/chunk_sizer.h"
#include "python/native/bindings.h"

namespace tq::python {

void BindChunkSizer(py::module_& m) {
  const ChunkSizerOptions defaults;
  py::class_<ChunkSizer>(m, "ChunkSizer",
                         "Items per chunk, learned from the job's chunks "
                         "(see common/chunk_sizer.h).")
      .def(
          py::init([](uint64_t target_micros, uint64_t initial_items,
                      uint64_t growth, uint64_t max_items, uint64_t max_bytes) {
            ChunkSizerOptions options;
            options.target_micros = target_micros;
            options.initial_items = initial_items;
            options.growth = growth;
            options.max_items = max_items;
            options.max_bytes = max_bytes;
            return ChunkSizer(options);
          }),
          py::kw_only(), py::arg("target_micros") = defaults.target_micros,
          py::arg("initial_items") = defaults.initial_items,
          py::arg("growth") = defaults.growth,
          py::arg("max_items") = defaults.max_items,
          py::arg("max_bytes") = defaults.max_bytes)
      .def(
          "next",
          [](const ChunkSizer& sizer, std::optional<uint64_t> remaining,
             uint32_t parallelism) {
            return sizer.Next(remaining.value_or(ChunkSizer::kUnknownRemaining),
                              parallelism);
          },
          py::arg("remaining") = py::none(), py::arg("parallelism") = 1,
          "Items for the next chunk; remaining=None: a stream.")
      .def("observe_input", &ChunkSizer::ObserveInput, py::arg("items"),
           py::arg("bytes"), "A chunk of `items` was encoded in `bytes`.")
      .def("observe_result", &ChunkSizer::ObserveResult, py::arg("items"),
           py::arg("run_micros"), py::arg("result_bytes"),
           "A chunk of `items` ran `run_micros`, its results `result_bytes`.")
      .def_property_readonly("measured", &ChunkSizer::measured)
      .def_property_readonly("micros_per_item", &ChunkSizer::micros_per_item)
      .def_property_readonly("bytes_per_item", &ChunkSizer::bytes_per_item)
      .def_property_readonly("target_micros", [](const ChunkSizer& s) {
        return s.options().target_micros;
      });
}

}  // namespace tq::python
