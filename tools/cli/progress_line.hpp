// The live progress line of long work (DESIGN.md §8): rewritten in place
// with '\r' on a terminal, and nothing at all when the output is a pipe or
// a file, or when the output is JSON.
#pragma once

#include <string>

#include "tools/cli/session.hpp"

namespace pvsim::tools::cli {

class ProgressLine {
  public:
    // Shows progress only when `enabled` and stdout is a terminal.
    explicit ProgressLine(const Session& session, bool enabled);
    // Clears the line if one was shown.
    ~ProgressLine();
    ProgressLine(const ProgressLine&) = delete;
    ProgressLine& operator=(const ProgressLine&) = delete;

    void show(const std::string& text);
    void clear();

  private:
    const Session& session_;
    bool enabled_;
    std::size_t shown_ = 0;  // characters on the line now
};

}  // namespace pvsim::tools::cli
