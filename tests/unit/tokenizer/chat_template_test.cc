// ChatTemplate and ParseChatMessages: loading the template and special tokens from
// tokenizer_config.json, the variables templates see, and the errors callers get.
#include "common/tokenizer/chat_template.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

namespace strata {
namespace {

const std::string kFixtures = STRATA_TEST_FIXTURES;

std::string RenderOrDie(const ChatTemplate& t, const std::vector<ChatMessage>& messages,
                        bool add_generation_prompt) {
  StatusOr<std::string> out = t.Render(messages, add_generation_prompt);
  EXPECT_TRUE(out.ok()) << out.status().ToString();
  return out.ok() ? *out : "";
}

TEST(ChatTemplateTest, FixtureConfigRendersTheLlama3Prompt) {
  StatusOr<ChatTemplate> t =
      ChatTemplate::FromTokenizerConfig(kFixtures + "/tiny-llama31/tokenizer_config.json");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  std::vector<ChatMessage> messages = {{"system", "You are a helpful assistant."},
                                       {"user", "What is 2+2?"}};
  EXPECT_EQ(
      RenderOrDie(*t, messages, true),
      "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant."
      "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>"
      "<|start_header_id|>assistant<|end_header_id|>\n\n");
  EXPECT_EQ(
      RenderOrDie(*t, messages, false),
      "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant."
      "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>");
}

TEST(ChatTemplateTest, ReadsTokensAsStringsOrObjects) {
  StatusOr<ChatTemplate> t = ChatTemplate::FromJson(
      R"({"chat_template": "{{ bos_token }}|{{ eos_token }}|{{ unk_token }}|)"
      R"({{ pad_token is defined }}", "bos_token": {"content": "<s>", "lstrip": false},)"
      R"( "eos_token": "</s>", "unk_token": "<unk>",
          "pad_token": null})",
      "config");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(RenderOrDie(*t, {}, false), "<s>|</s>|<unk>|False");

  StatusOr<ChatTemplate> bad =
      ChatTemplate::FromJson(R"({"chat_template": "x", "bos_token": 5})", "config");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("\"bos_token\""), std::string::npos)
      << bad.status().message();
}

TEST(ChatTemplateTest, PicksTheDefaultOfNamedTemplates) {
  StatusOr<ChatTemplate> t = ChatTemplate::FromJson(
      R"({"chat_template": [{"name": "tool_use", "template": "tools"},)"
      R"( {"name": "default", "template": "plain"}]})",
      "config");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(RenderOrDie(*t, {}, false), "plain");

  StatusOr<ChatTemplate> none = ChatTemplate::FromJson(
      R"({"chat_template": [{"name": "tool_use", "template": "a"},)"
      R"( {"name": "rag", "template": "b"}]})",
      "config");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(
      none.status().message(),
      "config: the model has no chat template named 'default' (available: 'tool_use', 'rag')");
}

TEST(ChatTemplateTest, MissingTemplateIsNotFound) {
  StatusOr<ChatTemplate> t =
      ChatTemplate::FromJson(R"({"bos_token": "<s>"})", "tokenizer_config.json");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kNotFound);
  EXPECT_NE(t.status().message().find("the model has no chat template"), std::string::npos)
      << t.status().message();

  StatusOr<ChatTemplate> missing_file =
      ChatTemplate::FromTokenizerConfig(kFixtures + "/no-such-dir/tokenizer_config.json");
  ASSERT_FALSE(missing_file.ok());
  EXPECT_EQ(missing_file.status().code(), StatusCode::kNotFound);

  StatusOr<ChatTemplate> not_json = ChatTemplate::FromJson("{oops", "config");
  ASSERT_FALSE(not_json.ok());
  EXPECT_EQ(not_json.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(not_json.status().message().find("config: invalid JSON"), std::string::npos);
}

