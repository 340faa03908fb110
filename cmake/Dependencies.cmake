# Every third-party library Strata builds against, found once here. All come from Debian
# packages; scripts/deps.sh lists the package names.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(spdlog REQUIRED)
find_package(CLI11 REQUIRED)
pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)
pkg_check_modules(OPENBLAS REQUIRED IMPORTED_TARGET openblas)
pkg_check_modules(XXHASH REQUIRED IMPORTED_TARGET libxxhash)
pkg_check_modules(URING REQUIRED IMPORTED_TARGET liburing)
pkg_check_modules(UCX REQUIRED IMPORTED_TARGET ucx)  # the data plane (ucp)
if(STRATA_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
# The control plane: protobuf + gRPC (protobuf-compiler-grpc, libgrpc++-dev).
pkg_check_modules(PROTOBUF REQUIRED IMPORTED_TARGET protobuf)
pkg_check_modules(GRPCPP REQUIRED IMPORTED_TARGET grpc++)
find_program(STRATA_PROTOC protoc REQUIRED)
find_program(STRATA_GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)
pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)  # the coordinator's HTTP API
find_package(OpenSSL REQUIRED)  # TLS files checked at start-up; the HTTP API's TLS (libssl-dev)
# Prometheus metrics of the coordinator and the workers (prometheus-cpp-dev: core + pull).
find_package(prometheus-cpp CONFIG REQUIRED)
