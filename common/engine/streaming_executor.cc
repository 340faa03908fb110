// StreamingExecutor (see streaming_executor.h): setup of tiers and rings, the per-pass
// prefetch window, and timing collection.
#include "common/engine/streaming_executor.h"

#include <algorithm>
#include <string>

namespace strata {
namespace {

constexpr size_t kPageBytes = 4096;

float MsBetween(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<float, std::milli>(b - a).count();
}

std::string Bytes(size_t n) { return std::to_string(n) + " bytes"; }

}  // namespace

StatusOr<std::unique_ptr<StreamingExecutor>> StreamingExecutor::Create(
    Backend& backend, LayerSource& source, const StreamingOptions& options) {
  if (static_cast<int32_t>(options.tiers.size()) != source.num_layers()) {
    return InvalidArgument("tier list names " + std::to_string(options.tiers.size()) +
                           " layers but the pack holds " + std::to_string(source.num_layers()));
  }
  if (options.prefetch_ssd < 0 || options.prefetch_h2d < 0) {
    return InvalidArgument("prefetch distances must be >= 0 (got ssd " +
                           std::to_string(options.prefetch_ssd) + ", h2d " +
                           std::to_string(options.prefetch_h2d) + ")");
  }
  std::unique_ptr<StreamingExecutor> e(new StreamingExecutor(backend, source, options));
  STRATA_RETURN_IF_ERROR(e->Setup());
  return e;
}

StreamingExecutor::StreamingExecutor(Backend& backend, LayerSource& source,
                                     const StreamingOptions& options)
    : backend_(backend), source_(source), options_(options), n_(source.num_layers()) {}

StreamingExecutor::~StreamingExecutor() {
  if (in_pass_ || in_flight_reads_ > 0) Drain();
  backend_.Synchronize();  // copies primed for a pass that never came
}

Status StreamingExecutor::Setup() {
  const auto n = static_cast<size_t>(n_);
  ssd_rank_.assign(n, -1);
  stream_rank_.assign(n, -1);
  size_t resident_gpu = 0, resident_pinned = 0, max_ssd = 0, max_stream = 0;
  for (int32_t l = 0; l < n_; ++l) {
    const size_t bytes = source_.extent_bytes(l);
    const Tier tier = options_.tiers[static_cast<size_t>(l)];
    if (tier == Tier::kGpu) resident_gpu += bytes;
    if (tier == Tier::kPinned) resident_pinned += bytes;
    if (tier == Tier::kSsd) {
      ssd_rank_[static_cast<size_t>(l)] = static_cast<int32_t>(ssd_order_.size());
      ssd_order_.push_back(l);
      max_ssd = std::max(max_ssd, bytes);
    }
    if (tier != Tier::kGpu) {
      stream_rank_[static_cast<size_t>(l)] = static_cast<int32_t>(stream_order_.size());
      stream_order_.push_back(l);
      max_stream = std::max(max_stream, bytes);
    }
  }
  slot_bytes_ = (max_stream + kPageBytes - 1) / kPageBytes * kPageBytes;
  const size_t s = ssd_order_.empty()
                       ? 0
                       : std::min<size_t>(ssd_order_.size(), size_t(options_.prefetch_ssd) + 1);
  const size_t g = stream_order_.empty()
                       ? 0
                       : std::min<size_t>(stream_order_.size(), size_t(options_.prefetch_h2d) + 1);
  gpu_bytes_ = resident_gpu + g * slot_bytes_;
  pinned_bytes_ = resident_pinned + s * slot_bytes_;
  if (options_.gpu_budget != 0 && gpu_bytes_ > options_.gpu_budget) {
    return ResourceExhausted("the layers need " + Bytes(gpu_bytes_) + " of GPU memory (" +
                             Bytes(resident_gpu) + " resident + " + std::to_string(g) +
                             " staging slots) but the budget is " + Bytes(options_.gpu_budget) +
                             "; move layers to the pinned or SSD tier or lower --prefetch-h2d");
  }
  if (options_.pinned_budget != 0 && pinned_bytes_ > options_.pinned_budget) {
    return ResourceExhausted("the layers need " + Bytes(pinned_bytes_) + " of pinned memory (" +
                             Bytes(resident_pinned) + " resident + " + std::to_string(s) +
                             " staging slots) but the budget is " +
                             Bytes(options_.pinned_budget) +
                             "; move layers to the SSD tier or lower --prefetch-ssd");
  }

  if (s > 0) {
    STRATA_ASSIGN_OR_RETURN(pinned_slots_, backend_.AllocatePinned(s * slot_bytes_));
  }
  if (g > 0) {
    STRATA_ASSIGN_OR_RETURN(gpu_slots_, backend_.Allocate(g * slot_bytes_));
  }
  pinned_slot_owner_.assign(s, -1);
  gpu_slot_owner_.assign(g, -1);
  gpu_slot_weights_.resize(g);
  events_.resize(n);
  for (LayerEvents& ev : events_) {
    ev.h2d_start = backend_.CreateEvent();
    ev.h2d_end = backend_.CreateEvent();
    ev.compute_start = backend_.CreateEvent();
    ev.compute_end = backend_.CreateEvent();
  }
  pass_start_ = backend_.CreateEvent();
  read_done_.assign(n, 0);
  read_submitted_.resize(n);
  current_.layers.resize(n);
  last_pass_.layers.resize(n);

  // Resident layers: read once through a pinned staging buffer, checksummed, placed.
  resident_ptr_.assign(n, nullptr);
  gpu_weights_.resize(n);
  size_t max_gpu = 0;
  for (int32_t l = 0; l < n_; ++l) {
    if (options_.tiers[static_cast<size_t>(l)] == Tier::kGpu) {
      max_gpu = std::max(max_gpu, source_.extent_bytes(l));
    }
  }
  DeviceBuffer load_staging;
  std::byte* staging = pinned_slots_.get();
  if (max_gpu > s * slot_bytes_) {
    STRATA_ASSIGN_OR_RETURN(load_staging, backend_.AllocatePinned(max_gpu));
    staging = load_staging.get();
  }
  for (int32_t l = 0; l < n_; ++l) {
    const Tier tier = options_.tiers[static_cast<size_t>(l)];
    if (tier == Tier::kSsd) continue;
    const size_t bytes = source_.extent_bytes(l);
    DeviceBuffer buf;
    if (tier == Tier::kGpu) {
      STRATA_ASSIGN_OR_RETURN(buf, backend_.Allocate(bytes));
    } else {
      STRATA_ASSIGN_OR_RETURN(buf, backend_.AllocatePinned(bytes));
    }
    STRATA_RETURN_IF_ERROR(LoadResident(l, staging, buf.get(), tier == Tier::kGpu));
    resident_ptr_[static_cast<size_t>(l)] = buf.get();
    if (tier == Tier::kGpu) {
      STRATA_ASSIGN_OR_RETURN(gpu_weights_[static_cast<size_t>(l)], source_.Bind(l, buf.get()));
    }
    resident_.push_back(std::move(buf));
  }
  return OkStatus();
}

Status StreamingExecutor::LoadResident(int32_t layer, std::byte* staging, std::byte* dst,
                                       bool dst_on_device) {
  std::byte* target = dst_on_device ? staging : dst;
  STRATA_RETURN_IF_ERROR(source_.SubmitRead(layer, target));
  STRATA_ASSIGN_OR_RETURN(const int32_t done, source_.WaitRead());
  STRATA_CHECK(done == layer);
  STRATA_RETURN_IF_ERROR(source_.Verify(layer, target));
  if (dst_on_device) backend_.CopyToDevice(dst, staging, source_.extent_bytes(layer));
  return OkStatus();
}

void StreamingExecutor::ResetPass() {
  next_read_ = next_copy_ = released_ = 0;
  std::fill(read_done_.begin(), read_done_.end(), 0);
  std::fill(current_.layers.begin(), current_.layers.end(), LayerTiming{});
}

Status StreamingExecutor::BeginPass() {
  STRATA_CHECK(!in_pass_);
  if (!primed_) ResetPass();
  primed_ = false;
  Status st = deferred_;  // priming this pass at the end of the last one may have failed
  deferred_ = OkStatus();
  if (st.ok()) {
    backend_.RecordEvent(*pass_start_, Stream::kCompute);
    st = Pump(0);
  }
  if (!st.ok()) {
    Drain();  // the caller will not end a pass that did not begin
    return st;
  }
  in_pass_ = true;
  return OkStatus();
}

void StreamingExecutor::MarkReadDone(int32_t layer) {
  read_done_[static_cast<size_t>(layer)] = 1;
  // The disk serves queued reads one after another, so a read's own time runs from its
  // submission or the previous completion, whichever came later.
  const Clock::time_point now = Clock::now();
  const Clock::time_point start = std::max(read_submitted_[static_cast<size_t>(layer)],
                                           last_read_done_);
  current_.layers[static_cast<size_t>(layer)].ssd_read_ms = MsBetween(start, now);
  last_read_done_ = now;
}

Status StreamingExecutor::Pump(int32_t current) {
  // Reads: SSD layers up to `prefetch_ssd` layers ahead, into the ring of pinned slots.
  while (next_read_ < static_cast<int32_t>(ssd_order_.size()) &&
         ssd_order_[static_cast<size_t>(next_read_)] <= current + options_.prefetch_ssd) {
    const int32_t layer = ssd_order_[static_cast<size_t>(next_read_)];
    const size_t slot = static_cast<size_t>(next_read_) % pinned_slot_owner_.size();
    const int32_t previous = pinned_slot_owner_[slot];
    if (previous >= 0) backend_.WaitEvent(*events_[static_cast<size_t>(previous)].h2d_end);
    read_submitted_[static_cast<size_t>(layer)] = Clock::now();
    STRATA_RETURN_IF_ERROR(source_.SubmitRead(layer, pinned_slots_.get() + slot * slot_bytes_));
    pinned_slot_owner_[slot] = layer;
    ++in_flight_reads_;
    ++next_read_;
  }
  // Completions that have arrived.
  int32_t done = -1;
  while (in_flight_reads_ > 0) {
    StatusOr<bool> any = source_.PollRead(&done);
    if (any.ok() && !*any) break;
    --in_flight_reads_;  // a read finished, well or badly
    if (!any.ok()) return any.status();
    MarkReadDone(done);
  }
  // Copies: streamed layers up to `prefetch_h2d` layers ahead, in order.
  while (next_copy_ < static_cast<int32_t>(stream_order_.size())) {
    const int32_t layer = stream_order_[static_cast<size_t>(next_copy_)];
    if (layer > current + options_.prefetch_h2d) break;
    if (options_.tiers[static_cast<size_t>(layer)] == Tier::kSsd &&
        !read_done_[static_cast<size_t>(layer)]) {
      break;
    }
    STRATA_RETURN_IF_ERROR(IssueCopy(layer));
  }
  return OkStatus();
}

Status StreamingExecutor::IssueCopy(int32_t layer) {
  const auto l = static_cast<size_t>(layer);
  const std::byte* src;
  if (options_.tiers[l] == Tier::kSsd) {
    const size_t pslot = static_cast<size_t>(ssd_rank_[l]) % pinned_slot_owner_.size();
    src = pinned_slots_.get() + pslot * slot_bytes_;
    if (options_.verify_streamed) STRATA_RETURN_IF_ERROR(source_.Verify(layer, src));
  } else {
    src = resident_ptr_[l];
  }
  const size_t gslot = static_cast<size_t>(next_copy_) % gpu_slot_owner_.size();
  std::byte* dst = gpu_slots_.get() + gslot * slot_bytes_;
  const int32_t previous = gpu_slot_owner_[gslot];
  if (previous >= 0) {
    backend_.StreamWaitEvent(Stream::kCopy, *events_[static_cast<size_t>(previous)].compute_end);
  }
  STRATA_ASSIGN_OR_RETURN(gpu_slot_weights_[gslot], source_.Bind(layer, dst));
  LayerEvents& ev = events_[l];
  backend_.RecordEvent(*ev.h2d_start, Stream::kCopy);
  backend_.CopyToDeviceAsync(dst, src, source_.extent_bytes(layer), Stream::kCopy);
  backend_.RecordEvent(*ev.h2d_end, Stream::kCopy);
  gpu_slot_owner_[gslot] = layer;
  ++next_copy_;
  return OkStatus();
}

StatusOr<const LlamaLayerWeights*> StreamingExecutor::Acquire(int32_t layer) {
  STRATA_CHECK(in_pass_ && layer == released_);
  const auto l = static_cast<size_t>(layer);
  const Clock::time_point start = Clock::now();
  STRATA_RETURN_IF_ERROR(Pump(layer));
  const LlamaLayerWeights* weights = &gpu_weights_[l];
  if (options_.tiers[l] != Tier::kGpu) {
    // Wait for reads until this layer's copy could be issued.
    while (next_copy_ <= stream_rank_[l]) {
      StatusOr<int32_t> done = source_.WaitRead();
      --in_flight_reads_;  // a read finished, well or badly
      if (!done.ok()) return done.status();
      MarkReadDone(*done);
      STRATA_RETURN_IF_ERROR(Pump(layer));
    }
    const size_t gslot = static_cast<size_t>(stream_rank_[l]) % gpu_slot_owner_.size();
    weights = &gpu_slot_weights_[gslot];
    backend_.StreamWaitEvent(Stream::kCompute, *events_[l].h2d_end);
  }
  current_.layers[l].wait_ms = MsBetween(start, Clock::now());
  backend_.RecordEvent(*events_[l].compute_start, Stream::kCompute);
  return weights;
}

void StreamingExecutor::Release(int32_t layer) {
  STRATA_CHECK(in_pass_ && layer == released_);
  backend_.RecordEvent(*events_[static_cast<size_t>(layer)].compute_end, Stream::kCompute);
  ++released_;
}

void StreamingExecutor::EndPass() {
  if (!in_pass_) return;
  in_pass_ = false;
  if (released_ != n_) {
    Drain();
    return;
  }
  HarvestTimings();
  // Every pass visits the same layers in the same order, so the next one's first reads and
  // copies can start now instead of at its BeginPass.
  ResetPass();
  primed_ = true;
  deferred_ = Pump(0);
}

void StreamingExecutor::HarvestTimings() {
  if (n_ == 0) return;
  backend_.WaitEvent(*events_[static_cast<size_t>(n_ - 1)].compute_end);
  for (int32_t l = 0; l < n_; ++l) {
    LayerEvents& ev = events_[static_cast<size_t>(l)];
    LayerTiming& t = current_.layers[static_cast<size_t>(l)];
    t.compute_ms = backend_.ElapsedMs(*ev.compute_start, *ev.compute_end);
    if (options_.tiers[static_cast<size_t>(l)] != Tier::kGpu) {
      t.h2d_ms = backend_.ElapsedMs(*ev.h2d_start, *ev.h2d_end);
    }
  }
  current_.wall_ms =
      backend_.ElapsedMs(*pass_start_, *events_[static_cast<size_t>(n_ - 1)].compute_end);
  std::swap(current_, last_pass_);
}

void StreamingExecutor::Drain() {
  // An aborted pass: let every read land (their errors no longer matter) and every copy
  // finish, so the next pass starts afresh with free slots.
  while (in_flight_reads_ > 0) {
    (void)source_.WaitRead();
    --in_flight_reads_;
  }
  backend_.Synchronize();
  primed_ = false;
  deferred_ = OkStatus();
}

}  // namespace strata
