// Programmatic dependent launch (Hopper and later): a kernel launched with the attribute
// cudaLaunchAttributeProgrammaticStreamSerialization may start while the kernel before it in
// the stream is still running, once every block of that kernel has called
// AllowDependentsToStart (or exited); it must call WaitForPrerequisites before it reads
// anything its predecessors write (or writes anything they read). Kernels launched the usual
// way ignore both calls, and so do GPUs before sm_90. Thread-safety: device functions.
#pragma once

namespace strata::cuda {

__device__ __forceinline__ void AllowDependentsToStart() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

__device__ __forceinline__ void WaitForPrerequisites() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

}  // namespace strata::cuda
