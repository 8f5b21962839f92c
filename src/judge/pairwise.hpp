// Pairwise judging (AlpacaEval-style): the judge sees one instruction and two responses and says
// which is better or a tie; `instruct compare` asks each pair in both orders to cancel position
// bias. The win rate and AlpacaEval 2's length-controlled win rate come from the preferences.
#pragma once

#include <string>
#include <vector>

namespace instruct {

// The prompt: the instruction (Alpaca format), its input, the dataset's reference answer, and the
// two responses as "Response 1" and "Response 2". The judge answers 1, 2 or tie.
std::string pairwise_prompt(const std::string& instruction, const std::string& input,
                            const std::string& reference, const std::string& first,
                            const std::string& second);

// The verdict in a reply: 1 or 2 (the first or second response is better), 0 (a tie), -1 (none
// found). A reply that is exactly "1", "2" or "tie" (any case, spaces, quotes, a final period) is
// exact; otherwise the first "Response 1/2", lone 1/2, "tie" or "equal" in the text.
int pairwise_parse(const std::string& reply, bool* exact);

// The preference for B over A from the two orders' verdicts (A first, then B first): each order
// gives 1 (B better), 0 (A better) or 0.5 (a tie); the pair's preference is their mean, so orders
// that disagree count as a tie.
double pairwise_preference(int verdict_ab, int verdict_ba);

struct WinRate {
  double win_rate = 0, standard_error = 0;  // percent: mean preference, its sem
  double lc_win_rate = 0;                   // percent: predicted with no length difference
  double length_coef = 0, model_coef = 0;   // the GLM's weights (tanh(std_delta_len), constant)
  int64_t wins = 0, losses = 0, draws = 0;  // preferences above, below and at 0.5
};

// AlpacaEval's win rate (a draw counts one half) and its length-controlled win rate. The GLM is
// AlpacaEval's "length_controlled_minimal": preference ~ tanh(std_delta_len) + constant (no
// intercept), std_delta_len = (len(A) - len(B)) / its sample sd, fitted by maximum likelihood with
// soft labels; the prediction at std_delta_len = 0 is sigmoid(constant). (length_controlled_v1
// adds a per-instruction difficulty AlpacaEval estimated for its own 805 instructions; a user's
// dataset has none.) Lengths in characters (code points).
WinRate win_rates(const std::vector<double>& preference, const std::vector<double>& len_a,
                  const std::vector<double>& len_b);

}  // namespace instruct
