// WritePlacement and ReadPlacement (see assignment_placement.h).
#include "common/cluster/assignment_placement.h"

#include <string>

namespace strata::cluster {

void WritePlacement(const Placement& p, control::v1::Assignment& a) {
  a.set_gpu_layers(p.gpu_layers);
  a.set_pinned_layers(p.pinned_layers);
  a.set_spread_pinned_bytes(p.spread_pinned_bytes);
  a.set_gpu_prefix_bytes(p.gpu_prefix_bytes);
  a.set_gpu_prefix_layers(p.gpu_prefix_layers);
  a.set_gpu_slots(p.gpu_slots);
  a.set_staging_chunks(p.staging_chunks);
  a.set_chunk_bytes(p.chunk_bytes);
  a.set_embed_on_gpu(p.embed_on_gpu);
}

StatusOr<Placement> ReadPlacement(const control::v1::Assignment& a, size_t layer_bytes) {
  const auto bad = [&](const std::string& what) {
    return InvalidArgument("assignment out of range: " + what + " for a stage of " +
                           std::to_string(a.num_layers()) + " layers");
  };
  if (a.gpu_layers() < 0 || a.pinned_layers() < 0 ||
      int64_t{a.gpu_layers()} + a.pinned_layers() > a.num_layers()) {
    return bad(std::to_string(a.gpu_layers()) + " GPU and " + std::to_string(a.pinned_layers()) +
               " pinned layers");
  }
  if (a.gpu_prefix_layers() < 0 ||
      a.gpu_prefix_layers() > int64_t{a.num_layers()} - a.gpu_layers()) {
    return bad(std::to_string(a.gpu_prefix_layers()) + " layers with a GPU prefix");
  }
  if (a.gpu_prefix_layers() > 0 && a.gpu_prefix_bytes() >= layer_bytes) {
    return bad("a GPU prefix of " + std::to_string(a.gpu_prefix_bytes()) +
               " bytes, not inside its " + std::to_string(layer_bytes) + "-byte layers");
  }
  if (a.gpu_slots() < 0 || a.staging_chunks() < 0) {
    return bad(std::to_string(a.gpu_slots()) + " GPU slots and " +
               std::to_string(a.staging_chunks()) + " ring chunks");
  }
  Placement p;
  p.layers = a.num_layers();
  p.layer_bytes = layer_bytes;
  p.gpu_layers = a.gpu_layers();
  p.pinned_layers = a.pinned_layers();
  p.spread_pinned_bytes = a.spread_pinned_bytes();
  p.gpu_prefix_bytes = a.gpu_prefix_bytes();
  p.gpu_prefix_layers = a.gpu_prefix_layers();
  p.gpu_slots = a.gpu_slots();
  p.staging_chunks = a.staging_chunks();
  p.chunk_bytes = a.chunk_bytes();
  p.embed_on_gpu = a.embed_on_gpu();
  return p;
}

}  // namespace strata::cluster
