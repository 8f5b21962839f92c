// The `instruct` binary: parses the subcommand and prints errors as one line with a non-zero exit.
// All work happens in the subcommands' pipelines.
#include <csignal>
#include <iostream>

#include "backend/backend.hpp"
#include "cli/commands.hpp"
#include "core/dist.hpp"
#include "core/error.hpp"
#include "kernels/gemm.hpp"

int main(int argc, char** argv) {
  // A file size limit (ulimit -f) makes a write fail with EFBIG, reported like a full disk, instead
  // of killing the process with SIGXFSZ halfway through a file.
  std::signal(SIGXFSZ, SIG_IGN);
  CLI::App app{"instruct: fine-tune GPT-2 to follow instructions, on the CPU"};
  app.require_subcommand(1);
  // The version and the machine as the GEMM seam sees it (benchmarks quote this line).
  app.set_version_flag("--version", [] {
    std::string names;
    for (const instruct::Backend* b : instruct::backends())
      names += (names.empty() ? "" : ", ") + std::string(b->name);
    return std::string("instruct ") + INSTRUCT_VERSION + "\ncpu       " +
           instruct::gemm_machine_line() + "\nbackend   " + instruct::backend().name +
           " (built: " + names + "; INSTRUCT_BACKEND picks one)";
  });
  instruct::cli_add_tokenize(app);
  instruct::cli_add_prepare(app);
  instruct::cli_add_dedup(app);
  instruct::cli_add_train(app);
  instruct::cli_add_dpo(app);
  instruct::cli_add_generate(app);
  instruct::cli_add_respond(app);
  instruct::cli_add_chat(app);
  instruct::cli_add_eval(app);
  instruct::cli_add_perplexity(app);
  instruct::cli_add_judge(app);
  instruct::cli_add_compare(app);
  instruct::cli_add_arena(app);
  instruct::cli_add_prefs(app);
  instruct::cli_add_run(app);
  instruct::cli_add_merge(app);
  instruct::cli_add_export(app);
  instruct::cli_add_serve(app);
  // Under mpirun an error on one rank ends them all (the others would wait in a collective).
  const auto end = [](int code) {
    if ((code == 1 || code == 2) && instruct::dist().size > 1) instruct::dist_abort(code);
    instruct::dist_finalize();
    return code;
  };
  try {
    instruct::dist_init(&argc, &argv);
    instruct::backend();  // a bad INSTRUCT_BACKEND fails here, before any work
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    // One line, as every other error: CLI11's own print adds a second.
    const std::string typo = instruct::cli_did_you_mean(app, argc, argv);
    const std::string sub = argc > 1 && argv[1][0] != '-' ? std::string(argv[1]) + " " : "";
    if (!typo.empty())
      std::cerr << "error: " << typo << "\n";
    else
      std::cerr << "error: " << e.what() << "; see instruct " << sub << "--help\n";
    return end(1);
  } catch (const instruct::Interrupted& e) {
    std::cout.flush();
    std::cerr << "interrupted; resume with --resume " << e.what() << "\n";
    return end(130);
  } catch (const instruct::Error& e) {
    std::cout.flush();
    std::cerr << "error: " << e.what() << "\n";
    return end(1);
  } catch (const std::exception& e) {
    std::cout.flush();
    std::cerr << "error: " << e.what() << "\n";
    return end(2);
  }
  return end(0);
}
