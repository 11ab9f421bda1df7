#include "common/xen/xs_wire.hpp"

#include <algorithm>

namespace pvsim::xen::xs {

std::string_view name(MessageType type) {
    switch (type) {
        case MessageType::control:
            return "XS_CONTROL";
        case MessageType::directory:
            return "XS_DIRECTORY";
        case MessageType::read:
            return "XS_READ";
        case MessageType::get_perms:
            return "XS_GET_PERMS";
        case MessageType::watch:
            return "XS_WATCH";
        case MessageType::unwatch:
            return "XS_UNWATCH";
        case MessageType::transaction_start:
            return "XS_TRANSACTION_START";
        case MessageType::transaction_end:
            return "XS_TRANSACTION_END";
        case MessageType::introduce:
            return "XS_INTRODUCE";
        case MessageType::release:
            return "XS_RELEASE";
        case MessageType::get_domain_path:
            return "XS_GET_DOMAIN_PATH";
        case MessageType::write:
            return "XS_WRITE";
        case MessageType::mkdir:
            return "XS_MKDIR";
        case MessageType::rm:
            return "XS_RM";
        case MessageType::set_perms:
            return "XS_SET_PERMS";
        case MessageType::watch_event:
            return "XS_WATCH_EVENT";
        case MessageType::error:
            return "XS_ERROR";
        case MessageType::is_domain_introduced:
            return "XS_IS_DOMAIN_INTRODUCED";
        case MessageType::resume:
            return "XS_RESUME";
        case MessageType::set_target:
            return "XS_SET_TARGET";
        case MessageType::reset_watches:
            return "XS_RESET_WATCHES";
        case MessageType::directory_part:
            return "XS_DIRECTORY_PART";
        case MessageType::type_count:
        case MessageType::invalid:
            break;
    }
    return "XS_UNKNOWN";
}

std::string_view error_name(int errnum) {
    auto it = std::find_if(kErrors.begin(), kErrors.end(),
                           [errnum](const ErrorName& e) { return e.errnum == errnum; });
    return it != kErrors.end() ? it->name : kErrors.front().name;
}

std::optional<int> error_number(std::string_view text) {
    auto it = std::find_if(kErrors.begin(), kErrors.end(),
                           [text](const ErrorName& e) { return e.name == text; });
    if (it == kErrors.end()) {
        return std::nullopt;
    }
    return it->errnum;
}

}  // namespace pvsim::xen::xs
