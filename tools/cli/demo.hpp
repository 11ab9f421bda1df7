// `pvsim demo` (DESIGN.md §7): the whole tour with no arguments. A fresh
// run in a temporary directory; a guest; a sparse 256 MiB image attached
// as its xvda with the state transitions shown; a verified random write
// workload and a verified random read workload with progress; the results
// table; detach, teardown, and a short summary. Exit status 0 only when
// verify passed and the teardown left nothing behind.
#pragma once

#include <iosfwd>

#include "tools/toolstack/run.hpp"

namespace pvsim::tools::cli {

int run_demo(const toolstack::UpOptions& up, std::ostream& out, std::ostream& err);

}  // namespace pvsim::tools::cli