TEST(ChatTemplateTest, FallsBackToChatTemplateJinjaNextToTheConfig) {
  char dir_template[] = "/tmp/strata_chat_template_XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  std::string dir = dir_template;
  std::ofstream(dir + "/tokenizer_config.json") << R"({"bos_token": "<s>"})";
  std::ofstream(dir + "/chat_template.jinja")
      << "{{ bos_token }}{% for m in messages %}[{{ m.content }}]{% endfor %}\n";
  StatusOr<ChatTemplate> t = ChatTemplate::FromTokenizerConfig(dir + "/tokenizer_config.json");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(RenderOrDie(*t, {{"user", "hi"}}, false), "<s>[hi]");
  unlink((dir + "/tokenizer_config.json").c_str());
  unlink((dir + "/chat_template.jinja").c_str());
  rmdir(dir.c_str());
}

TEST(ChatTemplateTest, ErrorsNameTheTemplateLocation) {
  StatusOr<ChatTemplate> bad = ChatTemplate::FromJson(
      R"({"chat_template": "{% for m in messages %}\n{{ m.role }"})", "tokenizer_config.json");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message(),
            "tokenizer_config.json: chat template: line 2, column 11: unexpected '}'");

  StatusOr<ChatTemplate> t = ChatTemplate::FromTemplate(
      "{% if messages[0].role != 'user' %}{{ raise_exception('Conversation must start with user') "
      "}}{% endif %}",
      "<s>", "</s>");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  StatusOr<std::string> out = t->Render(std::vector<ChatMessage>{{"assistant", "x"}}, true);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(out.status().message(),
            "chat template: line 1, column 39: Conversation must start with user");
}

TEST(ChatTemplateTest, TemplatesSeeTransformersVariables) {
  StatusOr<ChatTemplate> t = ChatTemplate::FromTemplate(
      "{{ messages | length }} {{ add_generation_prompt }} {{ tools is none }} {{ documents is "
      "none }} "
      "{{ bos_token is defined }} {{ eos_token }} {{ messages[0] | tojson }}",
      "", "<eos>");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(RenderOrDie(*t, {{"user", "é \"q\""}}, true),
            "1 True True True False <eos> {\"role\": \"user\", \"content\": \"é \\\"q\\\"\"}");
}

TEST(ParseChatMessagesTest, ReadsRolesAndContent) {
  StatusOr<std::vector<ChatMessage>> m = ParseChatMessages(
      R"([{"role": "system", "content": "Be brief."},
          {"role": "user", "content": [{"type": "text", "text": "Hello"},
                                       {"type": "text", "text": "there"}],
           "name": "ignored"}])",
      "chat.json");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_EQ(m->size(), 2u);
  EXPECT_EQ((*m)[0].role, "system");
  EXPECT_EQ((*m)[0].content, "Be brief.");
  EXPECT_EQ((*m)[1].role, "user");
  EXPECT_EQ((*m)[1].content, "Hello\nthere");
}

TEST(ParseChatMessagesTest, ErrorsNameTheElementAndField) {
  auto error = [](std::string_view json) {
    StatusOr<std::vector<ChatMessage>> m = ParseChatMessages(json, "chat.json");
    EXPECT_FALSE(m.ok());
    EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument);
    return m.ok() ? std::string() : m.status().message();
  };
  EXPECT_EQ(error(R"({"role": "user"})"), "chat.json: expected a JSON list of messages");
  EXPECT_EQ(error(R"([{"role": "user", "content": "a"}, {"content": "b"}])"),
            "chat.json: messages[1].role: must be a string");
  EXPECT_EQ(error(R"([{"role": "user", "content": null}])"),
            "chat.json: messages[0].content: must be a string or a list of text parts, got null");
  EXPECT_EQ(error(R"([{"role": "user"}])"), "chat.json: messages[0].content: missing");
  EXPECT_EQ(
      error(R"([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}])"),
      "chat.json: messages[0].content[0]: content parts of type \"image_url\" are not supported "
      "(only \"text\")");
  EXPECT_EQ(error(R"(["hi"])"),
            "chat.json: messages[0]: expected an object with \"role\" and \"content\"");
  EXPECT_NE(error("[{").find("chat.json: invalid JSON"), std::string::npos);
}

}  // namespace
}  // namespace strata
