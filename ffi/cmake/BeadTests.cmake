# C/C++ tests of bead (included from ffi/CMakeLists.txt when BEAD_BUILD_TESTS is ON).
#
# Cache variables:
#   BEAD_TEST_MODEL   model under test; default: generated into the build tree by
#                     tests/cpp_model/make_test_model.py (needs python3 with onnx and numpy).
#                     Point it at a model from `bead train` + `bead export` to test that one.
#   BEAD_TEST_EVENTS  events CSV (header row; feature columns by name); default:
#                     data/sample/events.csv if present, else synthetic events written by
#                     make_test_model.py.
#
# Tests (ctest --test-dir build -N lists them):
#   bead_reference         Rust scores of the events (score_reference example), the fixture
#   bead_cpp_reference     C++ scores == Rust scores, bit for bit (single and batch)
#   bead_cpp_errors        missing/corrupt/non-ONNX files throw bead::Error; bad events -> Status
#   bead_cpp_threads       8 threads sharing one Model agree with the reference
#   bead_capi              the C API (bit-exact scores, error codes, null pointers)
#   bead_trigger_filter*   the example program
#   bead_valgrind_memcheck memcheck of the C++ and C tests, zero errors
#   bead_valgrind_allocs   heap allocations identical for 1,000 and 100,000 events
#   bead_consumer          install + find_package(bead) consumer project (+ pkg-config)

set(_bead_default_model "${CMAKE_CURRENT_BINARY_DIR}/test-model/bead-test.onnx")
set(BEAD_TEST_MODEL "${_bead_default_model}" CACHE FILEPATH "Model (ONNX) used by the C/C++ tests")
if(EXISTS "${BEAD_REPO_ROOT}/data/sample/events.csv")
  set(_bead_default_events "${BEAD_REPO_ROOT}/data/sample/events.csv")
else()
  set(_bead_default_events "${CMAKE_CURRENT_BINARY_DIR}/test-model/synthetic-events.csv")
endif()
set(BEAD_TEST_EVENTS "${_bead_default_events}" CACHE FILEPATH "Events CSV used by the C/C++ tests")

set(_bead_generator "${BEAD_REPO_ROOT}/tests/cpp_model/make_test_model.py")
file(MAKE_DIRECTORY "${CMAKE_CURRENT_BINARY_DIR}/test-model")
set(_bead_no_threshold_model "${CMAKE_CURRENT_BINARY_DIR}/test-model/bead-test-no-thresholds.onnx")
set(_bead_synthetic_events "${CMAKE_CURRENT_BINARY_DIR}/test-model/synthetic-events.csv")
find_package(Python3 COMPONENTS Interpreter)
set(_bead_have_generator OFF)
if(Python3_Interpreter_FOUND)
  execute_process(COMMAND "${Python3_EXECUTABLE}" -c "import onnx, numpy"
                  RESULT_VARIABLE _bead_onnx_rc OUTPUT_QUIET ERROR_QUIET)
  if(_bead_onnx_rc EQUAL 0)
    set(_bead_have_generator ON)
  endif()
endif()

set(_bead_test_inputs)
if(_bead_have_generator)
  # Synthetic events (used when there is no data/sample/events.csv) and the no-threshold model.
  add_custom_command(
    OUTPUT "${_bead_no_threshold_model}" "${_bead_synthetic_events}"
    COMMAND "${Python3_EXECUTABLE}" "${_bead_generator}" "${_bead_no_threshold_model}"
            --no-thresholds --write-events "${_bead_synthetic_events}" --num-events 1000
    DEPENDS "${_bead_generator}"
    COMMENT "make_test_model.py: synthetic events, model without thresholds"
    VERBATIM)
  list(APPEND _bead_test_inputs "${_bead_no_threshold_model}" "${_bead_synthetic_events}")
  if(BEAD_TEST_MODEL STREQUAL _bead_default_model)
    add_custom_command(
      OUTPUT "${_bead_default_model}"
      COMMAND "${Python3_EXECUTABLE}" "${_bead_generator}" "${_bead_default_model}"
              --calibration-csv "${BEAD_TEST_EVENTS}"
      DEPENDS "${_bead_generator}" "${BEAD_TEST_EVENTS}"
      COMMENT "make_test_model.py: test model"
      VERBATIM)
    list(APPEND _bead_test_inputs "${_bead_default_model}")
  endif()
endif()
add_custom_target(bead_test_inputs ALL DEPENDS ${_bead_test_inputs})

