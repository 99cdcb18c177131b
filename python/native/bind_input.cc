#include "python/native/bind_input.h"

#include <string>
#include <utility>

namespace tq::python {

uint64_t U64From(py::handle value, const char* what) {
  if (!PyLong_Check(value.ptr())) {
    throw py::type_error(
        std::string(what) + " must be an int, not " +
        std::string(py::str(value.get_type().attr("__name__"))));
  }
  const unsigned long long n = PyLong_AsUnsignedLongLong(value.ptr());
  if (n == static_cast<unsigned long long>(-1) && PyErr_Occurred()) {
    PyErr_Clear();
    throw py::value_error(std::string(what) + " " +
                          std::string(py::repr(value)) +
                          " is outside 0..2**64-1");
  }
  return n;
}

std::vector<uint64_t> NumbersFrom(py::handle sequence) {
  py::sequence items = py::reinterpret_borrow<py::sequence>(sequence);
  std::vector<uint64_t> numbers;
  numbers.reserve(items.size());
  for (py::handle item : items) numbers.push_back(U64From(item, "a number"));
  return numbers;
}

InputChunk InputChunkFrom(py::handle chunk) {
  if (py::isinstance<py::tuple>(chunk) && py::len(chunk) == 2) {
    py::tuple pair = py::reinterpret_borrow<py::tuple>(chunk);
    if (py::isinstance<py::bytes>(pair[0])) {
      EncodedItems items;
      items.bytes = pair[0].cast<std::string>();
      items.count = U64From(pair[1], "an encoded chunk's item count");
      return items;
    }
    return NumberRange{U64From(pair[0], "a range's first item"),
                       U64From(pair[1], "a range's last item")};
  }
  if (py::isinstance<py::list>(chunk)) return NumbersFrom(chunk);
  throw py::type_error(
      "a chunk is (lo, hi), (bytes, count) or a list of ints, not " +
      std::string(py::str(chunk.get_type().attr("__name__"))));
}

}  // namespace tq::python
