# TQ_STATIC_DEPS: link Abseil, protobuf and primesieve from their static
# archives (Debian ships both forms). A tq-client run is a few milliseconds
# of work; resolving ~60 shared libraries at start-up cost more than that
# (tq-client --version: 6.6 ms shared, 2.6 ms static). libzmq stays shared:
# its archive pulls in Kerberos, OpenPGM and NORM.
option(TQ_STATIC_DEPS "Link Abseil, protobuf and primesieve statically" ON)

# Call before find_package(Protobuf) / find_package(primesieve).
macro(tq_choose_dependency_linkage)
  if(TQ_STATIC_DEPS)
    set(Protobuf_USE_STATIC_LIBS ON)
    set(TQ_PRIMESIEVE_COMPONENTS static)
  else()
    set(TQ_PRIMESIEVE_COMPONENTS)
  endif()
endmacro()

# Call after find_package(absl): Debian's absl CMake targets name the shared
# objects; point each at its archive beside it.
function(tq_link_absl_statically)
  if(NOT TQ_STATIC_DEPS)
    return()
  endif()
  get_directory_property(imported IMPORTED_TARGETS)
  foreach(target IN LISTS imported)
    if(NOT target MATCHES "^absl::")
      continue()
    endif()
    get_target_property(type ${target} TYPE)
    if(NOT type STREQUAL "SHARED_LIBRARY")
      continue()
    endif()
    get_target_property(location ${target} IMPORTED_LOCATION_NONE)
    string(REGEX REPLACE "\\.so[.0-9]*$" ".a" archive "${location}")
    if(NOT EXISTS "${archive}")
      message(FATAL_ERROR "TQ_STATIC_DEPS: ${archive} is missing; "
                          "configure with -DTQ_STATIC_DEPS=OFF")
    endif()
    set_target_properties(${target} PROPERTIES
      IMPORTED_LOCATION_NONE "${archive}"
      IMPORTED_NO_SONAME TRUE)
  endforeach()
endfunction()
