// A fresh run directory for one script or one demo, started and torn down
// by its owner: made with mkdtemp under $TMPDIR (or /tmp), removed at the
// end unless the owner keeps it (a failed script keeps its logs).
#pragma once

#include <filesystem>

#include "common/run_dir.hpp"

namespace pvsim::tools::cli {

class TemporaryRun {
  public:
    // "/tmp/pvsim-<what>.XXXXXX".
    explicit TemporaryRun(const std::string& what);
    ~TemporaryRun();
    TemporaryRun(const TemporaryRun&) = delete;
    TemporaryRun& operator=(const TemporaryRun&) = delete;

    const RunDir& run() const noexcept { return run_; }
    void keep() noexcept { keep_ = true; }

  private:
    static RunDir make(const std::string& what);
    RunDir run_;
    bool keep_ = false;
};

}  // namespace pvsim::tools::cli
