# STRATA_CUDA=AUTO|ON|OFF -> STRATA_HAVE_CUDA. Finds nvcc on PATH or under /usr/local/cuda
# (the toolchain, not the host's GPU: nothing here probes hardware).
set(STRATA_HAVE_CUDA OFF)
if(NOT STRATA_CUDA STREQUAL "OFF")
  if(NOT CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX} AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    # Default targets: 90 = Hopper (H100/H200), 120 = Blackwell consumer (RTX 50xx).
    # Override with -DCMAKE_CUDA_ARCHITECTURES="89;90".
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      set(CMAKE_CUDA_ARCHITECTURES 90 120)
    endif()
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    set(CMAKE_CUDA_STANDARD 17)  # CMake 3.25 knows no CUDA 20 flags for nvcc
    set(CMAKE_CUDA_STANDARD_REQUIRED ON)
    set(STRATA_HAVE_CUDA ON)
  elseif(STRATA_CUDA STREQUAL "ON")
    message(FATAL_ERROR "STRATA_CUDA=ON but no CUDA compiler was found; install the CUDA "
                        "toolkit or configure with -DSTRATA_CUDA=OFF")
  endif()
endif()
message(STATUS "Strata CUDA backend: ${STRATA_HAVE_CUDA}")
