# cmake -DVALGRIND=... -DPROBE=... -DMODEL=... -DREF_DIR=...
#       -P valgrind_allocs.cmake
#
# Runs alloc_probe under valgrind (memcheck, --leak-check=full, zero errors required) for 1,000
# and 100,000 events and requires that scoring does not touch the heap:
#
# - exact: with --trace-malloc=yes, the allocations between alloc_probe's "scoring begins" and
#   "scoring ends" markers must be the same (zero) for both runs;
# - reported: valgrind's "total heap usage: N allocs" of both runs. That total includes model
#   loading, which must agree within LOAD_JITTER (default 2,000) rather than exactly, in case
#   a load-time hash map grows differently between runs: an allocation per event would add at
#   least 99,000.

if(NOT DEFINED LOAD_JITTER)
  set(LOAD_JITTER 2000)
endif()

foreach(_n 1000 100000)
  execute_process(
    COMMAND "${VALGRIND}" --error-exitcode=1 --leak-check=full --trace-malloc=yes
            "${PROBE}" "${MODEL}" "${REF_DIR}" ${_n}
    RESULT_VARIABLE _rc
    OUTPUT_VARIABLE _out
    ERROR_VARIABLE _err)
  string(REGEX MATCH "ERROR SUMMARY: [0-9,]+ errors[^\n]*" _summary "${_err}")
  if(NOT _rc EQUAL 0)
    string(REGEX REPLACE "--[0-9]+-- [^\n]*\n" "" _short "${_err}")
    message(FATAL_ERROR "valgrind alloc_probe ${_n} failed (exit ${_rc}):\n${_out}\n${_short}")
  endif()
  if(NOT _err MATCHES "total heap usage: ([0-9,]+) allocs, ([0-9,]+) frees")
    message(FATAL_ERROR "no 'total heap usage' line in valgrind output")
  endif()
  string(REPLACE "," "" _total "${CMAKE_MATCH_1}")
  set(_total_${_n} "${_total}")

  string(FIND "${_err}" "alloc_probe: scoring begins" _begin)
  string(FIND "${_err}" "alloc_probe: scoring ends" _end)
  if(_begin LESS 0 OR _end LESS _begin)
    message(FATAL_ERROR "alloc_probe markers not found in valgrind output")
  endif()
  math(EXPR _len "${_end} - ${_begin}")
  string(SUBSTRING "${_err}" ${_begin} ${_len} _loop)
  # Allocation functions are traced as `--PID-- name(args) = 0xADDRESS`; frees have no result.
  string(REGEX MATCHALL "\n--[0-9]+-- [A-Za-z_0-9]+\\([^\n]*\\) = 0x" _loop_allocs "${_loop}")
  list(LENGTH _loop_allocs _in_loop)
  set(_loop_${_n} "${_in_loop}")
  message(STATUS "${_n} events: total heap usage ${_total} allocs; ${_in_loop} allocations while "
                 "scoring (${_summary})")
endforeach()

if(NOT _loop_1000 EQUAL _loop_100000)
  message(FATAL_ERROR "allocations while scoring depend on the number of events: "
                      "${_loop_1000} for 1,000 events, ${_loop_100000} for 100,000")
endif()
math(EXPR _diff "${_total_100000} - ${_total_1000}")
if(_diff LESS 0)
  math(EXPR _diff "-${_diff}")
endif()
if(_diff GREATER LOAD_JITTER)
  message(FATAL_ERROR "total heap usage differs by ${_diff} allocations between 1,000 and "
                      "100,000 events: ${_total_1000} vs ${_total_100000}")
endif()
message(STATUS "scoring allocations independent of the number of events: ${_loop_1000} "
               "(totals ${_total_1000} and ${_total_100000}, difference ${_diff} from loading)")
