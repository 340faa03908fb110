// Byte-exact comparison with jinja2: renders every case and snippet of
// tests/fixtures/chat/expected.json (written by generate.py with jinja2 configured as
// transformers configures it) and compares with the reference output or error.
#include <gtest/gtest.h>

#include <ctime>
#include <nlohmann/json.hpp>
#include <string>

#include "common/tokenizer/chat_template.h"
#include "common/tokenizer/chat_context.h"
#include "common/jinja/json.h"
#include "common/jinja/template.h"
#include "common/util/file.h"

namespace strata {
namespace {

const std::string kChatDir = std::string(STRATA_TEST_FIXTURES) + "/chat/";

nlohmann::ordered_json LoadExpected() {
  StatusOr<std::string> text = ReadFileToString(kChatDir + "expected.json");
  EXPECT_TRUE(text.ok()) << text.status().ToString();
  return text.ok() ? nlohmann::ordered_json::parse(*text) : nlohmann::ordered_json();
}

// "2025-02-03T09:05:07" as a broken-down time with the weekday and day of year filled in.
std::tm ParseIsoTime(const std::string& iso) {
  std::tm tm{};
  EXPECT_EQ(std::sscanf(iso.c_str(), "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                        &tm.tm_hour, &tm.tm_min, &tm.tm_sec),
            6);
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  std::time_t t = timegm(&tm);
  gmtime_r(&t, &tm);
  return tm;
}

jinja::Context ContextFromJson(const nlohmann::ordered_json& json) {
  jinja::Context context;
  for (const auto& [name, value] : json.items()) context.emplace_back(name, jinja::FromJson(value));
  return context;
}

// The chat variables built the way ChatTemplate builds them, from the messages' JSON.
jinja::Context ChatContext(const nlohmann::ordered_json& json) {
  StatusOr<std::vector<ChatMessage>> messages = ParseChatMessages(json["messages"].dump(), "case");
  EXPECT_TRUE(messages.ok()) << messages.status().ToString();
  ChatSpecialTokens tokens;
  tokens.bos = json["bos_token"].get<std::string>();
  tokens.eos = json["eos_token"].get<std::string>();
  return MakeChatContext(*messages, json["add_generation_prompt"].get<bool>(), tokens);
}

void ExpectMatches(const StatusOr<std::string>& got, const nlohmann::ordered_json& want,
                   const std::string& label) {
  if (want.contains("expected")) {
    ASSERT_TRUE(got.ok()) << label << ": " << got.status().ToString();
    EXPECT_EQ(*got, want["expected"].get<std::string>()) << label;
    return;
  }
  ASSERT_FALSE(got.ok()) << label << ": expected the error " << want["error"] << ", got " << *got;
  if (want.value("match_message", true)) {
    EXPECT_NE(got.status().message().find(want["message"].get<std::string>()), std::string::npos)
        << label << ": " << got.status().message();
  }
}

TEST(ChatTemplateFixtureTest, TemplatesMatchJinja2) {
  nlohmann::ordered_json expected = LoadExpected();
  jinja::RenderOptions options;
  options.fixed_now = ParseIsoTime(expected["now"].get<std::string>());
  ASSERT_GE(expected["cases"].size(), 50u);
  for (const auto& c : expected["cases"]) {
    std::string name = c["name"].get<std::string>();
    StatusOr<std::string> source = ReadFileToString(kChatDir + c["template"].get<std::string>());
    ASSERT_TRUE(source.ok()) << source.status().ToString();
    StatusOr<jinja::Template> tmpl = jinja::Template::Parse(*source);
    ASSERT_TRUE(tmpl.ok()) << name << ": " << tmpl.status().ToString();
    const auto& context_json = c["context"];
    jinja::Context context =
        c["chat"].get<bool>() ? ChatContext(context_json) : ContextFromJson(context_json);
    ExpectMatches(tmpl->Render(context, options), c, name);

    // Templates that do not read the clock also go through the public API unchanged.
    if (c["chat"].get<bool>() && source->find("strftime_now") == std::string::npos) {
      StatusOr<ChatTemplate> chat =
          ChatTemplate::FromTemplate(*source, context_json["bos_token"].get<std::string>(),
                                     context_json["eos_token"].get<std::string>());
      ASSERT_TRUE(chat.ok()) << chat.status().ToString();
      StatusOr<std::vector<ChatMessage>> messages =
          ParseChatMessages(context_json["messages"].dump(), name);
      ASSERT_TRUE(messages.ok());
      ExpectMatches(chat->Render(*messages, context_json["add_generation_prompt"].get<bool>()), c,
                    name + " (ChatTemplate)");
    }
  }
}

TEST(ChatTemplateFixtureTest, SnippetsMatchJinja2) {
  nlohmann::ordered_json expected = LoadExpected();
  jinja::RenderOptions options;
  options.fixed_now = ParseIsoTime(expected["now"].get<std::string>());
  ASSERT_GE(expected["snippets"].size(), 100u);
  for (const auto& s : expected["snippets"]) {
    std::string source = s["template"].get<std::string>();
    StatusOr<jinja::Template> tmpl = jinja::Template::Parse(source);
    StatusOr<std::string> got = tmpl.ok() ? tmpl->Render(ContextFromJson(s["context"]), options)
                                          : StatusOr<std::string>(tmpl.status());
    ExpectMatches(got, s, "snippet " + nlohmann::json(source).dump());
  }
}

}  // namespace
}  // namespace strata
