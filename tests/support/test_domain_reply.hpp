// The replies of pvsim_test_domain's line protocol, the same for every verb:
// "ok", "ok VALUE" or "error TEXT".
#pragma once

#include <string>

namespace pvsim::test {

inline std::string ok(const std::string& value = {}) {
    return value.empty() ? "ok" : "ok " + value;
}

}  // namespace pvsim::test
