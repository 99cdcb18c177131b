// tq._native.Chunk: one chunk of a job's results (client/chunk_result.h),
// its data turned into Python objects in one pass: a code job's result bytes
// copied once into a bytes object, a task's packed bits into bools, values
// into ints.
#include <cstdint>
#include <string>

#include "client/chunk_result.h"
#include "python/native/bindings.h"

namespace tq::python {
namespace {

// Results larger than this are copied with the GIL released.
constexpr size_t kCopyWithoutGilBytes = 1 << 20;

const char* KindName(ChunkResult::Kind kind) {
  switch (kind) {
    case ChunkResult::Kind::kBits:
      return "bits";
    case ChunkResult::Kind::kValues:
      return "values";
    case ChunkResult::Kind::kLists:
      return "lists";
    case ChunkResult::Kind::kCount:
      return "count";
    case ChunkResult::Kind::kBytes:
      return "bytes";
    case ChunkResult::Kind::kFailed:
      return "failed";
  }
  return "unknown";
}

void RequireKind(const ChunkResult& chunk, ChunkResult::Kind kind) {
  if (chunk.kind() != kind) {
    throw py::type_error(std::string("this chunk holds ") +
                         KindName(chunk.kind()) + ", not " + KindName(kind));
  }
}

py::bytes Data(const ChunkResult& chunk) {
  RequireKind(chunk, ChunkResult::Kind::kBytes);
  const size_t size = chunk.byte_size();
  PyObject* bytes =
      PyBytes_FromStringAndSize(nullptr, static_cast<Py_ssize_t>(size));
  if (bytes == nullptr) throw py::error_already_set();
  auto result = py::reinterpret_steal<py::bytes>(bytes);
  // The new object is ours alone until returned: filling it needs no GIL.
  char* out = PyBytes_AS_STRING(bytes);
  if (size >= kCopyWithoutGilBytes) {
    py::gil_scoped_release release;
    chunk.CopyBytesTo(out);
  } else {
    chunk.CopyBytesTo(out);
  }
  return result;
}

py::list Bools(const ChunkResult& chunk) {
  RequireKind(chunk, ChunkResult::Kind::kBits);
  const uint64_t size = chunk.size();
  py::list out(size);
  for (uint64_t i = 0; i < size; ++i) {
    PyObject* value = chunk.bit(i) ? Py_True : Py_False;
    Py_INCREF(value);
    PyList_SET_ITEM(out.ptr(), static_cast<Py_ssize_t>(i), value);
  }
  return out;
}

py::list Values(const ChunkResult& chunk) {
  RequireKind(chunk, ChunkResult::Kind::kValues);
  const uint64_t size = chunk.size();
  py::list out(size);
  for (uint64_t i = 0; i < size; ++i) {
    PyObject* value = PyLong_FromUnsignedLongLong(chunk.value(i));
    if (value == nullptr) throw py::error_already_set();
    PyList_SET_ITEM(out.ptr(), static_cast<Py_ssize_t>(i), value);
  }
  return out;
}

py::list Lists(const ChunkResult& chunk) {
  RequireKind(chunk, ChunkResult::Kind::kLists);
  const uint64_t size = chunk.size();
  py::list out(size);
  for (uint64_t i = 0; i < size; ++i) {
    const absl::Span<const uint64_t> values = chunk.list(i);
    py::list item(values.size());
    for (size_t j = 0; j < values.size(); ++j) {
      PyObject* value = PyLong_FromUnsignedLongLong(values[j]);
      if (value == nullptr) throw py::error_already_set();
      PyList_SET_ITEM(item.ptr(), static_cast<Py_ssize_t>(j), value);
    }
    PyList_SET_ITEM(out.ptr(), static_cast<Py_ssize_t>(i),
                    item.release().ptr());
  }
  return out;
}

py::list Numbers(const ChunkResult& chunk) {
  const uint64_t size = chunk.size();
  py::list out(size);
  for (uint64_t i = 0; i < size; ++i) {
    PyObject* value = PyLong_FromUnsignedLongLong(chunk.n(i));
    if (value == nullptr) throw py::error_already_set();
    PyList_SET_ITEM(out.ptr(), static_cast<Py_ssize_t>(i), value);
  }
  return out;
}

}  // namespace

void BindChunk(py::module_& m) {
  py::class_<ChunkResult>(m, "Chunk",
                          "One chunk of a job's results (immutable).")
      .def_property_readonly("index", &ChunkResult::chunk_index,
                             "The chunk's number in the job.")
      .def_property_readonly("first_item", &ChunkResult::first_item,
                             "Index in the job's input of its first item.")
      .def_property_readonly("size", &ChunkResult::size, "Items in it.")
      .def_property_readonly(
          "kind", [](const ChunkResult& c) { return KindName(c.kind()); },
          "'bits', 'values', 'lists', 'count', 'bytes' (code jobs) or "
          "'failed' (skip_failed: items that failed on every attempt).")
      .def_property_readonly(
          "error",
          [](const ChunkResult& c) {
            return c.failed() ? c.error() : std::string();
          },
          "A 'failed' chunk's cause (signal, error text, run limit); else ''.")
      .def_property_readonly("run_micros", &ChunkResult::run_micros,
                             "Wall time a worker spent on it.")
      .def_property_readonly(
          "byte_size",
          [](const ChunkResult& c) {
            return c.kind() == ChunkResult::Kind::kBytes ? c.byte_size() : 0;
          },
          "A code job's result size in bytes; 0 for tasks.")
      .def("data", &Data, "A code job's result bytes (one copy).")
      .def(
          "bits",
          [](const ChunkResult& c) {
            RequireKind(c, ChunkResult::Kind::kBits);
            const absl::string_view bits = c.bits();
            return py::bytes(bits.data(), bits.size());
          },
          "Packed booleans: item i is bit i%8 of byte i/8, LSB first.")
      .def("bools", &Bools, "The booleans of a 'bits' chunk, as a list.")
      .def("values", &Values, "The values of a 'values' chunk.")
      .def("lists", &Lists, "The lists of a 'lists' chunk.")
      .def("count", &ChunkResult::count,
           "True items: a 'count' chunk's count, or a 'bits' chunk's.")
      .def("numbers", &Numbers,
           "Each item's input number (tasks) or index in the job (code).");
}

}  // namespace tq::python
