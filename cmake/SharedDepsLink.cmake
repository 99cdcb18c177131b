# tq_link_with_shared_deps(TARGET ROOT): links the shared object TARGET (the
# Python extension) against the tq library ROOT and everything it needs,
# with the system libraries taken in their shared form.
#
# Why: tq's binaries link Abseil, protobuf and libzmq from their static
# archives (StaticDeps.cmake), but Debian builds those archives without
# -fPIC (local-exec TLS, absolute relocations), so they cannot go into a
# shared object. The extension takes the .so beside each archive instead,
# and tq's own static libraries and objects (compiled position-independent,
# see the top-level CMakeLists.txt) by file, so no static archive of a
# system library reaches its link line. tq's objects end up hidden inside
# the extension (-Wl,--exclude-libs,ALL and hidden visibility).
#
# The walk follows LINK_LIBRARIES of tq's targets and INTERFACE_LINK_LIBRARIES
# of imported ones, so libraries added to tq later are picked up.

function(_tq_imported_location target out)
  set(location "")
  foreach(suffix _RELEASE _NONE "" _RELWITHDEBINFO _DEBUG)
    get_target_property(location ${target} IMPORTED_LOCATION${suffix})
    if(location)
      break()
    endif()
  endforeach()
  set(${out} "${location}" PARENT_SCOPE)
endfunction()

function(_tq_walk_link item)
  if(item MATCHES "^\\$<LINK_ONLY:(.*)>$")
    set(item "${CMAKE_MATCH_1}")
  endif()
  if(NOT TARGET "${item}")
    # A path, a flag or a generator expression: link it as it is.
    set_property(GLOBAL APPEND PROPERTY _TQ_LINK_OTHER "${item}")
    return()
  endif()
  get_property(seen GLOBAL PROPERTY _TQ_LINK_SEEN)
  if("${item}" IN_LIST seen)
    return()
  endif()
  set_property(GLOBAL APPEND PROPERTY _TQ_LINK_SEEN "${item}")
  get_target_property(aliased ${item} ALIASED_TARGET)
  if(aliased)
    _tq_walk_link(${aliased})
    return()
  endif()
  get_target_property(type ${item} TYPE)
  get_target_property(imported ${item} IMPORTED)
  if(NOT imported)
    if(type STREQUAL "STATIC_LIBRARY")
      set_property(GLOBAL APPEND PROPERTY _TQ_LINK_ARCHIVES "${item}")
    elseif(type STREQUAL "OBJECT_LIBRARY")
      set_property(GLOBAL APPEND PROPERTY _TQ_LINK_OBJECTS "${item}")
    endif()
    if(type STREQUAL "INTERFACE_LIBRARY")
      get_target_property(deps ${item} INTERFACE_LINK_LIBRARIES)
    else()
      get_target_property(deps ${item} LINK_LIBRARIES)
    endif()
  else()
    if(NOT type STREQUAL "INTERFACE_LIBRARY")
      _tq_imported_location(${item} location)
      if(location MATCHES "\\.a$")
        string(REGEX REPLACE "\\.a$" ".so" shared "${location}")
        if(NOT EXISTS "${shared}")
          message(FATAL_ERROR "${item}: the Python extension needs the shared "
                              "library beside ${location}")
        endif()
        set(location "${shared}")
      endif()
      if(location)
        set_property(GLOBAL APPEND PROPERTY _TQ_LINK_SHARED "${location}")
      endif()
    endif()
    get_target_property(deps ${item} INTERFACE_LINK_LIBRARIES)
  endif()
  if(deps)
    foreach(dep IN LISTS deps)
      _tq_walk_link("${dep}")
    endforeach()
  endif()
endfunction()

function(tq_link_with_shared_deps target root)
  foreach(list SEEN ARCHIVES OBJECTS SHARED OTHER)
    set_property(GLOBAL PROPERTY _TQ_LINK_${list} "")
  endforeach()
  _tq_walk_link(${root})
  get_property(archives GLOBAL PROPERTY _TQ_LINK_ARCHIVES)
  get_property(objects GLOBAL PROPERTY _TQ_LINK_OBJECTS)
  get_property(shared GLOBAL PROPERTY _TQ_LINK_SHARED)
  get_property(other GLOBAL PROPERTY _TQ_LINK_OTHER)
  list(REMOVE_DUPLICATES shared)
  list(REMOVE_DUPLICATES other)

  set(archive_files "")
  foreach(archive IN LISTS archives)
    list(APPEND archive_files "$<TARGET_FILE:${archive}>")
  endforeach()
  foreach(object_library IN LISTS objects)
    target_sources(${target} PRIVATE $<TARGET_OBJECTS:${object_library}>)
  endforeach()
  if(archives)
    add_dependencies(${target} ${archives})
  endif()
  target_include_directories(${target} PRIVATE
    $<TARGET_PROPERTY:${root},INTERFACE_INCLUDE_DIRECTORIES>)
  target_compile_definitions(${target} PRIVATE
    $<TARGET_PROPERTY:${root},INTERFACE_COMPILE_DEFINITIONS>)
  # tq's archives depend on one another in a cycle-free but long chain: a
  # group spares us ordering it. Then the shared libraries they need.
  target_link_libraries(${target} PRIVATE
    -Wl,--start-group ${archive_files} -Wl,--end-group ${shared} ${other})
  target_link_options(${target} PRIVATE -Wl,--exclude-libs,ALL)
endfunction()
