// StreamingExecutor (see streaming_executor.h): setup of homes, chunks and rings, the per-pass
// read and copy windows, and timing collection.
#include "common/engine/streaming_executor.h"

#include <algorithm>
#include <string>

#include "common/storage/pack_format.h"
#include "common/util/direct_io.h"

namespace strata {
namespace {

float MsBetween(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<float, std::milli>(b - a).count();
}

std::string LayerName(int32_t layer) { return "layer " + std::to_string(layer); }

}  // namespace

StatusOr<std::unique_ptr<StreamingExecutor>> StreamingExecutor::Create(
    Backend& backend, LayerSource& source, const StreamingOptions& options) {
  std::unique_ptr<StreamingExecutor> e(new StreamingExecutor(backend, source, options));
  STRATA_RETURN_IF_ERROR(e->Validate());
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

Status StreamingExecutor::Validate() const {
  if (static_cast<int32_t>(options_.homes.size()) != n_) {
    return InvalidArgument("the placement names " + std::to_string(options_.homes.size()) +
                           " layers but the pack range holds " + std::to_string(n_));
  }
  bool streams = false, reads = false, loads = false;
  for (int32_t l = 0; l < n_; ++l) {
    const LayerHome& h = options_.homes[static_cast<size_t>(l)];
    const size_t extent = source_.extent_bytes(l);
    if (h.tier != Tier::kGpu && h.gpu_bytes > 0) {
      const std::vector<uint64_t> points = source_.SplitPoints(l);
      if (h.gpu_bytes >= extent || !std::binary_search(points.begin(), points.end(), h.gpu_bytes)) {
        return InvalidArgument(LayerName(l) + ": a GPU prefix of " +
                               std::to_string(h.gpu_bytes) +
                               " bytes does not end between two tensors of the layer");
      }
    }
    if (h.tier == Tier::kSsd && (h.gpu_bytes + h.pinned_bytes >= extent ||
                                 h.pinned_bytes % kDirectIoAlignment != 0)) {
      return InvalidArgument(LayerName(l) + ": a pinned part of " +
                             std::to_string(h.pinned_bytes) + " bytes must be a multiple of " +
                             std::to_string(kDirectIoAlignment) + " that leaves bytes of its " +
                             std::to_string(extent) + "-byte extent to read");
    }
    streams |= h.tier != Tier::kGpu;
    reads |= h.tier == Tier::kSsd;
    loads |= h.tier != Tier::kPinned || h.gpu_bytes > 0;
  }
  if (streams && options_.gpu_slots < 1) {
    return InvalidArgument("streamed layers need at least one GPU staging slot");
  }
  if ((reads || loads) && (options_.staging_chunks < 1 || options_.chunk_bytes == 0 ||
                           options_.chunk_bytes % kDirectIoAlignment != 0)) {
    return InvalidArgument("reading layers needs a staging ring of at least one chunk of a "
                           "positive multiple of " + std::to_string(kDirectIoAlignment) +
                           " bytes (got " + std::to_string(options_.staging_chunks) +
                           " chunks of " + std::to_string(options_.chunk_bytes) + " bytes)");
  }
  if (options_.staging_chunks > source_.max_reads()) {
    return InvalidArgument("a staging ring of " + std::to_string(options_.staging_chunks) +
                           " chunks needs a reader that takes as many reads at once; it takes " +
                           std::to_string(source_.max_reads()));
  }
  return OkStatus();
}

Status StreamingExecutor::Setup() {
  const auto n = static_cast<size_t>(n_);
  stream_rank_.assign(n, -1);
  gpu_prefix_.assign(n, 0);
  pinned_part_.assign(n, 0);
  first_chunk_.assign(n, 0);
  chunk_count_.assign(n, 0);
  size_t resident_gpu = 0, resident_pinned = 0, slot = 0;
  bool loads = false;
  for (int32_t l = 0; l < n_; ++l) {
    const auto i = static_cast<size_t>(l);
    const size_t bytes = source_.extent_bytes(l);
    const LayerHome& h = options_.homes[i];
    first_chunk_[i] = static_cast<int32_t>(chunks_.size());
    if (h.tier == Tier::kGpu) {
      resident_gpu += bytes;
      loads = true;
      continue;
    }
    stream_rank_[i] = static_cast<int32_t>(stream_order_.size());
    stream_order_.push_back(l);
    gpu_prefix_[i] = h.gpu_bytes;
    pinned_part_[i] = h.tier == Tier::kPinned ? bytes - h.gpu_bytes : h.pinned_bytes;
    slot = std::max(slot, bytes - h.gpu_bytes);
    h2d_bytes_per_pass_ += bytes - h.gpu_bytes;
    resident_gpu += gpu_prefix_[i];
    resident_pinned += pinned_part_[i];
    loads |= gpu_prefix_[i] > 0;
    for (size_t off = gpu_prefix_[i] + pinned_part_[i]; off < bytes; off += options_.chunk_bytes) {
      chunks_.push_back({l, off, std::min(options_.chunk_bytes, bytes - off), nullptr, nullptr});
      ssd_bytes_per_pass_ += chunks_.back().bytes;
      loads = true;
    }
    chunk_count_[i] = static_cast<int32_t>(chunks_.size()) - first_chunk_[i];
  }
  slot_bytes_ = (slot + kDirectIoAlignment - 1) / kDirectIoAlignment * kDirectIoAlignment;
  const size_t g = stream_order_.empty()
                       ? 0
                       : std::min(stream_order_.size(), static_cast<size_t>(options_.gpu_slots));
  const size_t r = loads ? static_cast<size_t>(options_.staging_chunks) : 0;
  gpu_bytes_ = resident_gpu + g * slot_bytes_;
  pinned_bytes_ = resident_pinned + r * options_.chunk_bytes;

  if (r > 0) {
    STRATA_ASSIGN_OR_RETURN(ring_data_, backend_.AllocatePinned(r * options_.chunk_bytes));
  }
  if (g > 0) {
    STRATA_ASSIGN_OR_RETURN(gpu_slots_, backend_.Allocate(g * slot_bytes_));
  }
  ring_.assign(r, RingSlot{});
  for (size_t s = 0; s < r; ++s) ring_copied_.push_back(backend_.CreateEvent());
  gpu_slot_owner_.assign(g, -1);
  gpu_slot_weights_.resize(g);
  events_.resize(n);
  for (LayerEvents& ev : events_) {
    ev.h2d_start = backend_.CreateEvent();
    ev.prefix_end = backend_.CreateEvent();
    ev.h2d_end = backend_.CreateEvent();
    ev.compute_start = backend_.CreateEvent();
    ev.compute_end = backend_.CreateEvent();
  }
  for (Chunk& c : chunks_) {
    c.copy_start = backend_.CreateEvent();
    c.copy_end = backend_.CreateEvent();
  }
  pass_start_ = backend_.CreateEvent();
  chunk_done_.assign(chunks_.size(), 0);
  chunk_submitted_.resize(chunks_.size());
  current_.layers.resize(n);
  last_pass_.layers.resize(n);
  return LoadResidentLayers();
}

Status StreamingExecutor::LoadResidentLayers() {
  const auto n = static_cast<size_t>(n_);
  pinned_ptr_.assign(n, nullptr);
  gpu_prefix_ptr_.assign(n, nullptr);
  gpu_weights_.resize(n);
  prefix_hash_.resize(n);
  for (int32_t l = 0; l < n_; ++l) {
    const auto i = static_cast<size_t>(l);
    const size_t bytes = source_.extent_bytes(l);
    Xxh3Stream hash;
    if (options_.homes[i].tier == Tier::kGpu) {
      STRATA_ASSIGN_OR_RETURN(DeviceBuffer buf, backend_.Allocate(bytes));
      STRATA_RETURN_IF_ERROR(ReadThroughRing(l, 0, bytes, hash, buf.get()));
      STRATA_ASSIGN_OR_RETURN(gpu_weights_[i], source_.Bind(l, buf.get()));
      resident_.push_back(std::move(buf));
      STRATA_RETURN_IF_ERROR(source_.VerifyDigest(l, hash.Digest()));
      continue;
    }
    const size_t gpu = gpu_prefix_[i], pinned = pinned_part_[i];
    if (gpu + pinned == 0) continue;  // wholly read every pass; checked then if verify_streamed
    // Resident parts land in place, in extent order; a split layer's rest passes through the
    // ring once, so the whole extent is checksummed before it is trusted.
    if (gpu > 0) {
      STRATA_ASSIGN_OR_RETURN(DeviceBuffer buf, backend_.Allocate(gpu));
      STRATA_RETURN_IF_ERROR(ReadThroughRing(l, 0, gpu, hash, buf.get()));
      gpu_prefix_ptr_[i] = buf.get();
      resident_.push_back(std::move(buf));
    }
    if (pinned > 0) {
      STRATA_ASSIGN_OR_RETURN(DeviceBuffer buf, backend_.AllocatePinned(pinned));
      STRATA_RETURN_IF_ERROR(source_.SubmitRead({l, -1}, gpu, pinned, buf.get()));
      STRATA_ASSIGN_OR_RETURN(const ReadId done, source_.WaitRead());
      STRATA_CHECK(done.layer == l);
      hash.Update(buf.get(), pinned);
      pinned_ptr_[i] = buf.get();
      resident_.push_back(std::move(buf));
    }
    prefix_hash_[i] = hash;
    STRATA_RETURN_IF_ERROR(ReadThroughRing(l, gpu + pinned, bytes, hash, nullptr));
    STRATA_RETURN_IF_ERROR(source_.VerifyDigest(l, hash.Digest()));
  }
  return OkStatus();
}

Status StreamingExecutor::ReadThroughRing(int32_t layer, size_t from, size_t to,
                                          Xxh3Stream& hash, std::byte* device_dst) {
  std::byte* staging = RingData(0);
  for (size_t off = from; off < to; off += options_.chunk_bytes) {
    const size_t piece = std::min(options_.chunk_bytes, to - off);
    STRATA_RETURN_IF_ERROR(source_.SubmitRead({layer, -1}, off, piece, staging));
    STRATA_ASSIGN_OR_RETURN(const ReadId done, source_.WaitRead());
    STRATA_CHECK(done.layer == layer);
    hash.Update(staging, piece);
    if (device_dst != nullptr) backend_.CopyToDevice(device_dst + (off - from), staging, piece);
  }
  return OkStatus();
}

void StreamingExecutor::ResetPass() {
  next_read_ = next_copy_chunk_ = next_copy_ = released_ = 0;
  copy_started_ = false;
  std::fill(chunk_done_.begin(), chunk_done_.end(), 0);
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
    pass_begun_ = Clock::now();
    timing_reads_ = true;
    st = Pump(0);
  }
  if (!st.ok()) {
    Drain();  // the caller will not end a pass that did not begin
    return st;
  }
  in_pass_ = true;
  return OkStatus();
}

void StreamingExecutor::MarkReadDone(int32_t chunk) {
  const auto c = static_cast<size_t>(chunk);
  chunk_done_[c] = 1;
  // The disk serves queued reads one after another, so a read's own time runs from its
  // submission or the previous completion, whichever came later, and not from before its
  // pass began: a read issued ahead (at the end of the last pass) that finished while the
  // executor was between passes cost the pass nothing.
  const Clock::time_point now = Clock::now();
  const Clock::time_point start = std::max({chunk_submitted_[c], last_read_done_, pass_begun_});
  if (timing_reads_) {
    current_.layers[static_cast<size_t>(chunks_[c].layer)].ssd_read_ms += MsBetween(start, now);
  }
  last_read_done_ = now;
}

bool StreamingExecutor::RingSlotFree(size_t slot) {
  RingSlot& s = ring_[slot];
  if (s.state == RingState::kCopying && backend_.EventDone(*ring_copied_[slot])) {
    s.state = RingState::kFree;
  }
  return s.state == RingState::kFree;
}

Status StreamingExecutor::Pump(int32_t current) {
  // Reads: chunks in order, as far ahead as the ring has free slots.
  while (next_read_ < static_cast<int32_t>(chunks_.size())) {
    const size_t slot = static_cast<size_t>(next_read_) % ring_.size();
    if (!RingSlotFree(slot)) break;
    const Chunk& c = chunks_[static_cast<size_t>(next_read_)];
    chunk_submitted_[static_cast<size_t>(next_read_)] = Clock::now();
    STRATA_RETURN_IF_ERROR(
        source_.SubmitRead({c.layer, next_read_}, c.offset, c.bytes, RingData(slot)));
    ring_[slot] = {RingState::kReading, next_read_};
    ++in_flight_reads_;
    ++next_read_;
  }
  // Completions that have arrived.
  while (in_flight_reads_ > 0) {
    ReadId done;
    StatusOr<bool> any = source_.PollRead(&done);
    if (any.ok() && !*any) break;
    --in_flight_reads_;  // a read finished, well or badly
    if (!any.ok()) return any.status();
    MarkReadDone(done.piece);
  }
  return IssueCopies(current);
}

Status StreamingExecutor::IssueCopies(int32_t current) {
  const int32_t ahead = static_cast<int32_t>(gpu_slot_owner_.size()) - 1;
  while (next_copy_ < static_cast<int32_t>(stream_order_.size())) {
    const int32_t layer = stream_order_[static_cast<size_t>(next_copy_)];
    // The GPU slot's previous owner is released only up to layer `current` - 1.
    if (layer > current + ahead) break;
    const auto l = static_cast<size_t>(layer);
    const size_t gslot = static_cast<size_t>(next_copy_) % gpu_slot_owner_.size();
    std::byte* dst = gpu_slots_.get() + gslot * slot_bytes_;
    LayerEvents& ev = events_[l];
    if (!copy_started_) {
      const int32_t previous = gpu_slot_owner_[gslot];
      if (previous >= 0) {
        backend_.StreamWaitEvent(Stream::kCopy, *events_[static_cast<size_t>(previous)].compute_end);
      }
      STRATA_ASSIGN_OR_RETURN(gpu_slot_weights_[gslot],
                              gpu_prefix_[l] > 0
                                  ? source_.BindSplit(layer, gpu_prefix_ptr_[l], gpu_prefix_[l], dst)
                                  : source_.Bind(layer, dst));
      gpu_slot_owner_[gslot] = layer;
      backend_.RecordEvent(*ev.h2d_start, Stream::kCopy);
      if (pinned_part_[l] > 0) {
        backend_.CopyToDeviceAsync(dst, pinned_ptr_[l], pinned_part_[l], Stream::kCopy);
      }
      backend_.RecordEvent(*ev.prefix_end, Stream::kCopy);
      if (options_.verify_streamed) stream_hash_ = prefix_hash_[l];
      copy_started_ = true;
    }
    const int32_t end = first_chunk_[l] + chunk_count_[l];
    while (next_copy_chunk_ < end && chunk_done_[static_cast<size_t>(next_copy_chunk_)]) {
      STRATA_RETURN_IF_ERROR(CopyChunk(next_copy_chunk_));
      ++next_copy_chunk_;
    }
    if (next_copy_chunk_ < end) break;  // waiting for a read
    if (options_.verify_streamed && chunk_count_[l] > 0) {
      STRATA_RETURN_IF_ERROR(source_.VerifyDigest(layer, stream_hash_.Digest()));
    }
    backend_.RecordEvent(*ev.h2d_end, Stream::kCopy);
    copy_started_ = false;
    ++next_copy_;
  }
  return OkStatus();
}

Status StreamingExecutor::CopyChunk(int32_t chunk) {
  Chunk& c = chunks_[static_cast<size_t>(chunk)];
  const size_t slot = static_cast<size_t>(chunk) % ring_.size();
  STRATA_CHECK(ring_[slot].chunk == chunk && ring_[slot].state == RingState::kReading);
  const std::byte* src = RingData(slot);
  if (options_.verify_streamed) stream_hash_.Update(src, c.bytes);
  const size_t gslot = static_cast<size_t>(next_copy_) % gpu_slot_owner_.size();
  // The slot holds the extent from the end of the layer's GPU prefix on.
  std::byte* dst = gpu_slots_.get() + gslot * slot_bytes_ +
                   (c.offset - gpu_prefix_[static_cast<size_t>(c.layer)]);
  backend_.RecordEvent(*c.copy_start, Stream::kCopy);
  backend_.CopyToDeviceAsync(dst, src, c.bytes, Stream::kCopy);
  backend_.RecordEvent(*c.copy_end, Stream::kCopy);
  backend_.RecordEvent(*ring_copied_[slot], Stream::kCopy);
  ring_[slot].state = RingState::kCopying;
  return OkStatus();
}

Status StreamingExecutor::WaitForProgress() {
  if (in_flight_reads_ > 0) {
    StatusOr<ReadId> done = source_.WaitRead();
    --in_flight_reads_;  // a read finished, well or badly
    if (!done.ok()) return done.status();
    MarkReadDone(done->piece);
    return OkStatus();
  }
  // No read in flight: the next read waits for its ring slot, whose chunk belongs to a layer
  // at or before the one being acquired, so its copy has been issued and will complete.
  const size_t slot = static_cast<size_t>(next_read_) % ring_.size();
  STRATA_CHECK(ring_[slot].state == RingState::kCopying);
  backend_.WaitEvent(*ring_copied_[slot]);
  ring_[slot].state = RingState::kFree;
  return OkStatus();
}

StatusOr<const LlamaLayerWeights*> StreamingExecutor::Acquire(int32_t layer) {
  STRATA_CHECK(in_pass_ && layer == released_);
  const auto l = static_cast<size_t>(layer);
  const Clock::time_point start = Clock::now();
  STRATA_RETURN_IF_ERROR(Pump(layer));
  const LlamaLayerWeights* weights = &gpu_weights_[l];
  if (options_.homes[l].tier != Tier::kGpu) {
    while (next_copy_ <= stream_rank_[l]) {
      STRATA_RETURN_IF_ERROR(WaitForProgress());
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
  timing_reads_ = false;
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
    const auto i = static_cast<size_t>(l);
    LayerEvents& ev = events_[i];
    LayerTiming& t = current_.layers[i];
    t.compute_ms = backend_.ElapsedMs(*ev.compute_start, *ev.compute_end);
    if (options_.homes[i].tier == Tier::kGpu) continue;
    t.h2d_ms = pinned_part_[i] > 0 ? backend_.ElapsedMs(*ev.h2d_start, *ev.prefix_end) : 0;
    for (int32_t c = first_chunk_[i]; c < first_chunk_[i] + chunk_count_[i]; ++c) {
      Chunk& chunk = chunks_[static_cast<size_t>(c)];
      t.h2d_ms += backend_.ElapsedMs(*chunk.copy_start, *chunk.copy_end);
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
  for (RingSlot& s : ring_) s = RingSlot{};
  copy_started_ = false;
  primed_ = false;
  deferred_ = OkStatus();
}

}  // namespace strata
