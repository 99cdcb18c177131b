// The pieces of the tq._native module (python/tq/_native.cc assembles them):
// the error type, chunks, the chunk sizer, pools and jobs. Each Bind*
// function adds its names to the module.
//
// Every function here runs with the GIL held unless it says otherwise;
// blocking library calls release it (py::gil_scoped_release).
#ifndef TQ_PYTHON_NATIVE_BINDINGS_H_
#define TQ_PYTHON_NATIVE_BINDINGS_H_

// stl.h in every file: pybind11's casters must be the same in all of them.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "absl/status/status.h"

namespace tq::python {

namespace py = pybind11;

// tq._native.Error(message) with attributes `code` (the absl::StatusCode
// number) and `code_name` ("UNAVAILABLE", ...): the one exception type
// the module raises for a failed Status. tq/errors.py maps codes to the
// exceptions users see.
void BindError(py::module_& m);
// Raises tq._native.Error for `status` (not OK).
[[noreturn]] void ThrowStatus(const absl::Status& status);

void BindChunk(py::module_& m);
void BindChunkSizer(py::module_& m);
void BindPool(py::module_& m);
void BindJob(py::module_& m);

}  // namespace tq::python

#endif  // TQ_PYTHON_NATIVE_BINDINGS_H_
