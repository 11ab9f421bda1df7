#include "backend/vhost_user_blk/device_counters.hpp"

namespace pvsim::backend::vhost_user_blk {

nlohmann::json DeviceCounters::to_json() const {
    nlohmann::json out = counters_json(*this);
    out["requests"] = requests();
    return out;
}

}  // namespace pvsim::backend::vhost_user_blk
