// Python objects to the library's job input (client/job_spec.h). With the
// GIL held.
#ifndef TQ_PYTHON_NATIVE_BIND_INPUT_H_
#define TQ_PYTHON_NATIVE_BIND_INPUT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "client/job_spec.h"
#include "python/native/bindings.h"

namespace tq::python {

// An int in 0..2^64-1, else ValueError / TypeError naming `what`.
uint64_t U64From(py::handle value, const char* what);

// A list (or other sequence) of ints in 0..2^64-1.
std::vector<uint64_t> NumbersFrom(py::handle sequence);

// (lo, hi): NumberRange; (bytes, count): EncodedItems; a list of ints:
// numbers. Else TypeError.
InputChunk InputChunkFrom(py::handle chunk);

}  // namespace tq::python

#endif  // TQ_PYTHON_NATIVE_BIND_INPUT_H_
