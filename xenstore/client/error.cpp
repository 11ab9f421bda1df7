#include "xenstore/client/error.hpp"

namespace pvsim::xenstore::client {
namespace {

std::string describe(xen::xs::MessageType request, std::string_view subject,
                     std::string_view error_name, std::string_view detail) {
    std::string_view type = xen::xs::name(request);
    if (type.starts_with("XS_")) {
        type.remove_prefix(3);
    }
    std::string text = "xenstore " + std::string(type);
    if (!subject.empty()) {
        text += ' ';
        text += subject;
    }
    text += ": ";
    text += error_name;
    if (!detail.empty()) {
        text += " (";
        text += detail;
        text += ')';
    }
    return text;
}

}  // namespace

Error::Error(xen::xs::MessageType request, std::string_view subject, int errnum,
             std::string error_name, std::string_view detail)
    : ErrnoError(errnum, describe(request, subject, error_name, detail)),
      request_(request),
      error_name_(std::move(error_name)) {}

}  // namespace pvsim::xenstore::client
