// The OpenAI-compatible API of a real Coordinator with fake workers (coordinator_fixture.h):
// chat completions, streaming (SSE shape, tokens as they come, streamed text equal to the
// whole text), stop strings across tokens, prompts as token ids, the API key, backpressure
// (429), cancellation by a client that disconnects (open sequences counted, the sequence
// closed on the worker), a worker lost mid-stream, the routes (/health, /ready, 405, 404,
// 408), served names and aliases, pipelining, and keep-alive without added latency.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

#include "tests/support/raw_http_client.h"
#include "tests/unit/coordinator/coordinator_fixture.h"

namespace strata::coordinator {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using strata::testing::RawHttpClient;
using testing::CoordinatorTest;
using testing::FakeWorker;
using testing::FakeWorkerOptions;
using testing::Limits;
using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

double Millis(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

const Json kChat = Json::array({{{"role", "system"}, {"content", "Be terse."}},
                                {{"role", "user"}, {"content", "Say hello."}}});

// One SSE event: its data, and when it arrived.
struct Event {
  std::string data;
  Clock::time_point at;
};

class OpenAiApiTest : public CoordinatorTest {
 protected:
  // Serves with one fake worker whose steps take `step_time`.
  FakeWorker& Serve(Limits limits = {}, std::chrono::milliseconds step_time = 0ms) {
    Start(1, limits);
    FakeWorkerOptions o = Options("w0");
    o.step_time = step_time;
    FakeWorker& w = Add(o);
    EXPECT_TRUE(w.WaitForAnswer(10s));
    EXPECT_TRUE(coordinator_->cluster().WaitForState(ClusterState::kServing, 10s));
    return w;
  }

  httplib::Result Post(const std::string& path, const Json& body,
                       const httplib::Headers& headers = {}) {
    return http_->Post(path.c_str(), headers, body.dump(), "application/json");
  }

  // POSTs a streaming request; returns its events in order. `keep_going` may end the read
  // early (the client hangs up). `status` is the HTTP status.
  std::vector<Event> Stream(const std::string& path, const Json& body, int* status = nullptr,
                            const std::function<bool(const Event&)>& keep_going = nullptr) {
    httplib::Client client("127.0.0.1", coordinator_->http_port());
    client.set_read_timeout(30, 0);
    std::vector<Event> events;
    std::string pending;
    httplib::Request req;
    req.method = "POST";
    req.path = path;
    req.body = body.dump();
    req.set_header("Content-Type", "application/json");
    req.content_receiver = [&](const char* data, size_t size, uint64_t, uint64_t) {
      pending.append(data, size);
      size_t end;
      while ((end = pending.find("\n\n")) != std::string::npos) {
        const std::string event = pending.substr(0, end);
        pending.erase(0, end + 2);
        if (event.rfind("data: ", 0) != 0) continue;  // a comment
        events.push_back({event.substr(6), Clock::now()});
        if (keep_going && !keep_going(events.back())) return false;
      }
      return true;
    };
    const httplib::Result res = client.send(req);
    if (status != nullptr) *status = res ? res->status : -1;
    return events;
  }

  // The text of a streamed response: the concatenated content of its chunks.
  static std::string StreamedText(const std::vector<Event>& events, bool chat) {
    std::string text;
    for (const Event& e : events) {
      if (e.data == "[DONE]") continue;
      const Json j = Json::parse(e.data);
      if (j["choices"].empty()) continue;
      const Json& c = j["choices"][0];
      if (chat) {
        if (c["delta"].contains("content")) text += c["delta"]["content"].get<std::string>();
      } else {
        text += c["text"].get<std::string>();
      }
    }
    return text;
  }

  Json ClusterStatus() {
    const auto res = http_->Get("/v1/cluster");
    return res ? Json::parse(res->body) : Json();
  }

  // Waits until GET /v1/cluster's `field` equals `value`; the time it took, or -1.
  double WaitForStatus(const std::string& field, int64_t value, std::chrono::milliseconds timeout) {
    const auto start = Clock::now();
    while (Clock::now() - start < timeout) {
      if (ClusterStatus()[field] == value) return Millis(Clock::now() - start);
      std::this_thread::sleep_for(5ms);
    }
    return -1;
  }
};

TEST_F(OpenAiApiTest, AChatCompletionHasOpenAIsShape) {
  Serve();
  const auto res = Post("/v1/chat/completions",
                        {{"messages", kChat}, {"max_tokens", 5}, {"temperature", 0},
                         {"model", "tiny-llama31"}, {"return_token_ids", true}});
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  const Json j = Json::parse(res->body);
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_THAT(j["id"].get<std::string>(), ::testing::StartsWith("chatcmpl-"));
  EXPECT_EQ(j["model"], "tiny-llama31");
  const Json& choice = j["choices"][0];
  EXPECT_EQ(choice["message"]["role"], "assistant");
  EXPECT_EQ(choice["finish_reason"], "length");
  EXPECT_EQ(choice["token_ids"], Json({500, 501, 502, 503, 504}));
  const std::vector<int32_t> ids = {500, 501, 502, 503, 504};
  const StatusOr<std::string> text = LoadModelDirectory(testing::kModelDir)->tokenizer->Decode(ids, true);
  EXPECT_EQ(choice["message"]["content"], *text);
  // The prompt is the chat template's rendering: BOS from the template, once.
  const Json prompt = j["prompt_token_ids"];
  EXPECT_EQ(prompt[0], 128000);
  EXPECT_NE(prompt[1], 128000);
  EXPECT_EQ(j["usage"]["prompt_tokens"], prompt.size());
  EXPECT_EQ(j["usage"]["completion_tokens"], 5);
  EXPECT_EQ(j["usage"]["total_tokens"], prompt.size() + 5);
}

TEST_F(OpenAiApiTest, StreamedTextEqualsTheWholeTextOnBothEndpoints) {
  Serve();
  for (const bool chat : {true, false}) {
    SCOPED_TRACE(chat ? "chat" : "completions");
    const std::string path = chat ? "/v1/chat/completions" : "/v1/completions";
    Json body = {{"max_tokens", 6}, {"temperature", 0}};
    if (chat) {
      body["messages"] = kChat;
    } else {
      body["prompt"] = "Once upon a time";
    }
    const auto whole = Post(path, body);
    ASSERT_TRUE(whole);
    ASSERT_EQ(whole->status, 200) << whole->body;
    const Json w = Json::parse(whole->body);
    body["stream"] = true;
    body["stream_options"] = {{"include_usage", true}};
    int status = 0;
    const std::vector<Event> events = Stream(path, body, &status);
    EXPECT_EQ(status, 200);
    ASSERT_GE(events.size(), 4u);
    EXPECT_EQ(events.back().data, "[DONE]");
    const Json usage = Json::parse(events[events.size() - 2].data);
    EXPECT_TRUE(usage["choices"].empty());
    EXPECT_EQ(usage["usage"], w["usage"]);
    const Json last = Json::parse(events[events.size() - 3].data);
    EXPECT_EQ(last["choices"][0]["finish_reason"], "length");
    int finishes = 0;
    for (size_t i = 0; i + 2 < events.size(); ++i) {
      const Json e = Json::parse(events[i].data);
      EXPECT_EQ(e["object"], chat ? "chat.completion.chunk" : "text_completion");
      EXPECT_EQ(e["id"], Json::parse(events[0].data)["id"]);
      EXPECT_TRUE(e["usage"].is_null());
      finishes += !e["choices"][0]["finish_reason"].is_null();
    }
    EXPECT_EQ(finishes, 1);
    if (chat) {
      EXPECT_EQ(Json::parse(events[0].data)["choices"][0]["delta"]["role"], "assistant");
    }
    const std::string whole_text = chat ? w["choices"][0]["message"]["content"].get<std::string>()
                                        : w["choices"][0]["text"].get<std::string>();
    EXPECT_EQ(StreamedText(events, chat), whole_text);
  }
}

TEST_F(OpenAiApiTest, AStreamSendsTokensAsTheyAreProduced) {
  Serve({}, /*step_time=*/100ms);
  const std::vector<Event> events =
      Stream("/v1/completions", {{"prompt", "a"}, {"max_tokens", 6}, {"stream", true}});
  ASSERT_GE(events.size(), 4u);
  // The first text came out about five steps before the end, not with it.
  const auto first_text = std::find_if(events.begin(), events.end(), [](const Event& e) {
    return e.data != "[DONE]" && !Json::parse(e.data)["choices"][0]["text"].get<std::string>().empty();
  });
  ASSERT_NE(first_text, events.end());
  EXPECT_GT(Millis(events.back().at - first_text->at), 300.0);
}

TEST_F(OpenAiApiTest, AStopStringAcrossTokensEndsTheTextBeforeItInBothModes) {
  FakeWorker& worker = Serve();
  const StatusOr<ModelDirectory> model = LoadModelDirectory(testing::kModelDir);
  const Tokenizer& tokenizer = *model->tokenizer;
  const auto decode = [&](std::vector<int32_t> ids) { return *tokenizer.Decode(ids, true); };
  // The fake's tokens are 500, 501, ...; a stop string across the 3rd and 4th.
  const std::string third = decode({502});
  const std::string fourth = decode({503});
  ASSERT_FALSE(third.empty() || fourth.empty());
  const std::string stop = third.substr(third.size() - 1) + fourth.substr(0, 1);
  const std::string text = decode({500, 501, 502, 503, 504, 505, 506, 507});
  const std::string expected = text.substr(0, text.find(stop));
  ASSERT_LT(expected.size(), text.size());
  for (const bool stream : {false, true}) {
    SCOPED_TRACE(stream ? "streamed" : "whole");
    const Json body = {{"prompt", "x"}, {"max_tokens", 8}, {"stop", {"never-seen", stop}},
                       {"stream", stream}};
    if (stream) {
      const std::vector<Event> events = Stream("/v1/completions", body);
      ASSERT_GE(events.size(), 2u);
      EXPECT_EQ(StreamedText(events, false), expected);
      EXPECT_EQ(Json::parse(events[events.size() - 2].data)["choices"][0]["finish_reason"], "stop");
    } else {
      const auto res = Post("/v1/completions", body);
      ASSERT_TRUE(res);
      ASSERT_EQ(res->status, 200) << res->body;
      const Json j = Json::parse(res->body);
      EXPECT_EQ(j["choices"][0]["text"], expected);
      EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
      EXPECT_EQ(j["usage"]["completion_tokens"], 4);  // the 4th token completed the stop string
    }
  }
  // Each request was ended at its stop string: its sequence is closed on the worker.
  EXPECT_TRUE(worker.WaitUntil([](FakeWorker& w) { return w.closes.size() == 2; }, 5s));
  EXPECT_EQ(WaitForStatus("open_sequences", 0, 5s) >= 0, true);
}

TEST_F(OpenAiApiTest, LogprobsComeInEachEndpointsShapeWholeAndStreamed) {
  Serve();
  const StatusOr<ModelDirectory> model = LoadModelDirectory(testing::kModelDir);
  const auto token_text = [&](int32_t id) { return *model->tokenizer->Decode(std::vector{id}, false); };
  for (const bool stream : {false, true}) {
    SCOPED_TRACE(stream ? "streamed" : "whole");
    // Completions: `logprobs: 2` = the sampled token's and 2 alternatives.
    Json body = {{"prompt", "x"}, {"max_tokens", 3}, {"logprobs", 2}, {"stream", stream}};
    Json lp;
    const auto merge = [&](const Json& part) {
      if (part.is_null()) return;
      if (lp.is_null()) {
        lp = part;
        return;
      }
      for (const auto& [key, value] : part.items()) {
        if (value.is_array()) lp[key].insert(lp[key].end(), value.begin(), value.end());
      }
    };
    // The choice's logprobs of a request to `path`, chunks merged.
    const auto collect = [&](const std::string& path) {
      lp = nullptr;
      if (stream) {
        for (const Event& e : Stream(path, body)) {
          if (e.data != "[DONE]") merge(Json::parse(e.data)["choices"][0]["logprobs"]);
        }
        return;
      }
      const auto res = Post(path, body);
      ASSERT_TRUE(res && res->status == 200);
      merge(Json::parse(res->body)["choices"][0]["logprobs"]);
    };
    collect("/v1/completions");
    ASSERT_EQ(lp["tokens"].size(), 3u) << lp.dump();
    for (int n = 0; n < 3; ++n) {
      EXPECT_EQ(lp["tokens"][n], token_text(500 + n));
      EXPECT_FLOAT_EQ(lp["token_logprobs"][n].get<float>(), testing::FakeLogprob(n, 0));
      EXPECT_EQ(lp["top_logprobs"][n].size(), 2u);
      EXPECT_FLOAT_EQ(lp["top_logprobs"][n][token_text(501 + n)].get<float>(),
                      testing::FakeLogprob(n, 1));
    }
    EXPECT_EQ(lp["text_offset"][0], 0);
    EXPECT_EQ(lp["text_offset"][1], token_text(500).size());

    // Chat: `logprobs: true, top_logprobs: 1`.
    body = {{"messages", kChat}, {"max_tokens", 2}, {"logprobs", true}, {"top_logprobs", 1},
            {"stream", stream}};
    collect("/v1/chat/completions");
    ASSERT_EQ(lp["content"].size(), 2u) << lp.dump();
    const Json& first = lp["content"][0];
    EXPECT_EQ(first["token"], token_text(500));
    EXPECT_FLOAT_EQ(first["logprob"].get<float>(), testing::FakeLogprob(0, 0));
    EXPECT_EQ(first["bytes"].size(), token_text(500).size());
    ASSERT_EQ(first["top_logprobs"].size(), 1u);
    EXPECT_EQ(first["top_logprobs"][0]["token"], token_text(500));
  }
  // Not asked for: null.
  const auto plain = Post("/v1/completions", {{"prompt", "x"}, {"max_tokens", 1}});
  ASSERT_TRUE(plain);
  EXPECT_TRUE(Json::parse(plain->body)["choices"][0]["logprobs"].is_null());
}

TEST_F(OpenAiApiTest, APromptOfTokenIdsIsUsedAsGiven) {
  Serve();
  const auto res = Post("/v1/completions", {{"prompt", {11, 22, 33}}, {"max_tokens", 2},
                                            {"return_token_ids", true}});
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  const Json j = Json::parse(res->body);
  EXPECT_EQ(j["prompt_token_ids"], Json({11, 22, 33}));
  EXPECT_EQ(j["usage"]["prompt_tokens"], 3);
}

TEST_F(OpenAiApiTest, AnApiKeyGuardsTheV1RoutesOnly) {
  Serve(Limits{.api_key = "sk-strata-test-key"});
  for (const std::string presented : {"", "Bearer wrong-key-1234", "Basic sk-strata-test-key"}) {
    SCOPED_TRACE(presented);
    httplib::Headers headers;
    if (!presented.empty()) headers.emplace("Authorization", presented);
    for (const auto& res : {Post("/v1/completions", {{"prompt", "x"}}, headers),
                            http_->Get("/v1/models", headers), http_->Get("/v1/cluster", headers)}) {
      ASSERT_TRUE(res);
      EXPECT_EQ(res->status, 401);
      const Json e = Json::parse(res->body)["error"];
      EXPECT_EQ(e["code"], "invalid_api_key");
      EXPECT_EQ(e["type"], "invalid_request_error");
      EXPECT_THAT(res->body, Not(HasSubstr("wrong-key-1234")));
      EXPECT_THAT(res->body, Not(HasSubstr("sk-strata")));
    }
  }
  EXPECT_EQ(http_->Get("/health")->status, 200);
  EXPECT_EQ(http_->Get("/ready")->status, 200);
  const httplib::Headers good = {{"Authorization", "Bearer sk-strata-test-key"}};
  EXPECT_EQ(http_->Get("/v1/models", good)->status, 200);
  EXPECT_EQ(http_->Get("/v1/models", {{"Authorization", "bearer sk-strata-test-key"}})->status, 200);
  const auto res = Post("/v1/completions", {{"prompt", "x"}, {"max_tokens", 1}}, good);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
}

TEST_F(OpenAiApiTest, BeyondTheQueueIsA429WithRetryAfterAndNothingAcceptedIsDropped) {
  Serve(Limits{.kv_slots = 1, .max_queued_requests = 1}, /*step_time=*/20ms);
  const Json body = {{"prompt", "x"}, {"max_tokens", 20}};
  auto running = std::async(std::launch::async, [&] {
    httplib::Client c("127.0.0.1", coordinator_->http_port());
    const auto r = c.Post("/v1/completions", body.dump(), "application/json");
    return r ? r->status : -1;
  });
  ASSERT_GE(WaitForStatus("open_sequences", 1, 5s), 0);
  auto queued = std::async(std::launch::async, [&] {
    httplib::Client c("127.0.0.1", coordinator_->http_port());
    const auto r = c.Post("/v1/completions", body.dump(), "application/json");
    return r ? r->status : -1;
  });
  ASSERT_GE(WaitForStatus("queued_requests", 1, 5s), 0);
  const auto refused = Post("/v1/completions", body);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 429);
  EXPECT_EQ(refused->get_header_value("Retry-After"), "1");
  const Json e = Json::parse(refused->body)["error"];
  EXPECT_EQ(e["type"], "rate_limit_error");
  EXPECT_THAT(e["message"].get<std::string>(), HasSubstr("--max-queued-requests"));
  EXPECT_EQ(running.get(), 200);
  EXPECT_EQ(queued.get(), 200);
}

TEST_F(OpenAiApiTest, AClientThatHangsUpCancelsItsRequestWithinAStep) {
  FakeWorker& worker = Serve({}, /*step_time=*/20ms);
  for (const bool stream : {false, true}) {
    SCOPED_TRACE(stream ? "streamed" : "whole");
    const size_t closes_before = worker.closes.size();
    const Json body = {{"prompt", "x"}, {"max_tokens", 200}, {"stream", stream}};
    Clock::time_point hung_up;
    if (stream) {
      // The client reads two events, then drops the connection.
      int seen = 0;
      Stream("/v1/completions", body, nullptr, [&](const Event&) {
        if (++seen < 2) return true;
        hung_up = Clock::now();
        return false;
      });
    } else {
      RawHttpClient client(coordinator_->http_port());
      ASSERT_TRUE(client.connected());
      const std::string json = body.dump();
      ASSERT_TRUE(client.Send("POST /v1/completions HTTP/1.1\r\nHost: t\r\nContent-Type: "
                              "application/json\r\nContent-Length: " +
                              std::to_string(json.size()) + "\r\n\r\n" + json));
      ASSERT_GE(WaitForStatus("open_sequences", 1, 5s), 0);
      std::this_thread::sleep_for(100ms);
      hung_up = Clock::now();
      client.Close();
    }
    ASSERT_GE(WaitForStatus("open_sequences", 0, 5s), 0);
    const double freed_ms = Millis(Clock::now() - hung_up);
    EXPECT_LT(freed_ms, 500.0);  // a 100 ms client check plus a 20 ms step, with slack
    EXPECT_TRUE(worker.WaitUntil(
        [&](FakeWorker& w) { return w.closes.size() == closes_before + 1; }, 1s));
  }
  // Both stopped long before their 200 tokens (20 ms a step).
  EXPECT_LT(worker.steps.size(), 100u);
}

TEST_F(OpenAiApiTest, AWorkerLostMidStreamEndsTheStreamWithAnErrorEvent) {
  FakeWorker& worker = Serve(Limits{.recover = false}, /*step_time=*/30ms);
  int seen = 0;
  const auto start = Clock::now();
  const std::vector<Event> events =
      Stream("/v1/completions", {{"prompt", "x"}, {"max_tokens", 200}, {"stream", true}}, nullptr,
             [&](const Event&) {
               if (++seen == 2) worker.Drop();
               return true;
             });
  EXPECT_LT(Millis(Clock::now() - start), 3000.0);
  ASSERT_FALSE(events.empty());
  const Json last = Json::parse(events.back().data);
  ASSERT_TRUE(last.contains("error")) << events.back().data;
  EXPECT_EQ(last["error"]["code"], "cluster_unavailable");
  EXPECT_THAT(last["error"]["message"].get<std::string>(), HasSubstr("w0"));
}

TEST_F(OpenAiApiTest, RoutesAnswerHealthReadinessAndWrongMethods) {
  Start(1);
  EXPECT_EQ(http_->Get("/health")->status, 200);
  const auto not_ready = http_->Get("/ready");
  ASSERT_TRUE(not_ready);
  EXPECT_EQ(not_ready->status, 503);
  EXPECT_EQ(not_ready->get_header_value("Retry-After"), "5");
  EXPECT_THAT(Json::parse(not_ready->body)["reason"].get<std::string>(),
              HasSubstr("0 of 1 workers"));
  const auto early = Post("/v1/completions", {{"prompt", "x"}});
  ASSERT_TRUE(early);
  EXPECT_EQ(early->status, 503);
  EXPECT_EQ(early->get_header_value("Retry-After"), "5");

  const auto get_completions = http_->Get("/v1/completions");
  ASSERT_TRUE(get_completions);
  EXPECT_EQ(get_completions->status, 405);
  EXPECT_EQ(get_completions->get_header_value("Allow"), "POST");
  EXPECT_EQ(Json::parse(get_completions->body)["error"]["code"], "method_not_allowed");
  const auto delete_models = http_->Delete("/v1/models");
  ASSERT_TRUE(delete_models);
  EXPECT_EQ(delete_models->status, 405);
  EXPECT_EQ(delete_models->get_header_value("Allow"), "GET");
  const auto missing = http_->Get("/v2/anything");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_THAT(missing->body, HasSubstr("POST /v1/chat/completions"));

  ASSERT_TRUE(Add(Options("w0")).WaitForAnswer(10s));
  ASSERT_TRUE(coordinator_->cluster().WaitForState(ClusterState::kServing, 10s));
  EXPECT_EQ(http_->Get("/ready")->status, 200);
}

TEST_F(OpenAiApiTest, AStalledBodyIsA408) {
  Serve(Limits{.http_read_timeout = 300ms});
  RawHttpClient client(coordinator_->http_port());
  ASSERT_TRUE(client.Send("POST /v1/completions HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n"
                          "{\"prompt\":"));
  const RawHttpClient::Response res = client.Read();
  EXPECT_EQ(res.status, 408);
  EXPECT_THAT(res.body, HasSubstr("did not arrive complete within 0.3 s"));
}

TEST_F(OpenAiApiTest, ServedNamesAndAliasesAreTheModelsNames) {
  Serve(Limits{.served_model_names = {"llama-3.1-tiny", "tiny"}});
  const Json models = Json::parse(http_->Get("/v1/models")->body)["data"];
  ASSERT_EQ(models.size(), 2u);
  EXPECT_EQ(models[0]["id"], "llama-3.1-tiny");
  EXPECT_EQ(models[1]["id"], "tiny");
  EXPECT_EQ(models[0]["max_model_len"], 256);
  EXPECT_EQ(models[0]["owned_by"], "strata");
  EXPECT_TRUE(models[0]["created"].is_number_integer());
  const auto alias = Post("/v1/completions", {{"prompt", "x"}, {"max_tokens", 1}, {"model", "tiny"}});
  ASSERT_TRUE(alias);
  EXPECT_EQ(alias->status, 200);
  EXPECT_EQ(Json::parse(alias->body)["model"], "llama-3.1-tiny");
  const auto other = Post("/v1/completions", {{"prompt", "x"}, {"model", "tiny-llama31"}});
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 400);
  EXPECT_EQ(Json::parse(other->body)["error"]["code"], "model_not_found");
}

