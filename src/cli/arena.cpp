// `instruct arena A.json B.json [C.json ...]`: human preference votes on a local page.
#include <iostream>
#include <memory>

#include "cli/commands.hpp"
#include "pipeline/arena.hpp"

namespace instruct {

void cli_add_arena(CLI::App& app) {
  auto o = std::make_shared<ArenaOptions>();
  CLI::App* cmd = app.add_subcommand(
      "arena",
      "Compare models by human votes on a local page: two anonymised answers side by side, a "
      "Bradley-Terry leaderboard");
  cmd->add_option("responses", o->responses,
                  "Response files for the same entries (from `instruct respond`); with --model, "
                  "models answering on the fly join them");
  arena_options_visit(CliFlags{*cmd}, *o);
  cli_add_split_options(*cmd, o->data);
  cmd->callback([o] { arena_run(*o, std::cout); });
}

}  // namespace instruct
