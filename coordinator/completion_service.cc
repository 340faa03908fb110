// CompletionService (see completion_service.h).
#include "coordinator/completion_service.h"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>

#include "coordinator/http_server.h"
#include "coordinator/logprobs_json.h"
#include "coordinator/output_text.h"

namespace strata::coordinator {

using Clock = std::chrono::steady_clock;

namespace {

int64_t UnixSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// 64 bits from the OS for a request without a seed.
uint64_t RandomSeed() {
  std::random_device device;
  return (uint64_t{device()} << 32) ^ device();
}

Status ClientGone() { return FailedPrecondition("the client disconnected"); }
Status StopStringFound() { return FailedPrecondition("a stop string ended the text"); }

Outcome OutcomeOf(const ApiError& error) {
  switch (error.http_status) {
    case 401: return Outcome::kUnauthorized;
    case 429: return Outcome::kRejected;
    case 504: return Outcome::kTimeout;
    default: return error.http_status < 500 ? Outcome::kInvalid : Outcome::kError;
  }
}

}  // namespace

// One request's timing and end, into the metrics: the time to its first token and between
// tokens as they reach the handler, then its outcome, tokens and duration (once).
class RequestRecord {
 public:
  RequestRecord(CoordinatorMetrics& metrics, Endpoint endpoint)
      : metrics_(&metrics), endpoint_(endpoint), arrived_(Clock::now()) {}

  // `n` more tokens arrived (several at once share the time since the last).
  void Tokens(size_t n) {
    if (n == 0) return;
    const auto now = Clock::now();
    const double since = std::chrono::duration<double>(now - (tokens_ == 0 ? arrived_ : last_)).count();
    if (tokens_ == 0) {
      metrics_->time_to_first_token(endpoint_).Observe(since);
      for (size_t i = 1; i < n; ++i) metrics_->inter_token_latency(endpoint_).Observe(0);
    } else {
      for (size_t i = 0; i < n; ++i) {
        metrics_->inter_token_latency(endpoint_).Observe(since / static_cast<double>(n));
      }
    }
    tokens_ += n;
    last_ = now;
  }
  void End(Outcome outcome, int32_t generated) {
    if (ended_) return;
    ended_ = true;
    metrics_->Ended(endpoint_, outcome);
    metrics_->generated_tokens().Increment(static_cast<double>(generated));
    if (outcome == Outcome::kStop || outcome == Outcome::kLength) {
      metrics_->request_duration(endpoint_).Observe(
          std::chrono::duration<double>(Clock::now() - arrived_).count());
    }
  }
  // Ends with the error's outcome and answers it.
  void Reject(httplib::Response& response, const ApiError& error, int32_t generated = 0) {
    End(OutcomeOf(error), generated);
    SendError(response, error);
  }
  bool ended() const { return ended_; }

