#include "common/virtio/virtio_blk.hpp"

namespace pvsim::virtio {

std::string_view blk_feature_name(unsigned bit) {
    switch (static_cast<BlkFeature>(bit)) {
        case BlkFeature::barrier:
            return "VIRTIO_BLK_F_BARRIER";
        case BlkFeature::size_max:
            return "VIRTIO_BLK_F_SIZE_MAX";
        case BlkFeature::seg_max:
            return "VIRTIO_BLK_F_SEG_MAX";
        case BlkFeature::geometry:
            return "VIRTIO_BLK_F_GEOMETRY";
        case BlkFeature::ro:
            return "VIRTIO_BLK_F_RO";
        case BlkFeature::blk_size:
            return "VIRTIO_BLK_F_BLK_SIZE";
        case BlkFeature::scsi:
            return "VIRTIO_BLK_F_SCSI";
        case BlkFeature::flush:
            return "VIRTIO_BLK_F_FLUSH";
        case BlkFeature::topology:
            return "VIRTIO_BLK_F_TOPOLOGY";
        case BlkFeature::config_wce:
            return "VIRTIO_BLK_F_CONFIG_WCE";
        case BlkFeature::mq:
            return "VIRTIO_BLK_F_MQ";
        case BlkFeature::discard:
            return "VIRTIO_BLK_F_DISCARD";
        case BlkFeature::write_zeroes:
            return "VIRTIO_BLK_F_WRITE_ZEROES";
        case BlkFeature::lifetime:
            return "VIRTIO_BLK_F_LIFETIME";
        case BlkFeature::secure_erase:
            return "VIRTIO_BLK_F_SECURE_ERASE";
    }
    return {};
}

std::string describe_blk_features(std::uint64_t features) {
    std::string out;
    for (unsigned bit = 0; bit < 64; ++bit) {
        if ((features & feature_mask(bit)) == 0) {
            continue;
        }
        if (!out.empty()) {
            out += '|';
        }
        std::string_view known = blk_feature_name(bit);
        if (known.empty()) {
            known = feature_name(bit);
        }
        if (known.empty()) {
            out += "bit ";
            out += std::to_string(bit);
        } else {
            out += known;
        }
    }
    return out;
}

std::string_view name(BlkReqType type) {
    switch (type) {
        case BlkReqType::in:
            return "VIRTIO_BLK_T_IN";
        case BlkReqType::out:
            return "VIRTIO_BLK_T_OUT";
        case BlkReqType::flush:
            return "VIRTIO_BLK_T_FLUSH";
        case BlkReqType::get_id:
            return "VIRTIO_BLK_T_GET_ID";
        case BlkReqType::get_lifetime:
            return "VIRTIO_BLK_T_GET_LIFETIME";
        case BlkReqType::discard:
            return "VIRTIO_BLK_T_DISCARD";
        case BlkReqType::write_zeroes:
            return "VIRTIO_BLK_T_WRITE_ZEROES";
        case BlkReqType::secure_erase:
            return "VIRTIO_BLK_T_SECURE_ERASE";
    }
    return "VIRTIO_BLK_T_UNKNOWN";
}

std::string_view name(BlkStatus status) {
    switch (status) {
        case BlkStatus::ok:
            return "VIRTIO_BLK_S_OK";
        case BlkStatus::ioerr:
            return "VIRTIO_BLK_S_IOERR";
        case BlkStatus::unsupp:
            return "VIRTIO_BLK_S_UNSUPP";
    }
    return "VIRTIO_BLK_S_UNKNOWN";
}

}  // namespace pvsim::virtio
