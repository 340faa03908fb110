# cmake -DROOT=SOURCE_DIR -DRULES=FILE -P check_layering.cmake
# RULES holds "folder=allowed,allowed,..." lines (cmake/Layers.cmake writes it). Fails, naming
# file, line and include, when a file of a folder includes a project header from a folder
# outside its allowed list.
cmake_minimum_required(VERSION 3.25)
file(STRINGS ${RULES} rules)
set(violations "")
foreach(rule ${rules})
  string(REGEX MATCH "^([^=]+)=(.*)$" _ "${rule}")
  set(folder ${CMAKE_MATCH_1})
  string(REPLACE "," ";" allowed "${CMAKE_MATCH_2}")
  file(GLOB_RECURSE files ${ROOT}/${folder}/*.h ${ROOT}/${folder}/*.cc ${ROOT}/${folder}/*.cu)
  foreach(file ${files})
    file(STRINGS ${file} includes REGEX "^#include \"(common/[a-z_]+|cli|worker|coordinator)/")
    foreach(line ${includes})
      string(REGEX MATCH "^#include \"((common/[a-z_]+)|cli|worker|coordinator)/" _ "${line}")
      set(target ${CMAKE_MATCH_1})
      # A nested folder (common/backend/cuda, cli/cluster) belongs to its parent's layer.
      if(NOT target IN_LIST allowed)
        file(RELATIVE_PATH rel ${ROOT} ${file})
        list(JOIN allowed ", " allowed_text)
        string(APPEND violations "  ${rel}: ${line} (${folder} may include from: ${allowed_text})\n")
      endif()
    endforeach()
  endforeach()
endforeach()
if(violations)
  message(FATAL_ERROR "includes outside the declared layers (cmake/Layers.cmake; declare the "
    "dependency in the folder's CMakeLists.txt if it is meant, or move the code down):\n${violations}")
endif()