if(NOT _bead_have_generator AND (BEAD_TEST_MODEL STREQUAL _bead_default_model OR
                                 BEAD_TEST_EVENTS STREQUAL _bead_synthetic_events))
  message(WARNING "bead: python3 with onnx and numpy not found (pip install onnx numpy): "
                  "set BEAD_TEST_MODEL and BEAD_TEST_EVENTS, or the model tests will fail")
endif()

# The Rust reference scorer (ffi/examples/score_reference.rs), built by cargo with the same
# workspace-wide features as the library (so nothing is rebuilt).
set(_bead_reference_exe "${BEAD_CARGO_TARGET_DIR}/release/examples/score_reference")
set(_bead_reference_stamp "${CMAKE_CURRENT_BINARY_DIR}/cargo-score-reference.stamp")
add_custom_command(
  OUTPUT "${_bead_reference_stamp}"
  BYPRODUCTS "${_bead_reference_exe}"
  COMMAND ${BEAD_CARGO_ENV} "${BEAD_CARGO}" build --release ${BEAD_CARGO_SELECT} --example score_reference
          --manifest-path "${BEAD_REPO_ROOT}/Cargo.toml" ${BEAD_CARGO_FLAGS}
  COMMAND "${CMAKE_COMMAND}" -E touch "${_bead_reference_stamp}"
  DEPENDS ${BEAD_RUST_SOURCES} "${BEAD_REPO_ROOT}/ffi/examples/score_reference.rs"
          "${BEAD_CARGO_STAMP}"
  WORKING_DIRECTORY "${BEAD_REPO_ROOT}"
  COMMENT "cargo build --release --workspace --example score_reference"
  USES_TERMINAL
  VERBATIM)
add_custom_target(bead_score_reference ALL DEPENDS "${_bead_reference_stamp}")
add_dependencies(bead_score_reference bead_cargo_build)

add_executable(test_bead tests/cpp/test_bead.cpp)
target_link_libraries(test_bead PRIVATE bead::bead Threads::Threads)
add_executable(test_capi tests/cpp/test_capi.c)
target_link_libraries(test_capi PRIVATE bead::bead)
set_target_properties(test_capi PROPERTIES C_STANDARD 99 C_STANDARD_REQUIRED ON
                                           LINKER_LANGUAGE CXX)
add_executable(alloc_probe tests/cpp/alloc_probe.cpp)
target_link_libraries(alloc_probe PRIVATE bead::bead)
foreach(_t test_bead test_capi alloc_probe)
  if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(${_t} PRIVATE -Wall -Wextra)
  endif()
endforeach()

set(_ref_dir "${CMAKE_CURRENT_BINARY_DIR}/test-reference")
set(_tmp_dir "${CMAKE_CURRENT_BINARY_DIR}/test-tmp")
file(MAKE_DIRECTORY "${_tmp_dir}")

add_test(NAME bead_reference
         COMMAND "${_bead_reference_exe}" "${BEAD_TEST_MODEL}" "${BEAD_TEST_EVENTS}" "${_ref_dir}")
set_tests_properties(bead_reference PROPERTIES FIXTURES_SETUP bead_ref)

add_test(NAME bead_cpp_reference COMMAND test_bead reference "${BEAD_TEST_MODEL}" "${_ref_dir}")
add_test(NAME bead_cpp_errors COMMAND test_bead errors "${BEAD_TEST_MODEL}" "${_tmp_dir}")
add_test(NAME bead_cpp_threads COMMAND test_bead threads "${BEAD_TEST_MODEL}" "${_ref_dir}")
add_test(NAME bead_capi COMMAND test_capi "${BEAD_TEST_MODEL}" "${_ref_dir}" "${_tmp_dir}")
set_tests_properties(bead_cpp_reference bead_cpp_threads bead_capi
                     PROPERTIES FIXTURES_REQUIRED bead_ref)

