# The layers of common/ and the rule that dependencies point down: each folder of common/ is
# one library (strata_<folder>) declared with strata_layer(), naming the folders it may use;
# the binaries' folders (cli, worker, coordinator) declare theirs with strata_folder_uses().
# Those declarations are the one record of the include graph: the target `strata_layering`
# (built with everything) reads every #include "common/..." / "cli/..." / "worker/..." /
# "coordinator/..." of each folder and fails the build on one the folder did not declare
# (cmake/check_layering.cmake), so an upward include does not build; it also fails when the
# graph those includes draw differs from the one docs/architecture.md shows.

# strata_layer(NAME [SOURCES files...] [USES folders...] [PUBLIC libs...] [PRIVATE libs...])
# Library strata_NAME from common/NAME/ (an INTERFACE library when it has no sources), linked
# PUBLIC to strata_<folder> of each USES folder.
function(strata_layer name)
  cmake_parse_arguments(L "" "" "SOURCES;USES;PUBLIC;PRIVATE" ${ARGN})
  set(target strata_${name})
  if(L_SOURCES)
    add_library(${target} STATIC ${L_SOURCES})
    target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR})
    target_link_libraries(${target} PRIVATE strata_warnings ${L_PRIVATE})
    set(scope PUBLIC)
  else()
    add_library(${target} INTERFACE)
    target_include_directories(${target} INTERFACE ${PROJECT_SOURCE_DIR})
    set(scope INTERFACE)
  endif()
  foreach(dep ${L_USES})
    target_link_libraries(${target} ${scope} strata_${dep})
  endforeach()
  if(L_PUBLIC)
    target_link_libraries(${target} ${scope} ${L_PUBLIC})
  endif()
  strata_folder_uses(common/${name} ${L_USES})
endfunction()

# strata_folder_uses(FOLDER folders...): FOLDER (common/x, cli, worker, coordinator) may
# include from itself and from the named folders (common/ folders by their short name, or
# cli/worker/coordinator), and from whatever those may include from.
function(strata_folder_uses folder)
  set(uses)
  foreach(dep ${ARGN})
    if(dep MATCHES "^(cli|worker|coordinator)$")
      list(APPEND uses ${dep})
    else()
      list(APPEND uses common/${dep})
    endif()
  endforeach()
  set_property(GLOBAL APPEND PROPERTY STRATA_LAYER_FOLDERS ${folder})
  set_property(GLOBAL PROPERTY STRATA_LAYER_USES_${folder} ${uses})
endfunction()

# The folders `folder` may include from: itself and the closure of what it uses.
function(strata_layer_closure folder out)
  set(seen ${folder})
  set(todo ${folder})
  while(todo)
    list(POP_FRONT todo current)
    get_property(uses GLOBAL PROPERTY STRATA_LAYER_USES_${current})
    foreach(u ${uses})
      if(NOT u IN_LIST seen)
        list(APPEND seen ${u})
        list(APPEND todo ${u})
      endif()
    endforeach()
  endwhile()
  set(${out} ${seen} PARENT_SCOPE)
endfunction()

# The check target, once every folder is declared: one line per folder in a rules file, a
# stamp rebuilt whenever a source or header of the tree changes.
function(strata_add_layering_check)
  get_property(folders GLOBAL PROPERTY STRATA_LAYER_FOLDERS)
  set(rules "")
  set(sources)
  foreach(folder ${folders})
    strata_layer_closure(${folder} allowed)
    list(JOIN allowed "," allowed)
    string(APPEND rules "${folder}=${allowed}\n")
    file(GLOB_RECURSE files CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/${folder}/*.h
      ${PROJECT_SOURCE_DIR}/${folder}/*.cc ${PROJECT_SOURCE_DIR}/${folder}/*.cu)
    list(APPEND sources ${files})
  endforeach()
  set(rules_file ${CMAKE_BINARY_DIR}/layering_rules.txt)
  file(WRITE ${rules_file} "${rules}")
  set(stamp ${CMAKE_BINARY_DIR}/layering.stamp)
  add_custom_command(OUTPUT ${stamp}
    COMMAND ${CMAKE_COMMAND} -DROOT=${PROJECT_SOURCE_DIR} -DRULES=${rules_file}
      -DDOC=${PROJECT_SOURCE_DIR}/docs/architecture.md
      -P ${PROJECT_SOURCE_DIR}/cmake/check_layering.cmake
    COMMAND ${CMAKE_COMMAND} -E touch ${stamp}
    DEPENDS ${sources} ${rules_file} ${PROJECT_SOURCE_DIR}/cmake/check_layering.cmake
      ${PROJECT_SOURCE_DIR}/docs/architecture.md
    COMMENT "Checking the include graph against the declared layers")
  add_custom_target(strata_layering ALL DEPENDS ${stamp})
endfunction()
