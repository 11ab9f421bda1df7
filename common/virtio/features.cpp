#include "common/virtio/features.hpp"

namespace pvsim::virtio {

std::string_view feature_name(unsigned bit) {
    switch (static_cast<Feature>(bit)) {
        case Feature::notify_on_empty:
            return "VIRTIO_F_NOTIFY_ON_EMPTY";
        case Feature::any_layout:
            return "VIRTIO_F_ANY_LAYOUT";
        case Feature::indirect_desc:
            return "VIRTIO_F_INDIRECT_DESC";
        case Feature::event_idx:
            return "VIRTIO_F_EVENT_IDX";
        case Feature::version_1:
            return "VIRTIO_F_VERSION_1";
        case Feature::access_platform:
            return "VIRTIO_F_ACCESS_PLATFORM";
        case Feature::ring_packed:
            return "VIRTIO_F_RING_PACKED";
        case Feature::in_order:
            return "VIRTIO_F_IN_ORDER";
        case Feature::order_platform:
            return "VIRTIO_F_ORDER_PLATFORM";
        case Feature::sr_iov:
            return "VIRTIO_F_SR_IOV";
        case Feature::notification_data:
            return "VIRTIO_F_NOTIFICATION_DATA";
        case Feature::notif_config_data:
            return "VIRTIO_F_NOTIF_CONFIG_DATA";
        case Feature::ring_reset:
            return "VIRTIO_F_RING_RESET";
    }
    return {};
}

}  // namespace pvsim::virtio
