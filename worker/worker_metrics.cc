// WorkerMetrics (see worker_metrics.h).
#include "worker/worker_metrics.h"

#include <algorithm>

#include "common/engine/pass_timing.h"
#include "common/storage/tiers.h"
#include "common/metrics/metrics_server.h"

namespace strata::worker {
namespace {

constexpr const char* kStageNames[] = {"ssd_read", "h2d", "compute", "wait"};
constexpr const char* kPhaseNames[] = {"prefill", "decode"};
constexpr size_t kPrefill = 0, kDecode = 1;
constexpr size_t kSsdRead = 0, kH2d = 1;

// Whether a layer of `tier` goes through `stage` in a pass: a GPU layer is only computed
// (and waited for), a pinned one also copied, an SSD one also read.
bool TierHasStage(Tier tier, size_t stage) {
  if (stage == kSsdRead) return tier == Tier::kSsd;
  if (stage == kH2d) return tier != Tier::kGpu;
  return true;
}

// Tokens in one pass: 1 .. 65536, powers of 2.
const std::vector<double>& TokenBuckets() {
  static const std::vector<double> b = [] {
    std::vector<double> v;
    for (double x = 1; x <= 65536; x *= 2) v.push_back(x);
    return v;
  }();
  return b;
}

}  // namespace

Status MeasureDeviceCeilings(Backend& backend, bool fp8_weights, WorkerCeilings& ceilings) {
  if (backend.caps().memory_bytes == 0) return OkStatus();
  STRATA_ASSIGN_OR_RETURN(const double read, backend.ProbeReadGBps(size_t{1} << 30, 5));
  ceilings.hbm_read_gbps = read;
  const DType dtype = fp8_weights ? DType::kF8E4M3 : DType::kBF16;
  STRATA_ASSIGN_OR_RETURN(const double tflops, backend.ProbeGemmTflops(dtype, 8192, 8192, 8192, 3));
  ceilings.gemm_tflops = tflops;
  ceilings.gemm_dtype = fp8_weights ? "fp8" : "bf16";
  return OkStatus();
}

WorkerMetrics::WorkerMetrics(prometheus::Registry& registry, const std::string& worker,
                             Backend& backend, size_t gpu_budget_bytes)
    : backend_(backend),
      worker_({{"worker", worker}}),
      gpu_budget_bytes_(gpu_budget_bytes),
      layer_last_(prometheus::BuildGauge()
                      .Name("strata_worker_layer_last_seconds")
                      .Help("Each layer's time per stage in the last pass")
                      .Labels(worker_)
                      .Register(registry)),
      ceiling_bytes_(prometheus::BuildGauge()
                         .Name("strata_worker_ceiling_bytes_per_second")
                         .Help("Ceilings measured at start-up (disk_read, h2d: as registered "
                               "with the coordinator, flags overriding the measurement)")
                         .Labels(worker_)
                         .Register(registry)),
      ceiling_flops_(prometheus::BuildGauge()
                         .Name("strata_worker_ceiling_flops")
                         .Help("The GEMM peak measured at start-up, FLOP/s")
                         .Labels(worker_)
                         .Register(registry)) {
  auto& layer_stage = prometheus::BuildHistogram()
                    .Name("strata_worker_layer_stage_seconds")
                    .Help("One layer's time in one stage of one pass")
                    .Labels(worker_)
                    .Register(registry);
  for (size_t p = 0; p < kPhases; ++p) {
    for (size_t s = 0; s < kStages; ++s) {
      for (size_t t = 0; t < kTiers; ++t) {
        stage_[p][s][t] = &layer_stage.Add({{"stage", kStageNames[s]},
                                      {"phase", kPhaseNames[p]},
                                      {"tier", std::string(TierName(static_cast<Tier>(t)))}},
                                     metrics::LayerStageBuckets());
      }
    }
  }
  read_bytes_ = &prometheus::BuildCounter()
                     .Name("strata_worker_read_bytes_total")
                     .Help("Bytes read from the pack on disk (SSD tier)")
                     .Labels(worker_)
                     .Register(registry)
                     .Add({});
  h2d_bytes_ = &prometheus::BuildCounter()
                    .Name("strata_worker_h2d_bytes_total")
                    .Help("Bytes copied from pinned memory to the GPU (pinned and SSD tiers)")
                    .Labels(worker_)
                    .Register(registry)
                    .Add({});
  auto& tiers = prometheus::BuildGauge()
                    .Name("strata_worker_layers")
                    .Help("Layers placed in each tier")
                    .Labels(worker_)
                    .Register(registry);
  for (size_t t = 0; t < kTiers; ++t) {
    tier_layers_[t] = &tiers.Add({{"tier", std::string(TierName(static_cast<Tier>(t)))}});
  }
  staging_chunks_ = &prometheus::BuildGauge()
                         .Name("strata_worker_staging_chunks")
                         .Help("Chunks of the SSD staging ring")
                         .Labels(worker_)
                         .Register(registry)
                         .Add({});
  gpu_slots_ = &prometheus::BuildGauge()
                    .Name("strata_worker_gpu_slots")
                    .Help("GPU slots streamed layers are copied into")
                    .Labels(worker_)
                    .Register(registry)
                    .Add({});
  auto& overlap = prometheus::BuildGauge()
                      .Name("strata_worker_overlap_efficiency")
                      .Help("Last pass: the slowest stage's total (SSD read, H2D or compute) / "
                            "the pass's wall time; 1: the other stages hid behind it")
                      .Labels(worker_)
                      .Register(registry);
  auto& passes = prometheus::BuildCounter()
                     .Name("strata_worker_passes_total")
                     .Help("Passes (steps) this stage ran")
                     .Labels(worker_)
                     .Register(registry);
  auto& pass_seconds = prometheus::BuildHistogram()
                           .Name("strata_worker_pass_seconds")
                           .Help("One pass's wall time on this stage")
                           .Labels(worker_)
                           .Register(registry);
  auto& pass_tokens = prometheus::BuildHistogram()
                          .Name("strata_worker_pass_tokens")
                          .Help("Tokens in one pass")
                          .Labels(worker_)
                          .Register(registry);
  for (size_t p = 0; p < kPhases; ++p) {
    const prometheus::Labels phase = {{"phase", kPhaseNames[p]}};
    overlap_[p] = &overlap.Add(phase);
    passes_[p] = &passes.Add(phase);
    pass_seconds_[p] = &pass_seconds.Add(phase, metrics::StepBuckets());
    pass_tokens_[p] = &pass_tokens.Add(phase, TokenBuckets());
  }
  auto& link_seconds = prometheus::BuildCounter()
                           .Name("strata_worker_link_seconds_total")
                           .Help("Time in the data-plane link: a send to completion, a "
                                 "receive's wait and receipt")
                           .Labels(worker_)
                           .Register(registry);
  auto& link_bytes = prometheus::BuildCounter()
                         .Name("strata_worker_link_bytes_total")
                         .Help("Activation bytes over the link")
                         .Labels(worker_)
                         .Register(registry);
  auto& link_messages = prometheus::BuildCounter()
                            .Name("strata_worker_link_messages_total")
                            .Help("Messages over the link")
                            .Labels(worker_)
                            .Register(registry);
  for (auto [link, direction] : {std::pair{&send_, "send"}, std::pair{&receive_, "receive"}}) {
    link->seconds = &link_seconds.Add({{"direction", direction}});
    link->bytes = &link_bytes.Add({{"direction", direction}});
    link->messages = &link_messages.Add({{"direction", direction}});
  }
  kv_in_use_ = &prometheus::BuildGauge()
                    .Name("strata_worker_kv_slots_in_use")
                    .Help("Sequences open on this stage")
                    .Labels(worker_)
                    .Register(registry)
                    .Add({});
  kv_slots_ = &prometheus::BuildGauge()
                   .Name("strata_worker_kv_slots")
                   .Help("Sequences this stage holds KV for")
                   .Labels(worker_)
                   .Register(registry)
                   .Add({});
  if (backend.caps().memory_bytes != 0) {
    auto& memory = prometheus::BuildGauge()
                       .Name("strata_worker_gpu_memory_bytes")
                       .Help("The device memory this process uses (CUDA runtime) and its budget")
                       .Labels(worker_)
                       .Register(registry);
    gpu_used_ = &memory.Add({{"kind", "used"}});
    gpu_budget_ = &memory.Add({{"kind", "budget"}});
    gpu_budget_->Set(static_cast<double>(gpu_budget_bytes_));
    UpdateGpuMemory();
  }
}

void WorkerMetrics::SetCeilings(const WorkerCeilings& c) {
  ceiling_bytes_.Add({{"resource", "disk_read"}}).Set(c.disk_read_gbps * 1e9);
  ceiling_bytes_.Add({{"resource", "h2d"}}).Set(c.h2d_gbps * 1e9);
  if (c.hbm_read_gbps) ceiling_bytes_.Add({{"resource", "hbm_read"}}).Set(*c.hbm_read_gbps * 1e9);
  if (c.gemm_tflops) ceiling_flops_.Add({{"dtype", c.gemm_dtype}}).Set(*c.gemm_tflops * 1e12);
}

void WorkerMetrics::Assigned(const Stage& stage) {
  Unassigned();
  const StreamingExecutor& executor = stage.executor();
  const std::vector<LayerHome>& homes = executor.options().homes;
  const int32_t first = stage.assignment().first_layer();
  layers_.resize(homes.size());
  std::array<int32_t, kTiers> per_tier{};
  for (size_t l = 0; l < homes.size(); ++l) {
    const Tier tier = homes[l].tier;
    ++per_tier[static_cast<size_t>(tier)];
    LayerHandles& h = layers_[l];
    const std::string layer = std::to_string(first + static_cast<int32_t>(l));
    for (size_t s = 0; s < kStages; ++s) {
      h.last[s] = &layer_last_.Add({{"layer", layer}, {"stage", kStageNames[s]}});
      for (size_t p = 0; p < kPhases; ++p) {
        h.observe[p][s] = TierHasStage(tier, s) ? stage_[p][s][static_cast<size_t>(tier)] : nullptr;
      }
    }
  }
  for (size_t t = 0; t < kTiers; ++t) tier_layers_[t]->Set(per_tier[t]);
  staging_chunks_->Set(executor.staging_chunks());
  gpu_slots_->Set(executor.gpu_slots());
  ssd_bytes_per_pass_ = executor.ssd_bytes_per_pass();
  h2d_bytes_per_pass_ = executor.h2d_bytes_per_pass();
  kv_slots_->Set(stage.assignment().kv_slots());
  kv_in_use_->Set(stage.open_sequences());
  send_.seen = stage.sent_stats();
  receive_.seen = stage.received_stats();
  if (gpu_used_ != nullptr) UpdateGpuMemory();
}

void WorkerMetrics::Unassigned() {
  for (const LayerHandles& h : layers_) {
    for (prometheus::Gauge* g : h.last) layer_last_.Remove(g);
  }
  layers_.clear();
  for (prometheus::Gauge* g : tier_layers_) g->Set(0);
  staging_chunks_->Set(0);
  gpu_slots_->Set(0);
  kv_slots_->Set(0);
  kv_in_use_->Set(0);
  ssd_bytes_per_pass_ = h2d_bytes_per_pass_ = 0;
  send_.seen = receive_.seen = {};
}

void WorkerMetrics::StepDone(const Stage& stage, const StepOutput& out) {
  const PassTiming& pass = stage.executor().last_pass();
  const size_t p = out.prefill ? kPrefill : kDecode;
  const size_t n = std::min(pass.layers.size(), layers_.size());
  // Each stage's total over the pass; the slowest bounds the pass from below.
  double read_ms = 0, h2d_ms = 0, compute_ms = 0;
  for (size_t l = 0; l < n; ++l) {
    const LayerTiming& t = pass.layers[l];
    const std::array<float, kStages> ms = {t.ssd_read_ms, t.h2d_ms, t.compute_ms, t.wait_ms};
    const LayerHandles& h = layers_[l];
    for (size_t s = 0; s < kStages; ++s) {
      const double seconds = ms[s] * 1e-3;
      if (h.observe[p][s] != nullptr) h.observe[p][s]->Observe(seconds);
      h.last[s]->Set(seconds);
    }
    read_ms += t.ssd_read_ms;
    h2d_ms += t.h2d_ms;
    compute_ms += t.compute_ms;
  }
  read_bytes_->Increment(static_cast<double>(ssd_bytes_per_pass_));
  h2d_bytes_->Increment(static_cast<double>(h2d_bytes_per_pass_));
  if (pass.wall_ms > 0) overlap_[p]->Set(std::max({read_ms, h2d_ms, compute_ms}) / pass.wall_ms);
  passes_[p]->Increment();
  pass_seconds_[p]->Observe(pass.wall_ms * 1e-3);
  pass_tokens_[p]->Observe(out.step_tokens);
  AddLinkDelta(send_, stage.sent_stats());
  AddLinkDelta(receive_, stage.received_stats());
  kv_in_use_->Set(stage.open_sequences());
  if (gpu_used_ != nullptr &&
      std::chrono::steady_clock::now() - gpu_read_at_ >= std::chrono::seconds(1)) {
    UpdateGpuMemory();
  }
}

void WorkerMetrics::SequencesChanged(const Stage& stage) {
  kv_in_use_->Set(stage.open_sequences());
}

void WorkerMetrics::AddLinkDelta(Link& link, const transport::HopStats& now) {
  if (now.messages < link.seen.messages) link.seen = {};  // the links started over
  link.messages->Increment(static_cast<double>(now.messages - link.seen.messages));
  link.bytes->Increment(static_cast<double>(now.payload_bytes - link.seen.payload_bytes));
  link.seconds->Increment(std::max(0.0, now.seconds_total - link.seen.seconds_total));
  link.seen = now;
}

void WorkerMetrics::UpdateGpuMemory() {
  gpu_read_at_ = std::chrono::steady_clock::now();
  gpu_used_->Set(static_cast<double>(backend_.DeviceBytesInUse()));
}

}  // namespace strata::worker
