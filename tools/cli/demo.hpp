// `pvsim demo` (DESIGN.md §7): the whole tour with no arguments. A fresh
// run in a temporary directory; a guest; a sparse image (256 MiB, or
// --size) attached as its xvda with the state transitions shown; a verified
// random write workload over a quarter of it and a verified random read
// workload of all of it, with progress; the results table; detach,
// teardown, and a short summary. Exit status 0 only when verify passed and
// the teardown left nothing behind.
#pragma once

#include <cstdint>
#include <iosfwd>

#include "tools/toolstack/run.hpp"

namespace pvsim::tools::cli {

struct DemoOptions {
    // The image's size; the write workload covers a quarter of it.
    std::uint64_t image_bytes = 256ull << 20;
};

int run_demo(const DemoOptions& options, const toolstack::UpOptions& up, std::ostream& out,
             std::ostream& err);

}  // namespace pvsim::tools::cli
