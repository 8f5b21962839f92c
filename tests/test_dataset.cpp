// Dataset loading, validation errors (one per malformed file in tests/data/bad), the split, and
// named datasets downloaded from a local server.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "core/error.hpp"
#include "data/collate.hpp"
#include "data/dataset.hpp"
#include "data/examples.hpp"
#include "data/prompt_template.hpp"
#include "io/dataset_source.hpp"
#include "test_util.hpp"

namespace instruct {
namespace {

TEST(Dataset, BundledDataAndReferenceSplit) {
  const Dataset d = dataset_load(test::repo_data("instruction-data.json"));
  ASSERT_EQ(d.entries.size(), 1100u);
  const DatasetSplit s = dataset_split(d);
  EXPECT_EQ(s.train.size(), 935u);
  EXPECT_EQ(s.val.size(), 55u);
  EXPECT_EQ(s.test.size(), 110u);
  // File order: train, then test, then val.
  EXPECT_EQ(&s.test[0], &d.entries[935]);
  EXPECT_EQ(&s.val[0], &d.entries[1045]);
}

TEST(Dataset, SplitFractionsAsPythonInt) {
  auto s = split_sizes(1100);
  EXPECT_EQ(s.train, 935u);
  EXPECT_EQ(s.test, 110u);
  EXPECT_EQ(s.val, 55u);
  s = split_sizes(7);  // int(5.95) = 5, int(0.7) = 0
  EXPECT_EQ(s.train, 5u);
  EXPECT_EQ(s.test, 0u);
  EXPECT_EQ(s.val, 2u);
  s = split_sizes(100, 0.8, 0.2);
  EXPECT_EQ(s.train, 80u);
  EXPECT_EQ(s.test, 20u);
  EXPECT_EQ(s.val, 0u);
  EXPECT_THROW(split_sizes(10, 0.9, 0.2), Error);
  EXPECT_THROW(split_sizes(10, -0.1, 0.2), Error);
}

TEST(Dataset, JsonlMissingInputAndExtraFields) {
  const auto dir = test::temp_dir("jsonl");
  const auto path = dir / "d.jsonl";
  {
    std::ofstream f(path);
    f << R"({"instruction": "Say hi.", "output": "Hi.", "id": 7, "tags": ["x"]})"
      << "\n\n"
      << R"({"instruction": "Add.", "input": "1+1", "output": "2"})"
      << "\n";
  }
  const Dataset d = dataset_load(path);
  ASSERT_EQ(d.entries.size(), 2u);
  EXPECT_EQ(d.entries[0].input, "");
  EXPECT_EQ(d.entries[0].source["id"], 7);
  EXPECT_EQ(d.entries[1].input, "1+1");
  std::filesystem::remove_all(dir);
}

TEST(Dataset, TemplatesUseReferenceStrings) {
  Entry e{"Do X.", "", "Done.", {}};
  const PromptTemplate& a = template_find("alpaca");
  EXPECT_EQ(a.full_text(e),
            "Below is an instruction that describes a task. Write a response that appropriately "
            "completes the request.\n\n### Instruction:\nDo X.\n\n### Response:\nDone.");
  e.input = "in";
  EXPECT_EQ(a.prompt(e),
            "Below is an instruction that describes a task. Write a response that appropriately "
            "completes the request.\n\n### Instruction:\nDo X.\n\n### Input:\nin");
  const PromptTemplate& p = template_find("phi3");
  EXPECT_EQ(p.full_text(e), "<|user|>\nDo X.\nin\n<|assistant|>:\nDone.");
  e.input = "";
  EXPECT_EQ(p.full_text(e), "<|user|>\nDo X.\n<|assistant|>:\nDone.");
  try {
    template_find("chatml");
    ADD_FAILURE();
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("alpaca, phi3"), std::string::npos);
  }
}

// Chat records ({"messages"} and ShareGPT's {"conversations"}) become entries whose last exchange
// is the instruction and output; a single exchange renders exactly as the Alpaca record does;
// earlier exchanges and a system message become the prompt; with masking, the loss counts every
// assistant answer with its response header (as the reference's does for its one answer) and the
// closing <|endoftext|>, nothing else.
TEST(Dataset, ChatRecordsMapOntoTheTemplates) {
  const auto dir = test::temp_dir("chat");
  const auto path = dir / "chat.jsonl";
  {
    std::ofstream f(path);
    f << R"({"instruction": "Name a colour.", "output": "Blue."})"
      << "\n"
      << R"({"messages": [{"role": "user", "content": "Name a colour."}, {"role": "assistant", "content": "Blue."}]})"
      << "\n"
      << R"({"messages": [{"role": "system", "content": "Answer in one word."}, {"role": "user", "content": "Capital of France?"},)"
      << R"( {"role": "assistant", "content": "Paris."}, {"role": "user", "content": "And of Italy?"},)"
      << R"( {"role": "assistant", "content": "Rome."}], "id": 3})"
      << "\n"
      << R"({"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello there."}, )"
      << R"({"from": "human", "value": "Bye"}, {"from": "gpt", "value": "Goodbye."}]})"
      << "\n";
  }
  const Dataset d = dataset_load(path);
  ASSERT_EQ(d.entries.size(), 4u);
  const PromptTemplate& a = template_find("alpaca");
  EXPECT_EQ(a.full_text(d.entries[1]), a.full_text(d.entries[0]));
  const Entry& e = d.entries[2];
  EXPECT_EQ(e.system, "Answer in one word.");
  ASSERT_EQ(e.history.size(), 1u);
  EXPECT_EQ(e.history[0].user, "Capital of France?");
  EXPECT_EQ(e.history[0].assistant, "Paris.");
  EXPECT_EQ(e.instruction, "And of Italy?");
  EXPECT_EQ(e.output, "Rome.");
  EXPECT_EQ(e.source["id"], 3);
  EXPECT_EQ(
      a.full_text(e),
      "Answer in one word.\n\n### Instruction:\nCapital of France?\n\n### Response:\nParis.\n\n"
      "### Instruction:\nAnd of Italy?\n\n### Response:\nRome.");
  EXPECT_EQ(template_find("phi3").full_text(d.entries[3]),
            "<|user|>\nHi\n<|assistant|>:\nHello there.\n<|user|>\nBye\n<|assistant|>:\nGoodbye.");

  CollateOptions opt;
  opt.mask_instruction = true;
  for (const PromptTemplate* t : {&a, &template_find("phi3")}) {
    const std::vector<Example> ex = examples_build(d.entries, *t, test::gpt2());
    ASSERT_EQ(ex[2].answers.size(), 1u);
    EXPECT_EQ(ex[1].tokens, ex[0].tokens);
    EXPECT_EQ(ex[1].prompt_len, ex[0].prompt_len);
    for (size_t i : {2, 3}) {
      const Example* one[] = {&ex[i]};
      const Batch b = collate(one, opt);
      std::vector<int32_t> counted;
      for (int32_t tg : b.targets)
        if (tg != kIgnoreIndex) counted.push_back(tg);
      ASSERT_FALSE(counted.empty());
      EXPECT_EQ(counted.back(), 50256);  // the closing <|endoftext|>
      counted.pop_back();
      const std::string h(t->response_header());  // the reference's masking keeps it in the loss
      EXPECT_EQ(bpe_decode(test::gpt2(), counted),
                i == 2 ? h + "Paris." + h + "Rome." : h + "Hello there." + h + "Goodbye.")
          << t->name();
      opt.mask_instruction = false;
      EXPECT_EQ(collate(one, opt).counted(),
                static_cast<int64_t>(ex[i].tokens.size()));  // all but the first, + EOS
      opt.mask_instruction = true;
    }
  }
  std::filesystem::remove_all(dir);
}

// Every malformed file gives one line naming the file and the problem.
TEST(Dataset, MalformedFilesGiveOneLineErrors) {
  std::ifstream manifest(test::test_data("bad/expected.tsv"));
  std::string line;
  int cases = 0;
  while (std::getline(manifest, line)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t tab = line.find('\t');
    const std::string file = line.substr(0, tab), expect = line.substr(tab + 1);
    const auto path = test::test_data("bad/" + file);
    try {
      dataset_load(path);
      ADD_FAILURE() << file << ": loaded without error";
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(expect), std::string::npos) << file << ": " << msg;
      EXPECT_NE(msg.find(file), std::string::npos) << file << ": message does not name the file";
      EXPECT_EQ(msg.find('\n'), std::string::npos) << file << ": message is not one line";
    }
    cases++;
  }
  EXPECT_GE(cases, 10);
  EXPECT_THROW(dataset_load(test::test_data("bad/does_not_exist.json")), Error);
}

}  // namespace
}  // namespace instruct

