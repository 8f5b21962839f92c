// Test hook, never linked into instruct: LD_PRELOADed by the CLI, crash and MPI suites to inject a
// fault at an exact point of a real run, with nothing in the tool reading the environment. Every
// file instruct publishes goes through rename() (written to a temp name, then renamed into place),
// so a rename names the moment: the INSTRUCT_FAULT_AT-th rename (default 1) whose target contains
// INSTRUCT_FAULT_MATCH raises INSTRUCT_FAULT_SIGNAL (KILL, the default: a `kill -9` in the middle
// of a checkpoint write; or INT: Ctrl-C) in the calling process just before that rename.
//   LD_PRELOAD=libfault_rename.so INSTRUCT_FAULT_MATCH=/.step-00000006.tmp/ instruct train ...
#include <dlfcn.h>

#include <csignal>
#include <cstdlib>
#include <cstring>

namespace {
long env_long(const char* name, long def) {
  const char* v = std::getenv(name);
  return v && *v ? std::atol(v) : def;
}
}  // namespace

extern "C" int rename(const char* from, const char* to) {
  using RenameFn = int (*)(const char*, const char*);
  static const RenameFn real = reinterpret_cast<RenameFn>(dlsym(RTLD_NEXT, "rename"));
  static long seen = 0;
  const char* match = std::getenv("INSTRUCT_FAULT_MATCH");
  if (match && *match && to && std::strstr(to, match) &&
      ++seen == env_long("INSTRUCT_FAULT_AT", 1)) {
    const char* sig = std::getenv("INSTRUCT_FAULT_SIGNAL");
    std::raise(sig && std::strcmp(sig, "INT") == 0 ? SIGINT : SIGKILL);
  }
  return real(from, to);
}
