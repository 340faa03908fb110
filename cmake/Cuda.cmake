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

# NCCL (the GPU-to-GPU data plane, library strata_nccl) when CUDA is on and NCCL is installed
# beside the toolkit or on the system paths; NCCL::nccl is its imported target.
set(STRATA_HAVE_NCCL OFF)
if(STRATA_HAVE_CUDA)
  find_path(STRATA_NCCL_INCLUDE_DIR nccl.h HINTS ${CUDAToolkit_INCLUDE_DIRS})
  find_library(STRATA_NCCL_LIBRARY nccl HINTS ${CUDAToolkit_LIBRARY_DIR})
  if(STRATA_NCCL_INCLUDE_DIR AND STRATA_NCCL_LIBRARY)
    add_library(NCCL::nccl UNKNOWN IMPORTED)
    set_target_properties(NCCL::nccl PROPERTIES IMPORTED_LOCATION ${STRATA_NCCL_LIBRARY}
      INTERFACE_INCLUDE_DIRECTORIES ${STRATA_NCCL_INCLUDE_DIR})
    set(STRATA_HAVE_NCCL ON)
  endif()
  message(STATUS "Strata NCCL transport: ${STRATA_HAVE_NCCL}")
endif()
