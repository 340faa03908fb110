// `strata tokenize --model DIR [--no-bos] TEXT`: prints the token ids as a JSON list.
#include <cstdio>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "common/loader/model_directory.h"

namespace strata::cli {

void AddTokenizeCommand(CLI::App& app, CommandRunner& run) {
  struct Flags {
    std::string model;
    std::string text;
    bool no_bos = false;
  };
  auto flags = std::make_shared<Flags>();
  CLI::App* cmd = app.add_subcommand("tokenize", "Print the token ids of TEXT as a JSON list");
  cmd->add_option("--model", flags->model, "Model directory (with tokenizer.json)")->required();
  cmd->add_flag("--no-bos", flags->no_bos, "Do not add the beginning-of-text token");
  cmd->add_option("text", flags->text, "Text to tokenize")->required();
  cmd->callback([flags, &run] {
    run = [flags]() -> Status {
      STRATA_ASSIGN_OR_RETURN(Tokenizer tokenizer, LoadTokenizerOf(flags->model));
      STRATA_ASSIGN_OR_RETURN(std::vector<int32_t> ids,
                              tokenizer.Encode(flags->text, /*add_special_tokens=*/!flags->no_bos));
      std::printf("%s\n", nlohmann::json(ids).dump().c_str());
      return OkStatus();
    };
  });
}

}  // namespace strata::cli