 private:
  CoordinatorMetrics* metrics_;
  Endpoint endpoint_;
  Clock::time_point arrived_, last_;
  size_t tokens_ = 0;
  bool ended_ = false;
};

// One streamed response: what the content provider carries between its calls.
struct CompletionService::Stream {
  std::shared_ptr<Generation> generation;
  CompletionResponse body;
  RequestRecord record;
  OutputText text;
  Usage usage;
  bool return_token_ids = false;
  std::optional<LogprobsJson> logprobs;  // set when the request asked for them
  OpenAnswers::Ticket ticket;  // open until the response is done with
  Clock::time_point deadline;
  Clock::time_point last_write;
  size_t have = 0;        // output ids taken from the generation
  bool started = false;   // the first chunk (chat: the assistant role) is out
  bool ended = false;     // the last event is out; the generation needs no cancel
  // Ids taken (and their logprobs) not yet in a chunk: their text may still be held back.
  std::vector<int32_t> unsent_ids = {};
  std::vector<SampledLogprobs> unsent_logprobs = {};
};

CompletionService::CompletionService(Cluster& cluster, const ModelDirectory& model,
                                     CompletionLimits limits, CoordinatorMetrics& metrics)
    : cluster_(cluster),
      model_(model),
      limits_(limits),
      metrics_(metrics),
      started_unix_s_(UnixSeconds()) {}

std::string CompletionService::NextId(Endpoint endpoint) {
  return std::string(endpoint == Endpoint::kChatCompletions ? "chatcmpl-" : "cmpl-") +
         std::to_string(started_unix_s_) + "-" + std::to_string(next_request_number_++);
}

ApiError CompletionService::Timeout() const {
  const double seconds = std::chrono::duration<double>(limits_.request_timeout).count();
  return ApiError{504,
                  "the request did not finish within " + nlohmann::json(seconds).dump() +
                      " s (--request-timeout-s); the cluster may be overloaded or a worker "
                      "stuck: check GET /v1/cluster and the worker logs",
                  "server_error", "", "timeout", 0};
}

void CompletionService::Handle(Endpoint endpoint, const httplib::Request& request,
                               httplib::Response& response) {
  ApiError error;
  RequestRecord record(metrics_, endpoint);
  std::optional<CompletionRequest> parsed = ParseCompletionRequest(
      request.body, endpoint, model_.names, model_.tokenizer->vocab_size(), error);
  if (!parsed) return record.Reject(response, error);
  CompletionRequest& r = *parsed;
  std::optional<std::vector<int32_t>> prompt = PromptIds(r, error);
  if (!prompt) return record.Reject(response, error);

  const auto prompt_len = static_cast<int32_t>(prompt->size());
  const int32_t room = limits_.max_seq_len - prompt_len;
  const int32_t max_tokens =
      r.max_tokens.value_or(endpoint == Endpoint::kChatCompletions ? room : kDefaultMaxTokens);
  const bool chat = endpoint == Endpoint::kChatCompletions;
  if (room < 1) {
    return record.Reject(response,
                     ApiError{400,
                              "the prompt is " + std::to_string(prompt_len) +
                                  " tokens: it leaves no room to generate within the " +
                                  std::to_string(limits_.max_seq_len) +
                                  " tokens a sequence may hold (--max-seq-len); shorten it",
                              "invalid_request_error", chat ? "messages" : "prompt",
                              "context_length_exceeded", 0});
  }
  if (max_tokens > room) {
    return record.Reject(
        response,
        ApiError{400,
                 "the prompt is " + std::to_string(prompt_len) + " tokens and max_tokens is " +
                     std::to_string(max_tokens) + (r.max_tokens ? "" : " (the default)") +
                     ": together more than the " + std::to_string(limits_.max_seq_len) +
                     " tokens a sequence may hold (--max-seq-len); shorten the prompt or "
                     "lower max_tokens",
                 "invalid_request_error", "max_tokens", "context_length_exceeded", 0});
  }
  if (!r.has_seed) r.sampling.seed = RandomSeed();

  auto generation = std::make_shared<Generation>();
  generation->prompt = std::move(*prompt);
  generation->max_tokens = max_tokens;
  generation->sampling = r.sampling;
  generation->logprobs = r.logprobs;
  generation->top_logprobs = r.top_logprobs;
  // Counted open before the scheduler sees it, so that a drain starting meanwhile waits for it.
  OpenAnswers::Ticket ticket(answers_);
  const Status submitted = cluster_.Submit(generation);
  if (!submitted.ok()) return record.Reject(response, ServerError(submitted));
  metrics_.prompt_tokens().Increment(static_cast<double>(prompt_len));
  CompletionResponse body(endpoint, NextId(endpoint), UnixSeconds(), model_.name(),
                          r.include_usage);
  if (r.stream) {
    return StartStream(r, std::move(generation), std::move(body), std::move(record),
                       std::move(ticket), response);
  }
  Respond(r, generation, body, record, response);
}

std::optional<std::vector<int32_t>> CompletionService::PromptIds(const CompletionRequest& r,
                                                                 ApiError& error) const {
  const Tokenizer& tokenizer = *model_.tokenizer;
  if (r.endpoint == Endpoint::kCompletions) {
    if (r.prompt_ids) return *r.prompt_ids;
    StatusOr<std::vector<int32_t>> ids = tokenizer.Encode(r.prompt, /*add_special_tokens=*/true);
    if (!ids.ok()) {
      error = InvalidRequest("prompt", "prompt: " + ids.status().message());
      return std::nullopt;
    }
    return std::move(*ids);
  }
  if (model_.chat_template == nullptr) {
    error = InvalidRequest("messages", "this model has no usable chat template (" +
                                           model_.chat_template_error +
                                           "); use /v1/completions with a prompt instead");
    return std::nullopt;
  }
  StatusOr<std::string> rendered =
      model_.chat_template->Render(r.messages, /*add_generation_prompt=*/true);
  if (!rendered.ok()) {
    error = InvalidRequest("messages", "the model's chat template refused the messages: " +
                                           rendered.status().message());
    return std::nullopt;
  }
  // The template writes BOS itself, so the post-processor must not add another.
  StatusOr<std::vector<int32_t>> ids = tokenizer.Encode(*rendered, /*add_special_tokens=*/false);
  if (!ids.ok()) {
    error = InvalidRequest("messages", "messages: " + ids.status().message());
    return std::nullopt;
  }
  if (ids->empty()) {
    error = InvalidRequest("messages", "the messages render to an empty prompt");
    return std::nullopt;
  }
  return std::move(*ids);
}

void CompletionService::Respond(const CompletionRequest& r,
                                const std::shared_ptr<Generation>& generation,
                                const CompletionResponse& body, RequestRecord& record,
                                httplib::Response& response) {
  OutputText out(*model_.tokenizer, r.stop);
  std::string text;
  size_t have = 0;
  const auto deadline = Clock::now() + limits_.request_timeout;
  for (;;) {
    Cluster::Progress p = cluster_.AwaitProgress(
        generation, have, std::min(deadline, Clock::now() + limits_.client_check_interval));
    have += p.ids.size();
    record.Tokens(p.ids.size());
    for (int32_t id : p.ids) {
      StatusOr<std::string> piece = out.Push(id);
      if (!piece.ok()) {
        cluster_.Cancel(generation, piece.status());
        return record.Reject(response, ServerError(Internal("decoding the output: " +
                                                            piece.status().message())));
      }
      text += *piece;
      if (out.stopped()) break;
    }
    if (out.stopped()) {
      cluster_.Cancel(generation, StopStringFound());
      break;
    }
    if (p.done) {
      // Done: the scheduler no longer touches `generation`.
      if (!generation->error.ok()) {
        return record.Reject(response, ServerError(generation->error));
      }
      text += out.Finish();
      break;
    }
    if (HttpServer::ClientGone()) {
      cluster_.Cancel(generation, ClientGone());
      spdlog::info("a client disconnected; its request was cancelled");
      return record.End(Outcome::kCancelled, out.ids());
    }
    if (Clock::now() >= deadline) {
      cluster_.Cancel(generation, DeadlineExceeded("the request timed out"));
      return record.Reject(response, Timeout());
    }
  }
  // Done (or cancelled): the scheduler no longer touches `generation`.
  const std::string finish = out.stopped() ? "stop" : generation->finish_reason;
  record.End(finish == "stop" ? Outcome::kStop : Outcome::kLength, out.ids());
  const auto taken = static_cast<size_t>(out.ids());
  const std::span<const int32_t> ids(generation->output.data(), taken);
  const Usage usage{static_cast<int64_t>(generation->prompt.size()), out.ids()};
  nlohmann::json logprobs;
  if (r.logprobs) {
    logprobs = LogprobsJson(r.endpoint, *model_.tokenizer)
                   .Next(ids, std::span(generation->output_logprobs.data(),
                                        std::min(taken, generation->output_logprobs.size())));
  }
  response.set_content(
      body.Whole(text, finish, usage,
                 r.return_token_ids ? std::span<const int32_t>(generation->prompt)
                                    : std::span<const int32_t>(),
                 r.return_token_ids ? ids : std::span<const int32_t>(), std::move(logprobs)),
      "application/json");
}

void CompletionService::StartStream(const CompletionRequest& r,
                                    std::shared_ptr<Generation> generation,
                                    CompletionResponse body, RequestRecord record,
                                    OpenAnswers::Ticket ticket, httplib::Response& response) {
  auto s = std::shared_ptr<Stream>(new Stream{
      .generation = std::move(generation),
      .body = std::move(body),
      .record = std::move(record),
      .text = OutputText(*model_.tokenizer, r.stop),
      .usage = {},
      .return_token_ids = r.return_token_ids,
      .logprobs = r.logprobs ? std::optional<LogprobsJson>(
                                   std::in_place, r.endpoint, *model_.tokenizer)
                             : std::nullopt,
      .ticket = std::move(ticket),
      .deadline = Clock::now() + limits_.request_timeout,
      .last_write = Clock::now(),
  });
  s->usage.prompt_tokens = static_cast<int64_t>(s->generation->prompt.size());
  response.set_header("Cache-Control", "no-cache");
  response.set_header("X-Accel-Buffering", "no");  // proxies: pass events on at once
  response.set_chunked_content_provider(
      "text/event-stream",
      [this, s](size_t /*offset*/, httplib::DataSink& sink) { return StreamSome(*s, sink); },
      // Runs when the response is done with, also when the client left before the end.
      [this, s](bool /*success*/) {
        if (s->ended) return;
        cluster_.Cancel(s->generation, ClientGone());
        s->record.End(Outcome::kCancelled, s->text.ids());
      });
}

// One call of the content provider: waits a little for tokens and writes what is final.
// Returns false to drop the connection (the client is gone).
bool CompletionService::StreamSome(Stream& s, httplib::DataSink& sink) {
  std::string events;
  if (!s.started) {
    s.started = true;
    if (s.body.endpoint() == Endpoint::kChatCompletions) {
      events += s.body.ChunkEvent("", "", /*first=*/true, {}, nullptr);
    }
  }
  const Cluster::Progress p = cluster_.AwaitProgress(
      s.generation, s.have,
      std::min(s.deadline, Clock::now() + limits_.client_check_interval));
  std::string text;
  std::optional<ApiError> failure;
  for (size_t i = 0; i < p.ids.size(); ++i) {
    StatusOr<std::string> piece = s.text.Push(p.ids[i]);
    if (!piece.ok()) {
      failure = ServerError(Internal("decoding the output: " + piece.status().message()));
      break;
    }
    text += *piece;
    s.unsent_ids.push_back(p.ids[i]);
    if (s.logprobs && i < p.logprobs.size()) s.unsent_logprobs.push_back(p.logprobs[i]);
    if (s.text.stopped()) break;
  }
  s.have += p.ids.size();
  s.record.Tokens(p.ids.size());
  std::string_view finish;
  if (failure) {
    cluster_.Cancel(s.generation, Internal(failure->message));
  } else if (s.text.stopped()) {
    cluster_.Cancel(s.generation, StopStringFound());
    finish = "stop";
  } else if (p.done) {
    if (!s.generation->error.ok()) {
      failure = ServerError(s.generation->error);
    } else {
      text += s.text.Finish();
      finish = s.generation->finish_reason;
    }
  } else if (Clock::now() >= s.deadline) {
    cluster_.Cancel(s.generation, DeadlineExceeded("the request timed out"));
    failure = Timeout();
  }
  // A chunk carries the ids taken since the last one (and their logprobs).
  const auto chunk = [&s](std::string_view piece, std::string_view reason) {
    nlohmann::json logprobs;
    if (s.logprobs && !s.unsent_ids.empty()) {
      logprobs = s.logprobs->Next(s.unsent_ids, s.unsent_logprobs);
    }
    std::string event = s.body.ChunkEvent(
        piece, reason, false,
        s.return_token_ids ? std::span<const int32_t>(s.unsent_ids) : std::span<const int32_t>(),
        std::move(logprobs));
    s.unsent_ids.clear();
    s.unsent_logprobs.clear();
    return event;
  };
  if (!text.empty()) events += chunk(text, "");
  s.usage.completion_tokens = s.text.ids();
  if (failure) {
    events += CompletionResponse::ErrorEvent(*failure);
    s.record.End(OutcomeOf(*failure), s.text.ids());
  } else if (!finish.empty()) {
    s.record.End(finish == "stop" ? Outcome::kStop : Outcome::kLength, s.text.ids());
    events += chunk("", finish);
    if (s.body.include_usage()) events += s.body.UsageEvent(s.usage);
    events += CompletionResponse::DoneEvent();
  }
  const auto now = Clock::now();
  if (events.empty() && now - s.last_write >= limits_.keep_alive_interval) {
    events = CompletionResponse::CommentEvent();
  }
  if (!events.empty()) {
    if (!sink.write(events.data(), events.size())) return false;
    s.last_write = now;
  }
  if (failure || !finish.empty()) {
    s.ended = true;
    sink.done();
    return true;
  }
  return !HttpServer::ClientGone();
}

}  // namespace strata::coordinator