namespace instruct {
namespace {

// --data alpaca-52k: downloaded from the endpoint into the cache once, resumed from a partial
// file, and offline the error names the URL and the place to put the file.
TEST(DatasetSource, NamedDatasetIsDownloadedOnceAndResumed) {
  namespace fs = std::filesystem;
  const auto cache = test::temp_dir("data_cache");
  ::setenv("INSTRUCT_CACHE", cache.c_str(), 1);
  test::LocalFileServer server;
  const std::string path = "/tatsu-lab/stanford_alpaca/main/alpaca_data.json";
  nlohmann::json entries = nlohmann::json::array();
  for (int i = 0; i < 500; i++)
    entries.push_back({{"instruction", "Say " + std::to_string(i)},
                       {"input", ""},
                       {"output", std::to_string(i)}});
  const std::string bytes = entries.dump(4);
  server.add(path, bytes);
  ::setenv("INSTRUCT_DATA_ENDPOINT", server.endpoint().c_str(), 1);
  std::ostringstream log;
  const fs::path dest = cache / "datasets" / "alpaca_data.json";

  Dataset d = dataset_open("alpaca-52k", log);
  EXPECT_EQ(d.entries.size(), 500u);
  EXPECT_EQ(d.path, dest);
  EXPECT_EQ(file_read(dest), bytes);
  EXPECT_EQ(server.requests(), 1);
  EXPECT_NE(log.str().find(server.endpoint() + path), std::string::npos) << log.str();
  d = dataset_open("alpaca-52k", log);  // cached: no second request
  EXPECT_EQ(server.requests(), 1);

  // A partial download resumes with a Range request and ends complete.
  fs::remove(dest);
  {
    std::ofstream part(dest.string() + ".part", std::ios::binary);
    part << bytes.substr(0, bytes.size() / 3);
  }
  EXPECT_EQ(dataset_open("alpaca-52k", log).entries.size(), 500u);
  EXPECT_EQ(server.ranged(), 1);
  EXPECT_EQ(file_read(dest), bytes);
  EXPECT_FALSE(fs::exists(dest.string() + ".part"));

  // Offline: one line naming the URL and the file to create.
  fs::remove(dest);
  ::setenv("INSTRUCT_DATA_ENDPOINT", "http://127.0.0.1:1", 1);
  try {
    dataset_open("alpaca-52k", log);
    ADD_FAILURE();
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("http://127.0.0.1:1" + path), std::string::npos) << msg;
    EXPECT_NE(msg.find(dest.string()), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
  // A file of that name in the working directory is a path, never a download.
  EXPECT_EQ(dataset_path(cache, log), cache);
  ::unsetenv("INSTRUCT_DATA_ENDPOINT");
  ::unsetenv("INSTRUCT_CACHE");
  fs::remove_all(cache);
}

}  // namespace
}  // namespace instruct
