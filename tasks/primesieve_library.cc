#include "tasks/primesieve_library.h"

#include <dlfcn.h>

#include <type_traits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace tq {
namespace {

absl::StatusOr<PrimesieveLibrary> Open() {
  // RTLD_LOCAL: its symbols (and its C++ runtime's) stay out of ours.
  void* handle = dlopen(TQ_PRIMESIEVE_SONAME, RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    return absl::UnavailableError(absl::StrCat(
        "cannot load ", TQ_PRIMESIEVE_SONAME, " (ranges past 2^40 need it; "
        "Debian package libprimesieve11): ", dlerror()));
  }
  PrimesieveLibrary library;
  absl::Status missing;
  const auto find = [&](auto& function, const char* name) {
    function = reinterpret_cast<std::remove_reference_t<decltype(function)>>(
        dlsym(handle, name));
    if (function == nullptr && missing.ok()) {
      missing = absl::UnavailableError(
          absl::StrCat(TQ_PRIMESIEVE_SONAME, " has no ", name));
    }
  };
  find(library.count_primes, "primesieve_count_primes");
  find(library.get_max_stop, "primesieve_get_max_stop");
  find(library.init, "primesieve_init");
  find(library.free_iterator, "primesieve_free_iterator");
  find(library.jump_to, "primesieve_jump_to");
  find(library.generate_next_primes, "primesieve_generate_next_primes");
  void (*set_num_threads)(int) = nullptr;
  find(set_num_threads, "primesieve_set_num_threads");
  if (!missing.ok()) return missing;  // the handle stays: dlclose is optional
  set_num_threads(1);
  return library;
}

}  // namespace

absl::StatusOr<const PrimesieveLibrary*> LoadPrimesieve() {
  static const absl::StatusOr<PrimesieveLibrary> library = Open();
  if (!library.ok()) return library.status();
  return &*library;
}

}  // namespace tq