TEST_F(OpenAiApiTest, PipelinedRequestsAreAnsweredInOrder) {
  Serve();
  RawHttpClient client(coordinator_->http_port());
  std::string requests;
  for (int n = 1; n <= 3; ++n) {
    const std::string json =
        Json{{"prompt", {1, 2, 3}}, {"max_tokens", n}}.dump();
    requests += "POST /v1/completions HTTP/1.1\r\nHost: t\r\nContent-Length: " +
                std::to_string(json.size()) + "\r\n\r\n" + json;
  }
  ASSERT_TRUE(client.Send(requests));
  for (int n = 1; n <= 3; ++n) {
    const RawHttpClient::Response res = client.Read();
    ASSERT_EQ(res.status, 200) << res.body;
    EXPECT_EQ(Json::parse(res.body)["usage"]["completion_tokens"], n);
  }
}

TEST_F(OpenAiApiTest, AReusedConnectionAddsNoLatency) {
  Serve();
  const Json body = {{"prompt", "x"}, {"max_tokens", 1}};
  const auto mean_ms = [&](bool reuse) {
    httplib::Client shared("127.0.0.1", coordinator_->http_port());
    shared.set_keep_alive(true);
    shared.set_tcp_nodelay(true);
    const auto start = Clock::now();
    for (int i = 0; i < 20; ++i) {
      httplib::Client fresh("127.0.0.1", coordinator_->http_port());
      fresh.set_tcp_nodelay(true);
      const auto res = (reuse ? shared : fresh).Post("/v1/completions", body.dump(), "application/json");
      EXPECT_TRUE(res && res->status == 200);
    }
    return Millis(Clock::now() - start) / 20;
  };
  mean_ms(true);  // warm up
  const double fresh = mean_ms(false);
  const double reused = mean_ms(true);
  std::printf("one 1-token completion: %.2f ms on fresh connections, %.2f ms on one reused\n",
              fresh, reused);
  EXPECT_LT(reused, fresh + 5.0);
}

}  // namespace
}  // namespace strata::coordinator
