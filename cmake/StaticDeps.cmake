# TQ_STATIC_DEPS: link Abseil, protobuf and libzmq from their static
# archives (Debian ships both forms). A tq-client run is a few
# milliseconds of work; resolving ~60 shared libraries at start-up cost more
# than that (tq-client --version: 6.6 ms shared, 2.6 ms static). libzmq's
# shared object alone brings 18 libraries (OpenPGM, NORM, libsodium, libbsd,
# Kerberos); from archives none: Debian ships no libgssapi_krb5.a, and
# libzmq's GSSAPI mechanism and multicast transports, which tq never uses,
# get stand-ins (common/no_gssapi.cc, common/no_multicast.cc). A process
# linking libzmq starts ~2 ms sooner here.
# Executables only: Debian's libzmq.a is not position-independent, so shared
# objects (the Python extension, SharedDepsLink.cmake) keep libzmq.so.
# Sanitizer trees keep libzmq.so too: tests/sanitize/tsan.supp names it.
# (libprimesieve is neither: tasks/ opens it at run time, see
# tasks/primesieve_library.h.)
option(TQ_STATIC_DEPS
       "Link Abseil, protobuf and (executables) libzmq statically" ON)

# Stops the configuration if the archive `path` is not there.
function(_tq_require_archive path)
  if(NOT EXISTS "${path}")
    message(FATAL_ERROR "TQ_STATIC_DEPS: ${path} is missing; "
                        "configure with -DTQ_STATIC_DEPS=OFF")
  endif()
endfunction()

# Call before find_package(Protobuf).
macro(tq_choose_dependency_linkage)
  if(TQ_STATIC_DEPS)
    set(Protobuf_USE_STATIC_LIBS ON)
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
    _tq_require_archive("${archive}")
    set_target_properties(${target} PROPERTIES
      IMPORTED_LOCATION_NONE "${archive}"
      IMPORTED_NO_SONAME TRUE)
  endforeach()
endfunction()

# True while linking an executable (in a usage requirement, TARGET_PROPERTY
# reads the target being linked).
set(_tq_in_executable "$<STREQUAL:$<TARGET_PROPERTY:TYPE>,EXECUTABLE>")
# Whether executables take libzmq and the C++ runtime from archives: not in
# sanitizer trees (see above).
if(TQ_STATIC_DEPS AND TQ_SANITIZE STREQUAL "")
  set(_tq_static_executables TRUE)
else()
  set(_tq_static_executables FALSE)
endif()

# Call after find_package(cppzmq): points the imported libzmq target at
# libzmq.a, and gives executables the archives of what libzmq.a needs, in
# link order (libbsd needs libmd). For any other
# consumer those archives expand to nothing: the Python extension maps
# libzmq.a back to libzmq.so, which brings its own.
function(tq_link_zmq_statically)
  if(NOT _tq_static_executables)
    return()
  endif()
  get_target_property(location libzmq IMPORTED_LOCATION)
  string(REGEX REPLACE "\\.so[.0-9]*$" ".a" archive "${location}")
  _tq_require_archive("${archive}")
  get_filename_component(libdir "${archive}" DIRECTORY)
  set(executables_only "")
  foreach(name sodium bsd md)
    set(dependency "${libdir}/lib${name}.a")
    _tq_require_archive("${dependency}")
    list(APPEND executables_only "$<${_tq_in_executable}:${dependency}>")
  endforeach()
  # Stand-ins instead of Kerberos (common/no_gssapi.cc) and of OpenPGM and
  # NORM (common/no_multicast.cc); each file says why that is safe.
  add_library(tq_zmq_stand_ins STATIC
    ${PROJECT_SOURCE_DIR}/common/no_gssapi.cc
    ${PROJECT_SOURCE_DIR}/common/no_multicast.cc)
  list(APPEND executables_only "$<${_tq_in_executable}:tq_zmq_stand_ins>")
  # getpid() cached (common/cached_getpid.cc says why and when it is asked
  # again): every getpid call of the executable's own objects and archives
  # goes to __wrap_getpid there. --undefined pulls it from its archive
  # whatever comes later in the link line (absl's archives call getpid too).
  add_library(tq_cached_getpid STATIC
    ${PROJECT_SOURCE_DIR}/common/cached_getpid.cc)
  target_link_options(tq_cached_getpid INTERFACE
    -Wl,--wrap=getpid -Wl,--undefined=__wrap_getpid)
  list(APPEND executables_only "$<${_tq_in_executable}:tq_cached_getpid>")
  set_target_properties(libzmq PROPERTIES
    IMPORTED_LOCATION "${archive}"
    IMPORTED_NO_SONAME TRUE
    INTERFACE_LINK_LIBRARIES "${executables_only};Threads::Threads")
endfunction()

# tq_link_archive_in_executables(TARGET): TARGET is an imported interface
# target naming shared objects (pkg_check_modules's IMPORTED_TARGET);
# executables get the archive beside each instead, for the same reason as
# libzmq above. The archives are position-independent or not as Debian
# built them, so shared objects keep the .so.
function(tq_link_archive_in_executables target)
  if(NOT _tq_static_executables)
    return()
  endif()
  get_target_property(libraries ${target} INTERFACE_LINK_LIBRARIES)
  set(chosen "")
  foreach(library IN LISTS libraries)
    string(REGEX REPLACE "\\.so[.0-9]*$" ".a" archive "${library}")
    if(archive STREQUAL library OR NOT EXISTS "${archive}")
      list(APPEND chosen "${library}")
    else()
      list(APPEND chosen "$<IF:${_tq_in_executable},${archive},${library}>")
    endif()
  endforeach()
  set_target_properties(${target} PROPERTIES INTERFACE_LINK_LIBRARIES "${chosen}")
endfunction()

# tq_link_cxx_runtime_statically(TARGET): the executable TARGET takes
# libstdc++ and libgcc from their archives. Resolving libstdc++.so's symbols
# costs ~1.3 ms of CPU at every start here (a libzmq program: 3.2 ms of
# task-clock with libstdc++.so, 1.9 ms without). Only for executables whose
# every C++ library is static: a shared C++ library beside them
# (prometheus-cpp in tq-broker and tq-worker) would bring a second
# libstdc++ whose objects ours could meet. (libprimesieve, opened at run
# time, does bring its libstdc++.so, but only its C API is called.)
# tq-client is started once per job, so its start is worth it.
function(tq_link_cxx_runtime_statically target)
  if(NOT _tq_static_executables)
    return()
  endif()
  target_link_options(${target} PRIVATE -static-libstdc++ -static-libgcc)
endfunction()
