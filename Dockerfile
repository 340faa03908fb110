# syntax=docker/dockerfile:1
# Images of Strata on Debian 12: strata-coordinator, strata-worker and the strata CLI in one
# image (the Helm chart runs the coordinator and the workers from it). Two variants:
#
#   docker build -t REGISTRY/strata:0.1.0 .                            # CUDA (GPU workers)
#   docker build --build-arg VARIANT=cpu -t REGISTRY/strata:0.1.0-cpu . # no CUDA
#
# The CUDA variant adds NVIDIA's CUDA repository for Debian 12: nvcc, cuBLASLt and NCCL to
# build, and only their runtime libraries (cudart, cuBLASLt, NCCL) in the final image. The
# driver comes from the node (the NVIDIA container toolkit mounts it), so the image runs on
# any driver new enough for CUDA_VERSION. It builds for Hopper and consumer Blackwell GPUs
# (--build-arg CUDA_ARCHITECTURES="89;90;120" adds Ada). The final stage installs exactly the
# Debian packages that own the binaries' shared libraries (scripts/runtime-packages), runs as
# an unprivileged user and needs no writable root filesystem.

ARG DEBIAN_IMAGE=debian:12-slim
# cuda or cpu: which build stage the final image takes its binaries from.
ARG VARIANT=cuda

# --- build: Debian's toolchain and libraries (scripts/deps.sh --build) and the source ------
FROM ${DEBIAN_IMAGE} AS source
ENV DEBIAN_FRONTEND=noninteractive
WORKDIR /src
COPY scripts/deps.sh scripts/
RUN scripts/deps.sh --build && rm -rf /var/lib/apt/lists/*
COPY . .

FROM source AS build-cpu
# Extra CMake arguments (both variants), e.g. -DSTRATA_WERROR=ON.
ARG CMAKE_ARGS=""
RUN STRATA_BUILD_DIR=/build scripts/build -DCMAKE_BUILD_TYPE=Release -DSTRATA_BUILD_TESTS=OFF -DSTRATA_CUDA=OFF ${CMAKE_ARGS} \
 && mkdir -p /out/bin \
 && cp /build/cli/strata /build/coordinator/strata-coordinator /build/worker/strata-worker /out/bin/ \
 && scripts/runtime-packages /out/bin/* > /out/runtime-packages \
 && mkdir -p /out/rootfs

FROM source AS build-cuda
# CUDA 13.0's packages (cuda-nvcc-13-0 and the rest); 12.8 is the oldest that targets
# consumer Blackwell (sm_120).
ARG CUDA_VERSION=13-0
ARG CUDA_ARCHITECTURES="90;120"
ARG CMAKE_ARGS=""
ADD https://developer.download.nvidia.com/compute/cuda/repos/debian12/x86_64/cuda-keyring_1.1-1_all.deb /tmp/
RUN dpkg -i /tmp/cuda-keyring_1.1-1_all.deb && rm /tmp/cuda-keyring_1.1-1_all.deb \
 && apt-get update \
 && apt-get install -y --no-install-recommends \
      cuda-nvcc-${CUDA_VERSION} cuda-cudart-dev-${CUDA_VERSION} libcublas-dev-${CUDA_VERSION} libnccl-dev \
 && rm -rf /var/lib/apt/lists/* \
 && ln -sfn "/usr/local/cuda-$(echo "${CUDA_VERSION}" | tr - .)" /usr/local/cuda
RUN STRATA_BUILD_DIR=/build scripts/build -DCMAKE_BUILD_TYPE=Release -DSTRATA_BUILD_TESTS=OFF -DSTRATA_CUDA=ON \
      -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCHITECTURES}" ${CMAKE_ARGS} \
 && mkdir -p /out/bin \
 && cp /build/cli/strata /build/coordinator/strata-coordinator /build/worker/strata-worker /out/bin/ \
 && scripts/runtime-packages /out/bin/* > /out/runtime-packages \
 && mkdir -p /out/rootfs/usr/share/keyrings /out/rootfs/etc/apt/sources.list.d \
 && cp /usr/share/keyrings/cuda-archive-keyring.gpg /out/rootfs/usr/share/keyrings/ \
 && cp /etc/apt/sources.list.d/cuda-debian12-x86_64.list /out/rootfs/etc/apt/sources.list.d/

# --- runtime: the binaries, the packages their libraries come from, an unprivileged user ----
FROM build-${VARIANT} AS build

FROM ${DEBIAN_IMAGE} AS runtime
ENV DEBIAN_FRONTEND=noninteractive
# The NVIDIA container toolkit mounts the node's driver into containers that get a GPU.
ENV NVIDIA_VISIBLE_DEVICES=all NVIDIA_DRIVER_CAPABILITIES=compute,utility
# The CUDA variant's apt source and key (nothing for cpu), then the packages.
COPY --from=build /out/rootfs/ /
COPY --from=build /out/runtime-packages /usr/share/strata/runtime-packages
RUN apt-get update \
 && xargs -a /usr/share/strata/runtime-packages apt-get install -y --no-install-recommends \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 10001 --user-group --no-create-home --home-dir /tmp strata
COPY --from=build /out/bin/ /usr/local/bin/
USER 10001:10001
# Control plane, HTTP API and metrics of the coordinator; data plane and metrics of a worker.
EXPOSE 7070 8000 9400 7400 9401
CMD ["strata", "--help"]
