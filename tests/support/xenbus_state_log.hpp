// The states a pvsim daemon wrote to one device's state node, in the order
// it wrote them, read back from its log. XenbusDevice::switch_state (as
// Linux's __xenbus_switch_state) writes only a state that differs from the
// one it last wrote, and logs each write it makes as
// "<nodename>: <from> -> <to>". A watch cannot give this: it fires once per
// write, but what it reads when it fires may already be a later value, so
// a state replaced at once is lost. The log of a restarted daemon is the
// same file, so the list spans every instance, in order.
#pragma once

#include <optional>
#include <ostream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "common/xen/xenbus.hpp"

namespace pvsim::xen {
// gtest prints a state by its name.
inline void PrintTo(XenbusState state, std::ostream* out) {
    *out << name(state);
}
}  // namespace pvsim::xen

namespace pvsim::test {

inline std::optional<xen::XenbusState> xenbus_state_named(std::string_view name) {
    for (std::size_t i = 0; i < xen::kXenbusStateNames.size(); ++i) {
        if (xen::kXenbusStateNames[i] == name) {
            return static_cast<xen::XenbusState>(i);
        }
    }
    return std::nullopt;
}

// The `to` of every "<nodename>: <from> -> <to>" line of `log`.
inline std::vector<xen::XenbusState> logged_state_writes(const std::string& log,
                                                         const std::string& nodename) {
    const std::string prefix = " " + nodename + ": ";
    std::vector<xen::XenbusState> out;
    std::istringstream lines(log);
    for (std::string line; std::getline(lines, line);) {
        const std::size_t at = line.find(prefix);
        if (at == std::string::npos) {
            continue;
        }
        const std::string_view rest = std::string_view(line).substr(at + prefix.size());
        const std::size_t arrow = rest.find(" -> ");
        if (arrow == std::string_view::npos || !xenbus_state_named(rest.substr(0, arrow))) {
            continue;
        }
        if (const auto to = xenbus_state_named(rest.substr(arrow + 4))) {
            out.push_back(*to);
        }
    }
    return out;
}

}  // namespace pvsim::test
