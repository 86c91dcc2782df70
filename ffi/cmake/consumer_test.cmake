# cmake -DBUILD_DIR=... -DWORK_DIR=... -DCONSUMER_SRC=... -DMODEL=... [-DPKG_CONFIG=... -DCXX=...]
#       -P consumer_test.cmake
#
# Installs the bead build tree into WORK_DIR/prefix, configures and builds the separate consumer
# project ffi/tests/consumer against it (find_package(bead CONFIG)), and runs its C++ and C
# programs. With PKG_CONFIG and CXX, also compiles the C++ consumer with `pkg-config bead`.

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  message(STATUS "$ ${ARGN}\n${out}${err}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "command failed (exit ${rc})")
  endif()
endfunction()

set(prefix "${WORK_DIR}/prefix")
file(REMOVE_RECURSE "${WORK_DIR}")
run("${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${prefix}")
foreach(f include/bead/bead.h include/bead/bead.hpp include/bead-ffi/src/bridge.rs.h
          include/rust/cxx.h lib/libbead_ffi.a lib/cmake/bead/bead-config.cmake
          lib/cmake/bead/bead-config-version.cmake lib/pkgconfig/bead.pc)
  if(NOT EXISTS "${prefix}/${f}" OR IS_SYMLINK "${prefix}/${f}")
    message(FATAL_ERROR "install: ${f} missing (or a symlink)")
  endif()
endforeach()

run("${CMAKE_COMMAND}" -S "${CONSUMER_SRC}" -B "${WORK_DIR}/build"
    "-DCMAKE_PREFIX_PATH=${prefix}" -DCMAKE_BUILD_TYPE=Release)
run("${CMAKE_COMMAND}" --build "${WORK_DIR}/build")
run("${WORK_DIR}/build/app" "${MODEL}")
run("${WORK_DIR}/build/app_c" "${MODEL}")

if(PKG_CONFIG AND CXX)
  set(ENV{PKG_CONFIG_PATH} "${prefix}/lib/pkgconfig")
  execute_process(COMMAND "${PKG_CONFIG}" --cflags --libs bead OUTPUT_VARIABLE flags
                  RESULT_VARIABLE rc OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "pkg-config bead failed")
  endif()
  separate_arguments(flags UNIX_COMMAND "${flags}")
  run("${CXX}" -std=c++17 -O2 "${CONSUMER_SRC}/main.cpp" -o "${WORK_DIR}/app_pkgconfig" ${flags})
  run("${WORK_DIR}/app_pkgconfig" "${MODEL}")
endif()
