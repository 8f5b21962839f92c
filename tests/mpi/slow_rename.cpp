// Test hook, never linked into instruct: LD_PRELOADed into the ranks of an mpirun job, it makes
// one rank slow at publishing files, so an ordering bug between ranks (a rank reading what rank 0
// has not written yet) fails every time instead of by chance. rename() of a path containing
// INSTRUCT_SLOW_MATCH (default "/model") sleeps INSTRUCT_SLOW_MS (default 1500) first, on the rank
// INSTRUCT_SLOW_RANK (default 0) only.
#include <dlfcn.h>
#include <unistd.h>

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
  const char* rank = std::getenv("OMPI_COMM_WORLD_RANK");
  const char* match = std::getenv("INSTRUCT_SLOW_MATCH");
  if (rank && std::atol(rank) == env_long("INSTRUCT_SLOW_RANK", 0) && to &&
      std::strstr(to, match ? match : "/model"))
    usleep(static_cast<useconds_t>(env_long("INSTRUCT_SLOW_MS", 1500) * 1000));
  return real(from, to);
}
