// tq._native.Error: a failed absl::Status as a Python exception.
#include <string>

#include "python/native/bindings.h"

namespace tq::python {
namespace {

// Created once by BindError, with the GIL held; lives as long as the module.
PyObject* error_type = nullptr;

}  // namespace

void BindError(py::module_& m) {
  error_type = PyErr_NewExceptionWithDoc(
      "tq._native.Error",
      "A call into the tq client library failed: `code` is the "
      "absl::StatusCode number, `code_name` its name, str() the message.",
      PyExc_Exception, nullptr);
  if (error_type == nullptr) throw py::error_already_set();
  m.add_object("Error", py::handle(error_type));
}

void ThrowStatus(const absl::Status& status) {
  py::object error = py::reinterpret_borrow<py::object>(error_type)(
      std::string(status.message()));
  error.attr("code") = static_cast<int>(status.code());
  error.attr("code_name") = absl::StatusCodeToString(status.code());
  PyErr_SetObject(error_type, error.ptr());
  throw py::error_already_set();
}

}  // namespace tq::python
