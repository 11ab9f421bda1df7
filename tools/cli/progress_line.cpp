#include "tools/cli/progress_line.hpp"

#include <unistd.h>

namespace pvsim::tools::cli {

ProgressLine::ProgressLine(const Session& session, bool enabled)
    : session_(session), enabled_(enabled && ::isatty(STDOUT_FILENO) == 1) {}

ProgressLine::~ProgressLine() {
    clear();
}

void ProgressLine::show(const std::string& text) {
    if (!enabled_) {
        return;
    }
    const std::string pad(shown_ > text.size() ? shown_ - text.size() : 0, ' ');
    session_.print("\r" + text + pad);
    shown_ = text.size();
}

void ProgressLine::clear() {
    if (enabled_ && shown_ > 0) {
        session_.print("\r" + std::string(shown_, ' ') + "\r");
        shown_ = 0;
    }
}

}  // namespace pvsim::tools::cli
