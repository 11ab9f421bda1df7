#include "backend/blkback/vbd_counters.hpp"

namespace pvsim::backend::blkback {

nlohmann::json VbdCounters::to_json() const {
    nlohmann::json out = counters_json(*this);
    out["bytes"] = bytes();
    return out;
}

}  // namespace pvsim::backend::blkback
