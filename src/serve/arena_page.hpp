// The arena's page (GET / of `instruct arena`): one file, no external assets.
#pragma once

namespace instruct {

extern const char* const kArenaPage;

}  // namespace instruct
