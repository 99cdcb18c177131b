// tq._native: the pybind11 binding of the tq client library. It binds the
// library's public API only (client/pool.h, job.h, job_spec.h,
// chunk_result.h, options.h) plus the chunk sizer (common/chunk_sizer.h):
// no protocol logic, no ZeroMQ or protobuf here. Credits, reordering,
// heartbeats, streaming, the embedded cluster and CURVE all come from the
// library. The pure-Python layer (pool.py, executor.py) builds the API users
// see on top; this module is internal to the tq package.
#include "python/native/bindings.h"

PYBIND11_MODULE(_native, m) {
  m.doc() = "The tq client library, bound for tq's Python layer (internal).";
  tq::python::BindError(m);
  tq::python::BindChunk(m);
  tq::python::BindChunkSizer(m);
  tq::python::BindJob(m);
  tq::python::BindPool(m);
}
