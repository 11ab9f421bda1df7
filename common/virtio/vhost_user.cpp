#include "common/virtio/vhost_user.hpp"

namespace pvsim::vhost_user {

std::string_view name(Request request) {
    switch (request) {
        case Request::none:
            return "VHOST_USER_NONE";
        case Request::get_features:
            return "VHOST_USER_GET_FEATURES";
        case Request::set_features:
            return "VHOST_USER_SET_FEATURES";
        case Request::set_owner:
            return "VHOST_USER_SET_OWNER";
        case Request::reset_owner:
            return "VHOST_USER_RESET_OWNER";
        case Request::set_mem_table:
            return "VHOST_USER_SET_MEM_TABLE";
        case Request::set_log_base:
            return "VHOST_USER_SET_LOG_BASE";
        case Request::set_log_fd:
            return "VHOST_USER_SET_LOG_FD";
        case Request::set_vring_num:
            return "VHOST_USER_SET_VRING_NUM";
        case Request::set_vring_addr:
            return "VHOST_USER_SET_VRING_ADDR";
        case Request::set_vring_base:
            return "VHOST_USER_SET_VRING_BASE";
        case Request::get_vring_base:
            return "VHOST_USER_GET_VRING_BASE";
        case Request::set_vring_kick:
            return "VHOST_USER_SET_VRING_KICK";
        case Request::set_vring_call:
            return "VHOST_USER_SET_VRING_CALL";
        case Request::set_vring_err:
            return "VHOST_USER_SET_VRING_ERR";
        case Request::get_protocol_features:
            return "VHOST_USER_GET_PROTOCOL_FEATURES";
        case Request::set_protocol_features:
            return "VHOST_USER_SET_PROTOCOL_FEATURES";
        case Request::get_queue_num:
            return "VHOST_USER_GET_QUEUE_NUM";
        case Request::set_vring_enable:
            return "VHOST_USER_SET_VRING_ENABLE";
        case Request::send_rarp:
            return "VHOST_USER_SEND_RARP";
        case Request::net_set_mtu:
            return "VHOST_USER_NET_SET_MTU";
        case Request::set_backend_req_fd:
            return "VHOST_USER_SET_BACKEND_REQ_FD";
        case Request::iotlb_msg:
            return "VHOST_USER_IOTLB_MSG";
        case Request::set_vring_endian:
            return "VHOST_USER_SET_VRING_ENDIAN";
        case Request::get_config:
            return "VHOST_USER_GET_CONFIG";
        case Request::set_config:
            return "VHOST_USER_SET_CONFIG";
        case Request::create_crypto_session:
            return "VHOST_USER_CREATE_CRYPTO_SESSION";
        case Request::close_crypto_session:
            return "VHOST_USER_CLOSE_CRYPTO_SESSION";
        case Request::postcopy_advise:
            return "VHOST_USER_POSTCOPY_ADVISE";
        case Request::postcopy_listen:
            return "VHOST_USER_POSTCOPY_LISTEN";
        case Request::postcopy_end:
            return "VHOST_USER_POSTCOPY_END";
        case Request::get_inflight_fd:
            return "VHOST_USER_GET_INFLIGHT_FD";
        case Request::set_inflight_fd:
            return "VHOST_USER_SET_INFLIGHT_FD";
        case Request::gpu_set_socket:
            return "VHOST_USER_GPU_SET_SOCKET";
        case Request::reset_device:
            return "VHOST_USER_RESET_DEVICE";
        case Request::vring_kick:
            return "VHOST_USER_VRING_KICK";
        case Request::get_max_mem_slots:
            return "VHOST_USER_GET_MAX_MEM_SLOTS";
        case Request::add_mem_reg:
            return "VHOST_USER_ADD_MEM_REG";
        case Request::rem_mem_reg:
            return "VHOST_USER_REM_MEM_REG";
        case Request::set_status:
            return "VHOST_USER_SET_STATUS";
        case Request::get_status:
            return "VHOST_USER_GET_STATUS";
        case Request::get_shared_object:
            return "VHOST_USER_GET_SHARED_OBJECT";
        case Request::set_device_state_fd:
            return "VHOST_USER_SET_DEVICE_STATE_FD";
        case Request::check_device_state:
            return "VHOST_USER_CHECK_DEVICE_STATE";
    }
    return "VHOST_USER_UNKNOWN";
}

std::string_view name(BackendRequest request) {
    switch (request) {
        case BackendRequest::none:
            return "VHOST_USER_BACKEND_NONE";
        case BackendRequest::iotlb_msg:
            return "VHOST_USER_BACKEND_IOTLB_MSG";
        case BackendRequest::config_change_msg:
            return "VHOST_USER_BACKEND_CONFIG_CHANGE_MSG";
        case BackendRequest::vring_host_notifier_msg:
            return "VHOST_USER_BACKEND_VRING_HOST_NOTIFIER_MSG";
        case BackendRequest::vring_call:
            return "VHOST_USER_BACKEND_VRING_CALL";
        case BackendRequest::vring_err:
            return "VHOST_USER_BACKEND_VRING_ERR";
        case BackendRequest::shared_object_add:
            return "VHOST_USER_BACKEND_SHARED_OBJECT_ADD";
        case BackendRequest::shared_object_remove:
            return "VHOST_USER_BACKEND_SHARED_OBJECT_REMOVE";
        case BackendRequest::shared_object_lookup:
            return "VHOST_USER_BACKEND_SHARED_OBJECT_LOOKUP";
    }
    return "VHOST_USER_BACKEND_UNKNOWN";
}

std::string_view name(ProtocolFeature feature) {
    switch (feature) {
        case ProtocolFeature::mq:
            return "VHOST_USER_PROTOCOL_F_MQ";
        case ProtocolFeature::log_shmfd:
            return "VHOST_USER_PROTOCOL_F_LOG_SHMFD";
        case ProtocolFeature::rarp:
            return "VHOST_USER_PROTOCOL_F_RARP";
        case ProtocolFeature::reply_ack:
            return "VHOST_USER_PROTOCOL_F_REPLY_ACK";
        case ProtocolFeature::mtu:
            return "VHOST_USER_PROTOCOL_F_MTU";
        case ProtocolFeature::backend_req:
            return "VHOST_USER_PROTOCOL_F_BACKEND_REQ";
        case ProtocolFeature::cross_endian:
            return "VHOST_USER_PROTOCOL_F_CROSS_ENDIAN";
        case ProtocolFeature::crypto_session:
            return "VHOST_USER_PROTOCOL_F_CRYPTO_SESSION";
        case ProtocolFeature::pagefault:
            return "VHOST_USER_PROTOCOL_F_PAGEFAULT";
        case ProtocolFeature::config:
            return "VHOST_USER_PROTOCOL_F_CONFIG";
        case ProtocolFeature::backend_send_fd:
            return "VHOST_USER_PROTOCOL_F_BACKEND_SEND_FD";
        case ProtocolFeature::host_notifier:
            return "VHOST_USER_PROTOCOL_F_HOST_NOTIFIER";
        case ProtocolFeature::inflight_shmfd:
            return "VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD";
        case ProtocolFeature::reset_device:
            return "VHOST_USER_PROTOCOL_F_RESET_DEVICE";
        case ProtocolFeature::inband_notifications:
            return "VHOST_USER_PROTOCOL_F_INBAND_NOTIFICATIONS";
        case ProtocolFeature::configure_mem_slots:
            return "VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS";
        case ProtocolFeature::status:
            return "VHOST_USER_PROTOCOL_F_STATUS";
        case ProtocolFeature::xen_mmap:
            return "VHOST_USER_PROTOCOL_F_XEN_MMAP";
        case ProtocolFeature::shared_object:
            return "VHOST_USER_PROTOCOL_F_SHARED_OBJECT";
        case ProtocolFeature::device_state:
            return "VHOST_USER_PROTOCOL_F_DEVICE_STATE";
    }
    return {};
}

}  // namespace pvsim::vhost_user
