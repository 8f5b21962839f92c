// The reference's loss figure (plot_losses): train and val loss against epochs, with a second x
// axis on top for tokens seen. Drawn with cairo into PNG or PDF, written atomically.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace instruct {

struct LossCurves {
  std::vector<double> epochs;  // x of each evaluation (linspace(0, num_epochs, n) in the reference)
  std::vector<double> tokens;  // tokens seen at each evaluation
  std::vector<double> train, val;
  std::string y_label = "Loss", train_label = "Training loss", val_label = "Validation loss";
};

// format: "png" or "pdf". Fails (one line) when there is nothing to plot or the file cannot be
// written.
void plot_losses(const std::filesystem::path& path, const LossCurves& c, const std::string& format);

}  // namespace instruct