if(TARGET trigger_filter)
  add_test(NAME bead_trigger_filter
           COMMAND trigger_filter "${BEAD_TEST_MODEL}" "${BEAD_TEST_EVENTS}" --fpr 1e-3)
  set_tests_properties(bead_trigger_filter PROPERTIES
    PASS_REGULAR_EXPRESSION "# events: [1-9][0-9]*\n# accepted: [0-9]+\n# latency_ns_per_event: ")
  add_test(NAME bead_trigger_filter_no_threshold
           COMMAND trigger_filter "${_bead_no_threshold_model}" "${BEAD_TEST_EVENTS}")
  set_tests_properties(bead_trigger_filter_no_threshold PROPERTIES
    PASS_REGULAR_EXPRESSION "has no threshold calibrated for fpr 0.001; pass --threshold T")
  add_test(NAME bead_trigger_filter_fixed_threshold
           COMMAND trigger_filter "${_bead_no_threshold_model}" "${BEAD_TEST_EVENTS}"
                   --threshold 1.5)
  set_tests_properties(bead_trigger_filter_fixed_threshold PROPERTIES
    PASS_REGULAR_EXPRESSION "# accepted: [0-9]+")
  # A CSV without the MET_pt column: the error names it.
  set(_missing_csv "${_tmp_dir}/missing-column.csv")
  file(WRITE "${_missing_csv}" "MET_eta,MET_phi,event_id\n0,1,7\n")
  add_test(NAME bead_trigger_filter_missing_column
           COMMAND trigger_filter "${BEAD_TEST_MODEL}" "${_missing_csv}")
  set_tests_properties(bead_trigger_filter_missing_column PROPERTIES
    PASS_REGULAR_EXPRESSION "missing feature column MET_pt")
endif()

find_program(BEAD_VALGRIND valgrind)
if(BEAD_VALGRIND)
  # No suppression file: loading runs bead's own validation and compiler only (tract's
  # optimizer, which memcheck flagged, runs only when Rust code asks for Model::reference).
  add_test(NAME bead_valgrind_memcheck
           COMMAND "${BEAD_VALGRIND}" --error-exitcode=1 --leak-check=full
                   $<TARGET_FILE:test_bead> errors "${BEAD_TEST_MODEL}" "${_tmp_dir}")
  add_test(NAME bead_valgrind_memcheck_reference
           COMMAND "${BEAD_VALGRIND}" --error-exitcode=1 --leak-check=full
                   $<TARGET_FILE:test_bead> reference "${BEAD_TEST_MODEL}" "${_ref_dir}")
  add_test(NAME bead_valgrind_memcheck_capi
           COMMAND "${BEAD_VALGRIND}" --error-exitcode=1 --leak-check=full
                   $<TARGET_FILE:test_capi> "${BEAD_TEST_MODEL}" "${_ref_dir}" "${_tmp_dir}")
  add_test(NAME bead_valgrind_allocs
           COMMAND "${CMAKE_COMMAND}" "-DVALGRIND=${BEAD_VALGRIND}"
                   "-DPROBE=$<TARGET_FILE:alloc_probe>" "-DMODEL=${BEAD_TEST_MODEL}"
                   "-DREF_DIR=${_ref_dir}" -P "${CMAKE_CURRENT_SOURCE_DIR}/cmake/valgrind_allocs.cmake")
  set_tests_properties(bead_valgrind_memcheck_reference bead_valgrind_memcheck_capi
                       bead_valgrind_allocs PROPERTIES FIXTURES_REQUIRED bead_ref)
  set_tests_properties(bead_valgrind_allocs PROPERTIES TIMEOUT 1200)
else()
  foreach(_name bead_valgrind_memcheck bead_valgrind_allocs)
    add_test(NAME ${_name} COMMAND "${CMAKE_COMMAND}" -E echo
             "valgrind not found (apt-get install valgrind): ${_name} skipped")
    set_tests_properties(${_name} PROPERTIES SKIP_REGULAR_EXPRESSION "skipped")
  endforeach()
endif()

if(PROJECT_IS_TOP_LEVEL AND BEAD_INSTALL)
  find_program(BEAD_PKG_CONFIG pkg-config)
  set(_pc_args)
  if(BEAD_PKG_CONFIG)
    set(_pc_args "-DPKG_CONFIG=${BEAD_PKG_CONFIG}" "-DCXX=${CMAKE_CXX_COMPILER}")
  endif()
  add_test(NAME bead_consumer
           COMMAND "${CMAKE_COMMAND}" "-DBUILD_DIR=${CMAKE_BINARY_DIR}"
                   "-DWORK_DIR=${CMAKE_CURRENT_BINARY_DIR}/test-consumer"
                   "-DCONSUMER_SRC=${CMAKE_CURRENT_SOURCE_DIR}/tests/consumer"
                   "-DMODEL=${BEAD_TEST_MODEL}" ${_pc_args}
                   -P "${CMAKE_CURRENT_SOURCE_DIR}/cmake/consumer_test.cmake")
  set_tests_properties(bead_consumer PROPERTIES TIMEOUT 600)
endif()
