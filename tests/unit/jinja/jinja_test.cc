// The Jinja interpreter (common/jinja/): expression semantics, statements and
// scoping, whitespace control, error messages with locations, and the runaway-template limits.
// (Byte-exact agreement with jinja2 on many more inputs is chat_template_fixtures_test.cc.)
#include <gtest/gtest.h>

#include <ctime>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "common/jinja/json.h"
#include "common/jinja/template.h"

namespace strata::jinja {
namespace {

StatusOr<std::string> TryRender(std::string_view source, const std::string& context_json = "{}",
                                const RenderOptions& options = {}) {
  STRATA_ASSIGN_OR_RETURN(Template t, Template::Parse(source));
  nlohmann::ordered_json json = nlohmann::ordered_json::parse(context_json);
  Context context;
  for (const auto& [name, value] : json.items()) context.emplace_back(name, FromJson(value));
  return t.Render(context, options);
}

std::string Render(std::string_view source, const std::string& context_json = "{}") {
  StatusOr<std::string> out = TryRender(source, context_json);
  EXPECT_TRUE(out.ok()) << source << ": " << out.status().ToString();
  return out.ok() ? *out : "<error>";
}

// The error message of a template that must fail.
std::string Error(std::string_view source, const std::string& context_json = "{}",
                  StatusCode code = StatusCode::kInvalidArgument) {
  StatusOr<std::string> out = TryRender(source, context_json);
  EXPECT_FALSE(out.ok()) << source << " rendered " << (out.ok() ? *out : "");
  if (out.ok()) return "";
  EXPECT_EQ(out.status().code(), code) << out.status().ToString();
  return out.status().message();
}

TEST(JinjaExpressionTest, ArithmeticFollowsPython) {
  EXPECT_EQ(
      Render("{{ 1 + 2 * 3 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 10 / 4 }}"),
      "7 3 -4 2 1024 2.5");
  EXPECT_EQ(Render("{{ 0.1 + 0.2 }} {{ 1e-5 }} {{ 1e16 }} {{ 3.0 }} {{ 2 ** -1 }} {{ -2 ** 2 }}"),
            "0.30000000000000004 1e-05 1e+16 3.0 0.5 4");
  EXPECT_EQ(
      Render("{{ 'ab' * 2 }} {{ [1] * 2 }} {{ [1] + [2] }} {{ 'a' ~ 1 ~ none ~ true ~ nothing }}"),
      "abab [1, 1] [1, 2] a1NoneTrue");
  EXPECT_EQ(Render("{{ true + 1 }} {{ 1 == 1.0 }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }}"),
            "2 True True False");
}

TEST(JinjaExpressionTest, LogicReturnsOperandsLikePython) {
  EXPECT_EQ(
      Render("{{ 0 or 'x' }}|{{ 1 and 2 }}|{{ none or [] }}|{{ not 0 }}|{{ 'a' if 0 else 'b' }}"),
      "x|2|[]|True|b");
  EXPECT_EQ(Render("[{{ 'a' if false }}]"), "[]");
  EXPECT_EQ(Render("{{ 'b' in 'abc' }} {{ 2 not in [1, 2] }} {{ 'k' in {'k': 1} }}"),
            "True False True");
}

TEST(JinjaExpressionTest, ValuesPrintAsPythonRepr) {
  EXPECT_EQ(Render("{{ [1, 'a', none, true, 1.5, {'k': (1,)}] }}"),
            "[1, 'a', None, True, 1.5, {'k': (1,)}]");
  EXPECT_EQ(Render("{{ [\"it's\", 'q\"', '\\n'] }}"), "[\"it's\", 'q\"', '\\n']");
  EXPECT_EQ(Render("{{ 'caf\\u00e9 \\x41' }}"), "café A");
}

TEST(JinjaExpressionTest, SubscriptsAndSlices) {
  const std::string ctx = R"({"xs": [1, 2, 3], "s": "héllo", "d": {"b": 1, "a": 2}})";
  EXPECT_EQ(Render("{{ xs[0] }}{{ xs[-1] }}{{ xs[1:] }}{{ xs[::-1] }}{{ xs.1 }}", ctx),
            "13[2, 3][3, 2, 1]2");
  EXPECT_EQ(Render("{{ s[1] }}{{ s[1:3] }}{{ s | length }}{{ d['a'] }}{{ d.b }}", ctx), "éél521");
  EXPECT_EQ(Render("[{{ xs[10] }}][{{ d.missing }}][{{ d['missing'] is defined }}]", ctx),
            "[][][False]");
}

TEST(JinjaExpressionTest, FiltersAndTests) {
  EXPECT_EQ(Render("{{ '  a b ' | trim | upper }}|{{ ['b', 'A', 'c'] | sort | join(',') }}|{{ [3, "
                   "1] | max }}"),
            "A B|A,b,c|3");
  EXPECT_EQ(Render("{{ x | default('d') }}|{{ '' | default('e', true) }}|{{ 'x' | center(5) }}|"),
            "d|e|  x  |");
  EXPECT_EQ(Render("{{ [{'r': 'u'}, {'r': 'a'}] | map(attribute='r') | join }}"
                   "{{ [1, 2, 3, 4] | select('even') | list }}{{ [1, 2] | reject('odd') | list }}"),
            "ua[2, 4][2]");
  EXPECT_EQ(
      Render("{{ 4 is even }} {{ 4 is divisibleby 3 }} {{ none is none }} {{ 'a' is string }} "
             "{{ x is defined }} {{ {} is mapping }} {{ 1 is equalto 1 }}"),
      "True False True True False True True");
  // Lazy filters give generators in jinja2: always true, even when empty.
  EXPECT_EQ(
      Render("{{ 'yes' if [] | select else 'no' }} {{ 'yes' if [] | select | list else 'no' }}"),
      "yes no");
}

TEST(JinjaExpressionTest, ToJsonMatchesPythonJsonDumps) {
  const std::string ctx = R"({"v": {"b": [1, 2.0, "é\n"], "a": null, "c": true}})";
  EXPECT_EQ(Render("{{ v | tojson }}", ctx), R"({"b": [1, 2.0, "é\n"], "a": null, "c": true})");
  EXPECT_EQ(Render("{{ v | tojson(sort_keys=true, separators=(',', ':')) }}", ctx),
            R"({"a":null,"b":[1,2.0,"é\n"],"c":true})");
  EXPECT_EQ(Render("{{ v | tojson(ensure_ascii=true) }}", ctx),
            R"({"b": [1, 2.0, "\u00e9\n"], "a": null, "c": true})");
  EXPECT_EQ(Render("{{ {'k': [1]} | tojson(indent=2) }}"), "{\n  \"k\": [\n    1\n  ]\n}");
}

TEST(JinjaExpressionTest, StringMethods) {
  EXPECT_EQ(Render("{{ ' a b '.strip() }}|{{ 'a,b'.split(',') }}|{{ 'Hi'.startswith('H') }}|"
                   "{{ 'ab'.replace('a', 'x') }}|{{ 'hello world'.title() }}|{{ 'x'.upper() }}"),
            "a b|['a', 'b']|True|xb|Hello World|X");
  EXPECT_EQ(Render("{{ {'a': 1}.get('a') }}{{ {'a': 1}.get('b', 2) }}{% for k, v in {'a': "
                   "1}.items() %}{{ k }}{{ v }}{% endfor %}"),
            "12a1");
}

TEST(JinjaStatementTest, LoopsExposeLoopVariables) {
  EXPECT_EQ(
      Render("{% for x in ['a', 'b', 'c'] %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}"
             "{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }};{% endfor %}"),
      "1032TrueFalse3;2121FalseFalse3;3210FalseTrue3;");
  EXPECT_EQ(Render("{% for x in [] %}x{% else %}empty{% endfor %}"), "empty");
  EXPECT_EQ(Render("{% for i in range(10) %}{% if i is odd %}{% continue %}{% endif %}{% if i > 5 "
                   "%}{% break %}"
                   "{% endif %}{{ i }}{% endfor %}"),
            "024");
  EXPECT_EQ(Render("{% for k, v in {'a': 1, 'b': 2} | dictsort %}{{ k }}={{ v }} {% endfor %}"),
            "a=1 b=2 ");
  EXPECT_EQ(
      Render("{% for x in [1, 2, 3, 4] if x is even %}{{ x }}/{{ loop.length }} {% endfor %}"),
      "2/2 4/2 ");
}

TEST(JinjaStatementTest, ScopingFollowsJinja2) {
  // A loop body is a new scope each iteration; namespaces carry values out.
  EXPECT_EQ(Render("{% set x = 0 %}{% for i in [1, 2] %}{{ x }}{% set x = i %}{% endfor %}{{ x }}"),
            "000");
  EXPECT_EQ(Render("{% set ns = namespace(n=0) %}{% for i in [1, 2, 3] %}{% set ns.n = ns.n + i "
                   "%}{% endfor %}"
                   "{{ ns.n }}"),
            "6");
  // if-blocks share the enclosing scope.
  EXPECT_EQ(Render("{% if true %}{% set y = 1 %}{% endif %}{{ y }}"), "1");
  // A template-level variable assigned later is undefined inside an earlier loop, even if the
  // context has it (jinja2's frame analysis).
  EXPECT_EQ(
      Render("{% for i in [1] %}[{{ x }}]{% endfor %}{% set x = 2 %}{{ x }}", R"({"x": "ctx"})"),
      "[]2");
  EXPECT_EQ(
      Render("{{ x }}{% for i in [1] %}[{{ x }}]{% endfor %}{% set x = 2 %}", R"({"x": "ctx"})"),
      "ctx[ctx]");
}

TEST(JinjaStatementTest, MacrosSetBlocksAndScopes) {
  EXPECT_EQ(Render("{% macro tag(name, cls='c') %}<{{ name }} {{ cls }}>{% endmacro %}"
                   "{{ tag('a') }}{{ tag('b', cls='d') }}{{ tag(name='e') }}"),
            "<a c><b d><e c>");
  EXPECT_EQ(
      Render(
          "{% for i in [1, 2] %}{% macro show() %}{{ i }}{% endmacro %}{{ show() }}{% endfor %}"),
      "12");
  EXPECT_EQ(Render("{% set block | upper %}hi {{ 1 + 1 }}{% endset %}[{{ block }}]"), "[HI 2]");
  EXPECT_EQ(Render("{% with a = 1 %}{{ a }}{% endwith %}[{{ a }}]"), "1[]");
  EXPECT_EQ(Render("{% generation %}body{% endgeneration %}"), "body");
  EXPECT_EQ(Render("{% filter upper %}x{{ 'y' }}{% endfilter %}"), "XY");
  EXPECT_EQ(Render("{% raw %}{{ not evaluated }}{% endraw %}"), "{{ not evaluated }}");
}

TEST(JinjaWhitespaceTest, TrimBlocksLstripBlocksAndMarkers) {
  EXPECT_EQ(Render("{% if true %}\n  a\n  {% endif %}\nb"), "  a\nb");
  EXPECT_EQ(Render("x  {%- if true -%}  \n y {%- endif %}"), "xy");
  EXPECT_EQ(Render("  {%+ if true %}a{% endif %}"), "  a");
  EXPECT_EQ(Render("{% if true +%}\na{% endif %}"), "\na");
  EXPECT_EQ(Render("a {{- ' b ' -}} c"), "a b c");
  EXPECT_EQ(Render("line\n  {# comment #}\nnext"), "line\nnext");
  EXPECT_EQ(Render("a\r\nb\n"), "a\nb");
}

TEST(JinjaErrorTest, SyntaxErrorsNameLineAndColumn) {
  EXPECT_EQ(Error("ab\n  {% if x "), "line 2, column 3: unterminated tag (missing '%}')");
  EXPECT_EQ(Error("{{ 'abc }}"), "line 1, column 4: unterminated string");
  EXPECT_EQ(Error("{{ x | nosuch }}"), "line 1, column 8: no filter named 'nosuch'");
  EXPECT_EQ(Error("{{ x is nosuch }}"), "line 1, column 9: no test named 'nosuch'");
  EXPECT_EQ(
      Error("{% if x %}\n{% for y in x %}"),
      "line 2, column 4: 'for' tag is never closed (expected 'endfor' or 'else' before the end of "
      "the template)");
  EXPECT_EQ(Error("{{ 1 + }}"), "line 1, column 8: unexpected token '}}' (expected an expression)");
  EXPECT_EQ(Error("{% endif %}"), "line 1, column 4: unexpected tag 'endif' (no block is open)");
  EXPECT_EQ(Error("{% foo %}"), "line 1, column 4: unknown tag 'foo'");
  EXPECT_EQ(Error("{% break %}"), "line 1, column 4: 'break' outside of a loop");
  EXPECT_EQ(Error("{% include 'x' %}"),
            "line 1, column 4: the 'include' tag is not supported in chat templates");
}

TEST(JinjaErrorTest, RuntimeErrorsNameLineAndColumn) {
  EXPECT_EQ(Error("\n  {{ raise_exception('Roles must alternate') }}"),
            "line 2, column 6: Roles must alternate");
  EXPECT_EQ(Error("{{ foo.bar }}"), "line 1, column 7: 'foo' is undefined");
  EXPECT_EQ(Error("{{ d.a.b }}", R"({"d": {}})"),
            "line 1, column 7: 'dict object' has no attribute 'a'");
  EXPECT_EQ(Error("{% for x in 3 %}{% endfor %}"),
            "line 1, column 13: 'int' object is not iterable");
  EXPECT_EQ(Error("{{ 'a' + 1 }}"),
            "line 1, column 8: can only concatenate str (not \"int\") to str");
  EXPECT_EQ(Error("{{ 'abc'() }}"), "line 1, column 4: 'str' object is not callable");
  EXPECT_EQ(Error("{{ [1].append(2) }}"),
            "line 1, column 7: access to attribute 'append' of 'list' object is unsafe.");
  EXPECT_EQ(Error("{{ x | tojson }}"),
            "line 1, column 8: tojson: Object of type Undefined is not JSON serializable");
  EXPECT_EQ(Error("{{ 1 // 0 }}"), "line 1, column 6: integer division by zero");
}

TEST(JinjaLimitTest, RunawayTemplatesStop) {
  RenderOptions options;
  options.max_loop_iterations = 1000;
  StatusOr<std::string> loops = TryRender(
      "{% for i in range(100) %}{% for j in range(100) %}{% endfor %}{% endfor %}", "{}", options);
  ASSERT_FALSE(loops.ok());
  EXPECT_EQ(loops.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(loops.status().message().find("more than 1000 loop iterations"), std::string::npos);

  options = {};
  options.max_output_bytes = 100;
  StatusOr<std::string> big =
      TryRender("{% for i in range(100) %}xxxxx{% endfor %}", "{}", options);
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.status().code(), StatusCode::kResourceExhausted);

  EXPECT_NE(Error("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "{}",
                  StatusCode::kResourceExhausted)
                .find("deeper than"),
            std::string::npos);
  EXPECT_NE(Error("{{ range(1000000) | length }}").find("Range too big"), std::string::npos);
  EXPECT_NE(Error("{{ 'x' * 100000000 }}", "{}", StatusCode::kResourceExhausted).find("64 MiB"),
            std::string::npos);
  std::string deep = "{{ " + std::string(500, '(') + "1" + std::string(500, ')') + " }}";
  EXPECT_NE(Error(deep).find("nested too deeply"), std::string::npos);
}

TEST(JinjaGlobalsTest, StrftimeNowUsesTheFixedClockOrTheLocalTime) {
  RenderOptions options;
  std::tm fixed{};
  fixed.tm_year = 124;
  fixed.tm_mon = 6;
  fixed.tm_mday = 26;
  fixed.tm_wday = 5;
  options.fixed_now = fixed;
  StatusOr<std::string> out = TryRender("{{ strftime_now('%d %b %Y %a') }}", "{}", options);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(*out, "26 Jul 2024 Fri");

  std::time_t t = std::time(nullptr);
  std::tm local{};
  localtime_r(&t, &local);
  EXPECT_EQ(Render("{{ strftime_now('%Y') }}"), std::to_string(local.tm_year + 1900));
  EXPECT_EQ(
      Render("{{ strftime_now is defined }} {{ namespace is defined }} {{ range(3) | list }}"),
      "True True [0, 1, 2]");
}

TEST(JinjaTemplateTest, RendersConcurrently) {
  StatusOr<Template> t = Template::Parse(
      "{% set ns = namespace(n=0) %}{% for m in xs %}{% set ns.n = ns.n + m %}{% endfor %}{{ ns.n "
      "}}");
  ASSERT_TRUE(t.ok());
  std::vector<std::thread> threads;
  std::vector<std::string> results(8);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      std::vector<Value> xs;
      for (int j = 0; j <= i * 100; ++j) xs.push_back(Value::Int(j));
      StatusOr<std::string> out = t->Render({{"xs", Value::MakeList(std::move(xs))}});
      results[static_cast<size_t>(i)] = out.ok() ? *out : out.status().ToString();
    });
  }
  for (std::thread& th : threads) th.join();
  for (int i = 0; i < 8; ++i) {
    int n = i * 100;
    EXPECT_EQ(results[static_cast<size_t>(i)], std::to_string(n * (n + 1) / 2));
  }
}

}  // namespace
}  // namespace strata::jinja
